# The CPU model (issue 10, item 2): --cpu selects it, CPUID describes a CPU
# Linux knows plus ringvm's hypervisor leaf, and reports only features the
# core implements. The guest kit prints what it sees ("cpu:" lines).
. tests/lib.sh
VM_TIMEOUT=60

run_vm "$TMP/help" $RINGVM run --cpu help
if [ $rc -eq 0 ] && grep -q '^  pentium2 ' "$TMP/help" && grep -q '^  pentiumpro ' "$TMP/help" &&
	grep -q '^  qemu32 ' "$TMP/help" && grep -q '^  athlon ' "$TMP/help"; then
	pass cpu.cli.help_lists_models
else
	fail cpu.cli.help_lists_models "status $rc: $(head -n 3 "$TMP/help" | tr '\n' '|')"
fi

timeout 10 $RINGVM run --cpu pentium9 >"$TMP/bad.out" 2>"$TMP/bad.err" </dev/null
rc=$?
if [ $rc -eq 2 ] && [ "$(wc -l <"$TMP/bad.err")" -eq 1 ] && grep -q 'unknown CPU model' "$TMP/bad.err" &&
	[ ! -s "$TMP/bad.out" ]; then
	pass cpu.cli.unknown_model
else
	fail cpu.cli.unknown_model "status $rc, stderr: $(tr '\n' '|' <"$TMP/bad.err")"
fi

# core_mask: leaf 1 EDX bits this core may report (pse tsc msr cx8 sep pge
# cmov, and fpu once the x87 is in).
CORE_MASK=$((0xa939))

# check_model NAME OUT VENDOR SIGNATURE: the kit's cpu lines.
check_model() {
	local name=$1 out=$2 vendor=$3 sig=$4
	local feat
	feat=$(sed -n 's/^cpu: .*features=\(0x[0-9a-f]*\).*/\1/p' "$out")
	if ! grep -q "^cpu: vendor=\"$vendor\"" "$out"; then
		fail "$name" "$(grep '^cpu: vendor' "$out")"
	elif ! grep -q "^cpu: signature=$sig .*hypervisor=\"RingVMRingVM\"" "$out"; then
		fail "$name" "$(grep '^cpu: sig' "$out")"
	elif [ -z "$feat" ] || [ $((feat & ~CORE_MASK)) -ne 0 ]; then
		fail "$name" "features $feat outside what the core implements ($(printf %#x $CORE_MASK))"
	else
		pass "$name"
	fi
}

run_vm "$TMP/interp" $RINGVM run --engine interp --append smoke
check_model cpu.model.interp_default "$TMP/interp" GenuineIntel 0x652
run_vm "$TMP/athlon" $RINGVM run --engine interp --cpu athlon --append smoke
check_model cpu.model.interp_athlon "$TMP/athlon" AuthenticAMD 0x621
run_vm "$TMP/ppro" $RINGVM run --engine interp --cpu pentiumpro --append smoke
check_model cpu.model.interp_pentiumpro "$TMP/ppro" GenuineIntel 0x619

# trap: CPUID is not privileged. Without CPUID faulting (arch_prctl
# ARCH_SET_CPUID; this AMD host refuses it) the guest executes it natively
# and sees the host CPU: a hole like SGDT's, measured here.
if $RINGVM engines | grep -q '^trap .*available'; then
	run_vm "$TMP/trap" $RINGVM run --engine trap --append smoke
	host_vendor=$(sed -n 's/^vendor_id[^:]*: *//p' /proc/cpuinfo | head -n 1)
	if grep -q '^cpu: signature=0x652 .*RingVMRingVM' "$TMP/trap"; then
		check_model cpu.model.trap "$TMP/trap" GenuineIntel 0x652
	elif grep -q "^cpu: vendor=\"$host_vendor\"" "$TMP/trap"; then
		skip cpu.model.trap "CPUID runs natively (no CPUID faulting here): the guest sees the host's $(grep '^cpu: sig' "$TMP/trap" | cut -c6-)"
	else
		fail cpu.model.trap "neither the model nor the host: $(grep '^cpu:' "$TMP/trap" | tr '\n' '|')"
	fi
fi
exit 0
