# The x87 FPU in the guest kit's fpu group, with the FERR#/IRQ13 test that
# the kit runs only when asked ("ferr": QEMU-TCG 7.2 aborts on it, so the
# default run that is compared with QEMU leaves it out). interp under
# ASan+UBSan runs every fpu test; trap fails exactly its #NM holes (the
# guest's CR0.TS/EM/MP never reach the host) and passes the rest, FERR#
# included (the host's #MF becomes the guest's IRQ13 in the core).
. tests/lib.sh
VM_TIMEOUT=120

run_vm "$TMP/interp" $ASAN_RINGVM run --engine interp --append "only=fpu ferr"
if grep -qaE '^FAIL ' "$TMP/interp"; then
	fail fpu.kit_interp "$(grep -aE '^FAIL ' "$TMP/interp" | head -n 3 | tr '\n' '|')"
elif ! grep -qa '^PASS fpu.ferr_irq13' "$TMP/interp" || \
	! grep -qaE '^SUMMARY passed=10 failed=0' "$TMP/interp"; then
	fail fpu.kit_interp "not the 10 fpu tests passing (status $rc): $(tail -n 2 "$TMP/interp" | tr '\n' '|')"
else
	expect_status fpu.kit_interp "$TMP/interp" 1
fi

if ! $RINGVM engines | grep -q '^trap .*available'; then
	skip fpu.kit_trap "engine unavailable here: $($RINGVM engines | grep '^trap')"
	exit 0
fi
run_vm "$TMP/trap" $RINGVM run --engine trap --append "only=fpu ferr"
got=$(grep -aE '^FAIL ' "$TMP/trap" | sed 's/^FAIL \([^:]*\):.*/\1/' | sort | tr '\n' ' ')
want="fpu.nm_em fpu.nm_ts fpu.nm_wait_mp_ts "
if [ "$got" = "$want" ] && grep -qaE '^SUMMARY passed=7 failed=3' "$TMP/trap" && [ $rc -eq 3 ]; then
	pass fpu.kit_trap
else
	fail fpu.kit_trap "status $rc; FAIL set [$got], expected [$want]: $(tail -n 1 "$TMP/trap")"
fi

# Random x87 code (tests/x87_fuzz_images.py: 1,520 random x87 instructions,
# every exception skipped) ends in the same x87 state under interp (the
# host's x87 through the emulator, ASan+UBSan) and trap (natively, the core
# only for what traps): control, status and tag words and registers of the
# final FNSAVE, which the guest prints on COM1.
N=${X87_FUZZ_IMAGES:-12}
python3 tests/x87_fuzz_images.py "$TMP" 0 "$N"
bad=""
for i in $(seq 0 $((N - 1))); do
	run_vm "$TMP/fi" $ASAN_RINGVM run --engine interp --kernel "$TMP/x87fuzz$i.bin" --mem 16M
	rci=$rc
	run_vm "$TMP/ft" $RINGVM run --engine trap --kernel "$TMP/x87fuzz$i.bin" --mem 16M
	rct=$rc
	a=$(grep -aE '^[0-9A-F]{216}' "$TMP/fi" | head -n 1 | tr -d '\r')
	b=$(grep -aE '^[0-9A-F]{216}' "$TMP/ft" | head -n 1 | tr -d '\r')
	# the image less its pointer fields (bytes 12..27: FIP FCS/FOP FDP FDS)
	if grep -qE 'Sanitizer|runtime error' "$TMP/fi" || [ $rci -ne 11 ] || [ $rct -ne 11 ] ||
		[ -z "$a" ] || [ "${a:0:24}${a:56}" != "${b:0:24}${b:56}" ]; then
		bad="$bad $i(interp $rci, trap $rct)"
	fi
done
if [ -z "$bad" ]; then
	pass "fpu.fuzz_interp_trap_agree ($N images)"
else
	fail fpu.fuzz_interp_trap_agree "final x87 states differ or a run failed:$bad"
fi
exit 0
