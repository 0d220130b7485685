/* Two-level 4 KiB paging. The kernel map (physical [0, 16 MiB) at KBASE)
 * is built by boot.S in these tables; every process page directory points
 * at the same kernel page tables, so kernel mappings are shared and
 * supervisor-only (U=0 in the PDE). Frames come from a free list (frames
 * of reaped processes) and then from a bump allocator above the kernel
 * image. */
#include "kit.h"

uint32_t kernel_pd[1024] __attribute__((aligned(4096)));
uint32_t kernel_pts[KMAP_PTS][1024] __attribute__((aligned(4096)));

extern char __image_end_phys[];     /* kit.ld */

static uint32_t next_frame, frame_limit;
static uint32_t free_list;      /* physical; each free frame holds the next */

void paging_init(void)
{
	next_frame = ((uint32_t)__image_end_phys + 0xFFFu) & ~0xFFFu;
	frame_limit = KMAP_BYTES;
	uint32_t ram = boot.mem_upper_kb ? (boot.mem_upper_kb + 1024u) * 1024u : 0;
	if (ram && ram < frame_limit)
		frame_limit = ram & ~0xFFFu;
}

static void zero_frame(uint32_t f)
{
	uint32_t d = (uint32_t)phys_to_virt(f), n = 1024;
	__asm__ volatile("rep stosl" : "+D"(d), "+c"(n) : "a"(0) : "memory");
}

uint32_t frame_alloc_fresh(void)
{
	if (next_frame + 4096 > frame_limit) {
		test_fail("memory", "out of page frames at 0x%x", next_frame);
		tests_finish();
	}
	uint32_t f = next_frame;
	next_frame += 4096;
	zero_frame(f);
	return f;
}

uint32_t frame_alloc(void)
{
	if (!free_list)
		return frame_alloc_fresh();
	uint32_t f = free_list;
	free_list = *(uint32_t *)phys_to_virt(f);
	zero_frame(f);
	return f;
}

void frame_free(uint32_t pa)
{
	*(uint32_t *)phys_to_virt(pa) = free_list;
	free_list = pa & ~0xFFFu;
}

/* Frees every page mapped below KBASE, the page tables, and the page
 * directory itself. It must not be the current address space. */
void pd_free(uint32_t pd_phys)
{
	uint32_t *pd = phys_to_virt(pd_phys);
	for (uint32_t i = 0; i < (KBASE >> 22); i++) {
		if (!(pd[i] & PTE_P))
			continue;
		uint32_t *pt = phys_to_virt(pd[i] & ~0xFFFu);
		for (int j = 0; j < 1024; j++)
			if (pt[j] & PTE_P)
				frame_free(pt[j] & ~0xFFFu);
		frame_free(pd[i] & ~0xFFFu);
	}
	frame_free(pd_phys);
}

uint32_t pd_new(void)
{
	uint32_t pd = frame_alloc();
	uint32_t *v = phys_to_virt(pd);
	for (int i = KBASE >> 22; i < 1024; i++)
		v[i] = kernel_pd[i];
	return pd;
}

uint32_t pv_cr3;

void set_cr3(uint32_t pd_phys)
{
	if (pv_active) {
		pv_check_call("set_cr3", pv_call(RINGVM_HC_SET_CR3, pd_phys, 0, 0));
		pv_cr3 = pd_phys;
	} else {
		write_cr3(pd_phys);
	}
}

void pte_write(uint32_t *pte, uint32_t val, uint32_t va)
{
	if (pv_active) {
		struct ringvm_pv_mmu_op ops[2] = { { virt_to_phys(pte), val }, { RINGVM_MMU_INVLPG, va } };
		pv_check_call("mmu_update", pv_call(RINGVM_HC_MMU_UPDATE, (uint32_t)ops, 2, 0));
	} else {
		*pte = val;
		invlpg(va);
	}
}

/* A table in use: the current address space's, or the kernel half that
 * every address space shares. Paravirtual, only those go through the VMM;
 * a table being built is plain memory (Xen's unpinned pages). */
static int pd_live(uint32_t pd_phys, uint32_t va)
{
	return va >= KBASE || kcr3() == pd_phys;
}

static uint32_t *pte_ptr(uint32_t pd_phys, uint32_t va, int create)
{
	uint32_t *pd = phys_to_virt(pd_phys);
	uint32_t *pde = &pd[va >> 22];
	if (!(*pde & PTE_P)) {
		if (!create)
			return NULL;
		/* User bit only below KBASE: the kernel half stays supervisor. */
		uint32_t v = frame_alloc() | PTE_P | PTE_W | (va < KBASE ? PTE_U : 0);
		if (pv_active && pd_live(pd_phys, va)) {
			struct ringvm_pv_mmu_op op = { virt_to_phys(pde), v };
			pv_check_call("mmu_update", pv_call(RINGVM_HC_MMU_UPDATE, (uint32_t)&op, 1, 0));
		} else {
			*pde = v; /* not present before: nothing to flush */
		}
	}
	uint32_t *pt = phys_to_virt(*pde & ~0xFFFu);
	return &pt[(va >> 12) & 0x3FF];
}

static void pte_set(uint32_t pd_phys, uint32_t *pte, uint32_t v, uint32_t va)
{
	if (pd_live(pd_phys, va))
		pte_write(pte, v, va);
	else
		*pte = v;
}

void map_page(uint32_t pd_phys, uint32_t va, uint32_t pa, uint32_t flags)
{
	pte_set(pd_phys, pte_ptr(pd_phys, va, 1), (pa & ~0xFFFu) | flags | PTE_P, va);
}

void unmap_page(uint32_t pd_phys, uint32_t va)
{
	uint32_t *pte = pte_ptr(pd_phys, va, 0);
	if (pte)
		pte_set(pd_phys, pte, 0, va);
}

uint32_t pte_get(uint32_t pd_phys, uint32_t va)
{
	uint32_t *pte = pte_ptr(pd_phys, va, 0);
	return pte ? *pte : 0;
}
