# The PC platform (--machine pc, --drive): the guest kit's platform group
# (APIC timer modes, self-IPI, TPR, IOAPIC routing of the PIT and COM1, MP
# and ACPI tables, PCI, ATA, fw_cfg, pc-testdev) on interp and trap and on
# QEMU-TCG (-M pc) as the reference, the disk image checked on the host
# afterwards, and one clear line with status 2 for every bad --drive and
# --machine.
. tests/lib.sh
VM_TIMEOUT=120

# make_disk FILE: 1 MiB, sector 0 tagged by the host (the guest checks it).
make_disk() {
	head -c $((1 << 20)) /dev/zero >"$1"
	printf 'RINGVM-DISK-HOST' | dd of="$1" conv=notrunc 2>/dev/null
}

# disk_written NAME FILE: what the guest wrote reached the image.
disk_written() {
	local s1 last
	s1=$(dd if="$2" bs=512 skip=1 count=1 2>/dev/null | head -c 17)
	last=$(dd if="$2" bs=512 skip=2047 count=1 2>/dev/null | head -c 17)
	if [ "$s1" = RINGVM-DISK-LBA28 ] && [ "$last" = RINGVM-DISK-LBA48 ] &&
		[ "$(stat -c %s "$2")" -eq $((1 << 20)) ]; then
		pass "$1"
	else
		fail "$1" "sector 1 '$s1', sector 2047 '$last', size $(stat -c %s "$2")"
	fi
}

# kit_clean NAME OUT: platform tests ran, none failed, the kit passed.
kit_clean() {
	local n
	n=$(grep -ac '^PASS platform\.' "$2")
	if grep -qaE 'AddressSanitizer|UndefinedBehaviorSanitizer|runtime error|LeakSanitizer' "$2"; then
		fail "$1" "sanitizer report: $(grep -a -m1 -E 'Sanitizer|runtime error' "$2")"
	elif grep -qa '^FAIL ' "$2"; then
		fail "$1" "$(grep -a -m2 '^FAIL ' "$2" | tr '\n' '|')"
	elif [ "$n" -lt 15 ] || ! grep -qa 'SUMMARY passed=[0-9]* failed=0' "$2"; then
		fail "$1" "$n platform tests passed; last lines: $(tail -n 3 "$2" | tr '\n' '|')"
	else
		pass "$1"
	fi
}

engines="interp"
$RINGVM engines | grep -q '^trap .*available' && engines="interp trap"
for e in $engines; do
	make_disk "$TMP/disk.$e"
	bin=$RINGVM
	[ $e = interp ] && bin=$ASAN_RINGVM # the devices under ASan+UBSan (trap cannot be)
	run_vm "$TMP/$e" $bin run --engine $e --machine pc --drive "file=$TMP/disk.$e" \
		--append only=platform
	kit_clean "platform.kit.$e" "$TMP/$e"
	disk_written "platform.disk_image.$e" "$TMP/disk.$e"
done

# The same kernel, the same image, under QEMU's pc machine.
if qemu_usable; then
	make_disk "$TMP/disk.qemu"
	timeout 300 qemu-system-i386 -M pc -m 128 -kernel "$KIT" -append only=platform \
		-display none -serial stdio -no-reboot -device isa-debug-exit,iobase=0xf4,iosize=0x04 \
		-device pc-testdev -drive "file=$TMP/disk.qemu,format=raw,if=ide" \
		>"$TMP/qemu" 2>&1 </dev/null
	# QEMU-TCG is the reference, not under test: on a loaded host it drops
	# or delays timer interrupts (it pays nothing back), so a timing-only
	# failure of its run is reported as a skip, with what it measured.
	timing='^FAIL platform\.(apic_timer_periodic|apic_timer_oneshot|ioapic_pit):'
	if grep -qaE "$timing" "$TMP/qemu" && ! grep -a '^FAIL ' "$TMP/qemu" | grep -qvE "$timing"; then
		skip platform.kit.qemu "QEMU missed a timer rate (loaded host?): $(grep -a -m1 -E "$timing" "$TMP/qemu")"
	else
		kit_clean platform.kit.qemu "$TMP/qemu"
	fi
	disk_written platform.disk_image.qemu "$TMP/disk.qemu"
	# Every platform test QEMU passes passes under ringvm too.
	missing=$(comm -23 <(grep -a '^PASS platform\.' "$TMP/qemu" | sort) \
		<(grep -a '^PASS platform\.' "$TMP/interp" | sort) | tr '\n' ' ')
	[ -z "$missing" ] && pass platform.matches_qemu || fail platform.matches_qemu "not on interp: $missing"
else
	skip platform.kit.qemu "qemu-system-i386 is not installed"
fi

# A Multiboot kernel linked at 0x7000 that covers 0x8000: it loads, and the
# information structure goes where it does not overwrite the kernel
# (tests/guests/low_load.S checks; status 33 = all well). QEMU's own loader
# puts its structures at fixed low addresses inside such a kernel (status
# 35 there), so it is no reference for this one.
for e in $engines; do
	run_vm "$TMP/low.$e" $RINGVM run --engine $e --kernel $GUESTS/low_load.elf
	expect_status "platform.multiboot_low_memory.$e" "$TMP/low.$e" 33
done

# xv6 (x86), when XV6_DIR names a build of mit-pdos/xv6-public (make kernel
# fs.img): boots to its shell on interp with --machine pc, lists its file
# system from the IDE slave, and a file it writes reaches the image.
if [ -n "$XV6_DIR" ] && [ -f "$XV6_DIR/kernel" ] && [ -f "$XV6_DIR/fs.img" ]; then
	head -c 512000 /dev/zero >"$TMP/xv6boot.img"
	cp "$XV6_DIR/fs.img" "$TMP/xv6fs.img"
	(sleep 12; printf 'echo ringvm-was-here > note\n'; sleep 4; printf 'ls\n'; sleep 5) |
		timeout -k 5 50 $RINGVM run --engine interp --machine pc --mem 512M \
			--kernel "$XV6_DIR/kernel" --drive "file=$TMP/xv6boot.img" \
			--drive "file=$TMP/xv6fs.img" >"$TMP/xv6" 2>&1
	if grep -qa '^init: starting sh' "$TMP/xv6" && grep -qa '^README ' "$TMP/xv6" &&
		grep -qa '^note ' "$TMP/xv6" && grep -qa 'ringvm-was-here' "$TMP/xv6fs.img"; then
		pass platform.xv6
	else
		fail platform.xv6 "$(tail -n 4 "$TMP/xv6" | tr '\n' '|')"
	fi
else
	skip platform.xv6 "set XV6_DIR to a build of mit-pdos/xv6-public (make kernel fs.img)"
fi

# isapc (the default) advertises no APIC: the kit says so and skips those.
run_vm "$TMP/isapc" $RINGVM run --engine interp --append only=platform
if grep -qa '^SKIP platform.apic: CPUID reports no local APIC' "$TMP/isapc" &&
	grep -qa '^PASS platform.fw_cfg' "$TMP/isapc" && ! grep -qa '^FAIL' "$TMP/isapc"; then
	pass platform.isapc_no_apic
else
	fail platform.isapc_no_apic "$(grep -a -m2 -E '^(FAIL|SKIP)' "$TMP/isapc" | tr '\n' '|')"
fi

# Bad input: one line on stderr, status 2 (the ASan build: no leak on the way out).
bad() {
	local name=$1 re=$2
	shift 2
	timeout 60 $ASAN_RINGVM run "$@" >"$TMP/out" 2>"$TMP/err" </dev/null
	rc=$?
	n=$(grep -c . "$TMP/err")
	if [ $rc -ne 2 ]; then
		fail "$name" "status $rc, expected 2: $(tr '\n' '|' <"$TMP/err")"
	elif [ "$n" -ne 1 ] || ! grep -qE -e "$re" "$TMP/err"; then
		fail "$name" "expected one line matching /$re/, got $n: $(tr '\n' '|' <"$TMP/err")"
	else
		pass "$name"
	fi
}
mkdir -p "$TMP/adir"
make_disk "$TMP/ro.img"
chmod 444 "$TMP/ro.img"
head -c 100 /dev/zero >"$TMP/small.img"
make_disk "$TMP/ok.img"
bad platform.drive_missing 'nope.img: No such file' --engine interp --drive "file=$TMP/nope.img"
bad platform.drive_directory 'is a directory' --engine interp --drive "file=$TMP/adir"
bad platform.drive_readonly_file 'read-only.*,readonly' --engine interp --drive "file=$TMP/ro.img"
bad platform.drive_too_small 'smaller than one 512-byte sector' --engine interp --drive "file=$TMP/small.img"
bad platform.drive_unknown_option "unknown option 'cache=none'" --engine interp --drive "file=$TMP/ok.img,cache=none"
bad platform.drive_no_file 'no file=IMG' --engine interp --drive readonly
bad platform.drive_five 'at most 4 drives' --engine interp --drive "file=$TMP/ok.img" \
	--drive "file=$TMP/ok.img" --drive "file=$TMP/ok.img" --drive "file=$TMP/ok.img" \
	--drive "file=$TMP/ok.img"
bad platform.machine_nosuch 'unknown machine' --engine interp --machine nosuch
bad platform.machine_pc_kvm 'needs a software engine' --engine kvm --machine pc

$ASAN_RINGVM run --machine help >"$TMP/mh" 2>&1
rc=$?
if [ $rc -eq 0 ] && grep -q '^  isapc ' "$TMP/mh" && grep -q '^  pc ' "$TMP/mh"; then
	pass platform.machine_help
else
	fail platform.machine_help "status $rc: $(tr '\n' '|' <"$TMP/mh")"
fi

# A read-only drive attached with ,readonly: the guest's write is refused
# (the kit's ata_write fails) and the image is untouched.
sum0=$(md5sum <"$TMP/ro.img")
run_vm "$TMP/ro" $RINGVM run --engine interp --machine pc --drive "file=$TMP/ro.img,readonly" \
	--append only=platform
if grep -qa '^PASS platform.ata_read' "$TMP/ro" && grep -qa '^FAIL platform.ata_write' "$TMP/ro" &&
	[ "$(md5sum <"$TMP/ro.img")" = "$sum0" ]; then
	pass platform.drive_readonly_untouched
else
	fail platform.drive_readonly_untouched "$(grep -a -E '^(PASS|FAIL) platform.ata' "$TMP/ro" | tr '\n' '|')"
fi
exit 0
