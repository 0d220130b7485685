# Helpers for the shell tests: one PASS/FAIL/SKIP line per check.
RINGVM=${RINGVM:-build/ringvm}
ASAN_RINGVM=${ASAN_RINGVM:-build/asan/ringvm}
UBSAN_RINGVM=${UBSAN_RINGVM:-build/ubsan/ringvm}
# Engines that run guest code natively cannot run under ASan (its shadow
# owns the low 4 GiB): they are tested under the UBSan-only build. The list
# is the Makefile's NATIVE_ENGINES, so a new native engine joins by one edit.
NATIVE_ENGINES=${NATIVE_ENGINES:-$(sed -n 's/^NATIVE_ENGINES *:= *//p' Makefile)}
is_native() { case " $NATIVE_ENGINES " in *" $1 "*) return 0 ;; esac; return 1; }
# vmm_for ENGINE: the sanitized binary that tests it.
vmm_for() { if is_native "$1"; then echo "$UBSAN_RINGVM"; else echo "$ASAN_RINGVM"; fi; }
KIT=${KIT:-build/guest/kit.elf}
GUESTS=build/tests/guests
export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:abort_on_error=0}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}
TMP=$(mktemp -d)
trap 'rm -rf "$TMP"' EXIT

pass() { echo "PASS $1"; }
fail() { echo "FAIL $1: $2"; }
skip() { echo "SKIP $1: $2"; }

# run_vm OUT -- args...: runs with a time limit; stdout+stderr in OUT, status in $rc.
run_vm() {
	local out=$1
	shift
	timeout -k 5 "${VM_TIMEOUT:-120}" "$@" >"$out" 2>&1 </dev/null
	rc=$?
}

# available_engines: the engines `ringvm engines` marks available, one name
# per line. The kind column may be several words ("binary translation") and
# the status may carry a note ("available; a teaching engine"), so no fixed
# column is read.
available_engines() {
	$RINGVM engines | awk '/^[a-z0-9]+ / {
		for (i = 2; i <= NF; i++) {
			w = $i; sub(/[:;,]$/, "", w)
			if (w == "available") { print $1; break }
			if (w == "unavailable") break
		}
	}'
}

# kvm_usable: /dev/kvm opens for us.
kvm_usable() { [ -r /dev/kvm ] && [ -w /dev/kvm ]; }
# host_has_vmx: the CPU itself has VT-x or AMD-V.
host_has_vmx() { grep -qwE 'vmx|svm' /proc/cpuinfo; }
qemu_usable() { command -v qemu-system-i386 >/dev/null; }

# expect_status NAME OUT WANT: the run ended with status WANT, no sanitizer report.
expect_status() {
	local name=$1 out=$2 want=$3
	if grep -qE 'AddressSanitizer|UndefinedBehaviorSanitizer|runtime error|LeakSanitizer' "$out"; then
		fail "$name" "sanitizer report: $(grep -m1 -E 'Sanitizer|runtime error' "$out")"
	elif [ "$rc" -ne "$want" ]; then
		fail "$name" "exit status $rc, expected $want; last lines: $(tail -n 3 "$out" | tr '\n' '|')"
	else
		pass "$name"
	fi
}

# pass_set FILE: the sorted PASS lines a guest printed.
pass_set() { grep -aE '^PASS ' "$1" | tr -d '\r' | sort; }

# fuzz_ended_cleanly OUT: a random-code run ended as a guest may end it
# (rc 0 reset, 4 guest died, 124 still running at the time limit, or the
# guest's own debug-exit status, which ringvm names on stderr), never in a
# signal or an undocumented status.
fuzz_ended_cleanly() {
	[ "$rc" -eq 0 ] || [ "$rc" -eq 4 ] || [ "$rc" -eq 124 ] ||
		grep -q 'to the debug-exit port: exit status' "$1"
}
