# Random guest code: whatever the bytes do, the VMM must not crash. Each
# image is a Multiboot a.out-kludge kernel of random bytes (fixed seeds, so
# a failure can be replayed), run under the ASan+UBSan build; the run may
# end in any guest status or still be running at the time limit, but never
# in a signal, a sanitizer report or a status ringvm does not document.
. tests/lib.sh
N=${FUZZ_IMAGES:-24}
python3 tests/fuzz_images.py "$TMP" 0 "$N"
bad=0
for i in $(seq 0 $((N - 1))); do
	timeout -k 2 3 $ASAN_RINGVM run --engine interp --kernel "$TMP/fuzz$i.bin" --mem 16M >"$TMP/o" 2>&1 </dev/null
	rc=$?
	if grep -qE 'Sanitizer|runtime error' "$TMP/o"; then
		fail "fuzz.random_code_$i" "sanitizer report: $(grep -m1 -E 'Sanitizer|runtime error' "$TMP/o")"
		bad=1
	elif ! fuzz_ended_cleanly "$TMP/o"; then
		fail "fuzz.random_code_$i" "status $rc: $(tail -n 2 "$TMP/o" | tr '\n' '|')"
		bad=1
	fi
done
[ $bad -eq 0 ] && pass "fuzz.random_code ($N images)"
exit 0
