# The guest kit (guest/) on QEMU and on every ringvm engine: every test
# passes on QEMU, and each engine prints the same set of PASS lines.
. tests/lib.sh
VM_TIMEOUT=300
QEMU_ARGS="-display none -serial stdio -no-reboot -device isa-debug-exit,iobase=0xf4,iosize=0x04 -m 128"

# check_kit NAME OUT REFERENCE: status 1 (all passed), no FAIL line, and the
# same PASS set as REFERENCE (if given).
check_kit() {
	local name=$1 out=$2 ref=${3:-}
	if grep -qaE '^FAIL ' "$out"; then
		fail "$name" "$(grep -aE '^FAIL ' "$out" | head -n 3 | tr '\n' '|')"
	elif ! grep -qaE '^SUMMARY passed=[0-9]+ failed=0' "$out"; then
		fail "$name" "no clean SUMMARY (status $rc): $(tail -n 3 "$out" | tr '\n' '|')"
	elif [ -n "$ref" ] && ! diff <(pass_set "$ref") <(pass_set "$out") >"$TMP/d"; then
		fail "$name" "PASS set differs from QEMU's: $(tr '\n' ' ' <"$TMP/d")"
	else
		expect_status "$name" "$out" 1
	fi
}

# nopv: the full-virtualization path everywhere, so that every engine's
# PASS set can be compared with QEMU's (tests/t_pv.sh runs the PV path).
for mode in full smoke; do
	append=nopv
	[ $mode = smoke ] && append="smoke nopv"
	ref=""
	if qemu_usable; then
		timeout 300 qemu-system-i386 -kernel "$KIT" -append "$append" $QEMU_ARGS >"$TMP/qemu.$mode" 2>&1 </dev/null
		rc=$?
		check_kit "kit.$mode.qemu" "$TMP/qemu.$mode"
		ref="$TMP/qemu.$mode"
	else
		skip "kit.$mode.qemu" "qemu-system-i386 is not installed (scripts/install-deps installs it)"
	fi
	run_vm "$TMP/interp.$mode" $RINGVM run --engine interp --append "$append"
	check_kit "kit.$mode.interp" "$TMP/interp.$mode" "$ref"
	run_vm "$TMP/asan.$mode" $ASAN_RINGVM run --engine interp --append "$append"
	check_kit "kit.$mode.interp_asan" "$TMP/asan.$mode" "$ref"

	if ! kvm_usable; then
		skip "kit.$mode.kvm" "/dev/kvm is missing or not permitted"
	elif [ $mode = full ] && ! host_has_vmx; then
		skip "kit.full.kvm" "no VT-x/AMD-V on this host: its /dev/kvm (a software hypervisor) triple-faults 32-bit guests at CR0.PG, QEMU too; the smoke mode runs instead"
	else
		run_vm "$TMP/kvm.$mode" $ASAN_RINGVM run --engine kvm --append "$append"
		check_kit "kit.$mode.kvm" "$TMP/kvm.$mode" "$ref"
	fi
done

# The embedded guest is the same file as build/guest/kit.elf.
run_vm "$TMP/file" $RINGVM run --engine interp --kernel "$KIT" --append "smoke nopv"
check_kit kit.smoke.from_file "$TMP/file" "$TMP/interp.smoke"

# A halted guest sleeps in the VMM instead of spinning: timer.rate waits one
# RTC second in HLT, so the run's CPU time must be a small part of its wall time.
/usr/bin/time -f "%e %U %S" -o "$TMP/time" $RINGVM run --engine interp --append only=timer \
	>"$TMP/idle" 2>&1 </dev/null
read -r wall user sys < <(tail -n 1 "$TMP/time")
if grep -q '^PASS timer.rate' "$TMP/idle" && awk -v w="$wall" -v u="$user" -v s="$sys" \
	'BEGIN { exit !(w >= 0.9 && u + s < 0.25 * w) }'; then
	pass kit.idle_hlt_sleeps
else
	fail kit.idle_hlt_sleeps "wall ${wall}s but CPU ${user}s user + ${sys}s sys while the guest idled in HLT"
fi

# --stats prints a table of exits by reason.
run_vm "$TMP/stats" $RINGVM run --engine interp --append smoke --stats
if grep -q 'exit reason' "$TMP/stats" && grep -qE '^io +[0-9]+' "$TMP/stats"; then
	pass kit.stats_table
else
	fail kit.stats_table "no exit table in --stats output"
fi
exit 0
