# Debian 12's stock i386 kernel (linux-image-686) with a busybox initramfs
# (scripts/fetch-linux), booted the way a user would: --kernel bzImage
# --initrd --append. The guest's /init runs `uname -a`, `cat /proc/cpuinfo`,
# a shell loop and `ls /`, prints markers and powers off (cli; hlt: status 0).
#
# Engines: every software engine whose CPU runs what the kernel needs (the
# x87 and TZCNT-as-BSF: probed with a tiny guest first, SKIP otherwise);
# trap is checked for the documented way it fails (docs/06-trap.md: the
# PUSHF hole). The optimised build runs these boots: under ASan+UBSan a
# boot takes minutes, and the loader has its own ASan unit test.
. tests/lib.sh
VM_TIMEOUT=${LINUX_TIMEOUT:-900}
LD=${RINGVM_LINUX_DIR:-build/linux}

if ! scripts/fetch-linux >"$TMP/fetch" 2>&1; then
	skip linux.fetch "Debian's i386 kernel and busybox cannot be fetched here: $(tail -n 1 "$TMP/fetch")"
	exit 0
fi
pass linux.fetch
KERNEL=$LD/vmlinuz
INITRD=$LD/initramfs.gz

# Bad use of a real bzImage: one line on stderr, status 2, under ASan+UBSan.
bad_input() { # NAME WORD ARGS...: refused with one line that contains WORD
	local name=$1 word=$2
	shift 2
	run_vm "$TMP/bad" $ASAN_RINGVM run --engine interp "$@"
	if [ "$(grep -c '' "$TMP/bad")" -eq 1 ] && grep -q -- "$word" "$TMP/bad"; then
		expect_status "$name" "$TMP/bad" 2
	else
		fail "$name" "want one line with '$word' (status $rc): $(head -c 300 "$TMP/bad" | tr '\n' '|')"
	fi
}
head -c 3000000 "$KERNEL" >"$TMP/cut-vmlinuz"
bad_input linux.cli.truncated truncated --kernel "$TMP/cut-vmlinuz"
bad_input linux.cli.mem_too_small "--mem is 16 MiB" --mem 16M --kernel "$KERNEL"
bad_input linux.cli.initrd_too_big "initrd" --mem 34M --kernel "$KERNEL" --initrd "$KERNEL"
bad_input linux.cli.cmdline_too_long "at most 2047" --kernel "$KERNEL" \
	--append "$(head -c 3000 /dev/zero | tr '\0' x)"

# boot_check ENGINE: the scripted run and its output, one check each.
boot_check() {
	local e=$1 o=$TMP/linux.$1
	run_vm "$o" $RINGVM run --engine "$e" --mem 256M --kernel "$KERNEL" --initrd "$INITRD" \
		--append "console=ttyS0 ringvm.run=check"
	tr -d '\r' <"$o" >"$o.txt"
	o=$o.txt
	if ! grep -q '^RINGVM-INIT' "$o"; then
		fail "linux.$e.boot" "no RINGVM-INIT from /init (status $rc); last lines: $(tail -n 3 "$o" | tr '\n' '|')"
		return
	fi
	pass "linux.$e.boot"
	# KVM's paravirtual clock, offered by the software engines (kvm_para.c):
	# the stock kernel finds KVMKVMKVM and makes it its clock source.
	if grep -q 'clocksource: Switched to clocksource kvm-clock' "$o"; then
		pass "linux.$e.kvm_clock"
	else
		fail "linux.$e.kvm_clock" "no 'Switched to clocksource kvm-clock': $(grep -m2 'clocksource: Switched' "$o" | tr '\n' '|')"
	fi
	if grep -qE '^Linux \(none\) 6\.[0-9.]+-[0-9]+-686 #1 SMP .* i[3-6]86 GNU/Linux$' "$o"; then
		pass "linux.$e.uname"
	else
		fail "linux.$e.uname" "no 'Linux (none) 6.x-686 ... i?86 GNU/Linux' line"
	fi
	# /proc/cpuinfo: one processor, and the features a 686 kernel requires.
	local flags
	flags=$(grep -m1 '^flags' "$o")
	if grep -q '^processor	: 0$' "$o" && ! grep -q '^processor	: 1$' "$o" &&
		echo "$flags" | grep -qw fpu && echo "$flags" | grep -qw cx8 &&
		echo "$flags" | grep -qw cmov; then
		pass "linux.$e.cpuinfo"
	else
		fail "linux.$e.cpuinfo" "want one processor with fpu cx8 cmov; got '$flags'"
	fi
	if grep -qx 'loop 1000 sum 499500' "$o"; then
		pass "linux.$e.shell_loop"
	else
		fail "linux.$e.shell_loop" "no 'loop 1000 sum 499500'"
	fi
	if sed -n '/^== ls$/,/^== awk$/p' "$o" | tr -s ' \t' '\n\n' | sort |
		tr '\n' ' ' | grep -q 'bin .*dev .*init .*proc .*sbin .*sys '; then
		pass "linux.$e.ls"
	else
		fail "linux.$e.ls" "ls / does not list bin dev init proc sbin sys"
	fi
	if grep -qx '3.143' "$o"; then
		pass "linux.$e.x87_awk"
	else
		fail "linux.$e.x87_awk" "awk's 22/7 is not 3.143 (busybox's printf uses the x87)"
	fi
	if grep -q '^RINGVM-DONE' "$o" && grep -q 'interrupts disabled (powered off)' "$o"; then
		expect_status "linux.$e.poweroff" "$o" 0
	else
		fail "linux.$e.poweroff" "no RINGVM-DONE and power-off message (status $rc)"
	fi
}

# interp and bt boot it (LINUX_ENGINES=interp runs one; bt needs the
# native layer: not available, it SKIPs like any engine).
for e in ${LINUX_ENGINES:-interp bt}; do
	if ! $RINGVM engines | grep -q "^$e .*available"; then
		skip "linux.$e" "engine $e is not available here"
		continue
	fi
	run_vm "$TMP/probe" $RINGVM run --engine "$e" --kernel $GUESTS/linux_cpu_probe.elf
	if [ "$rc" -ne 1 ]; then
		skip "linux.$e" "this build's $e CPU lacks the x87 or TZCNT-as-BSF that the stock kernel executes (probe status $rc)"
		continue
	fi
	boot_check "$e"
done
# trap: the guest sees the host's CPUID (masked with clearcpuid=, no
# local APIC, no KVM paravirt) and gets as far as the PUSHF hole: the
# kernel's irqs_disabled() reads the host's IF (always 1) with PUSHF, and
# its first timer interrupt hits BUG_ON(!irqs_disabled()). panic=-1 turns
# that panic into a reset (status 0).
if ! grep -q AuthenticAMD /proc/cpuinfo; then
	# The guest sees the host's CPUID under trap: another vendor takes
	# another early path (its own MSRs), which this check does not know.
	skip linux.trap "the trap check follows an AMD host's CPUID path; this host is not AMD"
elif $RINGVM engines | grep -q '^trap .*available'; then
	TRAP_CMD="console=ttyS0 panic=-1 nopv nolapic clearcpuid=pcid,invpcid,smep,smap,umip,xsave,pge,mtrr,pat,mce,mca,vme,de,x2apic,tsc_deadline_timer,fsgsbase,rdpid,rdtscp,pku ringvm.run=check"
	VM_TIMEOUT=120 run_vm "$TMP/trap" $RINGVM run --engine trap --mem 256M --kernel "$KERNEL" \
		--initrd "$INITRD" --append "$TRAP_CMD"
	if grep -q '^\[ *0\.[0-9]*\] Linux version 6\.' "$TMP/trap" &&
		grep -q 'Interrupts were enabled \*very\* early' "$TMP/trap" &&
		grep -q 'reset the machine' "$TMP/trap"; then
		expect_status linux.trap.pushf_hole "$TMP/trap" 0
	else
		fail linux.trap.pushf_hole "expected the kernel to start, warn that PUSHF shows interrupts on, and reset (status $rc); last lines: $(tail -n 3 "$TMP/trap" | tr '\n' '|')"
	fi
else
	skip linux.trap "engine trap is not available here"
fi

# Interactive: in a pseudo-terminal, as `make linux` runs it (on the
# engine make linux uses); type a command, read its output, power off, and
# the terminal must be as it was before.
e=$(sed -n 's/^LINUX_ENGINE *?= *//p' Makefile)
run_vm "$TMP/probe" $RINGVM run --engine "$e" --kernel $GUESTS/linux_cpu_probe.elf
if [ "$rc" -ne 1 ]; then
	skip linux.interactive "the default engine ($e) cannot run the stock kernel in this build (probe status $rc)"
else
	timeout -k 5 "$VM_TIMEOUT" python3 tests/linux_pty.py "$RINGVM" "$KERNEL" "$INITRD" "$e" \
		>"$TMP/pty" 2>&1
	rc=$?
	if [ "$rc" -eq 0 ]; then
		pass linux.interactive
	else
		fail linux.interactive "status $rc: $(tail -n 2 "$TMP/pty" | tr '\n' '|')"
	fi
fi
