# Real mode outside the guest kit (tests/guests/real_tick.S): a guest that
# leaves protected mode and counts 20 timer interrupts through the
# real-mode IVT ends on QEMU-TCG and every software engine, and one that
# spins in real mode forever (real_spin.S) still lets SIGTERM end the VMM
# at once. Under trap real-mode code runs in the core, inside the signal
# handler: both fail if that emulation is unbounded (no kick, no timer
# interrupt, SIGTERM held back).
. tests/lib.sh
VM_TIMEOUT=60

if qemu_usable; then
	timeout 60 qemu-system-i386 -kernel $GUESTS/real_tick.elf -display none -serial stdio \
		-no-reboot -device isa-debug-exit,iobase=0xf4,iosize=0x04 -m 128 \
		>"$TMP/tick.qemu" 2>&1 </dev/null
	rc=$?
	if [ $rc -eq 1 ]; then
		pass "modes.real_timer_ticks.qemu"
	else
		fail "modes.real_timer_ticks.qemu" "status $rc (want 1)"
	fi
else
	skip "modes.real_timer_ticks.qemu" "qemu-system-i386 is not installed"
fi

engines="interp"
$RINGVM engines | grep -q '^trap .*available' && engines="interp trap"
for e in $engines; do
	run_vm "$TMP/tick.$e" $RINGVM run --engine $e --kernel $GUESTS/real_tick.elf
	expect_status "modes.real_timer_ticks.$e" "$TMP/tick.$e" 1

	$RINGVM run --engine $e --kernel $GUESTS/real_spin.elf >"$TMP/spin.$e" 2>&1 </dev/null &
	pid=$!
	sleep 1
	if ! kill -0 $pid 2>/dev/null; then
		wait $pid
		fail "modes.sigterm_in_real_mode.$e" "the guest ended by itself (status $?): $(tail -n 2 "$TMP/spin.$e" | tr '\n' '|')"
		continue
	fi
	kill -TERM $pid
	for _ in $(seq 20); do
		kill -0 $pid 2>/dev/null || break
		sleep 0.1
	done
	if kill -0 $pid 2>/dev/null; then
		kill -KILL $pid
		wait $pid 2>/dev/null
		fail "modes.sigterm_in_real_mode.$e" "still running 2 s after SIGTERM"
	else
		wait $pid
		rc=$?
		if [ $rc -eq 143 ]; then
			pass "modes.sigterm_in_real_mode.$e"
		else
			fail "modes.sigterm_in_real_mode.$e" "status $rc, expected death by SIGTERM (143)"
		fi
	fi
done
exit 0
