# The guest kit: build/guest/kit.elf, a Multiboot v1 ELF (see guest/kit.ld).
# Three kinds of objects:
#   build/guest/*.o        the higher-half kernel
#   build/guest/low/*.o    the smoke-mode build of the drivers it needs, with
#                          every symbol renamed lo_* (runs with paging off)
#   build/guest/user_image.o  ring-3 programs (+ compute.c), one relocatable
#                          object that must not reference the kernel

GUEST_CFLAGS  := -std=gnu11 -m32 -ffreestanding -nostdlib -fno-pic -fno-pie \
	-fno-stack-protector -mno-sse -mno-mmx -mno-80387 -O2 -Wall -Wextra -Werror \
	-fno-asynchronous-unwind-tables -fno-tree-loop-distribute-patterns -Iinclude
GUEST_ASFLAGS := -m32 -fno-pic -fno-pie -Iinclude
GUEST_DEPFLAGS = -MMD -MP -MT $@ -MF $(@:.o=.d)
GUEST_LDFLAGS := -m elf_i386 -T guest/kit.ld --no-warn-rwx-segments -z noexecstack

GUEST_KSRCS := boot.S isr.S string.c serial.c print.c bootinfo.c report.c gdt.c \
	idt.c trap.c pic.c pit.c cmos.c paging.c proc.c syscall.c kmain.c pv.c \
	tests_exc.c tests_sensitive.c tests_timer.c tests_user.c tests_fpu.c tests_pv.c \
	tests_kvmclock.c tests_modes.c modes_asm.S tests_platform.c bench.c bench_r0.c
GUEST_LOWSRCS := isr.S string.c serial.c print.c bootinfo.c report.c gdt.c idt.c \
	trap.c pic.c pit.c cmos.c smoke.c bench_r0.c pv.c
GUEST_USRSRCS := user.c user_modes.c compute.c

GUEST_KOBJS := $(addprefix build/guest/,$(addsuffix .o,$(basename $(GUEST_KSRCS))))
GUEST_LOWOBJS := $(addprefix build/guest/low/,$(addsuffix .o,$(basename $(GUEST_LOWSRCS))))
GUEST_USROBJS := $(addprefix build/guest/u/,$(addsuffix .o,$(basename $(GUEST_USRSRCS))))

guest: $(KIT)

$(KIT): $(GUEST_KOBJS) $(GUEST_LOWOBJS) build/guest/user_image.o guest/kit.ld
	ld $(GUEST_LDFLAGS) -o $@ $(GUEST_KOBJS) $(GUEST_LOWOBJS) build/guest/user_image.o

build/guest/%.o: guest/%.c
	@mkdir -p $(dir $@)
	$(CC) $(GUEST_CFLAGS) $(GUEST_DEPFLAGS) -c -o $@ $<

build/guest/%.o: guest/%.S
	@mkdir -p $(dir $@)
	$(CC) $(GUEST_ASFLAGS) $(GUEST_DEPFLAGS) -c -o $@ $<

build/guest/low/%.o: guest/%.c
	@mkdir -p $(dir $@)
	$(CC) $(GUEST_CFLAGS) -DKIT_LOW $(GUEST_DEPFLAGS) -c -o $@.tmp $<
	objcopy --prefix-symbols=lo_ $@.tmp $@
	@rm -f $@.tmp

build/guest/low/%.o: guest/%.S
	@mkdir -p $(dir $@)
	$(CC) $(GUEST_ASFLAGS) -DKIT_LOW $(GUEST_DEPFLAGS) -c -o $@.tmp $<
	objcopy --prefix-symbols=lo_ $@.tmp $@
	@rm -f $@.tmp

build/guest/u/%.o: guest/%.c
	@mkdir -p $(dir $@)
	$(CC) $(GUEST_CFLAGS) $(GUEST_DEPFLAGS) -c -o $@ $<

# Ring-3 code runs in user pages: a call into the kernel (even one that GCC
# emits by itself, like memset) would fault, so refuse to link one.
build/guest/user_image.o: $(GUEST_USROBJS)
	ld -m elf_i386 -r -o $@ $^
	@if nm -u $@ | grep -q .; then \
		echo "guest: ring-3 code references outside symbols:"; nm -u $@; rm -f $@; exit 1; fi
