/* The Multiboot v1 loader: what a kernel finds in memory and registers at
 * entry, for an ELF kernel with a module and for the a.out kludge. */
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "loaders/loader.h"
#include "vm/vm.h"

extern const uint8_t guest_kit_elf[], guest_kit_elf_end[];

static uint32_t rd32(struct vm *vm, uint32_t gpa)
{
	uint32_t v;
	memcpy(&v, vm->ram + gpa, 4);
	return v;
}

static void test_elf_with_module(void)
{
	struct vm vm;
	struct vm_config cfg = { .mem_size = 32u << 20 };
	if (vm_create(&vm, &cfg) < 0) {
		CHECK("loader.vm_create", false, "vm_create failed");
		return;
	}
	struct image kit = { guest_kit_elf, (size_t)(guest_kit_elf_end - guest_kit_elf), "kit", NULL };
	static const uint8_t payload[5000] = { 'R', 'I', 'N', 'G' };
	struct image mod = { payload, sizeof payload, "initrd.img", NULL };
	struct cpu_state s;
	int r = multiboot_load(&vm, &kit, &mod, "kit smoke", &s);
	CHECK("loader.elf_loads", r == 0, "multiboot_load returned %d", r);
	CHECK("loader.entry_regs", s.gpr[R_EAX] == 0x2BADB002u && s.gpr[R_EBX] == 0x8000u,
	      "EAX=%x EBX=%x", s.gpr[R_EAX], s.gpr[R_EBX]);
	CHECK("loader.entry_mode", (s.cr0 & CR0_PE) && !(s.cr0 & CR0_PG) && s.seg[S_CS].db &&
				   s.seg[S_CS].limit == 0xffffffffu && !(s.eflags & EFLAGS_IF),
	      "cr0=%x cs.db=%u eflags=%x", s.cr0, s.seg[S_CS].db, s.eflags);
	uint32_t mbi = s.gpr[R_EBX], flags = rd32(&vm, mbi);
	CHECK("loader.mbi_flags", (flags & 0x24d) == 0x24d, "flags=%x (want MEM CMDLINE MODS MMAP NAME)", flags);
	CHECK("loader.mem", rd32(&vm, mbi + 4) == 639 && rd32(&vm, mbi + 8) == (31u << 10),
	      "mem_lower=%u mem_upper=%u", rd32(&vm, mbi + 4), rd32(&vm, mbi + 8));
	uint32_t cmd = rd32(&vm, mbi + 16);
	CHECK("loader.cmdline", cmd && cmd < vm.ram_size && !strcmp((char *)vm.ram + cmd, "kit smoke"),
	      "cmdline at 0x%x", cmd);
	uint32_t mods = rd32(&vm, mbi + 24), mod_start = rd32(&vm, mods), mod_end = rd32(&vm, mods + 4);
	CHECK("loader.module", rd32(&vm, mbi + 20) == 1 && (mod_start & 0xfff) == 0 &&
				  mod_end - mod_start == sizeof payload &&
				  !memcmp(vm.ram + mod_start, payload, sizeof payload) &&
				  !strcmp((char *)vm.ram + rd32(&vm, mods + 8), "initrd.img"),
	      "count=%u start=0x%x end=0x%x", rd32(&vm, mbi + 20), mod_start, mod_end);
	/* The memory map: RAM below 639 KiB and from 1 MiB to the end, with a
	 * hole between (the x86 hole: VGA and BIOS). */
	uint32_t mm = rd32(&vm, mbi + 48), mm_len = rd32(&vm, mbi + 44);
	uint64_t avail = 0;
	bool in_hole = false;
	for (uint32_t off = 0; off < mm_len; off += rd32(&vm, mm + off) + 4) {
		uint64_t addr, len;
		memcpy(&addr, vm.ram + mm + off + 4, 8);
		memcpy(&len, vm.ram + mm + off + 12, 8);
		if (rd32(&vm, mm + off + 20) == 1) {
			avail += len;
			in_hole |= addr + len > 0xa0000 && addr < 0x100000;
		}
	}
	CHECK("loader.mmap_hole", !in_hole, "an available range overlaps 640 KiB..1 MiB");
	CHECK("loader.mmap_total", avail == (639u << 10) + (31u << 20), "available %llu bytes",
	      (unsigned long long)avail);
	vm_destroy(&vm);
}

/* A kernel that is not ELF: the header's address fields say where it goes. */
static void test_aout_kludge(void)
{
	struct vm vm;
	struct vm_config cfg = { .mem_size = 8u << 20 };
	if (vm_create(&vm, &cfg) < 0)
		return;
	uint8_t img[0x200];
	memset(img, 0x90, sizeof img);
	uint32_t h[8] = { 0x1BADB002u, 1u << 16, 0, 0x200000, 0x200000, 0x200200, 0x204000, 0x200040 };
	h[2] = -(h[0] + h[1]);
	memcpy(img, h, sizeof h);
	memset(vm.ram + 0x200200, 0xcc, 0x100); /* must be zeroed as bss */
	struct image k = { img, sizeof img, "aout", NULL };
	struct cpu_state s;
	int r = multiboot_load(&vm, &k, NULL, "aout", &s);
	CHECK("loader.aout_loads", r == 0 && s.eip == 0x200040, "r=%d eip=0x%x", r, s.eip);
	CHECK("loader.aout_image", !memcmp(vm.ram + 0x200000, img, sizeof img) &&
				      vm.ram[0x200200] == 0 && vm.ram[0x203fff] == 0,
	      "image or bss wrong");
	h[1] = (1u << 16) | (1u << 2); /* asks for a video mode */
	h[2] = -(h[0] + h[1]);
	memcpy(img, h, sizeof h);
	r = multiboot_load(&vm, &k, NULL, "aout", &s);
	CHECK("loader.refuses_video_mode", r < 0, "a kernel that requires a video mode was accepted");
	vm_destroy(&vm);
}

int main(void)
{
	test_elf_with_module();
	test_aout_kludge();
	CHECK_DONE();
}
