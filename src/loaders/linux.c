/*
 * The Linux/x86 boot protocol, 32-bit entry (Documentation/arch/x86/
 * boot.rst, protocol 2.07 and later): no real-mode setup code runs. The
 * loader fills the "zero page" (struct boot_params) itself: the setup
 * header copied from the bzImage, the command line and initrd fields, and
 * an e820 memory map; it copies the protected-mode part of the image to
 * code32_start (1 MiB) and enters it in flat 32-bit protected mode with
 * paging and interrupts off and ESI = the zero page.
 *
 * The kernel's decompressor then moves itself up to its preferred address
 * (16 MiB for Debian's kernels) and needs init_size bytes from there, so
 * that is what must fit in --mem, together with the initrd, which goes
 * page-aligned as high as the kernel allows (initrd_addr_max).
 *
 * Low memory ringvm uses (below 640 KiB, like a PC BIOS leaves it):
 *   0x07000  a GDT with the protocol's __BOOT_CS (0x10) and __BOOT_DS (0x18)
 *   0x0f000  top of the entry stack (the decompressor makes its own)
 *   0x10000  the zero page (4 KiB)
 *   0x20000  the command line
 */
#include <stdio.h>
#include <string.h>

#include "loader.h"

#define BZ_SETUP_SECTS 0x1f1   /* u8: 512-byte sectors of real-mode setup (0 means 4) */
#define BZ_SYSSIZE 0x1f4       /* u32: protected-mode part, in 16-byte paragraphs */
#define BZ_HDR_START 0x1f1     /* the setup header lies from here ... */
#define BZ_JUMP 0x200	       /* ... to 0x202 + the jump offset stored at 0x201 */
#define BZ_MAGIC 0x202	       /* "HdrS" */
#define BZ_VERSION 0x206       /* u16: boot protocol version */
#define BZ_TYPE_OF_LOADER 0x210
#define BZ_LOADFLAGS 0x211
#define BZ_CODE32_START 0x214
#define BZ_RAMDISK_IMAGE 0x218
#define BZ_RAMDISK_SIZE 0x21c
#define BZ_CMD_LINE_PTR 0x228
#define BZ_INITRD_ADDR_MAX 0x22c
#define BZ_XLOADFLAGS 0x236    /* u16 */
#define BZ_CMDLINE_SIZE 0x238
#define BZ_PREF_ADDRESS 0x258  /* u64 */
#define BZ_INIT_SIZE 0x260

#define LOADED_HIGH 0x01u      /* loadflags: protected-mode part goes at 1 MiB */
#define XLF_KERNEL_64 0x01u    /* xloadflags: a 64-bit kernel (needs long mode) */

#define BP_E820_ENTRIES 0x1e8  /* u8 */
#define BP_E820_TABLE 0x2d0    /* 20-byte entries */
#define BP_E820_MAX 128

#define LINUX_GDT 0x7000u
#define LINUX_STACK 0xf000u
#define LINUX_ZERO_PAGE 0x10000u
#define LINUX_CMDLINE 0x20000u
#define LINUX_CMDLINE_END 0x9f000u
#define LINUX_BOOT_CS 0x10u
#define LINUX_BOOT_DS 0x18u
#define LOW_MEM_END 0x9fc00u   /* the top KiB below 640 KiB is the EBDA on a PC */

static uint32_t rd16(const uint8_t *p) { return (uint32_t)p[0] | (uint32_t)p[1] << 8; }

static uint32_t rd32(const uint8_t *p)
{
	uint32_t v;
	memcpy(&v, p, 4);
	return v;
}

static uint64_t rd64(const uint8_t *p)
{
	uint64_t v;
	memcpy(&v, p, 8);
	return v;
}

static void wr32(uint8_t *p, uint32_t v) { memcpy(p, &v, 4); }

bool linux_is_bzimage(const struct image *k)
{
	return k->len >= BZ_MAGIC + 4 && memcmp(k->data + BZ_MAGIC, "HdrS", 4) == 0;
}

static void e820_add(uint8_t *zp, uint64_t addr, uint64_t len, uint32_t type)
{
	uint8_t n = zp[BP_E820_ENTRIES];
	uint8_t *e = zp + BP_E820_TABLE + 20u * n;
	memcpy(e, &addr, 8);
	memcpy(e + 8, &len, 8);
	memcpy(e + 16, &type, 4);
	zp[BP_E820_ENTRIES] = (uint8_t)(n + 1);
}

/* The map a PC BIOS without ACPI reports: RAM below 639 KiB, the EBDA,
 * the BIOS ROM, and RAM from 1 MiB to the end of --mem. */
static void e820_build(uint8_t *zp, uint64_t ram_size)
{
	e820_add(zp, 0, LOW_MEM_END, 1);
	e820_add(zp, LOW_MEM_END, 0xa0000 - LOW_MEM_END, 2);
	e820_add(zp, 0xf0000, 0x10000, 2);
	e820_add(zp, 0x100000, ram_size - 0x100000, 1);
}

/* A GDT with the two descriptors the protocol promises: flat 4 GiB
 * execute/read code at 0x10 and read/write data at 0x18. */
static void gdt_build(uint8_t *gdt)
{
	static const uint64_t d[4] = { 0, 0, 0x00cf9b000000ffffull, 0x00cf93000000ffffull };
	memcpy(gdt, d, sizeof d);
}

static void entry_state(struct cpu_state *s, uint32_t entry)
{
	cpu_state_multiboot_entry(s, entry, 0);
	cpu_state_flat_seg(&s->seg[S_CS], LINUX_BOOT_CS, 0xb, 0);
	for (int i = 0; i < SREG_COUNT; i++)
		if (i != S_CS)
			cpu_state_flat_seg(&s->seg[i], LINUX_BOOT_DS, 0x3, 0);
	s->gdtr.base = LINUX_GDT;
	s->gdtr.limit = 4 * 8 - 1;
	s->idtr.limit = 0; /* no IDT until the kernel loads one */
	memset(s->gpr, 0, sizeof s->gpr); /* EBP, EDI, EBX must be 0 */
	s->gpr[R_ESI] = LINUX_ZERO_PAGE;
	s->gpr[R_ESP] = LINUX_STACK;
}

/* Checks the header; on success sets *pm_off to the file offset of the
 * protected-mode part. */
static int check_header(const struct image *k, uint32_t *pm_off)
{
	const uint8_t *d = k->data;
	if (k->len < 0x264) {
		fprintf(stderr, "ringvm: kernel %s: truncated Linux image (%zu bytes, no full setup header)\n",
			k->name, k->len);
		return -1;
	}
	uint32_t version = rd16(d + BZ_VERSION);
	if (version < 0x207) {
		fprintf(stderr, "ringvm: kernel %s: Linux boot protocol %u.%02u; ringvm needs 2.07 or later (Linux 2.6.24+)\n",
			k->name, version >> 8, version & 0xff);
		return -1;
	}
	if (!(d[BZ_LOADFLAGS] & LOADED_HIGH)) {
		fprintf(stderr, "ringvm: kernel %s: a zImage (loaded low); ringvm boots bzImages\n", k->name);
		return -1;
	}
	if (version >= 0x20c && (rd16(d + BZ_XLOADFLAGS) & XLF_KERNEL_64)) {
		fprintf(stderr, "ringvm: kernel %s: a 64-bit (x86-64) kernel; ringvm's CPU is 32-bit, without long mode\n",
			k->name);
		return -1;
	}
	uint32_t setup_sects = d[BZ_SETUP_SECTS] ? d[BZ_SETUP_SECTS] : 4;
	*pm_off = (setup_sects + 1) * 512;
	uint64_t pm_len = (uint64_t)rd32(d + BZ_SYSSIZE) * 16;
	if (*pm_off >= k->len || pm_len > k->len - *pm_off) {
		fprintf(stderr, "ringvm: kernel %s: truncated Linux image (%zu bytes; its header says %llu)\n",
			k->name, k->len, (unsigned long long)(*pm_off + pm_len));
		return -1;
	}
	return 0;
}

/* Places the protected-mode part; checks that the decompressed kernel
 * fits where the decompressor will put it. */
static int place_kernel(struct vm *vm, const struct image *k, uint32_t pm_off, uint32_t *end)
{
	const uint8_t *d = k->data;
	uint32_t at = rd32(d + BZ_CODE32_START);
	uint64_t pm_len = k->len - pm_off;
	/* pref_address and init_size exist from protocol 2.10; an older
	 * kernel decompresses at 1 MiB, to at most ~4x its compressed size
	 * (a bound, not a figure the kernel gives). */
	uint64_t pref = at, init_size = pm_len * 4;
	if (rd16(d + BZ_VERSION) >= 0x20a) {
		pref = rd64(d + BZ_PREF_ADDRESS);
		init_size = rd32(d + BZ_INIT_SIZE);
	}
	uint64_t need = (pref > at ? pref : at) + (init_size > pm_len ? init_size : pm_len);
	uint8_t *dst = vm_gpa(vm, at, pm_len);
	if (at < 0x100000u || !dst || pref >= vm->ram_size || need > vm->ram_size) {
		fprintf(stderr, "ringvm: kernel %s: needs guest RAM up to %llu MiB (unpacked at 0x%llx, %llu KiB); --mem is %llu MiB\n",
			k->name, (unsigned long long)((need + (1 << 20) - 1) >> 20),
			(unsigned long long)pref, (unsigned long long)(init_size >> 10),
			(unsigned long long)(vm->ram_size >> 20));
		return -1;
	}
	memcpy(dst, d + pm_off, pm_len);
	*end = (uint32_t)need;
	return 0;
}

/* The initrd goes page-aligned at the top of RAM, below initrd_addr_max,
 * above everything the kernel uses. */
static int place_initrd(struct vm *vm, const struct image *k, const struct image *initrd,
			uint32_t kernel_end, uint8_t *zp)
{
	uint64_t top = vm->ram_size;
	uint64_t max = (uint64_t)rd32(k->data + BZ_INITRD_ADDR_MAX) + 1;
	if (top > max)
		top = max;
	uint64_t at = top >= initrd->len ? (top - initrd->len) & ~0xfffull : 0;
	if (top < initrd->len || at < kernel_end) {
		fprintf(stderr, "ringvm: initrd %s: %zu bytes do not fit between the kernel (ends at %u MiB) and the end of usable RAM (%llu MiB); try a larger --mem\n",
			initrd->name, initrd->len, kernel_end >> 20, (unsigned long long)(top >> 20));
		return -1;
	}
	memcpy(vm->ram + at, initrd->data, initrd->len);
	wr32(zp + BZ_RAMDISK_IMAGE, (uint32_t)at);
	wr32(zp + BZ_RAMDISK_SIZE, (uint32_t)initrd->len);
	return 0;
}

static int place_cmdline(struct vm *vm, const struct image *k, const char *cmdline, uint8_t *zp)
{
	size_t len = strlen(cmdline);
	uint32_t max = rd32(k->data + BZ_CMDLINE_SIZE); /* excluding the NUL */
	if (max > LINUX_CMDLINE_END - LINUX_CMDLINE - 1)
		max = LINUX_CMDLINE_END - LINUX_CMDLINE - 1;
	if (len > max) {
		fprintf(stderr, "ringvm: kernel %s: the command line is %zu bytes; this kernel takes at most %u\n",
			k->name, len, max);
		return -1;
	}
	memcpy(vm->ram + LINUX_CMDLINE, cmdline, len + 1);
	wr32(zp + BZ_CMD_LINE_PTR, LINUX_CMDLINE);
	return 0;
}

int linux_load(struct vm *vm, const struct image *kernel, const struct image *initrd,
	       const char *cmdline, struct cpu_state *entry)
{
	uint32_t pm_off, kernel_end;
	if (check_header(kernel, &pm_off) < 0 || place_kernel(vm, kernel, pm_off, &kernel_end) < 0)
		return -1;
	uint8_t *zp = vm->ram + LINUX_ZERO_PAGE;
	memset(zp, 0, 4096);
	size_t hdr_end = BZ_JUMP + 2 + kernel->data[BZ_JUMP + 1];
	if (hdr_end > 4096 || hdr_end > kernel->len) {
		fprintf(stderr, "ringvm: kernel %s: malformed setup header (ends at 0x%zx)\n", kernel->name, hdr_end);
		return -1;
	}
	memcpy(zp + BZ_HDR_START, kernel->data + BZ_HDR_START, hdr_end - BZ_HDR_START);
	zp[BZ_TYPE_OF_LOADER] = 0xff; /* a loader without an assigned id */
	zp[BZ_LOADFLAGS] &= (uint8_t)~0x80u; /* CAN_USE_HEAP: no real-mode heap */
	if (place_cmdline(vm, kernel, cmdline, zp) < 0)
		return -1;
	if (initrd && place_initrd(vm, kernel, initrd, kernel_end, zp) < 0)
		return -1;
	e820_build(zp, vm->ram_size);
	gdt_build(vm->ram + LINUX_GDT);
	entry_state(entry, rd32(kernel->data + BZ_CODE32_START));
	/* ringvm's console is COM1; without console=ttyS0 a stock kernel
	 * writes to a VGA screen that is not there and looks hung. */
	if (!strstr(cmdline, "console="))
		fprintf(stderr, "ringvm: note: no console= in --append: Linux will print nothing "
				"on ringvm's console (try --append console=ttyS0)\n");
	return 0;
}
