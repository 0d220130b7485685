# The command line as a new user meets it: help, version, engines, and bad
# input of every kind, each giving one clear line and a non-zero status.
# Runs the ASan+UBSan build so that a crash or leak on an error path fails.
. tests/lib.sh
R=$ASAN_RINGVM

$R --help >"$TMP/o" 2>&1; rc=$?
[ $rc -eq 0 ] && grep -q 'ringvm run' "$TMP/o" && pass cli.help || fail cli.help "status $rc"
$R --version >"$TMP/o" 2>&1; rc=$?
[ $rc -eq 0 ] && grep -qE '^ringvm [0-9]' "$TMP/o" && pass cli.version || fail cli.version "status $rc"

$R engines >"$TMP/o" 2>&1; rc=$?
if [ $rc -eq 0 ] && grep -q '^interp ' "$TMP/o" && grep -q '^kvm ' "$TMP/o" && grep -q '^default: ' "$TMP/o"; then
	pass cli.engines
else
	fail cli.engines "status $rc: $(tr '\n' '|' <"$TMP/o")"
fi
# Without VT-x/AMD-V, kvm must not be the default (it would be ~1000x slower).
if host_has_vmx; then
	skip cli.default_engine "host has VT-x/AMD-V: kvm is rightly the default here"
elif grep -q '^default: kvm' "$TMP/o"; then
	fail cli.default_engine "kvm chosen on a host without VT-x/AMD-V"
else
	pass cli.default_engine
fi

# one_line_error NAME WANT_STATUS REGEX -- args: exactly one line on stderr,
# matching REGEX, and the status.
one_line_error() {
	local name=$1 want=$2 re=$3
	shift 4
	timeout 60 "$R" "$@" >"$TMP/out" 2>"$TMP/err" </dev/null
	rc=$?
	local n
	n=$(grep -c . "$TMP/err")
	if [ $rc -ne "$want" ]; then
		fail "$name" "status $rc, expected $want: $(tr '\n' '|' <"$TMP/err")"
	elif grep -qE 'Sanitizer|runtime error' "$TMP/err"; then
		fail "$name" "sanitizer report"
	elif [ "$n" -ne 1 ] || ! grep -qE -e "$re" "$TMP/err"; then
		fail "$name" "expected one line matching /$re/, got $n: $(tr '\n' '|' <"$TMP/err")"
	else
		pass "$name"
	fi
}

echo hello >"$TMP/text.txt"
head -c 8192 "$KIT" >"$TMP/truncated.elf"
cp "$KIT" "$TMP/class64.elf" && printf '\x02' | dd of="$TMP/class64.elf" bs=1 seek=4 conv=notrunc 2>/dev/null
head -c $((3 << 20)) /dev/zero >"$TMP/big.bin"
mkdir -p "$TMP/adir"

one_line_error cli.no_such_kernel 2 'No such file' -- run --kernel "$TMP/nope.elf"
one_line_error cli.text_kernel 2 'not a Multiboot kernel' -- run --kernel "$TMP/text.txt"
one_line_error cli.directory_kernel 2 'not a regular file' -- run --kernel "$TMP/adir"
touch "$TMP/empty.elf"
one_line_error cli.empty_kernel 2 'empty' -- run --kernel "$TMP/empty.elf"
one_line_error cli.device_kernel 2 'not a regular file' -- run --kernel /dev/null
one_line_error cli.truncated_elf 2 'truncated' -- run --kernel "$TMP/truncated.elf"
one_line_error cli.elf64 2 '64-bit ELF' -- run --kernel "$TMP/class64.elf"
one_line_error cli.linux_elf 2 'without a Multiboot header' -- run --kernel /bin/true
one_line_error cli.kernel_too_big 2 'larger than guest RAM' -- run --mem 2M --kernel "$TMP/big.bin"
one_line_error cli.kernel_no_fit 2 'does not fit in guest RAM' -- run --mem 16M --kernel "$GUESTS/high_load.elf"
one_line_error cli.initrd_missing 2 'initrd .*No such file' -- run --initrd "$TMP/nope.img"
one_line_error cli.mem_zero 2 'too small' -- run --mem 0
one_line_error cli.mem_huge 2 'too large' -- run --mem 100T
one_line_error cli.mem_garbage 2 'not a size' -- run --mem lots
one_line_error cli.mem_negative 2 'not a size' -- run --mem -5M
one_line_error cli.unknown_engine 2 "unknown engine 'warp'" -- run --engine warp
one_line_error cli.unknown_option 2 'unknown option' -- run --frobnicate
one_line_error cli.missing_value 2 'needs a value' -- run --kernel
one_line_error cli.unknown_command 2 "unknown command 'fly'" -- fly

# Loader messages say what is wrong with the file.
cp "$KIT" "$TMP/badclass.elf" && printf '\x07' | dd of="$TMP/badclass.elf" bs=1 seek=4 conv=notrunc 2>/dev/null
cp "$KIT" "$TMP/bigendian.elf" && printf '\x02' | dd of="$TMP/bigendian.elf" bs=1 seek=5 conv=notrunc 2>/dev/null
one_line_error cli.elf_bad_class 2 'not a valid ELF \(class byte 7' -- run --kernel "$TMP/badclass.elf"
one_line_error cli.elf_big_endian 2 'a big-endian ELF' -- run --kernel "$TMP/bigendian.elf"
# /proc files say they are 0 bytes long: read them, don't trust st_size.
one_line_error cli.proc_kernel 2 'not a Multiboot kernel' -- run --kernel /proc/self/status
mkfifo "$TMP/fifo"
one_line_error cli.fifo_kernel 2 'not a regular file \(a FIFO\)' -- run --kernel "$TMP/fifo"
one_line_error cli.directory_initrd 2 'initrd .*not a regular file \(a directory\)' -- run --initrd "$TMP/adir"
one_line_error cli.initrd_too_big 2 'initrd .*larger than guest RAM' -- run --mem 2M --initrd "$TMP/big.bin"
head -c $((3 << 20)) /dev/zero >"$TMP/initrd3m.bin"
one_line_error cli.initrd_no_fit 2 'initrd .*do not fit in guest RAM after the kernel' -- run --mem 4M --initrd "$TMP/initrd3m.bin"
one_line_error cli.mem_overflow 2 'too large' -- run --mem 99999999999999999999999M
one_line_error cli.mem_fraction 2 'not a size' -- run --mem 1.5G
one_line_error cli.mem_empty 2 'not a size' -- run --mem ''

# A kernel the user may not read (as root everything is readable: run as nobody).
if [ "$(id -u)" -eq 0 ] && command -v setpriv >/dev/null && id nobody >/dev/null 2>&1; then
	mkdir -p "$TMP/pub" && cp "$R" "$TMP/pub/ringvm" && cp "$KIT" "$TMP/pub/secret.elf"
	chmod 755 "$TMP" "$TMP/pub" "$TMP/pub/ringvm" && chmod 600 "$TMP/pub/secret.elf"
	timeout 60 setpriv --reuid=nobody --regid=nogroup --clear-groups "$TMP/pub/ringvm" run \
		--kernel "$TMP/pub/secret.elf" >"$TMP/out" 2>"$TMP/err" </dev/null
	rc=$?
	if [ $rc -eq 2 ] && [ "$(grep -c . "$TMP/err")" -eq 1 ] && grep -q 'secret.elf: Permission denied' "$TMP/err"; then
		pass cli.unreadable_kernel
	else
		fail cli.unreadable_kernel "status $rc: $(tr '\n' '|' <"$TMP/err")"
	fi
else
	skip cli.unreadable_kernel "needs root (to become nobody), setpriv and user nobody"
fi

# Commands without options refuse arguments; options with values refuse repeats.
one_line_error cli.engines_extra_arg 2 'unexpected argument --bogus' -- engines --bogus
one_line_error cli.help_extra_arg 2 'unexpected argument --bogus' -- help --bogus
one_line_error cli.version_extra_arg 2 'unexpected argument now' -- --version now
one_line_error cli.repeated_kernel 2 '--kernel given twice' -- run --kernel "$KIT" --kernel "$KIT"
one_line_error cli.repeated_mem 2 '--mem given twice' -- run --mem 64M --mem=128M
one_line_error cli.flag_with_value 2 '--stats takes no value' -- run --stats=yes
one_line_error cli.sandbox_bad_value 2 '--sandbox maybe: expected on or off' -- run --sandbox maybe
one_line_error cli.sandbox_missing_value 2 'needs a value' -- run --sandbox

# Program headers at an odd file offset: a valid ELF, which must load
# (UBSan aborted on the unaligned read, with status 1, the guest's success).
python3 - "$KIT" "$TMP/misaligned.elf" <<'PY'
import struct, sys
d = bytearray(open(sys.argv[1], 'rb').read())
phoff, = struct.unpack_from('<I', d, 28)
phentsize, phnum = struct.unpack_from('<HH', d, 42)
table = bytes(d[phoff:phoff + phentsize * phnum])
d += b'\0' * ((-len(d) % 4) + 1)  # end at 4k+1: the new table is misaligned
struct.pack_into('<I', d, 28, len(d))
d += table
open(sys.argv[2], 'wb').write(d)
PY
run_vm "$TMP/o" "$R" run --kernel "$TMP/misaligned.elf" --append smoke
if [ $rc -eq 1 ] && grep -q '^SUMMARY passed=[1-9][0-9]* failed=0' "$TMP/o"; then
	expect_status cli.misaligned_phdrs "$TMP/o" 1
else
	fail cli.misaligned_phdrs "status $rc: $(grep -m2 -E 'Sanitizer|runtime error|ringvm:' "$TMP/o" | tr '\n' '|')"
fi
# A very long command line reaches the guest intact (the kit still finds "smoke").
long=$(head -c 100000 /dev/zero | tr '\0' 'x')
run_vm "$TMP/o" "$R" run --append "$long smoke"
if [ $rc -eq 1 ] && grep -q '^SUMMARY passed=[1-9][0-9]* failed=0' "$TMP/o"; then
	expect_status cli.long_append "$TMP/o" 1
else
	fail cli.long_append "status $rc: $(tail -n 2 "$TMP/o" | tr '\n' '|')"
fi

# Output that cannot be written: one line and status 6, never a silent 0.
for cmd in engines help --version; do
	timeout 60 "$R" $cmd >/dev/full 2>"$TMP/err" </dev/null
	rc=$?
	if [ $rc -eq 6 ] && [ "$(grep -c . "$TMP/err")" -eq 1 ] && grep -q 'cannot write to stdout: No space left' "$TMP/err"; then
		pass "cli.full_disk_${cmd#--}"
	else
		fail "cli.full_disk_${cmd#--}" "status $rc: $(tr '\n' '|' <"$TMP/err")"
	fi
done
timeout 60 "$R" run --append smoke >/dev/full 2>"$TMP/err" </dev/null
rc=$?
if [ $rc -eq 6 ] && grep -q 'guest serial output lost: stdout: No space left' "$TMP/err"; then
	pass cli.full_disk_run
else
	fail cli.full_disk_run "status $rc: $(tail -n 2 "$TMP/err" | tr '\n' '|')"
fi
timeout 60 "$R" run --append smoke --trace >"$TMP/out" 2>/dev/full </dev/null
rc=$?
[ $rc -eq 6 ] && pass cli.full_disk_trace || fail cli.full_disk_trace "status $rc, expected 6"

# The debug-exit status: what ringvm prints is what it returns, on every
# engine, for 16- and 32-bit writes too ((v << 1) | 1, low 8 bits, as QEMU).
trap_ok() { "$RINGVM" engines 2>/dev/null | grep -qE '^trap +trap-and-emulate +available'; }
engine_runner() { # engine -> binary (trap cannot run under ASan)
	case $1 in
	trap) trap_ok && echo "$RINGVM" ;;
	kvm) kvm_usable && echo "$R" ;;
	*) echo "$R" ;;
	esac
}
for e in interp kvm trap; do
	bin=$(engine_runner $e)
	for g in dexit16:1 dexit32:241; do
		name=cli.debug_exit_${g%%:*}.$e want=${g#*:}
		if [ -z "$bin" ]; then
			skip "$name" "engine $e unavailable here"
			continue
		fi
		run_vm "$TMP/o" "$bin" run --engine $e --kernel "$GUESTS/${g%%:*}.elf"
		if grep -q "exit status $want\$" "$TMP/o"; then
			expect_status "$name" "$TMP/o" "$want"
		else
			fail "$name" "status $rc, printed: $(grep 'exit status' "$TMP/o")"
		fi
	done
done

# Closed standard descriptors behave as /dev/null: nothing of ringvm's
# stderr, the guest's serial output or input goes through guest RAM (the
# guest checks RAM and the line, see tests/guests/stdfd.S), and the run is
# otherwise unchanged.
for e in interp kvm trap; do
	bin=$(engine_runner $e)
	for c in in out err all; do
		name=cli.closed_std_$c.$e
		if [ -z "$bin" ]; then
			skip "$name" "engine $e unavailable here"
			continue
		fi
		set -- "$bin" run --engine $e --kernel "$GUESTS/stdfd.elf"
		case $c in
		in) timeout 60 "$@" 0<&- >"$TMP/out" 2>"$TMP/err" ;;
		out) timeout 60 "$@" 1>&- 2>"$TMP/err" </dev/null ;;
		err) timeout 60 "$@" 2>&- >"$TMP/out" </dev/null ;;
		all) timeout 60 "$@" 0<&- 1>&- 2>&- ;;
		esac
		rc=$?
		why=""
		[ $rc -eq 1 ] || why="status $rc (3: stderr in RAM, 5: serial output in RAM, 7: input from RAM)"
		case $c in in | err) grep -q MARK "$TMP/out" || why="$why; no MARK on stdout" ;; esac
		case $c in in | out) grep -q 'exit status 1$' "$TMP/err" || why="$why; stderr: $(tr '\n' '|' <"$TMP/err")" ;; esac
		[ -z "$why" ] && pass "$name" || fail "$name" "$why"
		rm -f "$TMP/out" "$TMP/err"
	done
done

# Random command lines from pieces of good and bad input (fixed seed): the
# VMM never crashes or reports a sanitizer error, ends with a status it
# documents (the kit's smoke run: 1; never 8, a blocked call), and a refusal
# (status 2) is exactly one line.
RANDOM=8
pieces=(run run run engines help --version --engine interp --engine warp --engine ''
	--mem 4M --mem 0 --mem 3G --mem 5G --mem x --kernel "$KIT" --kernel "$TMP/badclass.elf"
	--kernel "$TMP/truncated.elf" --kernel /proc/self/status --kernel "$TMP/fifo" --kernel
	--initrd "$TMP/text.txt" --initrd "$TMP/adir" --append smoke --append '' --stats --trace
	--sandbox off --sandbox on --sandbox --stats=1 -- --help bogus "$TMP/misaligned.elf")
bad=""
for i in $(seq 100); do
	args=()
	for _ in $(seq $((RANDOM % 6 + 1))); do args+=("${pieces[RANDOM % ${#pieces[@]}]}"); done
	# keep guest runs short: the smoke run of the kit, never the full one
	[ "${args[0]}" = run ] && args+=(--append smoke)
	timeout -k 5 60 "$R" "${args[@]}" >"$TMP/out" 2>"$TMP/err" </dev/null
	rc=$?
	n=$(grep -c . "$TMP/err")
	if grep -qE 'Sanitizer|runtime error' "$TMP/err"; then
		bad="$bad [${args[*]}]: sanitizer report;"
	elif ! case $rc in 0 | 1 | 2 | 4 | 6) true ;; *) false ;; esac then
		bad="$bad [${args[*]}]: status $rc;"
	elif [ $rc -eq 2 ] && [ "$n" -ne 1 ]; then
		bad="$bad [${args[*]}]: status 2 with $n lines;"
	fi
done
[ -z "$bad" ] && pass cli.random_command_lines || fail cli.random_command_lines "$bad"

# /dev/kvm missing: hide it in a private mount namespace.
if [ "$(id -u)" -eq 0 ] && command -v unshare >/dev/null && [ -e /dev/kvm ]; then
	timeout 60 unshare -m sh -c "mount -t tmpfs none /dev && exec $R run --engine kvm --append smoke" \
		>"$TMP/out" 2>"$TMP/err" </dev/null
	rc=$?
	if [ $rc -eq 6 ] && grep -q '/dev/kvm: no such device' "$TMP/err" && [ "$(grep -c . "$TMP/err")" -eq 1 ]; then
		pass cli.kvm_missing
	else
		fail cli.kvm_missing "status $rc: $(tr '\n' '|' <"$TMP/err")"
	fi
	# /dev/kvm not permitted: run as nobody.
	if command -v setpriv >/dev/null && id nobody >/dev/null 2>&1 && [ "$(stat -c %a /dev/kvm)" = 600 ]; then
		cp "$R" "$TMP/ringvm" && chmod 755 "$TMP" "$TMP/ringvm"
		timeout 60 setpriv --reuid=nobody --regid=nogroup --clear-groups "$TMP/ringvm" run --engine kvm \
			--append smoke >"$TMP/out" 2>"$TMP/err" </dev/null
		rc=$?
		if [ $rc -eq 6 ] && grep -q '/dev/kvm: permission denied' "$TMP/err"; then
			pass cli.kvm_not_permitted
		else
			fail cli.kvm_not_permitted "status $rc: $(tr '\n' '|' <"$TMP/err")"
		fi
	else
		skip cli.kvm_not_permitted "needs setpriv, user nobody and a root-only /dev/kvm"
	fi
else
	skip cli.kvm_missing "needs root, unshare and /dev/kvm to hide"
	skip cli.kvm_not_permitted "needs root and /dev/kvm"
fi
exit 0
