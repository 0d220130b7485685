# Differential test of the instruction emulator against the real CPU.
# build/tests/diff_native: a 32-bit static Linux program that generates the
# cases and runs them natively (tests/diff/); build/asan/tests/test_diff
# (tests/unit/test_diff.c, built by the generic unit rule) replays them
# through emu_run_flat and compares.
DIFF_NATIVE_SRCS := tests/diff/native_runner.c tests/diff/native_stub.S

build/tests/diff_native: $(DIFF_NATIVE_SRCS) tests/diff/diff_format.h tests/diff/x87_forms.c
	@mkdir -p $(dir $@)
	$(CC) -m32 -O1 -static -std=gnu11 $(WARN) -D_GNU_SOURCE -o $@ $(DIFF_NATIVE_SRCS)

units: build/tests/diff_native
