/*
 * Guest memory accesses that miss the software TLB: page-crossing
 * accesses, non-RAM (MMIO) physical addresses, first touches, and writes
 * to pages that hold decoded code (self-modifying code).
 */
#include "cpu.h"
#include "decode.h"
#include "vm/vm.h"

static bool phys_is_ram(struct cpu *c, uint32_t pa, unsigned size)
{
	return (uint64_t)pa + size <= c->ram_size;
}

uint32_t phys_read(struct cpu *c, uint32_t pa, unsigned size)
{
	if (likely(phys_is_ram(c, pa, size)))
		return load_n(c->ram + pa, size);
	if (c->strict_mem) {
		c->cr2 = pa;
		cpu_raise(c, EXC_PF, c->cpl == 3 ? PF_U : 0);
	}
	uint8_t buf[4] = { 0xff, 0xff, 0xff, 0xff };
	if (c->vcpu) {
		vcpu_mmio(c->vcpu, pa, buf, size, false);
		c->irq_check = true;
	}
	return load_n(buf, size);
}

void phys_write(struct cpu *c, uint32_t pa, unsigned size, uint32_t v)
{
	if (likely(phys_is_ram(c, pa, size))) {
		if (c->code_page[pa >> 12])
			code_page_written(c, pa >> 12);
		if (((pa + size - 1) >> 12) != (pa >> 12) && c->code_page[(pa + size - 1) >> 12])
			code_page_written(c, (pa + size - 1) >> 12);
		store_n(c->ram + pa, size, v);
		return;
	}
	if (c->strict_mem) {
		c->cr2 = pa;
		cpu_raise(c, EXC_PF, PF_W | (c->cpl == 3 ? PF_U : 0));
	}
	if (c->vcpu) {
		uint8_t buf[4];
		store_n(buf, size, v);
		vcpu_mmio(c->vcpu, pa, buf, size, true);
		c->irq_check = true;
	}
}

void code_page_written(struct cpu *c, uint32_t page_no)
{
	decode_invalidate_page(c, page_no);
	if (c->code_written)
		c->code_written(c, page_no);
	/* The running block may be one of those just invalidated: stop after
	 * the current instruction so that the next one is decoded afresh. */
	c->blk_end = NULL;
}

void cpu_forget_code(struct cpu *c, uint32_t page_no)
{
	uint8_t flagged = c->code_page[page_no];
	decode_invalidate_page(c, page_no);
	c->code_page[page_no] = flagged;
	c->blk_end = NULL;
}

static bool crosses_page(uint32_t lin, unsigned size)
{
	return (lin & 0xfff) + size > 0x1000;
}

/* The first byte of the second page of a page-crossing access: where a
 * #PF for that page points CR2, whatever byte of the access lies there. */
static uint32_t second_page(uint32_t lin, unsigned size)
{
	return (lin + size - 1) & ~0xfffu;
}

uint32_t lin_read_slow(struct cpu *c, uint32_t lin, unsigned size, bool user, bool for_write)
{
	if (crosses_page(lin, size)) {
		uint32_t v = 0;
		for (unsigned i = 0; i < size; i++)
			v |= lin_read_slow(c, lin + i, 1, user, for_write) << (8 * i);
		return v;
	}
	uint32_t pa;
	uintptr_t addend = tlb_fill(c, lin, for_write, user, &pa);
	if (addend)
		return load_n((uint8_t *)(addend + lin), size);
	return phys_read(c, pa, size);
}

/* Checks that one page can be written, as the write itself will: also
 * where emu_flat's strict memory (no MMIO) would fault only at the write,
 * after a first part had been written. */
static void probe_page_write(struct cpu *c, uint32_t lin, bool user)
{
	uint32_t pa;
	if (!tlb_fill(c, lin, true, user, &pa) && c->strict_mem) {
		c->cr2 = pa;
		cpu_raise(c, EXC_PF, PF_W | (c->cpl == 3 ? PF_U : 0));
	}
}

void lin_write_slow(struct cpu *c, uint32_t lin, unsigned size, uint32_t v, bool user)
{
	uint32_t pa;
	if (crosses_page(lin, size)) {
		/* Both pages must be writable before either is written. */
		probe_page_write(c, lin, user);
		probe_page_write(c, second_page(lin, size), user);
		for (unsigned i = 0; i < size; i++)
			lin_write_slow(c, lin + i, 1, (v >> (8 * i)) & 0xff, user);
		return;
	}
	tlb_fill(c, lin, true, user, &pa);
	phys_write(c, pa, size, v);
}

/* Descriptor-table, IDT and TSS reads are supervisor accesses at any CPL:
 * through the supervisor TLB, which CR3 writes, INVLPG and paging changes
 * flush like any other, instead of a page walk each (bt makes several per
 * guest system call). */
uint32_t sys_read(struct cpu *c, uint32_t lin, unsigned size)
{
	const struct tlb_entry *e = &c->tlb_all[0][(lin >> 12) & (TLB_SIZE - 1)];
	if (e->tag_r == (lin & ~0xfffu) && (lin & 0xfff) <= 0x1000 - size)
		return load_n((uint8_t *)(e->addend + lin), size);
	return lin_read_slow(c, lin, size, false, false);
}

void sys_write(struct cpu *c, uint32_t lin, unsigned size, uint32_t v)
{
	lin_write_slow(c, lin, size, v, false);
}

void mem_probe_write(struct cpu *c, int s, uint32_t off, unsigned size)
{
	uint32_t lin = seg_lin(c, s, off, size, true);
	if (tlb_ptr(c, lin, size, true))
		return;
	probe_page_write(c, lin, c->cpl == 3);
	if (crosses_page(lin, size))
		probe_page_write(c, second_page(lin, size), c->cpl == 3);
}
