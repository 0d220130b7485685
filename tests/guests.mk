# Small Multiboot guests that misbehave on purpose (tests/guests/*.S).
TGUEST_SRCS := $(wildcard tests/guests/*.S)
TGUESTS := $(TGUEST_SRCS:tests/guests/%.S=build/tests/guests/%.elf)

build/tests/guests/%.o: tests/guests/%.S tests/guests/mb.h
	@mkdir -p $(dir $@)
	$(CC) -m32 -c -Itests/guests -o $@ $<

build/tests/guests/high_load.elf: build/tests/guests/high_load.o
	ld -m elf_i386 -N --no-warn-rwx-segments -e _start -Ttext=0x4000000 -o $@ $<

# bt_escape's code is larger than 8 KiB: its Multiboot header goes first.
build/tests/guests/bt_escape.elf: build/tests/guests/bt_escape.o
	ld -m elf_i386 -N --no-warn-rwx-segments -e _start --section-start=.multiboot=0x100000 -Ttext=0x100040 -o $@ $<
build/tests/guests/low_load.elf: build/tests/guests/low_load.o
	ld -m elf_i386 -N --no-warn-rwx-segments -e _start -Ttext=0x7000 -o $@ $<

build/tests/guests/%.elf: build/tests/guests/%.o
	ld -m elf_i386 -N --no-warn-rwx-segments -e _start -Ttext=0x100000 -o $@ $<

units: $(TGUESTS)
.PRECIOUS: build/tests/guests/%.o
