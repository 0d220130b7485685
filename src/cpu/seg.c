/*
 * Segmentation: descriptor-table reads, segment-register loads with the
 * protected-mode checks, and the limit/type checks for accesses through
 * non-flat segments. Flat segments (base 0, 4 GiB, expand-up) are marked
 * in seg_flat so that ordinary accesses skip all of this.
 */
#include "cpu.h"

#define SEL_ERR(sel) ((uint32_t)((sel) & 0xfffc))

static bool seg_is_code(const struct seg *s)
{
	return s->s && (s->type & 8);
}

void seg_update_cache(struct cpu *c, int s)
{
	const struct seg *sg = &c->seg[s];
	uint8_t f = 0;
	/* Expand-up with a 4 GiB limit: no offset can fail the limit check. */
	bool full = !sg->unusable && sg->present && sg->limit == 0xffffffffu && sg->s;
	if (full) {
		if (seg_is_code(sg)) {
			if (sg->type & 2)
				f |= SEGF_READ_ANY;
		} else if (!(sg->type & 4)) {
			f |= SEGF_READ_ANY;
			if (sg->type & 2)
				f |= SEGF_WRITE_ANY;
		}
		if (sg->base == 0)
			f |= (f & SEGF_READ_ANY ? SEGF_READ : 0) | (f & SEGF_WRITE_ANY ? SEGF_WRITE : 0);
	}
	c->seg_flat[s] = f;
}

void cpu_set_cpl(struct cpu *c, int cpl)
{
	c->cpl = (uint8_t)cpl;
	c->tlb = c->tlb_all[cpl == 3];
}

void cpu_mode_changed(struct cpu *c)
{
	for (int s = 0; s < SREG_COUNT; s++)
		seg_update_cache(c, s);
	c->code16 = !c->seg[S_CS].db;
	c->stack16 = !c->seg[S_SS].db;
	cpu_set_cpl(c, c->cpl);
}

uint32_t seg_check_slow(struct cpu *c, int s, uint32_t off, unsigned size, bool write)
{
	const struct seg *sg = &c->seg[s];
	int vec = s == S_SS ? EXC_SS : EXC_GP;
	if (sg->unusable || !sg->present)
		cpu_raise(c, vec, 0);
	if (seg_is_code(sg)) {
		if (write || !(sg->type & 2))
			cpu_raise(c, EXC_GP, 0);
	} else if (write && !(sg->type & 2)) {
		cpu_raise(c, vec, 0);
	}
	uint64_t last = (uint64_t)off + size - 1;
	if (!seg_is_code(sg) && (sg->type & 4)) {
		/* Expand-down: valid offsets are above the limit. */
		uint64_t top = sg->db ? 0xffffffffull : 0xffffull;
		if (off <= sg->limit || last > top)
			cpu_raise(c, vec, 0);
	} else if (last > sg->limit) {
		cpu_raise(c, vec, 0);
	}
	return sg->base + off;
}

bool desc_read(struct cpu *c, uint16_t sel, uint32_t d[2])
{
	uint32_t base, limit;
	if (sel & 4) {
		if (c->ldtr.unusable || !c->ldtr.present)
			return false;
		base = c->ldtr.base;
		limit = c->ldtr.limit;
	} else {
		base = c->gdtr.base;
		limit = c->gdtr.limit;
	}
	uint32_t off = sel & ~7u;
	if (off + 7 > limit)
		return false;
	d[0] = sys_read(c, base + off, 4);
	d[1] = sys_read(c, base + off + 4, 4);
	return true;
}

void desc_read_or_fault(struct cpu *c, uint16_t sel, uint32_t d[2], int vec, uint32_t err)
{
	if (!desc_read(c, sel, d))
		cpu_raise(c, vec, err);
}

void desc_to_seg(const uint32_t d[2], uint16_t sel, struct seg *sg)
{
	memset(sg, 0, sizeof *sg);
	sg->sel = sel;
	sg->base = (d[0] >> 16) | ((d[1] & 0xff) << 16) | (d[1] & 0xff000000u);
	uint32_t limit = (d[0] & 0xffff) | (d[1] & 0xf0000u);
	sg->g = (d[1] >> 23) & 1;
	sg->limit = sg->g ? (limit << 12) | 0xfff : limit;
	sg->type = (d[1] >> 8) & 0xf;
	sg->s = (d[1] >> 12) & 1;
	sg->dpl = (d[1] >> 13) & 3;
	sg->present = (d[1] >> 15) & 1;
	sg->avl = (d[1] >> 20) & 1;
	sg->db = (d[1] >> 22) & 1;
}

/* The CPU sets the accessed bit in the descriptor on every load. */
void desc_set_accessed(struct cpu *c, uint16_t sel, uint32_t d[2])
{
	if (d[1] & 0x100)
		return;
	d[1] |= 0x100;
	uint32_t base = (sel & 4) ? c->ldtr.base : c->gdtr.base;
	sys_write(c, base + (sel & ~7u) + 5, 1, (d[1] >> 8) & 0xff);
}

void seg_load_cs(struct cpu *c, uint16_t sel, const uint32_t d[2], int cpl)
{
	desc_to_seg(d, (uint16_t)((sel & ~3u) | (unsigned)cpl), &c->seg[S_CS]);
	cpu_set_cpl(c, cpl);
	cpu_mode_changed(c);
}

/* SS loads: by MOV/POP/LSS (vec #GP), or a stack switch (vec #TS). */
void seg_load_ss_checked(struct cpu *c, uint16_t sel, int cpl, int vec)
{
	uint32_t d[2];
	if (!(sel & ~3u))
		cpu_raise(c, vec, 0);
	if ((sel & 3) != cpl)
		cpu_raise(c, vec, SEL_ERR(sel));
	desc_read_or_fault(c, sel, d, vec, SEL_ERR(sel));
	struct seg sg;
	desc_to_seg(d, sel, &sg);
	if (!sg.s || (sg.type & 8) || !(sg.type & 2) || sg.dpl != cpl)
		cpu_raise(c, vec, SEL_ERR(sel));
	if (!sg.present)
		cpu_raise(c, EXC_SS, SEL_ERR(sel));
	desc_set_accessed(c, sel, d);
	sg.type |= 1;
	c->seg[S_SS] = sg;
	seg_update_cache(c, S_SS);
	c->stack16 = !sg.db;
}

/* A data segment register (DS ES FS GS) in protected mode, with the checks
 * of MOV; vec: the fault for a bad selector (#GP for MOV/POP, #TS when a
 * task switch loads it). */
void seg_load_data_checked(struct cpu *c, int s, uint16_t sel, int vec)
{
	if (!(sel & ~3u)) {
		/* A null selector loads fine; using it faults (#GP(0)). */
		memset(&c->seg[s], 0, sizeof c->seg[s]);
		c->seg[s].sel = sel;
		c->seg[s].unusable = 1;
		seg_update_cache(c, s);
		return;
	}
	uint32_t d[2];
	desc_read_or_fault(c, sel, d, vec, SEL_ERR(sel));
	struct seg sg;
	desc_to_seg(d, sel, &sg);
	if (!sg.s || ((sg.type & 8) && !(sg.type & 2)))
		cpu_raise(c, vec, SEL_ERR(sel));
	bool conforming_code = (sg.type & 8) && (sg.type & 4);
	if (!conforming_code && ((sel & 3u) > sg.dpl || c->cpl > sg.dpl))
		cpu_raise(c, vec, SEL_ERR(sel));
	if (!sg.present)
		cpu_raise(c, EXC_NP, SEL_ERR(sel));
	desc_set_accessed(c, sel, d);
	sg.type |= 1;
	c->seg[s] = sg;
	seg_update_cache(c, s);
}

void seg_load(struct cpu *c, int s, uint16_t sel)
{
	if (s == S_SS && !cpu_real_mode(c) && !cpu_v86_mode(c)) {
		seg_load_ss_checked(c, sel, c->cpl, EXC_GP);
		return;
	}
	if (s == S_CS)
		cpu_raise(c, EXC_UD, 0);
	if (cpu_real_mode(c) || cpu_v86_mode(c)) {
		seg_load_real(c, s, sel);
		return;
	}
	seg_load_data_checked(c, s, sel, EXC_GP);
}

/* After a return to an outer ring, data segments the new ring may not use
 * become null (IRET and far RET do this). */
void seg_null_if_unusable(struct cpu *c, int new_cpl)
{
	static const int data_segs[] = { S_ES, S_DS, S_FS, S_GS };
	for (int i = 0; i < 4; i++) {
		struct seg *sg = &c->seg[data_segs[i]];
		if (sg->unusable)
			continue;
		bool conforming_code = (sg->type & 8) && (sg->type & 4);
		if (!conforming_code && sg->dpl < new_cpl) {
			memset(sg, 0, sizeof *sg);
			sg->unusable = 1;
			seg_update_cache(c, data_segs[i]);
		}
	}
}
