# The whole-VMM sandbox as the kernel sees it: with the default (on), every
# engine's running VMM has our seccomp filter (trap: on top of its own);
# --sandbox off really leaves it out. What the filter refuses, and how that
# is reported, is tests/unit/test_sandbox.c; that every engine works under
# it is the rest of the suite, which runs with the default.
. tests/lib.sh

trap_ok() { "$RINGVM" engines 2>/dev/null | grep -qE '^trap +trap-and-emulate +available'; }

# seccomp_filters BIN ENGINE [OPTS]: runs the echo guest, and once it has
# echoed one byte (the run loop is running) sets $got to "Seccomp
# Seccomp_filters" of the running VMM; then lets it finish: $rc is its status.
seccomp_filters() {
	local bin=$1 e=$2
	shift 2
	rm -f "$TMP/in" "$TMP/out"
	mkfifo "$TMP/in"
	timeout 60 "$bin" run --engine "$e" --kernel "$GUESTS/echo.elf" "$@" <"$TMP/in" >"$TMP/out" 2>&1 &
	local pid=$! vmpid=""
	exec 3>"$TMP/in"
	printf a >&3
	for _ in $(seq 100); do
		grep -q A "$TMP/out" 2>/dev/null && break
		sleep 0.1
	done
	vmpid=$(pgrep -P "$pid" | head -n 1)
	got=$(awk '/^Seccomp:/{s=$2} /^Seccomp_filters:/{f=$2} END{print s, f}' "/proc/$vmpid/status" 2>/dev/null)
	printf '\n' >&3
	exec 3>&-
	wait "$pid"
	rc=$?
}

check() { # name engine binary filters-on filters-off
	local name=$1 e=$2 bin=$3 on=$4 off=$5
	seccomp_filters "$bin" "$e"
	local got_on=$got rc_on=$rc
	seccomp_filters "$bin" "$e" --sandbox off
	local got_off=$got
	if [ "$got_on" = "2 $on" ] && [ "$got_off" = "$off" ] && [ $rc_on -eq 1 ] && [ $rc -eq 1 ]; then
		pass "$name"
	else
		fail "$name" "on: '$got_on' status $rc_on (want '2 $on', 1); off: '$got_off' status $rc (want '$off', 1)"
	fi
}

check sandbox.interp interp "$ASAN_RINGVM" 1 "0 0"
if kvm_usable; then
	check sandbox.kvm kvm "$ASAN_RINGVM" 1 "0 0"
else
	skip sandbox.kvm "/dev/kvm unusable"
fi
if trap_ok; then
	# trap's own filter traps guest system calls; ours stacks on it.
	check sandbox.trap trap "$RINGVM" 2 "2 1"
else
	skip sandbox.trap "trap unavailable here"
fi

# The exit paths under the sandbox: SIGTERM, SIGINT and SIGHUP still end the
# VMM by that signal (after restoring stdin's flags), not by a blocked call.
signals() { # name engine binary
	local name=$1 e=$2 bin=$3 why="" sig num
	for sig in TERM:15 INT:2 HUP:1; do
		num=${sig#*:}
		sig=${sig%:*}
		sleep 1.3 | {
			timeout --preserve-status -s "$sig" 1 "$bin" run --engine "$e" \
				--kernel "$GUESTS/echo.elf" >/dev/null 2>"$TMP/err"
			echo $? >"$TMP/rc"
			python3 -c 'import fcntl, os; print("nonblock" if fcntl.fcntl(0, fcntl.F_GETFL) & os.O_NONBLOCK else "blocking")' >"$TMP/fl"
		}
		[ "$(cat "$TMP/rc")" -eq $((128 + num)) ] || why="$why SIG$sig: status $(cat "$TMP/rc");"
		grep -q blocked "$TMP/err" && why="$why SIG$sig: $(cat "$TMP/err");"
		[ "$(cat "$TMP/fl")" = blocking ] || why="$why SIG$sig: stdin left non-blocking;"
	done
	[ -z "$why" ] && pass "$name" || fail "$name" "$why"
}
signals sandbox.signals.interp interp "$ASAN_RINGVM"
if kvm_usable; then
	signals sandbox.signals.kvm kvm "$ASAN_RINGVM"
else
	skip sandbox.signals.kvm "/dev/kvm unusable"
fi
if trap_ok; then
	signals sandbox.signals.trap trap "$RINGVM"
else
	skip sandbox.signals.trap "trap unavailable here"
fi

# A forbidden call from the VMM itself, in the real binary: a preloaded shim
# makes ringvm's run loop make one call (at its first timer_settime, after
# the sandbox is on): SHIM_CALL says which. (Preloaded into ringvm only, not
# into timeout, which calls timer_settime too.) Expected: the one line, status
# 8, and stdin's flags restored; with --sandbox off the call simply runs.
# (Not the ASan build: its runtime must come first among the libraries, and
# its filter allows what LeakSanitizer needs. Not trap: its own SIGSYS
# handler reports the VMM's calls.)
cat >"$TMP/shim.c" <<'C'
#define _GNU_SOURCE
#include <dlfcn.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>
static void forbidden(const char *what)
{
	int ok = 0;
	if (!strcmp(what, "socket"))
		ok = socket(AF_INET, SOCK_STREAM, 0) >= 0;
	else if (!strcmp(what, "open"))
		ok = open("/etc/hostname", O_RDONLY) >= 0;
	else if (!strcmp(what, "execve")) {
		char *argv[] = { "/bin/true", NULL };
		execve("/bin/true", argv, NULL);
	} else if (!strcmp(what, "mmap_exec"))
		ok = mmap(NULL, 4096, PROT_READ | PROT_EXEC, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0) != MAP_FAILED;
	if (ok)
		write(2, "shim: call ran\n", 15);
}
int timer_settime(timer_t t, int flags, const struct itimerspec *n, struct itimerspec *o)
{
	static int done;
	const char *what = getenv("SHIM_CALL");
	if (!done++ && what)
		forbidden(what);
	int (*real)(timer_t, int, const struct itimerspec *, struct itimerspec *) =
		(int (*)(timer_t, int, const struct itimerspec *, struct itimerspec *))dlsym(RTLD_NEXT, "timer_settime");
	return real(t, flags, n, o);
}
C
if ! cc -shared -fPIC -o "$TMP/shim.so" "$TMP/shim.c" -ldl 2>"$TMP/cc.err"; then
	skip sandbox.blocked_call_reported "cannot build the shim: $(head -n 1 "$TMP/cc.err")"
else
	for c in interp:socket:41 interp:open:257 interp:execve:59 interp:mmap_exec:9 kvm:socket:41; do
		e=${c%%:*} call=${c#*:} nr=${c##*:}
		call=${call%:*}
		if [ $e = kvm ] && ! kvm_usable; then
			skip sandbox.blocked_call_reported.$e.$call "/dev/kvm unusable"
			skip sandbox.off_really_off.$e.$call "/dev/kvm unusable"
			continue
		fi
		sleep 1 | {
			timeout 60 env SHIM_CALL=$call LD_PRELOAD="$TMP/shim.so" "$RINGVM" run \
				--engine $e --append smoke >"$TMP/out" 2>"$TMP/err"
			echo $? >"$TMP/rc"
			python3 -c 'import fcntl, os; print("nonblock" if fcntl.fcntl(0, fcntl.F_GETFL) & os.O_NONBLOCK else "blocking")' >"$TMP/fl"
		}
		rc=$(cat "$TMP/rc")
		want="ringvm: sandbox: blocked system call $nr ($([ $call = mmap_exec ] && echo mmap || { [ $call = open ] && echo openat; } || echo $call))"
		if [ "$rc" -eq 8 ] && [ "$(grep -c 'sandbox: blocked' "$TMP/err")" -eq 1 ] &&
			[ "$(tail -n 1 "$TMP/err")" = "$want" ] && [ "$(cat "$TMP/fl")" = blocking ]; then
			pass sandbox.blocked_call_reported.$e.$call
		else
			fail sandbox.blocked_call_reported.$e.$call "status $rc, stdin $(cat "$TMP/fl"), stderr: $(tr '\n' '|' <"$TMP/err") (want: $want)"
		fi
		[ $call = execve ] && continue # with the sandbox off it would replace ringvm
		run_vm "$TMP/o" env SHIM_CALL=$call LD_PRELOAD="$TMP/shim.so" "$RINGVM" run --engine $e \
			--append smoke --sandbox off
		if [ $rc -eq 1 ] && grep -q 'shim: call ran' "$TMP/o"; then
			pass sandbox.off_really_off.$e.$call
		else
			fail sandbox.off_really_off.$e.$call "status $rc: $(grep -E 'shim|sandbox' "$TMP/o" | tr '\n' '|')"
		fi
	done
fi
exit 0
