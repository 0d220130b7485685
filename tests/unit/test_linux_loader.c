/* The Linux loader (32-bit boot protocol): what a bzImage finds in memory
 * and registers at entry, and one clear line (and a refusal) for each kind
 * of bad input. The image is synthetic: a setup header and a recognisable
 * protected-mode part, the layout Documentation/arch/x86/boot.rst gives. */
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "check.h"
#include "loaders/loader.h"
#include "vm/vm.h"

#define PM_LEN 8192u

static uint8_t img[1024 + PM_LEN];

static void wr16(uint8_t *p, uint16_t v) { memcpy(p, &v, 2); }
static void wr32(uint8_t *p, uint32_t v) { memcpy(p, &v, 4); }
static uint32_t rd32(const uint8_t *p)
{
	uint32_t v;
	memcpy(&v, p, 4);
	return v;
}

/* A protocol-2.15 bzImage: one setup sector after the boot sector. */
static struct image make_image(void)
{
	memset(img, 0, sizeof img);
	img[0x1f1] = 1; /* setup_sects */
	img[0x200] = 0xeb;
	img[0x201] = 0x66; /* the header ends at 0x268 */
	memcpy(img + 0x202, "HdrS", 4);
	wr16(img + 0x206, 0x20f);
	img[0x211] = 0x01;		  /* LOADED_HIGH */
	wr32(img + 0x214, 0x100000);	  /* code32_start */
	wr32(img + 0x22c, 0x37ffffff);	  /* initrd_addr_max */
	wr32(img + 0x238, 255);		  /* cmdline_size */
	wr32(img + 0x258, 0x1000000);	  /* pref_address: 16 MiB */
	wr32(img + 0x260, 0x800000);	  /* init_size: 8 MiB */
	wr32(img + 0x1f4, PM_LEN / 16);	  /* syssize */
	for (unsigned i = 0; i < PM_LEN; i++)
		img[1024 + i] = (uint8_t)(i * 7 + 3);
	return (struct image){ img, sizeof img, "bzImage", NULL };
}

static bool vm_new(struct vm *vm, uint64_t mem)
{
	struct vm_config cfg = { .mem_size = mem };
	return vm_create(vm, &cfg) == 0;
}

/* Runs linux_load with stderr captured; returns its result and the number
 * of lines it printed. */
static int load_quiet(struct vm *vm, const struct image *k, const struct image *rd,
		      const char *cmd, struct cpu_state *s, int *lines, char *msg, size_t msg_len)
{
	fflush(stderr);
	int saved = dup(2);
	FILE *f = tmpfile();
	dup2(fileno(f), 2);
	int r = linux_load(vm, k, rd, cmd, s);
	fflush(stderr);
	dup2(saved, 2);
	close(saved);
	rewind(f);
	*lines = 0;
	msg[0] = 0;
	char buf[512];
	while (fgets(buf, sizeof buf, f)) {
		if (!*lines)
			snprintf(msg, msg_len, "%s", buf);
		(*lines)++;
	}
	fclose(f);
	return r;
}

static void test_good_image(void)
{
	struct vm vm;
	if (!vm_new(&vm, 64u << 20)) {
		CHECK("linux_loader.vm_create", false, "vm_create failed");
		return;
	}
	struct image k = make_image();
	static uint8_t rd_data[10000] = { 'c', 'p', 'i', 'o' };
	struct image rd = { rd_data, sizeof rd_data, "initrd.gz", NULL };
	struct cpu_state s;
	CHECK("linux_loader.detects_bzimage", linux_is_bzimage(&k), "HdrS not recognised");
	int r = linux_load(&vm, &k, &rd, "console=ttyS0 quiet", &s);
	CHECK("linux_loader.loads", r == 0, "linux_load returned %d", r);
	CHECK("linux_loader.protected_mode_part", !memcmp(vm.ram + 0x100000, img + 1024, PM_LEN),
	      "the protected-mode part is not at code32_start");
	CHECK("linux_loader.entry_regs",
	      s.eip == 0x100000 && s.gpr[R_ESI] == 0x10000 && !s.gpr[R_EBX] && !s.gpr[R_EDI] &&
		      !s.gpr[R_EBP],
	      "eip=%x esi=%x ebx=%x edi=%x ebp=%x", s.eip, s.gpr[R_ESI], s.gpr[R_EBX], s.gpr[R_EDI],
	      s.gpr[R_EBP]);
	CHECK("linux_loader.entry_mode",
	      (s.cr0 & CR0_PE) && !(s.cr0 & CR0_PG) && !(s.eflags & EFLAGS_IF) &&
		      s.seg[S_CS].sel == 0x10 && s.seg[S_DS].sel == 0x18 && s.seg[S_SS].sel == 0x18 &&
		      s.seg[S_CS].db && s.seg[S_CS].limit == 0xffffffffu && !s.seg[S_DS].base,
	      "cr0=%x eflags=%x cs=%x ds=%x", s.cr0, s.eflags, s.seg[S_CS].sel, s.seg[S_DS].sel);
	/* The GDT in memory holds what CS and DS say: the decompressor
	 * reloads its segment registers from it before its own lgdt. */
	uint64_t cs_desc, ds_desc;
	memcpy(&cs_desc, vm.ram + s.gdtr.base + 0x10, 8);
	memcpy(&ds_desc, vm.ram + s.gdtr.base + 0x18, 8);
	CHECK("linux_loader.gdt", s.gdtr.limit >= 0x1f && cs_desc == 0x00cf9b000000ffffull &&
					  ds_desc == 0x00cf93000000ffffull,
	      "gdtr %x/%x cs %llx ds %llx", s.gdtr.base, s.gdtr.limit,
	      (unsigned long long)cs_desc, (unsigned long long)ds_desc);
	uint8_t *zp = vm.ram + s.gpr[R_ESI];
	CHECK("linux_loader.setup_header", !memcmp(zp + 0x202, "HdrS", 4) &&
						   rd32(zp + 0x260) == 0x800000 && zp[0x210] == 0xff,
	      "header not copied or type_of_loader %x", zp[0x210]);
	uint32_t cmd = rd32(zp + 0x228);
	CHECK("linux_loader.cmdline", cmd && cmd < 0xa0000 &&
					      !strcmp((char *)vm.ram + cmd, "console=ttyS0 quiet"),
	      "cmd_line_ptr 0x%x", cmd);
	uint32_t ri = rd32(zp + 0x218), rs = rd32(zp + 0x21c);
	CHECK("linux_loader.initrd", rs == sizeof rd_data && !(ri & 0xfff) &&
					     ri + rs <= vm.ram_size && ri >= 0x1800000 &&
					     !memcmp(vm.ram + ri, rd_data, rs),
	      "ramdisk at 0x%x size %u (kernel needs up to 0x1800000)", ri, rs);
	/* e820: usable RAM below 640 KiB and from 1 MiB to the end of --mem. */
	unsigned n = zp[0x1e8];
	uint64_t usable = 0, top = 0;
	for (unsigned i = 0; i < n; i++) {
		uint64_t a, l;
		uint32_t t;
		memcpy(&a, zp + 0x2d0 + 20 * i, 8);
		memcpy(&l, zp + 0x2d0 + 20 * i + 8, 8);
		memcpy(&t, zp + 0x2d0 + 20 * i + 16, 4);
		if (t == 1) {
			usable += l;
			if (a + l > top)
				top = a + l;
		}
	}
	CHECK("linux_loader.e820", n >= 2 && top == vm.ram_size &&
					   usable == vm.ram_size - 0x100000 + 0x9fc00,
	      "%u entries, usable %llu, top 0x%llx", n, (unsigned long long)usable,
	      (unsigned long long)top);
	vm_destroy(&vm);
}

/* Each bad input: refused, with exactly one line on stderr that names the
 * problem. */
static void expect_refusal(const char *name, struct image *k, struct image *rd, uint64_t mem,
			   const char *cmd, const char *word)
{
	struct vm vm;
	if (!vm_new(&vm, mem)) {
		CHECK(name, false, "vm_create failed");
		return;
	}
	struct cpu_state s;
	int lines;
	char msg[512];
	int r = load_quiet(&vm, k, rd, cmd, &s, &lines, msg, sizeof msg);
	CHECK(name, r < 0 && lines == 1 && strstr(msg, word),
	      "returned %d with %d line(s): %s (want one line with '%s')", r, lines, msg, word);
	vm_destroy(&vm);
}

static void test_bad_inputs(void)
{
	struct image k = make_image();
	wr16(img + 0x206, 0x206);
	expect_refusal("linux_loader.old_protocol", &k, NULL, 64u << 20, "", "protocol 2.06");

	/* Protocol 2.07-2.09: no init_size; the loader assumes 4x the
	 * compressed size at 1 MiB, ignoring what lies at 0x258-0x263. */
	k = make_image();
	wr16(img + 0x206, 0x209);
	wr32(img + 0x260, 0x7fffffff); /* setup code there, not a size */
	{
		struct vm vm;
		struct cpu_state s;
		int r = -1;
		if (vm_new(&vm, 32u << 20)) {
			r = linux_load(&vm, &k, NULL, "console=ttyS0", &s);
			vm_destroy(&vm);
		}
		CHECK("linux_loader.protocol_2_09", r == 0, "a 2.09 kernel with 32 KiB of code was refused");
	}

	k = make_image();
	k.len = 0x240;
	expect_refusal("linux_loader.truncated_header", &k, NULL, 64u << 20, "", "truncated");

	k = make_image();
	img[0x1f1] = 40; /* setup claims 20 KiB: longer than the file */
	expect_refusal("linux_loader.truncated_setup", &k, NULL, 64u << 20, "", "truncated");

	k = make_image();
	k.len -= 16; /* the protected-mode part cut short of syssize */
	expect_refusal("linux_loader.truncated_kernel", &k, NULL, 64u << 20, "", "truncated");

	k = make_image();
	wr16(img + 0x236, 0x1); /* XLF_KERNEL_64 */
	expect_refusal("linux_loader.64bit_kernel", &k, NULL, 64u << 20, "", "64-bit");

	k = make_image();
	img[0x211] = 0; /* a zImage */
	expect_refusal("linux_loader.zimage", &k, NULL, 64u << 20, "", "zImage");

	k = make_image();
	expect_refusal("linux_loader.kernel_too_big_for_mem", &k, NULL, 20u << 20, "", "--mem");

	k = make_image();
	char longcmd[300];
	memset(longcmd, 'x', sizeof longcmd - 1);
	longcmd[sizeof longcmd - 1] = 0;
	expect_refusal("linux_loader.cmdline_too_long", &k, NULL, 64u << 20, longcmd, "at most 255");

	k = make_image();
	static uint8_t big[41u << 20]; /* 64 MiB - the kernel's 24 MiB = 40 MiB free */
	struct image rd = { big, sizeof big, "huge.img", NULL };
	expect_refusal("linux_loader.initrd_too_big", &k, &rd, 64u << 20, "", "initrd");

	k = make_image();
	wr32(img + 0x22c, 0x17fffff); /* initrd_addr_max below the kernel's end */
	struct image small = { big, 4096, "small.img", NULL };
	expect_refusal("linux_loader.initrd_addr_max", &k, &small, 64u << 20, "", "initrd");
}

int main(void)
{
	test_good_image();
	test_bad_inputs();
	CHECK_DONE();
}
