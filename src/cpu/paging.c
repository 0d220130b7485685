/*
 * Two-level 32-bit paging (4 KiB pages, and 4 MiB pages with CR4.PSE) and
 * the software TLB in front of it.
 *
 * Page-table entries are read with physical accesses: a page directory or
 * table outside RAM is read from the MMIO bus (an unclaimed address reads
 * as all ones, which then maps to non-RAM again), so a wild CR3 can never
 * touch host memory. Accessed/dirty updates to non-RAM tables are dropped.
 * Reserved-bit checks (PF error bit 3) are not implemented.
 */
#include <string.h>

#include "cpu.h"
#include "decode.h"

#define PTE_P 0x001u
#define PTE_W 0x002u
#define PTE_U 0x004u
#define PTE_A 0x020u
#define PTE_D 0x040u
#define PDE_PS 0x080u
#define PTE_G 0x100u

void tlb_flush(struct cpu *c)
{
	decode_jc_flush(c);
	for (int u = 0; u < 2; u++)
		for (unsigned i = 0; i < TLB_SIZE; i++) {
			c->tlb_all[u][i].tag_r = TLB_INVALID;
			c->tlb_all[u][i].tag_w = TLB_INVALID;
		}
}

void tlb_flush_page(struct cpu *c, uint32_t lin)
{
	decode_jc_flush(c);
	unsigned i = (lin >> 12) & (TLB_SIZE - 1);
	for (int u = 0; u < 2; u++) {
		c->tlb_all[u][i].tag_r = TLB_INVALID;
		c->tlb_all[u][i].tag_w = TLB_INVALID;
	}
}

/* A page just became code: writes to it must take the slow path again so
 * that they invalidate the decoded blocks. Translations do not change, so
 * the jump cache stays. */
void tlb_drop_phys(struct cpu *c, uint32_t phys_page)
{
	for (int u = 0; u < 2; u++)
		for (unsigned i = 0; i < TLB_SIZE; i++)
			if (c->tlb_phys[u][i] == phys_page)
				c->tlb_all[u][i].tag_w = TLB_INVALID;
}

static _Noreturn void page_fault(struct cpu *c, uint32_t lin, uint32_t err)
{
	c->cr2 = lin;
	cpu_raise(c, EXC_PF, err);
}

/* Only RAM page tables get their A/D bits written. */
static void pte_update(struct cpu *c, uint32_t pa, uint32_t old, uint32_t bits)
{
	if ((old & bits) == bits)
		return;
	if ((uint64_t)pa + 4 <= c->ram_size)
		phys_write(c, pa, 4, old | bits);
}

static void access_check(struct cpu *c, uint32_t lin, uint32_t perm, bool write, bool user)
{
	uint32_t err = PF_P | (write ? PF_W : 0) | (user ? PF_U : 0);
	if (user && !(perm & PTE_U))
		page_fault(c, lin, err);
	if (write && !(perm & PTE_W) && (user || (c->cr0 & CR0_WP)))
		page_fault(c, lin, err);
}

/*
 * Translates a linear address for one access, setting A (and D for a
 * write) like the hardware walker, or raises #PF. *wok says whether later
 * writes at this privilege may go straight to the page (permission and D).
 */
uint32_t paging_translate(struct cpu *c, uint32_t lin, bool write, bool user, bool fetch,
			  bool *wok)
{
	if (!(c->cr0 & CR0_PG)) {
		*wok = true;
		return lin;
	}
	uint32_t err = (write ? PF_W : 0) | (user ? PF_U : 0);
	uint32_t pde_pa = (c->cr3 & ~0xfffu) + ((lin >> 22) << 2);
	uint32_t pde = phys_read(c, pde_pa, 4);
	if (!(pde & PTE_P))
		page_fault(c, lin, err);
	if ((pde & PDE_PS) && (c->cr4 & CR4_PSE)) {
		access_check(c, lin, pde, write, user);
		pte_update(c, pde_pa, pde, PTE_A | (write ? PTE_D : 0));
		bool d = write || (pde & PTE_D);
		*wok = d && ((pde & PTE_W) || (!user && !(c->cr0 & CR0_WP)));
		return (pde & 0xffc00000u) | (lin & 0x3fffffu);
	}
	uint32_t pte_pa = (pde & ~0xfffu) + (((lin >> 12) & 0x3ff) << 2);
	uint32_t pte = phys_read(c, pte_pa, 4);
	if (!(pte & PTE_P))
		page_fault(c, lin, err);
	uint32_t perm = pde & pte & (PTE_U | PTE_W);
	access_check(c, lin, perm, write, user);
	pte_update(c, pde_pa, pde, PTE_A);
	pte_update(c, pte_pa, pte, PTE_A | (write ? PTE_D : 0));
	bool d = write || (pte & PTE_D);
	*wok = d && ((perm & PTE_W) || (!user && !(c->cr0 & CR0_WP)));
	(void)fetch;
	return (pte & ~0xfffu) | (lin & 0xfffu);
}

/* The guest's 32-bit word at physical pa, or 0 outside RAM. */
static uint32_t ram_u32(const struct cpu *c, uint64_t pa)
{
	uint32_t v = 0;
	if (pa + 4 <= c->ram_size)
		memcpy(&v, c->ram + pa, 4);
	return v;
}

bool paging_global(const struct cpu *c, uint32_t lin)
{
	if (!(c->cr0 & CR0_PG) || !(c->cr4 & CR4_PGE) || (c->cr4 & CR4_PAE))
		return false;
	uint32_t pde = ram_u32(c, (uint64_t)(c->cr3 & ~0xfffu) + 4 * (lin >> 22));
	if (!(pde & PTE_P))
		return false;
	if ((pde & PDE_PS) && (c->cr4 & CR4_PSE))
		return pde & PTE_G;
	uint32_t pte = ram_u32(c, (uint64_t)(pde & ~0xfffu) + 4 * ((lin >> 12) & 0x3ff));
	return (pte & PTE_P) && (pte & PTE_G);
}

/*
 * Walks and caches one linear page. Returns the TLB addend (host pointer =
 * addend + lin) for RAM pages, 0 for non-RAM pages, which are never cached
 * so that every access to them reaches the MMIO bus.
 */
uintptr_t tlb_fill(struct cpu *c, uint32_t lin, bool write, bool user, uint32_t *phys_out)
{
	bool wok;
	uint32_t pa = paging_translate(c, lin, write, user, false, &wok);
	*phys_out = pa;
	uint32_t ppage = pa & ~0xfffu;
	if ((uint64_t)ppage + 0x1000 > c->ram_size)
		return 0;
	uint32_t lpage = lin & ~0xfffu;
	struct tlb_entry *e = &c->tlb_all[user][(lin >> 12) & (TLB_SIZE - 1)];
	e->tag_r = lpage;
	e->addend = (uintptr_t)(c->ram + ppage) - lpage;
	c->tlb_phys[user][(lin >> 12) & (TLB_SIZE - 1)] = ppage;
	e->tag_w = (wok && !c->code_page[ppage >> 12]) ? lpage : TLB_INVALID;
	return e->addend;
}
