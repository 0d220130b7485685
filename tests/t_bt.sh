# The bt engine (binary translation). Like trap it runs guest code in the
# low 4 GiB where ASan keeps its shadow, so it runs in the optimised build;
# interp in the same build is the reference.
. tests/lib.sh
VM_TIMEOUT=120
ESC=$GUESTS/bt_escape.elf

if ! $RINGVM engines | grep -q '^bt .*available'; then
	skip bt "engine unavailable here: $($RINGVM engines | grep '^bt')"
	exit 0
fi

# The differential test against the host CPU, through bt (one line per
# instruction form; "diff: N cases, N forms, 0 mismatches").
if [ -x build/tests/test_bt_diff ]; then
	timeout 300 build/tests/test_bt_diff
else
	fail bt.diff "build/tests/test_bt_diff is not built (make units)"
fi

# The whole guest kit, sensitive group included: interp's PASS set, on
# the kit's full-virtualization path (nopv: the sensitive instructions
# themselves) and on its paravirtual path (hypercalls through bt).
check_kit() {
	local name=$1 ref=$2 out=$3
	if grep -qaE '^FAIL ' "$out"; then
		fail $name "$(grep -aE '^FAIL ' "$out" | head -n 3 | tr '\n' '|')"
	elif ! grep -qaE '^SUMMARY passed=[0-9]+ failed=0' "$out"; then
		fail $name "no clean SUMMARY (status $rc): $(tail -n 3 "$out" | tr '\n' '|')"
	elif ! diff <(pass_set "$ref") <(pass_set "$out") >"$TMP/d"; then
		fail $name "PASS set differs from interp's: $(tr '\n' ' ' <"$TMP/d")"
	else
		expect_status $name "$out" 1
	fi
}
run_vm "$TMP/interp_pv" $RINGVM run --engine interp
run_vm "$TMP/pv" $RINGVM run --engine bt
check_kit bt.kit_full_pv "$TMP/interp_pv" "$TMP/pv"
run_vm "$TMP/interp" $RINGVM run --engine interp --append nopv
run_vm "$TMP/full" $RINGVM run --engine bt --stats --append nopv
# The same under UBSan (ASan owns the low 4 GiB that a native engine needs).
run_vm "$TMP/ubsan" $(vmm_for bt) run --engine bt --append nopv
check_kit bt.kit_full_ubsan "$TMP/interp" "$TMP/ubsan"
if grep -qaE '^FAIL ' "$TMP/full"; then
	fail bt.kit_full "$(grep -aE '^FAIL ' "$TMP/full" | head -n 3 | tr '\n' '|')"
elif ! grep -qaE '^SUMMARY passed=[0-9]+ failed=0' "$TMP/full"; then
	fail bt.kit_full "no clean SUMMARY (status $rc): $(tail -n 3 "$TMP/full" | tr '\n' '|')"
elif ! diff <(pass_set "$TMP/interp") <(pass_set "$TMP/full") >"$TMP/d"; then
	fail bt.kit_full "PASS set differs from interp's: $(tr '\n' ' ' <"$TMP/d")"
else
	expect_status bt.kit_full "$TMP/full" 1
fi
if grep -qaE '^PASS sensitive\.' "$TMP/full" && ! grep -qaE '^FAIL sensitive\.' "$TMP/full"; then
	pass bt.kit_sensitive_group
else
	fail bt.kit_sensitive_group "the sensitive group did not pass whole under bt"
fi
for k in 'blocks translated' 'translation cache bytes' 'chained transfers' 'lookup misses' 'VMM call: port io' 'sensitive instructions inlined'; do
	grep -q "^bt: $k" "$TMP/full" || missing="$missing [$k]"
done
[ -z "${missing:-}" ] && pass bt.stats || fail bt.stats "--stats lacks:$missing"

run_vm "$TMP/smoke" $RINGVM run --engine bt --append "smoke nopv"
if grep -qa '^SUMMARY passed=5 failed=0' "$TMP/smoke"; then
	expect_status bt.kit_smoke "$TMP/smoke" 1
else
	fail bt.kit_smoke "status $rc: $(tail -n 3 "$TMP/smoke" | tr '\n' '|')"
fi

# The compute workload gives interp's checksum (1 round).
run_vm "$TMP/ci" $RINGVM run --engine interp --append "bench rounds=1"
run_vm "$TMP/cb" $RINGVM run --engine bt --append "bench rounds=1"
ci=$(grep -ao 'checksum=0x[0-9a-f]*' "$TMP/ci")
cb=$(grep -ao 'checksum=0x[0-9a-f]*' "$TMP/cb")
[ -n "$ci" ] && [ "$ci" = "$cb" ] && pass bt.compute_checksum ||
	fail bt.compute_checksum "interp [$ci], bt [$cb]"

# A hostile guest: escapes from ring 0 and 3 each end in the guest's own
# fault, precise registers, self-modifying code, interrupts in a tight
# loop (tests/guests/bt_escape.S). Same PASS set as interp, and no system
# call ever reached the host from guest code (seccomp would have refused
# it with SIGSYS, which --stats counts).
run_vm "$TMP/esc_i" $RINGVM run --engine interp --kernel "$ESC"
run_vm "$TMP/esc" $RINGVM run --engine bt --stats --kernel "$ESC"
n=$(grep -ac '^PASS bt\.' "$TMP/esc")
if grep -qaE '^FAIL ' "$TMP/esc"; then
	fail bt.escape_guest "$(grep -aE '^FAIL ' "$TMP/esc" | head -n 3 | tr '\n' '|')"
elif [ "$n" -lt 102 ]; then
	fail bt.escape_guest "only $n checks passed (status $rc): $(tail -n 3 "$TMP/esc" | tr '\n' '|')"
elif ! diff <(pass_set "$TMP/esc_i") <(pass_set "$TMP/esc") >"$TMP/d"; then
	fail bt.escape_guest "PASS set differs from interp's: $(tr '\n' ' ' <"$TMP/d")"
else
	expect_status bt.escape_guest "$TMP/esc" 1
fi
for c in k.ljmp_0x33 u.ljmp_0x33 k.mov_ds_bt_data u.iret_0x33 k.smc_far_jump u.store_window \
	k.precise_registers k.smc_running_block k.smc_page_rewritten k.tight_loop_irq k.irq_in_indirect_loop \
	k.cr3_same_value_flush k.cr3_same_linear_other_code k.store_window_fs_base k.load_window_fs_base u.load_kernel_half_fs_base \
	k.descriptor_changed_and_slots_reused k.cr_read_after_write k.mov_from_cr1 u.mov_from_cr2 \
	k.smc_core_write_after_translation k.batch_fault_mid k.batch_stops_at_fault \
	u.tls_negative_offset u.tls_low_base \
	k.segsite_descriptor_changed k.segsite_not_present k.segsite_not_present_error_code \
	k.segsite_wrong_type k.segsite_dpl_below_rpl k.segsite_pop_not_present k.segsite_beyond_gdt_limit \
	k.segsite_gdt_moved k.segsite_bt_data_sel k.segsite_host_0x2b k.segsite_gs_fs_after_call \
	k.irq_in_segload_loop k.int_gate_not_present k.int_gate_not_present_error_code k.int_gate_cs_0x33 \
	k.int_gate_cs_bt_code k.int_gate_dpl0_from_ring0 k.iret_frame_0x77 k.iret_frame_0x33 \
	k.iret_cs_not_present k.iret_same_ring_flags u.int_gate_dpl0 u.int_gate_not_present \
	k.iret_cached_cs_not_present u.int_cached_gate_not_present u.int_cached_cs_not_present \
	u.int_cached_after_restore u.iret_cached_ss_not_present u.iret_cached_ss_error_code \
	k.div_cached_divide_error k.div_cached_fault_eip k.div_cached_site_still_divides k.div_cached_site_no_fault \
	k.div_cached_gate_not_present u.pf_cached_fault u.pf_cached_gate_changed u.pf_cached_after_restore; do
	grep -qa "^PASS bt.$c\$" "$TMP/esc" || bad_c="$bad_c $c"
done
[ -z "${bad_c:-}" ] && pass bt.escape_named_checks || fail bt.escape_named_checks "missing:$bad_c"
if grep -q 'host system calls from guest code' "$TMP/esc"; then
	fail bt.no_host_syscall "$(grep 'host system calls from guest code' "$TMP/esc")"
elif grep -q '^bt: blocks translated' "$TMP/esc"; then
	pass bt.no_host_syscall
else
	fail bt.no_host_syscall "no bt --stats in the escape run"
fi
# u.tls_low_base's access faults natively 20,000 times, never for the
# guest: adaptive translation must settle (296 retranslations when each
# clean run put the instruction back to native code, 10 with the backoff).
n=$(sed -n 's/^bt: instructions retranslated as VMM calls *\([0-9]*\)$/\1/p' "$TMP/esc")
if [ -n "$n" ] && [ "$n" -le 40 ]; then
	pass bt.adaptive_settles
else
	fail bt.adaptive_settles "${n:-no} retranslations as VMM calls in the escape run (want <= 40)"
fi
if grep -q '^bt: pages interpreted (written too often) *[1-9]' "$TMP/esc"; then
	pass bt.smc_page_falls_back
else
	fail bt.smc_page_falls_back "the rewritten page was never switched to interpretation"
fi

# SIGTERM while the core runs one huge instruction for bt (a REP of 2^32 - 1
# elements into MMIO or to a port): the core's REP loop yields on the kick
# the native layer records while the VMM runs (it once did not see it: the
# VMM kept going after SIGTERM, the fuzzer's image 458).
for g in rep_mmio rep_huge; do
	timeout -k 1 10 $RINGVM run --engine bt --kernel "$GUESTS/$g.elf" >"$TMP/o" 2>&1 </dev/null &
	pid=$!
	sleep 1
	kill -TERM $pid 2>/dev/null
	t0=$(date +%s%N)
	wait $pid
	rc=$?
	ms=$((($(date +%s%N) - t0) / 1000000))
	if [ $rc -eq 143 ] && [ $ms -lt 1000 ]; then
		pass "bt.sigterm_huge_$g"
	else
		fail "bt.sigterm_huge_$g" "status $rc $ms ms after SIGTERM (want 143 within 1 s): $(tail -n 1 "$TMP/o")"
	fi
done

# Random code, translated: any guest end or still running at the limit
# (SIGTERM must end it), never a VMM crash or hang.
N=${FUZZ_IMAGES:-24}
python3 tests/fuzz_images.py "$TMP" 200 "$N"
bad=""
for i in $(seq 200 $((200 + N - 1))); do
	timeout -k 3 2 $RINGVM run --engine bt --kernel "$TMP/fuzz$i.bin" --mem 16M >"$TMP/o" 2>&1 </dev/null
	rc=$?
	fuzz_ended_cleanly "$TMP/o" || bad="$bad $i:$rc"
done
[ -z "$bad" ] && pass "bt.fuzz_random_code ($N images)" || fail bt.fuzz_random_code "images (seed:status):$bad"
exit 0
