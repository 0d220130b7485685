# Random guest code: whatever the bytes do, the VMM must not crash. Each
# image is a Multiboot a.out-kludge kernel of random bytes (fixed seeds, so
# a failure can be replayed), run under the ASan+UBSan build; the run may
# end in any guest status or still be running at the time limit, but never
# in a signal, a sanitizer report or a status ringvm does not document.
. tests/lib.sh
N=${FUZZ_IMAGES:-24}
python3 - "$TMP" "$N" <<'PY'
import random, struct, sys
out, n = sys.argv[1], int(sys.argv[2])
for seed in range(n):
    r = random.Random(seed)
    load, entry = 0x100000, 0x100020
    flags = 1 << 16
    hdr = struct.pack("<8I", 0x1BADB002, flags, (-(0x1BADB002 + flags)) & 0xffffffff,
                      load, load, 0, load + 0x10000, entry)
    body = bytes(r.getrandbits(8) for _ in range(4096 - len(hdr)))
    open(f"{out}/fuzz{seed}.bin", "wb").write(hdr + body)
PY
bad=0
for i in $(seq 0 $((N - 1))); do
	timeout -k 2 3 $ASAN_RINGVM run --engine interp --kernel "$TMP/fuzz$i.bin" --mem 16M >"$TMP/o" 2>&1 </dev/null
	rc=$?
	if grep -qE 'Sanitizer|runtime error' "$TMP/o"; then
		fail "fuzz.random_code_$i" "sanitizer report: $(grep -m1 -E 'Sanitizer|runtime error' "$TMP/o")"
		bad=1
	else
		# 0 reset, 4 guest died, 124 still running at the limit, or the
		# guest's own debug-exit status (said so on stderr).
		if ! { [ $rc -eq 0 ] || [ $rc -eq 4 ] || [ $rc -eq 124 ] ||
			grep -q 'to the debug-exit port: exit status' "$TMP/o"; }; then
			fail "fuzz.random_code_$i" "status $rc: $(tail -n 2 "$TMP/o" | tr '\n' '|')"
			bad=1
		fi
	fi
done
[ $bad -eq 0 ] && pass "fuzz.random_code ($N images)"
exit 0
