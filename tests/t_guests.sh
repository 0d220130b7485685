# Guests that do absurd things end in a clean, explained stop: a status
# and a register dump, never a VMM crash. Under ASan+UBSan, except trap
# (ASan's shadow takes the low 4 GiB that trap gives the guest); kvm where
# /dev/kvm exists (these guests never enable paging).
. tests/lib.sh
VM_TIMEOUT=60

engines="interp"
$RINGVM engines | grep -q '^trap .*available' && engines="$engines trap"
kvm_usable && engines="$engines kvm"
for e in $engines; do
	R=$(vmm_for $e)
	run_vm "$TMP/o" $R run --engine $e --kernel $GUESTS/triple_fault.elf
	# kvm_pvm (no VT-x/AMD-V) cannot even emulate the INT3 and says so: the
	# run must still end with status 4 and a register dump.
	if grep -qE 'triple fault|could not emulate' "$TMP/o" && grep -q 'EIP=' "$TMP/o"; then
		expect_status "guest.$e.triple_fault" "$TMP/o" 4
	else
		fail "guest.$e.triple_fault" "no triple-fault message and register dump (status $rc)"
	fi
	run_vm "$TMP/o" $R run --engine $e --kernel $GUESTS/cli_hlt.elf
	# cli; hlt is how a PC without ACPI powers off (Linux's halt): status 0.
	if grep -q 'interrupts disabled (powered off)' "$TMP/o"; then
		expect_status "guest.$e.cli_hlt" "$TMP/o" 0
	else
		fail "guest.$e.cli_hlt" "status $rc, no 'interrupts disabled' message"
	fi
	run_vm "$TMP/o" $R run --engine $e --kernel $GUESTS/unclaimed_port.elf --stats
	if grep -q 'unclaimed port read' "$TMP/o"; then
		expect_status "guest.$e.unclaimed_port" "$TMP/o" 1
	else
		fail "guest.$e.unclaimed_port" "status $rc, unclaimed reads not counted in --stats"
	fi
	run_vm "$TMP/o" $R run --engine $e --kernel $GUESTS/ps2_reset.elf
	if grep -q 'reset the machine' "$TMP/o"; then
		expect_status "guest.$e.ps2_reset" "$TMP/o" 0
	else
		fail "guest.$e.ps2_reset" "status $rc, no reset message"
	fi
done
# Jumping into non-RAM: the emulator fetches all-ones bytes from the
# unclaimed MMIO space, which is #UD, and with no IDT that is a shutdown.
for e in interp $(echo "$engines" | grep -ow trap); do
	run_vm "$TMP/o" $(vmm_for $e) run --engine $e --kernel $GUESTS/wild_jump.elf
	expect_status guest.$e.wild_jump "$TMP/o" 4
done

# COM1 input: bytes on the host's stdin reach the guest through the UART.
for e in $engines; do
	printf 'hello, ringvm\n' | timeout 60 $(vmm_for $e) run --engine $e --kernel $GUESTS/echo.elf >"$TMP/o" 2>&1
	rc=$?
	if grep -q 'HELLO, RINGVM' "$TMP/o"; then
		expect_status "guest.$e.uart_input" "$TMP/o" 1
	else
		fail "guest.$e.uart_input" "status $rc; the guest did not echo its input: $(head -c 200 "$TMP/o" | tr '\n' '|')"
	fi
done
exit 0
