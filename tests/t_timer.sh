# A guest that programs the PIT fast (issue 8, finding 4): at ~24 kHz
# (divisor 50) and at the highest rate (divisor 2) the guest must keep
# computing, and see a sensible number of ticks (the kit's timer.fast and
# timer.max, which measure their interval with PIT channel 2). --stats
# reports the interrupt rate the guest saw.
. tests/lib.sh
VM_TIMEOUT=120

engines="interp"
$RINGVM engines | grep -q '^trap .*available' && engines="interp trap"
for e in $engines; do
	run_vm "$TMP/$e" $RINGVM run --engine $e --append only=timer. --stats
	for t in timer.fast timer.max; do
		if grep -qa "^PASS $t\$" "$TMP/$e"; then
			pass "$t.$e"
		else
			fail "$t.$e" "$(grep -a -m1 -E "^(FAIL $t|# $t)" "$TMP/$e" || tail -n 2 "$TMP/$e" | tr '\n' '|')"
		fi
	done
	if grep -qaE '^timer interrupts +[0-9]+ +\([0-9]+/s\), [0-9]+ ticks coalesced' "$TMP/$e"; then
		pass "timer.stats_rate.$e"
	else
		fail "timer.stats_rate.$e" "--stats has no timer interrupt rate line"
	fi
done
exit 0
