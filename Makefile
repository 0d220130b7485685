# ringvm: one VMM, every way of virtualizing an x86 CPU.
#   make            build/ringvm (optimised) and the guest kit
#   make asan       build/asan/ringvm (AddressSanitizer + UBSan)
#   make ubsan      build/ubsan/ringvm (UBSan only: for the native engines)
#   make test       install what is missing, build everything, run tests/run
#   make run        install what is missing, build, boot the guest kit
#   make bench      run the benchmark harness
#   make fuzz       500 + 500 random guests per software engine (tests/t_fuzz.sh)
#   make linux      boot Debian's i386 kernel + busybox to a shell (fetched once)

CC      ?= gcc
WARN    := -Wall -Wextra -Werror -Wshadow -Wno-unused-parameter
CFLAGS  ?= -O2 -g
ALLCFLAGS := -std=gnu11 $(WARN) $(CFLAGS) -Isrc -Iinclude -MMD -MP -D_GNU_SOURCE
LDLIBS  := -lZydis -lpthread -lrt
ASANFLAGS := -O1 -g -fsanitize=address,undefined -fno-sanitize-recover=undefined -fno-omit-frame-pointer
# The engines that run guest code natively (NATIVE_ENGINES) need the low
# 4 GiB that ASan's shadow occupies: they are tested under UBSan alone.
UBSANFLAGS := -O2 -g -fsanitize=undefined -fno-sanitize-recover=undefined -fno-omit-frame-pointer
NATIVE_ENGINES := trap bt

SRCS    := $(shell find src -name '*.c' | sort)
ASMS    := $(shell find src -name '*.S' | sort)
LIBSRCS := $(filter-out src/main.c,$(SRCS))
OBJS    := $(SRCS:%.c=build/obj/%.o) $(ASMS:%.S=build/obj/%.o)
AOBJS   := $(SRCS:%.c=build/asan/obj/%.o) $(ASMS:%.S=build/asan/obj/%.o)
UOBJS   := $(SRCS:%.c=build/ubsan/obj/%.o) $(ASMS:%.S=build/ubsan/obj/%.o)
ULIBOBJS:= $(filter-out build/ubsan/obj/src/main.o,$(UOBJS))
LIBOBJS := $(filter-out build/obj/src/main.o,$(OBJS))
ALIBOBJS:= $(filter-out build/asan/obj/src/main.o,$(AOBJS))
UNITSRCS:= $(wildcard tests/unit/test_*.c)
UNITS   := $(UNITSRCS:tests/unit/%.c=build/asan/tests/%)
KIT     := build/guest/kit.elf

.PHONY: all asan ubsan test run bench clean deps units guest fuzz linux
all: build/ringvm $(KIT)

-include guest/guest.mk
-include tests/tests.mk
include tests/guests.mk
-include bench/bench.mk

build/ringvm: $(OBJS)
	$(CC) $(CFLAGS) -o $@ $^ $(LDLIBS)

build/asan/ringvm: $(AOBJS)
	$(CC) $(ASANFLAGS) -o $@ $^ $(LDLIBS)

asan: build/asan/ringvm

build/ubsan/ringvm: $(UOBJS)
	$(CC) $(UBSANFLAGS) -o $@ $^ $(LDLIBS)

ubsan: build/ubsan/ringvm

build/obj/%.o: %.c
	@mkdir -p $(dir $@)
	$(CC) $(ALLCFLAGS) -c -o $@ $<

build/asan/obj/%.o: %.c
	@mkdir -p $(dir $@)
	$(CC) $(ALLCFLAGS) $(ASANFLAGS) -c -o $@ $<

build/ubsan/obj/%.o: %.c
	@mkdir -p $(dir $@)
	$(CC) $(ALLCFLAGS) $(UBSANFLAGS) -c -o $@ $<

# The guest kit ELF is embedded in the VMM as its default guest.
build/obj/%.o: %.S $(KIT)
	@mkdir -p $(dir $@)
	$(CC) -c -DKIT_PATH='"$(KIT)"' -o $@ $<

build/asan/obj/%.o: %.S $(KIT)
	@mkdir -p $(dir $@)
	$(CC) -c -DKIT_PATH='"$(KIT)"' -o $@ $<

build/ubsan/obj/%.o: %.S $(KIT)
	@mkdir -p $(dir $@)
	$(CC) -c -DKIT_PATH='"$(KIT)"' -o $@ $<

build/asan/tests/%: tests/unit/%.c $(ALIBOBJS)
	@mkdir -p $(dir $@)
	$(CC) $(ALLCFLAGS) $(ASANFLAGS) -o $@ $(filter %.c %.o,$^) $(LDLIBS)

# The native engines' unit tests (tests/unit/test_<engine>*.c, and
# test_native*.c for src/native/) run guest
# code in the low 4 GiB, where ASan keeps its shadow: they are built under
# UBSan alone (and fall back to SKIP in the ASan build).
NATIVE_UNITS := $(patsubst tests/unit/%.c,build/ubsan/tests/%,\
	$(foreach e,native $(NATIVE_ENGINES),$(wildcard tests/unit/test_$(e)*.c)))

# One source each ($<: test_bt_diff.c includes test_diff.c).
$(NATIVE_UNITS): build/ubsan/tests/%: tests/unit/%.c $(ULIBOBJS)
	@mkdir -p $(dir $@)
	$(CC) $(ALLCFLAGS) $(UBSANFLAGS) -o $@ $< $(filter %.o,$^) $(LDLIBS)

# The differential test through bt (test_bt_diff.c includes test_diff.c,
# so only the first source is compiled); its sanitizer-free build is the
# one that runs (tests/t_bt.sh), the ASan one SKIPs.
build/tests/test_bt_diff: tests/unit/test_bt_diff.c $(LIBOBJS)
	@mkdir -p $(dir $@)
	$(CC) $(ALLCFLAGS) -o $@ $< $(filter %.o,$^) $(LDLIBS)

build/asan/tests/test_bt_diff: tests/unit/test_bt_diff.c $(ALIBOBJS)
	@mkdir -p $(dir $@)
	$(CC) $(ALLCFLAGS) $(ASANFLAGS) -o $@ $< $(filter %.o,$^) $(LDLIBS)

units: $(UNITS) $(NATIVE_UNITS) build/ubsan/ringvm build/tests/test_bt_diff build/bench/native_compute

deps:
	@scripts/install-deps

test: deps
	$(MAKE) all asan ubsan units
	tests/run

fuzz: all asan ubsan units
	FUZZ_IMAGES=500 FUZZ_SYSTEM_IMAGES=500 bash tests/t_fuzz.sh

run: deps
	$(MAKE) all
	scripts/run-default

# make linux: Debian's stock i386 kernel and a busybox initramfs (fetched
# once into build/linux), booted to a shell on ttyS0; `poweroff` ends it.
# On bt, the fastest engine that boots it (docs/10-linux.md).
LINUX_ENGINE ?= bt
linux: deps
	$(MAKE) all
	scripts/fetch-linux
	build/ringvm run --engine $(LINUX_ENGINE) --mem 256M --kernel build/linux/vmlinuz --initrd build/linux/initramfs.gz \
		--append "console=ttyS0 $(LINUX_APPEND)"

clean:
	rm -rf build

-include $(shell find build -name '*.d' 2>/dev/null)
