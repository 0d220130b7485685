# Single-stepping (issue 8, finding 5) outside the guest kit: a guest whose
# #DB handler IRETs back into TF-set code takes 20,000 single-step traps and
# ends (tf_step.elf), and one that steps forever (tf_spin.elf) still lets
# SIGTERM end the VMM at once, on every software engine.
. tests/lib.sh
VM_TIMEOUT=60

engines="interp"
$RINGVM engines | grep -q '^trap .*available' && engines="interp trap"
for e in $engines; do
	run_vm "$TMP/step.$e" $RINGVM run --engine $e --kernel $GUESTS/tf_step.elf
	expect_status "step.20000_traps.$e" "$TMP/step.$e" 1

	$RINGVM run --engine $e --kernel $GUESTS/tf_spin.elf >"$TMP/spin.$e" 2>&1 </dev/null &
	pid=$!
	sleep 1
	if ! kill -0 $pid 2>/dev/null; then
		wait $pid
		fail "step.sigterm_while_stepping.$e" "the guest ended by itself (status $?): $(tail -n 2 "$TMP/spin.$e" | tr '\n' '|')"
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
		fail "step.sigterm_while_stepping.$e" "still running 2 s after SIGTERM"
	else
		wait $pid
		rc=$?
		if [ $rc -eq 143 ]; then
			pass "step.sigterm_while_stepping.$e"
		else
			fail "step.sigterm_while_stepping.$e" "status $rc, expected death by SIGTERM (143)"
		fi
	fi
done
exit 0
