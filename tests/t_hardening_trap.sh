# Hostile guests against the trap engine (issue 8, findings 1 and 2): guest
# code that escapes the LDT sandbox into the host's own selectors, guest
# system calls of every ABI, and emulation work that could keep the VMM
# from answering signals. trap is not an isolation boundary; what it must
# guarantee is that no host system call runs for the guest, that the VMM
# never dies of the guest's fault, and that SIGTERM always works.
. tests/lib.sh
RINGVM=$UBSAN_RINGVM

if ! $RINGVM engines | grep -q '^trap .*available'; then
	skip hardening_trap "engine unavailable here: $($RINGVM engines | grep '^trap')"
	exit 0
fi
# trap says what it is, where a user chooses it.
if $RINGVM engines | grep -q '^trap .*NOT an isolation boundary'; then
	pass trap.engines_says_not_isolation
else
	fail trap.engines_says_not_isolation "ringvm engines: $($RINGVM engines | grep '^trap')"
fi
run_vm "$TMP/o" $RINGVM run --engine trap --kernel $GUESTS/ps2_reset.elf
if grep -q '^ringvm: trap: .*NOT an isolation boundary' "$TMP/o"; then
	pass trap.run_banner_says_not_isolation
else
	fail trap.run_banner_says_not_isolation "no caveat line: $(head -n 2 "$TMP/o" | tr '\n' '|')"
fi

have_strace=0
strace -f -o /dev/null true 2>/dev/null && have_strace=1

# escape NAME GUEST SEL: the guest far-jumps to host selector SEL and does
# something there. It must end with status 4 and one line naming SEL.
escape() {
	local name=$1 guest=$2 sel=$3
	run_vm "$TMP/o" $RINGVM run --engine trap --kernel $GUESTS/$guest.elf
	if grep -q 'ESCAPED' "$TMP/o"; then
		fail "$name" "the guest's host system call ran (its message was written)"
	elif ! grep -q "guest code entered host selector $sel.*not an isolation boundary" "$TMP/o"; then
		fail "$name" "status $rc, no line naming selector $sel: $(tail -n 2 "$TMP/o" | tr '\n' '|')"
	elif grep -q 'SYSCALL in compatibility mode' "$TMP/o"; then
		fail "$name" "misreported as a compatibility-mode SYSCALL"
	else
		expect_status "$name" "$TMP/o" 4
	fi
}

escape trap.escape_0x33_syscall esc_syscall64 0x33
escape trap.escape_0x33_ud2 esc_ud2 0x33
escape trap.escape_0x23_hlt esc_hlt23 0x23
escape trap.escape_0x23_mmio esc_mmio23 0x23

# no_host_syscall NAME GUEST: under strace, the guest's write (of
# "ESCAPED") and its exit_group(42) never happen, whatever the ABI.
no_host_syscall() {
	local name=$1 guest=$2
	if [ $have_strace -eq 0 ]; then
		skip "$name" "strace cannot trace here"
		return
	fi
	timeout -k 5 60 strace -f -e trace=write,exit_group,exit -o "$TMP/st" \
		$RINGVM run --engine trap --kernel $GUESTS/$guest.elf >"$TMP/o" 2>&1 </dev/null
	rc=$?
	# strace shows the entry of a call seccomp then refuses (ptrace
	# stops first): what must never appear is a write that wrote the
	# message, or the process exiting with the guest's 42.
	if grep -qE 'ESCAPED[^=]*= 48|exited with 42' "$TMP/st" || grep -q ESCAPED "$TMP/o"; then
		fail "$name" "a host system call ran for the guest: $(grep -m1 -E 'ESCAPED|42' "$TMP/st")"
	elif [ $rc -eq 42 ] || [ $rc -eq 0 ]; then
		fail "$name" "the run ended with status $rc"
	else
		pass "$name"
	fi
}
no_host_syscall trap.no_host_syscall_64bit esc_syscall64
no_host_syscall trap.no_host_syscall_int80 esc_int80
no_host_syscall trap.no_host_syscall_sysenter esc_sysenter
no_host_syscall trap.no_host_syscall_compat_syscall esc_syscall32

# i386 system calls from guest code stay guest events: with no IDT the
# guest dies (status 4), never status 42 (a host exit) and no message.
for g in int80 sysenter syscall32; do
	run_vm "$TMP/o" $RINGVM run --engine trap --kernel $GUESTS/esc_$g.elf
	if grep -q ESCAPED "$TMP/o"; then
		fail trap.guest_syscall_$g "the guest's write reached the host"
	else
		expect_status trap.guest_syscall_$g "$TMP/o" 4
	fi
done

# A guest's NT flag must not leak into the VMM (it made the next entry
# into guest code fault in the VMM: a crash).
run_vm "$TMP/o" $RINGVM run --engine trap --kernel $GUESTS/nt_spin.elf
expect_status trap.guest_nt_flag_stays_guest "$TMP/o" 5

# Device timers keep working during one long emulated REP (on interp too,
# which shares the core's REP loop).
for e in interp trap; do
	run_vm "$TMP/o" $(vmm_for $e) run --engine $e --kernel $GUESTS/rep_timer.elf
	expect_status $e.timer_ticks_during_long_rep "$TMP/o" 3
done

# Kernel code in a conforming code segment (the host's modify_ldt refuses
# to describe one natively).
run_vm "$TMP/o" $RINGVM run --engine trap --kernel $GUESTS/conforming.elf
expect_status trap.conforming_code_segment "$TMP/o" 9

# sigterm_stops NAME GUEST WANT: started with a pipe as stdin (ringvm makes it
# non-blocking), sent SIGTERM after 1 s, the VMM must be gone within 1 s
# more with status WANT (143: by SIGTERM, the guest still running; 4: it
# stopped the guest on its own), and the pipe must be blocking again.
sigterm_stops() {
	local name=$1 guest=$2 want=$3
	(
		sleep 10 &
		echo $! >"$TMP/writer"
		wait
	) | (
		$RINGVM run --engine trap --kernel $GUESTS/$guest.elf >"$TMP/o" 2>&1 &
		pid=$!
		sleep 1
		kill -TERM $pid 2>/dev/null
		t0=$(date +%s%N)
		for _ in $(seq 40); do
			kill -0 $pid 2>/dev/null || break
			sleep 0.05
		done
		if kill -0 $pid 2>/dev/null; then
			kill -KILL $pid
			wait $pid 2>/dev/null
			echo "hang"
			kill "$(cat "$TMP/writer")" 2>/dev/null
			exit 0
		fi
		wait $pid
		echo "rc=$? ms=$((($(date +%s%N) - t0) / 1000000))"
		python3 -c 'import fcntl, os; print("nonblock" if fcntl.fcntl(0, fcntl.F_GETFL) & os.O_NONBLOCK else "blocking")'
		kill "$(cat "$TMP/writer")" 2>/dev/null
	) >"$TMP/r"
	local res
	res=$(tr '\n' ' ' <"$TMP/r")
	case "$res" in
	hang*) fail "$name" "still running 2 s after SIGTERM (needed SIGKILL)" ;;
	*nonblock*) fail "$name" "stdin left O_NONBLOCK ($res)" ;;
	"rc=$want "*) pass "$name" ;;
	*) fail "$name" "unexpected end: $res; $(tail -n 2 "$TMP/o" | tr '\n' '|')" ;;
	esac
}
sigterm_stops trap.sigterm_0x33_spin esc_spin64 4
sigterm_stops trap.sigterm_huge_rep_io rep_huge 143
sigterm_stops trap.sigterm_huge_rep_mmio rep_mmio 143
sigterm_stops trap.sigterm_tf_spin tf_spin 143
sigterm_stops trap.sigterm_interrupt_storm pit_storm 143
exit 0
