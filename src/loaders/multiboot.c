/*
 * Multiboot v1 (the 0.6.96 specification): the loader finds the header in
 * the first 8 KiB, copies the kernel where it asks to be, and enters it in
 * flat 32-bit protected mode with paging off, EAX = 0x2BADB002 and EBX =
 * the physical address of the information structure built here.
 *
 * Low memory layout ringvm uses (all below 640 KiB, like a PC BIOS leaves
 * it): the information structure and its strings and memory map at 0x8000.
 * A kernel may load its segments anywhere in RAM the memory map calls
 * available, low memory included; only 0x9fc00-0x100000 (the EBDA, the VGA
 * hole and the BIOS area that holds ringvm's MP and ACPI tables) is
 * refused. If the kernel occupies 0x8000, the information structure goes
 * after the kernel and its module instead.
 */
#include <elf.h>
#include <stdio.h>
#include <string.h>

#include "loader.h"

#define MB_HEADER_MAGIC 0x1BADB002u
#define MB_SEARCH_LEN 8192u

/* Header flags the kernel may set. Bits 0-15 are requirements: a loader
 * must refuse a kernel that requires one it does not provide. */
#define MBH_PAGE_ALIGN (1u << 0)
#define MBH_MEMORY_INFO (1u << 1)
#define MBH_VIDEO_MODE (1u << 2)
#define MBH_AOUT_KLUDGE (1u << 16)

/* Information structure flags ringvm fills in. */
#define MBI_MEM (1u << 0)
#define MBI_CMDLINE (1u << 2)
#define MBI_MODS (1u << 3)
#define MBI_MMAP (1u << 6)
#define MBI_LOADER_NAME (1u << 9)

#define MBI_ADDR 0x8000u
#define MBI_AREA_END 0x9fc00u
#define MBI_AREA_SIZE 0x10000u /* when it must go above the kernel instead */
#define RESERVED_LO 0x9fc00u
#define RESERVED_HI 0x100000u

/* What the kernel's segments occupy, to keep the information structure
 * (and the module) off them. Filled by place(); one load at a time. */
#define PLACED_MAX 32
static struct {
	uint32_t lo, hi;
} placed[PLACED_MAX];
static unsigned n_placed;

static bool overlaps_kernel(uint32_t lo, uint32_t hi)
{
	for (unsigned k = 0; k < n_placed; k++)
		if (lo < placed[k].hi && placed[k].lo < hi)
			return true;
	return false;
}
#define LOW_MEM_KIB 639u /* 0x9fc00: the top KiB is the EBDA on a PC */

struct mb_header {
	uint32_t magic, flags, checksum;
	uint32_t header_addr, load_addr, load_end_addr, bss_end_addr, entry_addr;
};

struct mb_info {
	uint32_t flags, mem_lower, mem_upper, boot_device, cmdline, mods_count, mods_addr;
	uint32_t syms[4];
	uint32_t mmap_length, mmap_addr;
	uint32_t drives_length, drives_addr, config_table, boot_loader_name;
};

struct mb_module {
	uint32_t mod_start, mod_end, string, reserved;
};

struct mb_mmap_entry {
	uint32_t size;
	uint64_t addr, len;
	uint32_t type; /* 1 = available RAM, 2 = reserved */
} __attribute__((packed));

/* Every header field is read with memcpy into a local copy: the image is
 * a byte buffer, and a file may place its headers at any offset (an
 * unaligned struct access is undefined behaviour, and UBSan says so). */

/* Finds the header; *h gets a copy, zero-filled past the end of the file
 * (the a.out fields are checked for truncation by the caller). */
static bool mb_find_header(const struct image *k, struct mb_header *h, uint32_t *offset)
{
	size_t lim = k->len < MB_SEARCH_LEN ? k->len : MB_SEARCH_LEN;
	for (size_t off = 0; off + 12 <= lim; off += 4) {
		uint32_t w[3];
		memcpy(w, k->data + off, 12);
		if (w[0] == MB_HEADER_MAGIC && w[0] + w[1] + w[2] == 0) {
			size_t n = k->len - off < sizeof *h ? k->len - off : sizeof *h;
			memset(h, 0, sizeof *h);
			memcpy(h, k->data + off, n);
			*offset = (uint32_t)off;
			return true;
		}
	}
	return false;
}

static Elf32_Phdr elf_phdr(const struct image *k, const Elf32_Ehdr *eh, unsigned i)
{
	Elf32_Phdr ph;
	memcpy(&ph, k->data + eh->e_phoff + (size_t)i * sizeof ph, sizeof ph);
	return ph;
}

/* Says what is wrong with the ELF identification, or returns 0 if it is a
 * little-endian 32-bit ELF for i386. */
static int elf_check_ident(const struct image *k, const Elf32_Ehdr *eh)
{
	unsigned cls = eh->e_ident[EI_CLASS], data = eh->e_ident[EI_DATA];
	if (cls == ELFCLASS64) {
		fprintf(stderr, "ringvm: kernel %s: a 64-bit ELF; Multiboot v1 kernels are 32-bit ELF\n",
			k->name);
		return -1;
	}
	if (cls != ELFCLASS32) {
		fprintf(stderr, "ringvm: kernel %s: not a valid ELF (class byte %u is neither 32- nor 64-bit)\n",
			k->name, cls);
		return -1;
	}
	if (data == ELFDATA2MSB) {
		fprintf(stderr, "ringvm: kernel %s: a big-endian ELF; i386 kernels are little-endian\n",
			k->name);
		return -1;
	}
	if (data != ELFDATA2LSB) {
		fprintf(stderr, "ringvm: kernel %s: not a valid ELF (data encoding byte %u)\n", k->name,
			data);
		return -1;
	}
	if (eh->e_machine != EM_386) {
		fprintf(stderr, "ringvm: kernel %s: ELF for machine %u%s, not i386 (3)\n", k->name,
			eh->e_machine, eh->e_machine == EM_X86_64 ? " (x86-64)" : "");
		return -1;
	}
	return 0;
}

/* Copies [src, src+filesz) to guest-physical paddr and zeroes up to memsz. */
static int place(struct vm *vm, const struct image *k, uint32_t paddr, const uint8_t *src,
		 uint64_t filesz, uint64_t memsz)
{
	uint8_t *dst = vm_gpa(vm, paddr, memsz);
	if (!dst) {
		fprintf(stderr,
			"ringvm: kernel %s: segment at 0x%x-0x%llx does not fit in guest RAM "
			"(0 to %llu MiB; try a larger --mem)\n",
			k->name, paddr, (unsigned long long)(paddr + memsz),
			(unsigned long long)(vm->ram_size >> 20));
		return -1;
	}
	if (paddr < RESERVED_HI && paddr + memsz > RESERVED_LO) {
		fprintf(stderr,
			"ringvm: kernel %s: segment at 0x%x-0x%llx overlaps the PC's reserved area "
			"0x9fc00-0x100000 (EBDA, VGA, BIOS tables)\n",
			k->name, paddr, (unsigned long long)(paddr + memsz));
		return -1;
	}
	if (n_placed == PLACED_MAX) {
		fprintf(stderr, "ringvm: kernel %s: more than %d loadable segments\n", k->name,
			PLACED_MAX);
		return -1;
	}
	placed[n_placed].lo = paddr;
	placed[n_placed++].hi = (uint32_t)(paddr + memsz);
	memcpy(dst, src, filesz);
	memset(dst + filesz, 0, memsz - filesz);
	return 0;
}

static int load_elf(struct vm *vm, const struct image *k, uint32_t *entry, uint32_t *end)
{
	Elf32_Ehdr ehdr, *eh = &ehdr;
	if (k->len < sizeof ehdr) {
		fprintf(stderr, "ringvm: kernel %s: truncated ELF header\n", k->name);
		return -1;
	}
	memcpy(&ehdr, k->data, sizeof ehdr);
	if (elf_check_ident(k, eh) < 0)
		return -1;
	if (eh->e_type != ET_EXEC) {
		fprintf(stderr, "ringvm: kernel %s: not an executable ELF (type %u)\n", k->name,
			eh->e_type);
		return -1;
	}
	if (eh->e_phentsize != sizeof(Elf32_Phdr) || eh->e_phnum == 0 ||
	    (uint64_t)eh->e_phoff + (uint64_t)eh->e_phnum * sizeof(Elf32_Phdr) > k->len) {
		fprintf(stderr, "ringvm: kernel %s: truncated or malformed program headers\n", k->name);
		return -1;
	}
	unsigned loaded = 0;
	*end = 0;
	for (unsigned i = 0; i < eh->e_phnum; i++) {
		Elf32_Phdr ph = elf_phdr(k, eh, i);
		if (ph.p_type != PT_LOAD || ph.p_memsz == 0)
			continue;
		if (ph.p_filesz > ph.p_memsz || (uint64_t)ph.p_offset + ph.p_filesz > k->len) {
			fprintf(stderr, "ringvm: kernel %s: truncated (segment %u lies past the end of the file)\n",
				k->name, i);
			return -1;
		}
		if (place(vm, k, ph.p_paddr, k->data + ph.p_offset, ph.p_filesz, ph.p_memsz) < 0)
			return -1;
		if (ph.p_paddr + ph.p_memsz > *end)
			*end = ph.p_paddr + ph.p_memsz;
		loaded++;
	}
	if (!loaded) {
		fprintf(stderr, "ringvm: kernel %s: no loadable segments\n", k->name);
		return -1;
	}
	/* A higher-half kernel links its entry at a virtual address; the
	 * loader enters at the physical one of the segment that holds it. */
	*entry = eh->e_entry;
	for (unsigned i = 0; i < eh->e_phnum; i++) {
		Elf32_Phdr ph = elf_phdr(k, eh, i);
		if (ph.p_type == PT_LOAD && eh->e_entry - ph.p_vaddr < ph.p_memsz) {
			*entry = eh->e_entry - ph.p_vaddr + ph.p_paddr;
			break;
		}
	}
	return 0;
}

/* The a.out kludge: the header itself says where the image goes. */
static int load_aout(struct vm *vm, const struct image *k, const struct mb_header *h,
		     uint32_t hdr_off, uint32_t *entry, uint32_t *end)
{
	if (h->header_addr < h->load_addr || h->header_addr - h->load_addr > hdr_off) {
		fprintf(stderr, "ringvm: kernel %s: Multiboot address fields are inconsistent\n", k->name);
		return -1;
	}
	uint32_t file_off = hdr_off - (h->header_addr - h->load_addr);
	uint64_t filesz = h->load_end_addr ? (uint64_t)h->load_end_addr - h->load_addr
					   : k->len - file_off;
	uint64_t memsz = h->bss_end_addr ? (uint64_t)h->bss_end_addr - h->load_addr : filesz;
	if (h->load_end_addr && h->load_end_addr < h->load_addr) {
		fprintf(stderr, "ringvm: kernel %s: load_end_addr below load_addr\n", k->name);
		return -1;
	}
	if (file_off + filesz > k->len) {
		fprintf(stderr, "ringvm: kernel %s: truncated (image ends past the file)\n", k->name);
		return -1;
	}
	if (memsz < filesz)
		memsz = filesz;
	if (place(vm, k, h->load_addr, k->data + file_off, filesz, memsz) < 0)
		return -1;
	*entry = h->entry_addr;
	*end = (uint32_t)(h->load_addr + memsz);
	return 0;
}

static int not_multiboot(const struct image *k)
{
	if (k->len > 0x206 && memcmp(k->data + 0x202, "HdrS", 4) == 0)
		fprintf(stderr, "ringvm: kernel %s: a Linux bzImage; ringvm boots Multiboot v1 kernels\n",
			k->name);
	else if (k->len >= 4 && memcmp(k->data, ELFMAG, SELFMAG) == 0)
		fprintf(stderr, "ringvm: kernel %s: an ELF file without a Multiboot header in its first 8 KiB\n",
			k->name);
	else
		fprintf(stderr, "ringvm: kernel %s: not a Multiboot kernel (no Multiboot header in the first 8 KiB)\n",
			k->name);
	return -1;
}

/* A bump allocator over the low-memory area that holds the information
 * structure and everything it points to. */
struct low_area {
	struct vm *vm;
	uint32_t next, end;
};

static uint32_t low_alloc(struct low_area *a, const void *src, uint32_t len)
{
	uint32_t at = (a->next + 7) & ~7u;
	if (at + len > a->end)
		return 0;
	memcpy(a->vm->ram + at, src, len);
	a->next = at + len;
	return at;
}

static void mmap_add(struct mb_mmap_entry *m, unsigned *n, uint64_t addr, uint64_t len, uint32_t type)
{
	m[*n] = (struct mb_mmap_entry){ sizeof m[0] - 4, addr, len, type };
	(*n)++;
}

static int build_info(struct vm *vm, const struct image *module, uint32_t mod_at,
		      const char *cmdline, uint32_t mbi_at, uint32_t mbi_end)
{
	struct low_area a = { vm, mbi_at + sizeof(struct mb_info), mbi_end };
	struct mb_info mbi;
	memset(&mbi, 0, sizeof mbi);
	mbi.flags = MBI_MEM | MBI_CMDLINE | MBI_MMAP | MBI_LOADER_NAME;
	mbi.mem_lower = LOW_MEM_KIB;
	mbi.mem_upper = (uint32_t)((vm->ram_size - 0x100000) >> 10);

	struct mb_mmap_entry m[4];
	unsigned n = 0;
	mmap_add(m, &n, 0, LOW_MEM_KIB << 10, 1);
	mmap_add(m, &n, LOW_MEM_KIB << 10, 0xa0000 - (LOW_MEM_KIB << 10), 2);
	mmap_add(m, &n, 0xf0000, 0x10000, 2);
	mmap_add(m, &n, 0x100000, vm->ram_size - 0x100000, 1);
	mbi.mmap_length = sizeof m;
	mbi.mmap_addr = low_alloc(&a, m, sizeof m);
	mbi.cmdline = low_alloc(&a, cmdline, (uint32_t)strlen(cmdline) + 1);
	mbi.boot_loader_name = low_alloc(&a, "ringvm", 7);
	if (module) {
		const char *mname = module->name;
		struct mb_module mod = { mod_at, mod_at + (uint32_t)module->len, 0, 0 };
		mod.string = low_alloc(&a, mname, (uint32_t)strlen(mname) + 1);
		mbi.flags |= MBI_MODS;
		mbi.mods_count = 1;
		mbi.mods_addr = low_alloc(&a, &mod, sizeof mod);
	}
	if (!mbi.mmap_addr || !mbi.cmdline || !mbi.boot_loader_name || (module && !mbi.mods_addr)) {
		fprintf(stderr, "ringvm: the kernel command line is too long for the Multiboot area\n");
		return -1;
	}
	memcpy(vm->ram + mbi_at, &mbi, sizeof mbi);
	return 0;
}

int multiboot_load(struct vm *vm, const struct image *kernel, const struct image *module,
		   const char *cmdline, struct cpu_state *entry)
{
	uint32_t hdr_off, entry_pa, end;
	struct mb_header hdr, *h = &hdr;
	n_placed = 0;
	if (!mb_find_header(kernel, &hdr, &hdr_off))
		return not_multiboot(kernel);
	uint32_t unsupported = h->flags & 0xffffu & ~(MBH_PAGE_ALIGN | MBH_MEMORY_INFO);
	if (unsupported) {
		fprintf(stderr, "ringvm: kernel %s: requires Multiboot features ringvm does not provide (flags 0x%x%s)\n",
			kernel->name, unsupported,
			unsupported & MBH_VIDEO_MODE ? ": a video mode" : "");
		return -1;
	}
	int r;
	if (h->flags & MBH_AOUT_KLUDGE) {
		if (hdr_off + sizeof *h > kernel->len) {
			fprintf(stderr, "ringvm: kernel %s: truncated Multiboot header\n", kernel->name);
			return -1;
		}
		r = load_aout(vm, kernel, h, hdr_off, &entry_pa, &end);
	} else {
		if (kernel->len < SELFMAG || memcmp(kernel->data, ELFMAG, SELFMAG) != 0) {
			fprintf(stderr, "ringvm: kernel %s: Multiboot header without address fields, and not an ELF file\n",
				kernel->name);
			return -1;
		}
		r = load_elf(vm, kernel, &entry_pa, &end);
	}
	if (r < 0)
		return -1;

	uint32_t mod_at = 0;
	if (module) {
		mod_at = (end + 0xfffu) & ~0xfffu;
		if (mod_at < RESERVED_HI && mod_at + module->len > RESERVED_LO)
			mod_at = RESERVED_HI; /* a low kernel: the module goes above 1 MiB */
		while (overlaps_kernel(mod_at, (uint32_t)(mod_at + module->len)) &&
		       mod_at < vm->ram_size)
			mod_at += 0x1000;
		if (!vm_gpa(vm, mod_at, module->len)) {
			fprintf(stderr, "ringvm: initrd %s: %zu bytes do not fit in guest RAM after the kernel (try a larger --mem)\n",
				module->name, module->len);
			return -1;
		}
		memcpy(vm->ram + mod_at, module->data, module->len);
	}
	/* The information structure at 0x8000, or past everything loaded if
	 * the kernel lives there. */
	uint32_t mbi_at = MBI_ADDR, mbi_end = MBI_AREA_END;
	if (overlaps_kernel(MBI_ADDR, MBI_AREA_END)) {
		uint64_t top = module ? (uint64_t)mod_at + module->len : end;
		for (unsigned k = 0; k < n_placed; k++)
			if (placed[k].hi > top)
				top = placed[k].hi;
		mbi_at = (uint32_t)((top + 0xfffu) & ~0xfffull);
		if (mbi_at < RESERVED_HI && mbi_at + MBI_AREA_SIZE > RESERVED_LO)
			mbi_at = RESERVED_HI;
		mbi_end = mbi_at + MBI_AREA_SIZE;
		if (!vm_gpa(vm, mbi_at, MBI_AREA_SIZE) || overlaps_kernel(mbi_at, mbi_end)) {
			fprintf(stderr, "ringvm: kernel %s: no room for the Multiboot information "
				"(try a larger --mem)\n", kernel->name);
			return -1;
		}
	}
	if (build_info(vm, module, mod_at, cmdline, mbi_at, mbi_end) < 0)
		return -1;
	cpu_state_multiboot_entry(entry, entry_pa, mbi_at);
	return 0;
}
