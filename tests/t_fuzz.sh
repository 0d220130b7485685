# Random guests against every software engine: whatever a guest does, the
# VMM must not crash, must not report a sanitizer error, and must stop
# within a second of SIGTERM. Two generators, fixed seeds (a failure names
# its image, and the same seed rebuilds it):
#   - fuzz_images.py: 4 KiB of random code (most die at once);
#   - fuzz_system.py: a working GDT/TSS/LDT/IDT (sometimes paging), then
#     slots of random system instructions, resumed after each fault.
# The engines come from `ringvm engines` (every available engine that is
# not hardware-assisted), each under its sanitizer build (vmm_for: ASan,
# or UBSan alone for the native engines). Each image runs for at most
# FUZZ_SECONDS; a guest that is still running then gets SIGTERM and must
# be gone within 1 s (a guest may loop forever; the VMM may not ignore
# SIGTERM). The suite runs 150 + 150 images per engine (about 20 s each
# here); `make fuzz` runs 500 of each kind.
. tests/lib.sh
N_RANDOM=${FUZZ_IMAGES:-150}
N_SYSTEM=${FUZZ_SYSTEM_IMAGES:-150}
export FUZZ_SECONDS=${FUZZ_SECONDS:-2}
export TMP
python3 tests/fuzz_images.py "$TMP" 0 "$N_RANDOM"
python3 tests/fuzz_system.py "$TMP" 0 "$N_SYSTEM"

# fuzz_one ENGINE VMM IMAGE: prints nothing, or one "bad" line.
fuzz_one() {
	local e=$1 vmm=$2 img=$3 out rc
	out="$TMP/$(basename "$img").$e.out"
	timeout -k 1 "$FUZZ_SECONDS" "$vmm" run --engine "$e" --kernel "$img" --mem 16M \
		>"$out" 2>&1 </dev/null
	rc=$?
	if [ $rc -eq 137 ]; then
		echo "$(basename "$img"): still running 1 s after SIGTERM"
	elif grep -qE 'Sanitizer|runtime error' "$out"; then
		echo "$(basename "$img"): $(grep -m1 -E 'Sanitizer|runtime error' "$out")"
	elif ! fuzz_ended_cleanly "$out"; then
		echo "$(basename "$img"): status $rc: $(tail -n 1 "$out" | cut -c1-120)"
	else
		echo "$rc" >"$out.rc"
	fi
	rm -f "$out"
}
export -f fuzz_one fuzz_ended_cleanly

# The kind can be two words ("binary translation"): match the status, not
# a field number (reading $3 once skipped bt, whose $3 is "translation").
engines=$(available_engines | grep -vx kvm)
case " $(echo $engines) " in
*" bt "*) ;;
*) if $RINGVM engines | grep -qE '^bt +.* available'; then
	fail fuzz.engines "bt is available but not in the fuzzed list: $engines"
   fi ;;
esac
for e in $engines; do
	vmm=$(vmm_for "$e")
	for kind in random system; do
		if [ $kind = random ]; then
			imgs=$(seq 0 $((N_RANDOM - 1)) | sed "s|.*|$TMP/fuzz&.bin|")
		else
			imgs=$(seq 0 $((N_SYSTEM - 1)) | sed "s|.*|$TMP/sys&.elf|")
		fi
		n=$(echo "$imgs" | wc -l)
		rm -f "$TMP"/*.rc
		echo "$imgs" | xargs -P 2 -I{} bash -c 'fuzz_one "$@"' _ "$e" "$vmm" {} >"$TMP/bad"
		# How the images ended (status: count), for the log.
		echo "# fuzz $e $kind: $(cat "$TMP"/*.rc 2>/dev/null | sort -n | uniq -c |
			awk '{ printf "%s%s:%s", sep, $2, $1; sep = " " }')"
		if [ -s "$TMP/bad" ]; then
			fail "fuzz.$e.$kind" "$(wc -l <"$TMP/bad") of $n images: $(head -n 5 "$TMP/bad" | tr '\n' ';')"
		else
			pass "fuzz.$e.$kind ($n images)"
		fi
	done
done
exit 0
