# The trap engine (trap-and-emulate). It runs guest code natively in the
# low 4 GiB where ASan keeps its shadow, so these tests use the UBSan-only
# build (build/ubsan/ringvm).
. tests/lib.sh
RINGVM=$UBSAN_RINGVM
VM_TIMEOUT=120
QEMU_ARGS="-display none -serial stdio -no-reboot -device isa-debug-exit,iobase=0xf4,iosize=0x04 -m 128"

if ! $RINGVM engines | grep -q '^trap .*available'; then
	skip trap "engine unavailable here: $($RINGVM engines | grep '^trap')"
	exit 0
fi

# Its unit tests (build/ubsan/tests/test_trap*) run from tests/run.

# The x86 hole, exactly: these instructions are sensitive but do not trap
# at host CPL 3, so the guest sees the host's (or UMIP's) answers. PUSHF's
# IF is right by luck (the host's IF is always 1). The guest's CR0.TS/EM/MP
# never reach the host's CR0, so x87 code runs natively where it should
# raise #NM; nor does CR4.TSD reach the host's CR4, so ring-3 RDTSC runs
# where it should raise #GP (prctl's PR_TSC_SIGSEGV would also fault the
# VMM's own clock, vDSO included). docs/06-trap.md.
EXPECTED_HOLES="sensitive.lar sensitive.lsl sensitive.mov_cs sensitive.mov_ss sensitive.popf_if
sensitive.pushf_iopl sensitive.sgdt sensitive.sidt sensitive.sldt sensitive.smsw sensitive.str
sensitive.verr sensitive.verw fpu.nm_ts fpu.nm_em fpu.nm_wait_mp_ts user.rdtsc_tsd"

# nopv: the kit's full-virtualization path (tests/t_pv.sh runs the other).
run_vm "$TMP/full" $RINGVM run --engine trap --stats --append nopv
got=$(grep -aE '^FAIL ' "$TMP/full" | sed 's/^FAIL \([^:]*\):.*/\1/' | sort | tr '\n' ' ')
want=$(echo $EXPECTED_HOLES | tr ' ' '\n' | sort | tr '\n' ' ')
if [ "$got" = "$want" ] && [ $rc -eq 3 ]; then
	pass trap.kit_fails_exactly_the_holes
else
	fail trap.kit_fails_exactly_the_holes "status $rc; FAIL set: [$got], expected [$want]"
fi
if qemu_usable; then
	timeout 300 qemu-system-i386 -kernel "$KIT" -append nopv $QEMU_ARGS >"$TMP/qemu" 2>&1 </dev/null
	holes_re=$(echo $EXPECTED_HOLES | sed 's/ /|/g; s/\./\\./g')
	if diff <(pass_set "$TMP/qemu" | grep -vE "^PASS ($holes_re)$") <(pass_set "$TMP/full") >"$TMP/d"; then
		pass trap.kit_other_tests_match_qemu
	else
		fail trap.kit_other_tests_match_qemu "PASS set differs from QEMU's outside the holes: $(tr '\n' ' ' <"$TMP/d")"
	fi
else
	skip trap.kit_other_tests_match_qemu "qemu-system-i386 is not installed"
fi
if grep -qE '^trap: (instruction|page fault)' "$TMP/full" && grep -q '^trap: interrupt' "$TMP/full"; then
	pass trap.stats_by_reason
else
	fail trap.stats_by_reason "no 'trap: <reason>' counters in --stats"
fi

run_vm "$TMP/smoke" $RINGVM run --engine trap --append "smoke nopv"
if grep -qa '^SUMMARY passed=5 failed=0' "$TMP/smoke"; then
	expect_status trap.smoke "$TMP/smoke" 1
else
	fail trap.smoke "status $rc: $(tail -n 3 "$TMP/smoke" | tr '\n' '|')"
fi

# Random guests under trap: tests/t_fuzz.sh.
exit 0
