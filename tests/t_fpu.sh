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
exit 0
