/*
 * Inline segment loads of the guest kernel: the VMM side of the sites that
 * translate.c emits for mov sreg, r16 and pop sreg (ES, DS, FS, GS).
 *
 * A guest kernel's interrupt entry loads its data segments and its exit
 * pops the interrupted ones: two VMM calls per system call or exception,
 * each ~300-600 cycles for what the CPU does in a few. Each such
 * instruction is instead an inline *site* that holds, as immediates in its
 * code, one answer the VMM worked out: "selector S, whose descriptor is
 * the 8 bytes D at linear address L, loads as host selector H". At run
 * time the site compares the guest's selector with S and the guest's
 * current bytes at L with D (lea/jecxz: no flags touched) and, only if all
 * match, loads H and records in the vCPU page which site ran; any
 * difference is a VMM call in which the core does the load as before
 * (raising the guest's #GP/#NP/#PF...), after which the site is filled
 * with the new answer.
 *
 * Why that is exactly the CPU's load: at CPL 0 (the only mode sites are
 * emitted for, a kernel block never runs at CPL 3) the result of a data
 * segment load is a function of the selector (RPL included), the
 * descriptor table it indexes (GDTR or LDTR: L) and the descriptor's 8
 * bytes, whose accessed bit the core has already set (a guest that clears
 * it fails the compare, and the core sets it again). Hence the invariants:
 *  - a site is filled only after the core loaded that segment at CPL 0
 *    without a fault, with the bytes read from RAM (no MMIO read: no side
 *    effect) and L + 8 below the VMM window (the inline read goes through
 *    CS, which reaches the window);
 *  - a change of GDTR or LDTR drops every site (to_native checks before
 *    each entry, so no site runs under other tables than its fill's);
 *  - H is the LDT slot bt_data_sel chose for that descriptor (slots.c: by
 *    content, never BT_CODE_SLOT/BT_DATA_SLOT); when a slot is reused for
 *    other content, every site is dropped with it;
 *  - a null selector is never filled (the core's null load is cheap and
 *    rare, and its host view differs by register).
 * So translated code loads only selectors the VMM chose for exactly the
 * guest's current descriptor.
 *
 * The guest's segment state (cpu.seg[]) follows at every exit:
 * bt_segsite_apply, called from regs_in (also in the signal callback, on
 * the alternate stack: it only reads the site array, which the VMM does
 * not change while guest code runs, and writes the cpu and the vCPU page,
 * neither in use by the interrupted code).
 */
#include <setjmp.h>
#include <string.h>

#include "bt_priv.h"

static inline void patch32(uint32_t at, uint32_t v)
{
	memcpy((void *)(uintptr_t)at, &v, 4);
}

static inline void patch16(uint32_t at, uint16_t v)
{
	memcpy((void *)(uintptr_t)at, &v, 2);
}

void bt_segsites_reset(struct bt *t)
{
	t->nsites = 0;
	t->nsites_valid = 0;
}

/* Every filled site back to never matching. */
void bt_segsites_drop(struct bt *t)
{
	if (!t->nsites_valid)
		return;
	for (size_t k = 0; k < t->nsites; k++) {
		struct bt_segsite *s = &t->sites[k];
		if (!s->valid)
			continue;
		patch32(s->at_sel, (uint32_t)-BT_SEGSITE_NONE);
		s->valid = false;
		t->n.site_drops++;
	}
	t->nsites_valid = 0;
}

static bool same_ldtr(const struct seg *a, const struct seg *b)
{
	return a->sel == b->sel && a->base == b->base && a->limit == b->limit &&
	       a->present == b->present && a->unusable == b->unusable;
}

/* Before every entry and every fill: the descriptor addresses in the
 * sites are those of the tables they were filled under. */
void bt_segsites_check_tables(struct bt *t)
{
	const struct cpu *c = &t->cpu;
	if (t->site_gdtr.base == c->gdtr.base && t->site_gdtr.limit == c->gdtr.limit &&
	    same_ldtr(&t->site_ldtr, &c->ldtr))
		return;
	bt_segsites_drop(t);
	t->site_gdtr = c->gdtr;
	t->site_ldtr = c->ldtr;
}

/* One dword of guest linear memory at lin, read from RAM through the
 * guest's page tables as a supervisor read, or false (not mapped, not RAM,
 * crosses a page). No side effect on the guest. */
static bool ram_dword(struct cpu *c, uint32_t lin, uint32_t *v)
{
	if ((lin & 0xfff) > 0xffc)
		return false;
	volatile uint32_t pa = ~0u;
	uint32_t cr2 = c->cr2; /* a walk that faults writes it: not the guest's fault */
	if (_setjmp(c->jb)) {
		c->cr2 = cr2;
		return false;
	}
	bool w;
	pa = paging_translate(c, lin, false, false, false, &w);
	if ((uint64_t)pa + 4 > c->ram_size)
		return false;
	memcpy(v, c->ram + pa, 4);
	return true;
}

static bool seg_same(const struct seg *a, const struct seg *b)
{
	return a->sel == b->sel && a->base == b->base && a->limit == b->limit &&
	       a->type == b->type && a->s == b->s && a->dpl == b->dpl &&
	       a->present == b->present && a->db == b->db && a->g == b->g &&
	       a->avl == b->avl && a->unusable == b->unusable;
}

/* The core has just done site id's load at CPL 0 without a fault: give
 * the site that answer. Anything unusual leaves it unfilled (it stays a
 * VMM call, which is always correct). */
void bt_segsite_fill(struct bt *t, uint32_t id)
{
	struct cpu *c = &t->cpu;
	if (id >= t->nsites || c->cpl != 0)
		return;
	bt_segsites_check_tables(t);
	struct bt_segsite *s = &t->sites[id];
	const struct seg *g = &c->seg[s->sreg];
	uint16_t sel = g->sel;
	if (!(sel & ~3u) || g->unusable || !g->present)
		return;
	uint32_t base = c->gdtr.base, limit = c->gdtr.limit;
	if (sel & 4) {
		if (c->ldtr.unusable || !c->ldtr.present)
			return;
		base = c->ldtr.base;
		limit = c->ldtr.limit;
	}
	uint32_t off = sel & ~7u, lin = base + off;
	if (off + 7 > limit || lin < base || lin > BT_WIN_BASE - 8)
		return;
	uint32_t d[2];
	if (!ram_dword(c, lin, &d[0]) || !ram_dword(c, lin + 4, &d[1]))
		return;
	/* The bytes must say what the core loaded (they do, unless the
	 * table was written between: then the next load refills). */
	struct seg chk;
	desc_to_seg(d, sel, &chk);
	if (!seg_same(&chk, g))
		return;
	uint16_t hsel = 0;
	if (s->sreg != S_GS && bt_data_sel(t, g, &hsel) < 0)
		return; /* modify_ldt failed: the next entry reports it */
	/* bt_data_sel may have reused a slot, dropping every site: this one
	 * is filled after that. */
	s->seg = *g;
	s->hsel = hsel;
	patch32(s->at_dlo, lin);
	patch32(s->at_dhi, lin + 4);
	patch32(s->at_lo, (uint32_t)-d[0]);
	patch32(s->at_hi, (uint32_t)-d[1]);
	patch16(s->at_gsel, sel);
	if (s->sreg != S_GS)
		patch32(s->at_hsel, hsel);
	patch32(s->at_sel, (uint32_t)-(uint32_t)sel); /* last: arms the site */
	if (!s->valid)
		t->nsites_valid++;
	s->valid = true;
	t->n.site_fills++;
}

/* After an exit: the segment registers that inline loads changed since
 * the last entry take the sites' answers. */
void bt_segsite_apply(struct bt *t)
{
	struct cpu *c = &t->cpu;
	struct bt_vpage *vp = BT_VPAGE_PTR;
	uint64_t any[3]; /* every exit comes here: one test when no site ran */
	_Static_assert(sizeof vp->seg_site == sizeof any, "seg_site is 6 dwords");
	memcpy(any, vp->seg_site, sizeof any);
	if (!(any[0] | any[1] | any[2]))
		return;
	for (int sr = 0; sr < SREG_COUNT; sr++) {
		uint32_t id = vp->seg_site[sr];
		if (!id)
			continue;
		vp->seg_site[sr] = 0;
		if (id - 1 >= t->nsites)
			continue; /* cannot happen: only emitted ids are stored */
		const struct bt_segsite *s = &t->sites[id - 1];
		c->seg[sr] = s->seg;
		seg_update_cache(c, sr);
		if (sr != S_GS)
			t->seg_sel[sr] = s->hsel; /* what the host register holds */
	}
}
