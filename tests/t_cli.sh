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
	elif [ "$n" -ne 1 ] || ! grep -qE "$re" "$TMP/err"; then
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
