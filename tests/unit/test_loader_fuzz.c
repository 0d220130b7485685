/* The Multiboot loader against damaged files: random bytes in the headers,
 * truncations, huge and wrapping fields, headers at unaligned addresses.
 * Under ASan+UBSan any out-of-bounds or misaligned access aborts the test;
 * beyond that, every refusal must be exactly one line on stderr, and an
 * accepted image must enter inside guest RAM. */
#include <elf.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "check.h"
#include "loaders/loader.h"
#include "vm/vm.h"

#define MB_MAGIC 0x1BADB002u
#define ROUNDS 3000

static uint32_t rng = 12345;
static uint32_t rnd(void)
{
	rng ^= rng << 13;
	rng ^= rng >> 17;
	rng ^= rng << 5;
	return rng;
}

/* A small valid Multiboot ELF: ELF header, two program headers, the
 * Multiboot header and a few bytes of code, loaded at 1 MiB. */
static size_t make_elf(uint8_t *b, size_t cap)
{
	memset(b, 0, cap);
	Elf32_Ehdr eh = { .e_type = ET_EXEC, .e_machine = EM_386, .e_version = EV_CURRENT,
			  .e_entry = 0x100000 + 0x100, .e_phoff = sizeof(Elf32_Ehdr),
			  .e_ehsize = sizeof(Elf32_Ehdr), .e_phentsize = sizeof(Elf32_Phdr),
			  .e_phnum = 2 };
	memcpy(eh.e_ident, ELFMAG, SELFMAG);
	eh.e_ident[EI_CLASS] = ELFCLASS32;
	eh.e_ident[EI_DATA] = ELFDATA2LSB;
	eh.e_ident[EI_VERSION] = EV_CURRENT;
	memcpy(b, &eh, sizeof eh);
	Elf32_Phdr ph[2] = {
		{ .p_type = PT_LOAD, .p_offset = 0, .p_vaddr = 0x100000, .p_paddr = 0x100000,
		  .p_filesz = 0x200, .p_memsz = 0x2000, .p_flags = PF_R | PF_X },
		{ .p_type = PT_NOTE, .p_offset = 0x180, .p_filesz = 0x10, .p_memsz = 0x10 },
	};
	memcpy(b + eh.e_phoff, ph, sizeof ph);
	uint32_t mb[3] = { MB_MAGIC, 0, -MB_MAGIC };
	memcpy(b + 0xc0, mb, sizeof mb);
	b[0x100] = 0xf4; /* hlt */
	return 0x200;
}

/* The a.out kludge: the Multiboot header says where everything goes. */
static size_t make_aout(uint8_t *b, size_t cap)
{
	memset(b, 0, cap);
	uint32_t flags = 1u << 16;
	uint32_t mb[8] = { MB_MAGIC, flags, -(MB_MAGIC + flags), 0x100000 + 0x40, 0x100000,
			   0x100000 + 0x200, 0x100000 + 0x4000, 0x100000 + 0x100 };
	memcpy(b + 0x40, mb, sizeof mb);
	b[0x100] = 0xf4;
	return 0x200;
}

static const uint32_t nasty[] = { 0, 1, 3, 0x7f, 0xff, 0xfff, 0x1000, 0xffff, 0x100000,
				  0x3fffff, 0x7fffffff, 0x80000000, 0xfffff000, 0xfffffffe,
				  0xffffffff };

/* Damages one thing: a random byte, a random 32-bit field set to a nasty
 * value, or a 16-bit field (phnum, phentsize) set to one. */
static void damage(uint8_t *b, size_t len)
{
	size_t at = rnd() % (len < 0x140 ? len : 0x140);
	switch (rnd() % 3) {
	case 0:
		b[at] = (uint8_t)rnd();
		break;
	case 1: {
		uint32_t v = nasty[rnd() % (sizeof nasty / sizeof nasty[0])];
		at &= ~3u;
		if (at + 4 <= len)
			memcpy(b + at, &v, 4);
		break;
	}
	default: {
		uint16_t v = (uint16_t)nasty[rnd() % (sizeof nasty / sizeof nasty[0])];
		at &= ~1u;
		if (at + 2 <= len)
			memcpy(b + at, &v, 2);
	}
	}
}

static long stderr_lines(int fd)
{
	off_t end = lseek(fd, 0, SEEK_END);
	char buf[4096];
	long n = 0;
	for (off_t off = 0; off < end;) {
		ssize_t r = pread(fd, buf, sizeof buf, off);
		if (r <= 0)
			break;
		for (ssize_t i = 0; i < r; i++)
			n += buf[i] == '\n';
		off += r;
	}
	return n;
}

int main(void)
{
	struct vm vm;
	struct vm_config cfg = { .mem_size = 4u << 20 };
	if (vm_create(&vm, &cfg) < 0) {
		CHECK("loader_fuzz.vm", false, "vm_create failed");
		CHECK_DONE();
	}
	/* stderr into a memfd, to count the lines each refusal prints */
	int saved = dup(2), errfd = memfd_create("stderr", 0);
	dup2(errfd, 2);
	static uint8_t raw[0x200 + 8];
	unsigned accepted = 0, refused = 0, bad_lines = 0;
	for (unsigned round = 0; round < ROUNDS; round++) {
		/* header data at every alignment: the image starts 0-3 bytes in */
		uint8_t *b = raw + (round & 3);
		size_t len = (round & 4) ? make_aout(b, 0x200) : make_elf(b, 0x200);
		unsigned hits = 1 + rnd() % 4;
		for (unsigned k = 0; k < hits; k++)
			damage(b, len);
		if (rnd() % 4 == 0)
			len = rnd() % (len + 1); /* truncated anywhere, even to nothing */
		struct image img = { b, len, "fuzz.elf", NULL };
		struct cpu_state s;
		long before = stderr_lines(errfd);
		int r = multiboot_load(&vm, &img, NULL, "fuzz", &s);
		long lines = stderr_lines(errfd) - before;
		if (r == 0) {
			accepted++;
			bad_lines += lines != 0;
		} else {
			refused++;
			bad_lines += lines != 1;
		}
	}
	dup2(saved, 2);
	close(saved);
	CHECK("loader_fuzz.one_line_per_refusal", bad_lines == 0,
	      "%u of %u loads printed the wrong number of lines", bad_lines, ROUNDS);
	CHECK("loader_fuzz.both_outcomes", accepted > 0 && refused > 0,
	      "accepted %u refused %u: the damage is not varied enough to mean anything",
	      accepted, refused);
	/* The undamaged images still load, from unaligned buffers too. */
	bool elf_ok = true, aout_ok = true;
	for (unsigned shift = 0; shift < 4; shift++) {
		struct cpu_state s;
		size_t len = make_elf(raw + shift, 0x200);
		struct image img = { raw + shift, len, "ok.elf", NULL };
		elf_ok &= multiboot_load(&vm, &img, NULL, "ok", &s) == 0 && s.eip == 0x100100 &&
			  vm.ram[0x100100] == 0xf4;
		len = make_aout(raw + shift, 0x200);
		img = (struct image){ raw + shift, len, "ok.aout", NULL };
		aout_ok &= multiboot_load(&vm, &img, NULL, "ok", &s) == 0 && s.eip == 0x100100;
	}
	CHECK("loader_fuzz.unaligned_elf_loads", elf_ok, "an intact ELF at offset 0-3 did not load");
	CHECK("loader_fuzz.unaligned_aout_loads", aout_ok, "an intact a.out kludge at offset 0-3 did not load");
	close(errfd);
	vm_destroy(&vm);
	CHECK_DONE();
}
