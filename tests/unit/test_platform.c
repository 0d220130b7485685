/*
 * The --machine pc platform driven as a guest drives it, without a CPU:
 * the firmware tables in RAM (checksums, consistency), the local APIC and
 * IOAPIC (routing, priorities, EOI, the timer on a fake clock), PCI
 * configuration space, ACPI power-off, fw_cfg, pc-testdev, the ATA disk on
 * an image file (bounds, LBA48, writes reaching the file), --drive and
 * --machine parsing, and Multiboot segments in low memory.
 */
#include <elf.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "check.h"
#include "devices/devices_priv.h"
#include "loaders/loader.h"
#include "vm/vm.h"

static uint64_t fake_ns = 1000000000ull;
static uint64_t fake_clock(void)
{
	return fake_ns;
}

static int vm_pc(struct vm *vm, enum machine m, const char *disk)
{
	struct vm_config cfg = { .mem_size = 32u << 20, .machine = m };
	if (disk) {
		cfg.drive[0].file = disk;
		cfg.n_drives = 1;
	}
	if (vm_create(vm, &cfg) < 0)
		return -1;
	vm->dev->now = fake_clock;
	vm->dev->uart.out_dead = true;
	return 0;
}

static void io(struct vm *vm, uint16_t port, void *v, unsigned len, bool w)
{
	const struct bus_range *r = bus_find(&vm->pio, port);
	if (r)
		r->fn(vm, r->dev, port, v, len, w);
	else if (!w)
		memset(v, 0xff, len);
}
static void outb(struct vm *vm, uint16_t p, uint8_t v) { io(vm, p, &v, 1, true); }
static uint8_t inb(struct vm *vm, uint16_t p) { uint8_t v; io(vm, p, &v, 1, false); return v; }
static void outw(struct vm *vm, uint16_t p, uint16_t v) { io(vm, p, &v, 2, true); }
static uint16_t inw(struct vm *vm, uint16_t p) { uint16_t v; io(vm, p, &v, 2, false); return v; }
static void outl(struct vm *vm, uint16_t p, uint32_t v) { io(vm, p, &v, 4, true); }
static uint32_t inl(struct vm *vm, uint16_t p) { uint32_t v; io(vm, p, &v, 4, false); return v; }

static void mmio_w(struct vm *vm, uint64_t a, uint32_t v)
{
	const struct bus_range *r = bus_find(&vm->mmio, a);
	if (r)
		r->fn(vm, r->dev, a, (uint8_t *)&v, 4, true);
}
static uint32_t mmio_r(struct vm *vm, uint64_t a)
{
	uint32_t v = 0xffffffffu;
	const struct bus_range *r = bus_find(&vm->mmio, a);
	if (r)
		r->fn(vm, r->dev, a, (uint8_t *)&v, 4, false);
	return v;
}
#define LAPIC(reg) (0xfee00000u + (reg))

static uint16_t rd16(const uint8_t *p)
{
	uint16_t v;
	memcpy(&v, p, 2);
	return v;
}
static uint32_t rd32(const uint8_t *p)
{
	uint32_t v;
	memcpy(&v, p, 4);
	return v;
}

static uint8_t sum(const uint8_t *p, unsigned n)
{
	uint8_t s = 0;
	while (n--)
		s += *p++;
	return s;
}

static void test_tables(void)
{
	struct vm vm;
	if (vm_pc(&vm, MACHINE_PC, NULL) < 0) {
		CHECK("platform.tables", false, "vm_create failed");
		return;
	}
	uint8_t *m = vm.ram;
	uint32_t cfg;
	memcpy(&cfg, m + 0xf0004, 4);
	CHECK("platform.mp_checksums", !memcmp(m + 0xf0000, "_MP_", 4) && !sum(m + 0xf0000, 16) &&
					       !memcmp(m + cfg, "PCMP", 4) &&
					       !sum(m + cfg, rd16(m + cfg + 4)),
	      "floating pointer or configuration table checksum wrong");
	const uint8_t *rsdp = NULL;
	for (uint32_t a = 0xe0000; a < 0x100000; a += 16)
		if (!memcmp(m + a, "RSD PTR ", 8))
			rsdp = m + a;
	uint32_t rsdt = 0, madt = 0, fadt = 0, dsdt = 0;
	if (rsdp)
		memcpy(&rsdt, rsdp + 16, 4);
	bool ok = rsdp && !sum(rsdp, 20) && rsdt && !sum(m + rsdt, rd32(m + rsdt + 4));
	for (uint32_t k = 0; ok && k < (rd32(m + rsdt + 4) - 36) / 4; k++) {
		uint32_t t = rd32(m + rsdt + 36 + 4 * k);
		ok &= !sum(m + t, rd32(m + t + 4));
		if (!memcmp(m + t, "APIC", 4))
			madt = t;
		if (!memcmp(m + t, "FACP", 4))
			fadt = t;
	}
	if (fadt)
		memcpy(&dsdt, m + fadt + 40, 4);
	ok = ok && madt && fadt && dsdt && !memcmp(m + dsdt, "DSDT", 4) &&
	     !sum(m + dsdt, rd32(m + dsdt + 4));
	CHECK("platform.acpi_checksums", ok, "RSDP %p RSDT 0x%x MADT 0x%x FADT 0x%x DSDT 0x%x",
	      (const void *)rsdp, rsdt, madt, fadt, dsdt);
	/* The MADT's IOAPIC and the MP table's agree, and so do their LAPIC addresses. */
	uint32_t mp_lapic = rd32(m + cfg + 36), madt_lapic = madt ? rd32(m + madt + 36) : 0;
	CHECK("platform.tables_agree", mp_lapic == 0xfee00000u && madt_lapic == mp_lapic,
	      "MP LAPIC 0x%x, MADT LAPIC 0x%x", mp_lapic, madt_lapic);
	CHECK("platform.bda", rd16(m + 0x40e) == 0x9fc0 && rd16(m + 0x413) == 639 &&
				      rd16(m + 0x400) == 0x3f8,
	      "EBDA segment 0x%x, base memory %u KiB", rd16(m + 0x40e), rd16(m + 0x413));
	/* ACPI power-off: SLP_TYP 5 | SLP_EN to PM1a_CNT ends the run, status 0. */
	outw(&vm, 0x604, 5u << 10);
	bool before = vm.stop;
	outw(&vm, 0x604, 5u << 10 | 1u << 13);
	CHECK("platform.acpi_poweroff", !before && vm.stop && vm.exit_status == RINGVM_EXIT_POWEROFF &&
					       (inw(&vm, 0x604) & 1),
	      "stop %d status %d", vm.stop, vm.exit_status);
	/* PCI: the host bridge at 00.0, nothing at 00.1 or 01.0; 0xcf9 is still reset control. */
	outl(&vm, 0xcf8, 0x80000000u);
	uint32_t id = inl(&vm, 0xcfc);
	outl(&vm, 0xcf8, 0x80000008u);
	uint32_t cls = inl(&vm, 0xcfc);
	outl(&vm, 0xcf8, 0x80000800u);
	uint32_t empty = inl(&vm, 0xcfc);
	outl(&vm, 0xcf8, 0x8000003cu);
	outb(&vm, 0xcfc, 11);
	uint8_t line = inb(&vm, 0xcfc);
	CHECK("platform.pci_config", id == 0x00081b36u && cls >> 16 == 0x0600 && empty == 0xffffffffu &&
					     line == 11 && inl(&vm, 0xcf8) == 0x8000003cu &&
					     bus_find(&vm.pio, 0xcf9) &&
					     strstr(bus_find(&vm.pio, 0xcf9)->name, "reset"),
	      "00.0 id 0x%x class 0x%x, 01.0 0x%x, line %u", id, cls, empty, line);
	/* The CRT controller keeps xv6's cursor: register 14/15 read back. */
	outb(&vm, 0x3d4, 14);
	outb(&vm, 0x3d5, 0x01);
	outw(&vm, 0x3d4, 0x230f); /* index 15, data 0x23 in one write */
	outb(&vm, 0x3d4, 14);
	uint8_t hi = inb(&vm, 0x3d5);
	outb(&vm, 0x3d4, 15);
	uint8_t lo = inb(&vm, 0x3d5);
	CHECK("platform.vga_crtc_cursor", hi == 0x01 && lo == 0x23, "cursor 0x%02x%02x", hi, lo);
	vm_destroy(&vm);

	if (vm_pc(&vm, MACHINE_ISAPC, NULL) < 0)
		return;
	CHECK("platform.isapc_has_none", memcmp(vm.ram + 0xf0000, "_MP_", 4) &&
						 !bus_find(&vm.mmio, 0xfee00000u) &&
						 !bus_find(&vm.pio, 0x604) && !bus_find(&vm.pio, 0xcfc),
	      "an isapc machine advertises or claims APIC, ACPI or PCI");
	vm_destroy(&vm);
}

static void test_apic(void)
{
	struct vm vm;
	if (vm_pc(&vm, MACHINE_PC, NULL) < 0)
		return;
	/* Virtual wire: with the APIC software-disabled, the PIC gets through LINT0. */
	outb(&vm, 0x20, 0x11), outb(&vm, 0x21, 0x20), outb(&vm, 0x21, 4), outb(&vm, 0x21, 1);
	outb(&vm, 0x21, 0xfe);
	irq_set(&vm, 0, 1);
	irq_set(&vm, 0, 0);
	int v = intc_ack(&vm);
	CHECK("platform.apic_virtual_wire", v == 0x20, "PIC IRQ 0 through LINT0 gave %d", v);
	outb(&vm, 0x20, 0x20);
	outb(&vm, 0x21, 0xff);
	mmio_w(&vm, LAPIC(0xf0), 0x1ff);
	/* Self-IPI, TPR, PPR, EOI. */
	mmio_w(&vm, LAPIC(0x80), 0x50);
	mmio_w(&vm, LAPIC(0x300), 1u << 18 | 0x45);
	bool held = !intc_pending(&vm);
	mmio_w(&vm, LAPIC(0x300), 1u << 18 | 0x61);
	int hi = intc_ack(&vm);
	uint32_t ppr = mmio_r(&vm, LAPIC(0xa0));
	mmio_w(&vm, LAPIC(0x80), 0);
	bool nested = !intc_pending(&vm); /* 0x45 is below the 0x61 in service */
	mmio_w(&vm, LAPIC(0xb0), 0);
	int lo = intc_ack(&vm);
	mmio_w(&vm, LAPIC(0xb0), 0);
	CHECK("platform.apic_priority", held && hi == 0x61 && ppr == 0x60 && nested && lo == 0x45 &&
						!intc_pending(&vm),
	      "held %d, first %d, PPR 0x%x, nested %d, second %d", held, hi, ppr, nested, lo);
	/* Timer: periodic, divide 1, 1000 counts = 1 us... at least the floor. */
	mmio_w(&vm, LAPIC(0x3e0), 0xb);		/* divide by 1 */
	mmio_w(&vm, LAPIC(0x320), 1u << 17 | 0x40); /* periodic */
	mmio_w(&vm, LAPIC(0x380), 100000);	/* 100 us */
	uint64_t d0 = devices_next_deadline(&vm);
	fake_ns += 50000;
	uint32_t cur = mmio_r(&vm, LAPIC(0x390));
	fake_ns += 50000;
	devices_poll(&vm, fake_ns);
	int t1 = intc_ack(&vm);
	fake_ns += 350000; /* three and a half periods while "descheduled" */
	devices_poll(&vm, fake_ns);
	mmio_w(&vm, LAPIC(0xb0), 0); /* EOI of the first */
	int paid = 0;
	for (int k = 0; k < 5 && intc_pending(&vm); k++) {
		if (intc_ack(&vm) == 0x40)
			paid++;
		mmio_w(&vm, LAPIC(0xb0), 0);
	}
	CHECK("platform.apic_timer", d0 == 1000000000ull + 100000 && cur == 50000 && t1 == 0x40 &&
					    paid == 3,
	      "deadline %llu, count at half %u, vector %d, periods paid back %d (want 3)",
	      (unsigned long long)d0, cur, t1, paid);
	mmio_w(&vm, LAPIC(0x380), 0);
	/* IOAPIC: COM1's line, level-triggered: once until EOI, again if still high. */
	mmio_w(&vm, 0xfec00000u, 0x10 + 2 * 5 + 1);
	mmio_w(&vm, 0xfec00010u, 0);
	mmio_w(&vm, 0xfec00000u, 0x10 + 2 * 5);
	mmio_w(&vm, 0xfec00010u, 1u << 15 | 0x55);
	irq_set(&vm, 5, 1);
	int a1 = intc_ack(&vm);
	bool once = !intc_pending(&vm);
	mmio_w(&vm, LAPIC(0xb0), 0);
	int a2 = intc_ack(&vm);
	irq_set(&vm, 5, 0);
	mmio_w(&vm, LAPIC(0xb0), 0);
	/* IRQ 0 is pin 2. */
	mmio_w(&vm, 0xfec00000u, 0x10 + 2 * 2);
	mmio_w(&vm, 0xfec00010u, 0x58);
	irq_set(&vm, 0, 1);
	irq_set(&vm, 0, 0);
	int a3 = intc_ack(&vm);
	mmio_w(&vm, LAPIC(0xb0), 0);
	CHECK("platform.ioapic_routing", a1 == 0x55 && once && a2 == 0x55 && a3 == 0x58,
	      "level %d, held %d, again %d, IRQ0 via pin 2: %d", a1, once, a2, a3);
	/* IA32_APIC_BASE and CPUID through the VM's interface. */
	uint64_t base = 0;
	bool rd = intc_msr(&vm, 0x1b, &base, false, 0);
	uint64_t bad = 1;
	bool rsv = intc_msr(&vm, 0x1b, &bad, true, 0);
	uint32_t leaf[4] = { 0 };
	intc_cpuid1(&vm, leaf);
	CHECK("platform.apic_msr_cpuid", rd && base == 0xfee00900u && !rsv && (leaf[3] & (1u << 9)),
	      "read %d base 0x%llx, reserved write %s, CPUID edx 0x%x", rd,
	      (unsigned long long)base, rsv ? "accepted" : "refused", leaf[3]);
	/* Switched off: the registers float, CPUID drops the bit, the PIC goes
	 * straight to the CPU; moved and on again: the registers follow. */
	uint64_t off = 0xfee00000u;
	intc_msr(&vm, 0x1b, &off, true, 0);
	uint32_t leaf2[4] = { 0 };
	intc_cpuid1(&vm, leaf2);
	uint32_t gone = mmio_r(&vm, LAPIC(0x30));
	uint64_t moved = 0xfed00800u;
	intc_msr(&vm, 0x1b, &moved, true, 0);
	uint32_t ver = mmio_r(&vm, 0xfed00030u);
	CHECK("platform.apic_disable_move", !(leaf2[3] & (1u << 9)) && gone == 0xffffffffu &&
						   (ver & 0xff) == 0x14,
	      "CPUID edx 0x%x, version while off 0x%x, at the new base 0x%x", leaf2[3], gone, ver);
	vm_destroy(&vm);
}

static void test_fw_cfg_testdev(void)
{
	struct vm vm;
	if (vm_pc(&vm, MACHINE_ISAPC, NULL) < 0)
		return;
	char sig[5] = { 0 };
	outw(&vm, 0x510, 0);
	for (int k = 0; k < 4; k++)
		sig[k] = (char)inb(&vm, 0x511);
	uint64_t ram = 0;
	outw(&vm, 0x510, 3);
	for (int k = 0; k < 8; k++)
		ram |= (uint64_t)inb(&vm, 0x511) << (8 * k);
	outw(&vm, 0x510, 0x7777);
	uint8_t unknown = inb(&vm, 0x511);
	CHECK("platform.fw_cfg", !strcmp(sig, "QEMU") && ram == 32u << 20 && unknown == 0,
	      "signature '%s', RAM %llu", sig, (unsigned long long)ram);
	outl(&vm, 0xe0, 0xcafef00du);
	CHECK("platform.testdev", inl(&vm, 0xe0) == 0xcafef00du && inb(&vm, 0xe1) == 0xf0,
	      "scratch 0x%x", inl(&vm, 0xe0));
	vm_destroy(&vm);
}

static int ata_cmd(struct vm *vm, uint8_t cmd, uint64_t lba, uint32_t n, bool lba48)
{
	outb(vm, 0x1f6, 0xe0 | (lba48 ? 0 : (uint8_t)((lba >> 24) & 0xf)));
	if (lba48) {
		outb(vm, 0x1f2, (uint8_t)(n >> 8));
		outb(vm, 0x1f3, (uint8_t)(lba >> 24));
		outb(vm, 0x1f4, (uint8_t)(lba >> 32));
		outb(vm, 0x1f5, (uint8_t)(lba >> 40));
	}
	outb(vm, 0x1f2, (uint8_t)n);
	outb(vm, 0x1f3, (uint8_t)lba);
	outb(vm, 0x1f4, (uint8_t)(lba >> 8));
	outb(vm, 0x1f5, (uint8_t)(lba >> 16));
	outb(vm, 0x1f7, cmd);
	return inb(vm, 0x1f7);
}

static void test_ata(void)
{
	char path[] = "/tmp/ringvm-ata-XXXXXX";
	int fd = mkstemp(path);
	static uint8_t img[8 * 512];
	memset(img, 0, sizeof img);
	memcpy(img + 512 * 3, "SECTOR3", 7);
	if (fd < 0 || write(fd, img, sizeof img) != (ssize_t)sizeof img) {
		CHECK("platform.ata", false, "cannot make an image");
		return;
	}
	struct vm vm;
	if (vm_pc(&vm, MACHINE_PC, path) < 0) {
		CHECK("platform.ata", false, "vm_create with a drive failed");
		close(fd);
		unlink(path);
		return;
	}
	uint8_t st = ata_cmd(&vm, 0xec, 0, 0, false);
	uint16_t id[256];
	for (int k = 0; k < 256; k++)
		id[k] = inw(&vm, 0x1f0);
	CHECK("platform.ata_identify", (st & 0x08) && id[60] == 8 && id[100] == 8 && (id[83] & 0x400) &&
					       !(inb(&vm, 0x1f7) & 0x08),
	      "status 0x%x, sectors %u/%u", st, id[60], id[100]);
	st = ata_cmd(&vm, 0x24, 3, 1, true);
	char got[8] = { 0 };
	for (int k = 0; k < 4; k++) {
		uint16_t w = inw(&vm, 0x1f0);
		memcpy(got + 2 * k, &w, 2);
	}
	for (int k = 4; k < 256; k++)
		(void)inw(&vm, 0x1f0);
	CHECK("platform.ata_read_lba48", (st & 0x08) && !memcmp(got, "SECTOR3", 7), "status 0x%x, '%.7s'", st, got);
	/* Two sectors written (the last two), then read from the file. */
	st = ata_cmd(&vm, 0x30, 6, 2, false);
	for (int k = 0; k < 512; k++)
		outw(&vm, 0x1f0, (uint16_t)(0x4100 + k));
	uint8_t after = inb(&vm, 0x1f7);
	uint8_t fl = ata_cmd(&vm, 0xe7, 0, 0, false);
	uint8_t back[1024];
	bool wrote = pread(fd, back, sizeof back, 6 * 512) == (ssize_t)sizeof back &&
		     back[0] == 0x00 && back[1] == 0x41 && back[1022] == 0xff && back[1023] == 0x42;
	CHECK("platform.ata_write_file", (st & 0x08) && !(after & 0x09) && !(fl & 0x01) && wrote,
	      "status 0x%x/0x%x, flush 0x%x, file %s", st, after, fl, wrote ? "has it" : "does not");
	/* Past the end, and across it: refused (ERR, IDNF), the file untouched. */
	uint8_t s1 = ata_cmd(&vm, 0x20, 8, 1, false);
	uint8_t e1 = inb(&vm, 0x1f1);
	uint8_t s2 = ata_cmd(&vm, 0x34, 7, 2, true);
	uint8_t s3 = ata_cmd(&vm, 0x20, 0x0fffffff, 255, false);
	off_t size = lseek(fd, 0, SEEK_END);
	CHECK("platform.ata_bounds", (s1 & 0x01) && (e1 & 0x10) && (s2 & 0x01) && !(s2 & 0x08) &&
					     (s3 & 0x01) && size == (off_t)sizeof img,
	      "status 0x%x err 0x%x, across 0x%x, far 0x%x, image %lld bytes", s1, e1, s2, s3,
	      (long long)size);
	/* No drive on the secondary channel: its ports float. */
	CHECK("platform.ata_empty_channel", inb(&vm, 0x177) == 0xff, "0x177 reads 0x%x", inb(&vm, 0x177));
	/* A second VM on the same image: refused while the first has it. */
	static struct vm vm2;
	int r2 = vm_pc(&vm2, MACHINE_PC, path);
	CHECK("platform.ata_image_locked", r2 < 0 && vm2.init_status == RINGVM_EXIT_USAGE,
	      "second vm_create returned %d (status %d)", r2, vm2.init_status);
	if (r2 == 0)
		vm_destroy(&vm2);
	vm_destroy(&vm);
	close(fd);
	unlink(path);
}

static void test_parse(void)
{
	struct vm_drive d;
	char ok1[] = "file=a.img,readonly", ok2[] = "format=raw,file=b.img,if=ide";
	char bad1[] = "file=a.img,cache=none", bad2[] = "readonly", bad3[] = "file=";
	bool r1 = drive_parse(ok1, &d) == 0 && !strcmp(d.file, "a.img") && d.readonly;
	bool r2 = drive_parse(ok2, &d) == 0 && !strcmp(d.file, "b.img") && !d.readonly;
	bool r3 = drive_parse(bad1, &d) < 0 && drive_parse(bad2, &d) < 0 && drive_parse(bad3, &d) < 0;
	enum machine m = 0;
	bool r4 = machine_parse("pc", &m) == 0 && m == MACHINE_PC && machine_parse("isapc", &m) == 0 &&
		  m == MACHINE_ISAPC && machine_parse("q35", &m) < 0;
	CHECK("platform.option_parsing", r1 && r2 && r3 && r4, "drive ok %d %d, bad refused %d, machine %d",
	      r1, r2, r3, r4);
}

/* A Multiboot ELF with one segment at 0x2000 (low memory) of memsz bytes. */
static size_t low_elf(uint8_t *b, uint32_t paddr, uint32_t memsz)
{
	memset(b, 0, 0x200);
	Elf32_Ehdr eh = { .e_type = ET_EXEC, .e_machine = EM_386, .e_version = EV_CURRENT,
			  .e_entry = paddr + 0x100, .e_phoff = sizeof(Elf32_Ehdr),
			  .e_ehsize = sizeof(Elf32_Ehdr), .e_phentsize = sizeof(Elf32_Phdr),
			  .e_phnum = 1 };
	memcpy(eh.e_ident, ELFMAG, SELFMAG);
	eh.e_ident[EI_CLASS] = ELFCLASS32;
	eh.e_ident[EI_DATA] = ELFDATA2LSB;
	eh.e_ident[EI_VERSION] = EV_CURRENT;
	memcpy(b, &eh, sizeof eh);
	Elf32_Phdr ph = { .p_type = PT_LOAD, .p_vaddr = paddr, .p_paddr = paddr, .p_filesz = 0x200,
			  .p_memsz = memsz, .p_flags = PF_R | PF_X };
	memcpy(b + eh.e_phoff, &ph, sizeof ph);
	uint32_t mb[3] = { 0x1BADB002u, 0, -0x1BADB002u };
	memcpy(b + 0xc0, mb, sizeof mb);
	b[0x100] = 0xf4;
	return 0x200;
}

static void test_low_load(void)
{
	static uint8_t buf[0x200];
	struct vm vm;
	struct cpu_state s;
	if (vm_pc(&vm, MACHINE_PC, NULL) < 0)
		return;
	struct image k = { buf, low_elf(buf, 0x2000, 0x1000), "low", NULL };
	int r = multiboot_load(&vm, &k, NULL, "", &s);
	CHECK("platform.loader_low_segment", r == 0 && vm.ram[0x2100] == 0xf4 && s.eip == 0x2100 &&
						     s.gpr[R_EBX] == 0x8000,
	      "r %d eip 0x%x mbi 0x%x", r, s.eip, s.gpr[R_EBX]);
	/* A kernel over 0x8000: the information goes elsewhere, not over it. */
	k.len = low_elf(buf, 0x7000, 0x20000);
	r = multiboot_load(&vm, &k, NULL, "", &s);
	uint32_t mbi = s.gpr[R_EBX];
	CHECK("platform.loader_mbi_moves", r == 0 && (mbi >= 0x27000 || mbi + 88 <= 0x7000) &&
						   mbi < vm.ram_size,
	      "r %d mbi 0x%x", r, mbi);
	/* The reserved PC area is refused, with one line. */
	k.len = low_elf(buf, 0x9f000, 0x2000);
	r = multiboot_load(&vm, &k, NULL, "", &s);
	k.len = low_elf(buf, 0xf0000, 0x1000);
	int r2 = multiboot_load(&vm, &k, NULL, "", &s);
	CHECK("platform.loader_reserved_refused", r < 0 && r2 < 0 && !memcmp(vm.ram + 0xf0000, "_MP_", 4),
	      "0x9f000: %d, 0xf0000: %d", r, r2);
	vm_destroy(&vm);
}

int main(void)
{
	test_tables();
	test_apic();
	test_fw_cfg_testdev();
	test_ata();
	test_parse();
	test_low_load();
	CHECK_DONE();
}
