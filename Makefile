# ringvm: one VMM, every way of virtualizing an x86 CPU.
#   make            build/ringvm (optimised) and the guest kit
#   make asan       build/asan/ringvm (AddressSanitizer + UBSan)
#   make test       install what is missing, build everything, run tests/run
#   make run        install what is missing, build, boot the guest kit
#   make bench      run the benchmark harness
#   make linux      boot Debian's i386 kernel + busybox to a shell (fetched once)

CC      ?= gcc
WARN    := -Wall -Wextra -Werror -Wshadow -Wno-unused-parameter
CFLAGS  ?= -O2 -g
ALLCFLAGS := -std=gnu11 $(WARN) $(CFLAGS) -Isrc -Iinclude -MMD -MP -D_GNU_SOURCE
LDLIBS  := -lZydis -lpthread -lrt
ASANFLAGS := -O1 -g -fsanitize=address,undefined -fno-sanitize-recover=undefined -fno-omit-frame-pointer

SRCS    := $(shell find src -name '*.c' | sort)
ASMS    := $(shell find src -name '*.S' | sort)
LIBSRCS := $(filter-out src/main.c,$(SRCS))
OBJS    := $(SRCS:%.c=build/obj/%.o) $(ASMS:%.S=build/obj/%.o)
AOBJS   := $(SRCS:%.c=build/asan/obj/%.o) $(ASMS:%.S=build/asan/obj/%.o)
LIBOBJS := $(filter-out build/obj/src/main.o,$(OBJS))
ALIBOBJS:= $(filter-out build/asan/obj/src/main.o,$(AOBJS))
UNITSRCS:= $(wildcard tests/unit/test_*.c)
UNITS   := $(UNITSRCS:tests/unit/%.c=build/asan/tests/%)
KIT     := build/guest/kit.elf

.PHONY: all asan test run bench clean deps units guest linux
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

build/obj/%.o: %.c
	@mkdir -p $(dir $@)
	$(CC) $(ALLCFLAGS) -c -o $@ $<

build/asan/obj/%.o: %.c
	@mkdir -p $(dir $@)
	$(CC) $(ALLCFLAGS) $(ASANFLAGS) -c -o $@ $<

# The guest kit ELF is embedded in the VMM as its default guest.
build/obj/%.o: %.S $(KIT)
	@mkdir -p $(dir $@)
	$(CC) -c -DKIT_PATH='"$(KIT)"' -o $@ $<

build/asan/obj/%.o: %.S $(KIT)
	@mkdir -p $(dir $@)
	$(CC) -c -DKIT_PATH='"$(KIT)"' -o $@ $<

build/asan/tests/%: tests/unit/%.c $(ALIBOBJS)
	@mkdir -p $(dir $@)
	$(CC) $(ALLCFLAGS) $(ASANFLAGS) -o $@ $(filter %.c %.o,$^) $(LDLIBS)

# The trap engine runs guest code in the low 4 GiB, where ASan keeps its
# shadow: its tests also get an optimised, sanitizer-free build.
NATIVE_UNITS := $(patsubst tests/unit/%.c,build/tests/%,$(wildcard tests/unit/test_trap*.c))

$(NATIVE_UNITS): build/tests/%: tests/unit/%.c $(LIBOBJS)
	@mkdir -p $(dir $@)
	$(CC) $(ALLCFLAGS) -o $@ $(filter %.c %.o,$^) $(LDLIBS)

units: $(UNITS) $(NATIVE_UNITS) build/bench/native_compute

deps:
	@scripts/install-deps

test: deps
	$(MAKE) all asan units
	tests/run

run: deps
	$(MAKE) all
	scripts/run-default

# make linux: Debian's stock i386 kernel and a busybox initramfs (fetched
# once into build/linux), booted to a shell on ttyS0; `poweroff` ends it.
linux: deps
	$(MAKE) all
	scripts/fetch-linux
	build/ringvm run --mem 256M --kernel build/linux/vmlinuz --initrd build/linux/initramfs.gz \
		--append "console=ttyS0 $(LINUX_APPEND)"

clean:
	rm -rf build

-include $(shell find build -name '*.d' 2>/dev/null)
