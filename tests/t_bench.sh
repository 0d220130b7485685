# The guest kit's benchmarks (bench/README.md) in quick mode on every
# available engine: each benchmark prints a number (no speed is asserted),
# and the compute checksum equals the native build's for the same rounds.
. tests/lib.sh
VM_TIMEOUT=120
NAMES="syscall in cr3 cli_sti pushf_popf pgfault ptemod ptemod64 divzero call_ret timer x87 compute compute_cold forkwait"
NOPAGING="in cli_sti pushf_popf call_ret divzero timer"   # the smoke (paging off) build's

# check_benches ENGINE OUT NAMES...: one PASS/FAIL per benchmark.
check_benches() {
	local e=$1 out=$2 n
	shift 2
	for n in "$@"; do
		if grep -qaE "^FAIL bench\.$n[: ]" "$out"; then
			fail "bench.$e.$n" "$(grep -aE "^FAIL bench\.$n[: ]" "$out" | head -n 1)"
		elif grep -qaE "^BENCH $n cycles_per_op=[0-9]+ ops=[1-9][0-9]*" "$out"; then
			pass "bench.$e.$n"
		else
			fail "bench.$e.$n" "no BENCH line (status $rc); last lines: $(tail -n 3 "$out" | tr '\n' '|')"
		fi
	done
}

if ! engines=$($RINGVM engines 2>&1); then
	fail bench.engines "ringvm engines failed: $(echo "$engines" | tail -n 2 | tr '\n' '|')"
	exit 0
fi
available=$(available_engines | tr '\n' ' ')
[ -n "$available" ] || fail bench.engines "no engine marked available: $(echo "$engines" | tr '\n' '|')"
# Every engine marked available is benchmarked (a parse that dropped
# "binary translation" once left bt and trap out unnoticed).
for e in $(echo "$engines" | grep -v '^default' | grep -v ' unavailable' | awk '{ print $1 }'); do
	case " $available " in *" $e "*) ;; *) fail bench.engines "$e is available but not benchmarked: $available" ;; esac
done

ran=""
for e in $available; do
	if [ "$e" = kvm ] && ! host_has_vmx; then
		skip bench.kvm "no VT-x/AMD-V on this host: its /dev/kvm (a software hypervisor) cannot run the paged guest kit; the paging-off subset runs as bench.kvm_nopaging.*"
		VM_TIMEOUT=60 run_vm "$TMP/kvm_nopaging" $RINGVM run --engine kvm --append "smoke bench=all iters=200 nopv"
		check_benches kvm_nopaging "$TMP/kvm_nopaging" $NOPAGING
		VM_TIMEOUT=60 run_vm "$TMP/kvm_nopaging_pv" $RINGVM run --engine kvm --append "smoke bench=all iters=200"
		check_benches kvm_nopaging+pv "$TMP/kvm_nopaging_pv" $NOPAGING
		continue
	fi
	# The kit's full-virtualization path, then its paravirtual one.
	run_vm "$TMP/$e" $RINGVM run --engine "$e" --append "bench=all quick nopv"
	check_benches "$e" "$TMP/$e" $NAMES
	run_vm "$TMP/$e+pv" $RINGVM run --engine "$e" --append "bench=all quick"
	check_benches "$e+pv" "$TMP/$e+pv" $NAMES
	ran="$ran $e $e+pv"
done

# The same rounds as the guests' quick mode: 1.
NATIVE=build/bench/native_compute
make -s $NATIVE >/dev/null 2>&1 # rebuilt when guest/compute.c or its driver changed
if [ ! -x $NATIVE ]; then
	fail bench.compute_checksum "$NATIVE is missing and does not build"
elif [ -z "$ran" ]; then
	skip bench.compute_checksum "no engine ran the compute benchmark"
else
	want=$($NATIVE rounds=1 | sed -n 's/.* checksum=\(0x[0-9a-f]*\).*/\1/p')
	bad=""
	for e in $ran; do
		got=$(sed -n 's/^BENCH compute .*ops=1 checksum=\(0x[0-9a-f]*\).*/\1/p' "$TMP/$e" | tr -d '\r')
		[ -n "$want" ] && [ "$got" = "$want" ] || bad="$bad $e:${got:-none}"
	done
	if [ -z "$bad" ]; then
		pass bench.compute_checksum
	else
		fail bench.compute_checksum "native rounds=1 checksum ${want:-none}, engines gave$bad"
	fi
fi
exit 0
