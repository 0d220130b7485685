/*
 * String instructions (MOVS CMPS STOS LODS SCAS INS OUTS) with REP/REPE/
 * REPNE. Registers are committed after each element, so a fault or an
 * interruption mid-way restarts the instruction where it stopped, as on
 * hardware. Long REPs yield to the VMM when it kicks.
 */
#include "exec.h"
#include "vm/vm.h"

enum { STR_MOVS, STR_CMPS, STR_STOS, STR_LODS, STR_SCAS, STR_INS, STR_OUTS };

static inline uint32_t idx_get(struct cpu *c, const struct insn *i, int r)
{
	return i->asize == 2 ? c->r.r16[r * 2] : c->r.r32[r];
}

static inline void idx_set(struct cpu *c, const struct insn *i, int r, uint32_t v)
{
	if (i->asize == 2)
		c->r.r16[r * 2] = (uint16_t)v;
	else
		c->r.r32[r] = v;
}

/* One element; returns false when a REPE/REPNE condition ends the loop. */
static bool string_step(struct cpu *c, const struct insn *i, unsigned n, int32_t delta)
{
	int src_seg = i->op[0].seg;
	uint32_t si = idx_get(c, i, R_ESI), di = idx_get(c, i, R_EDI);
	switch (i->sub) {
	case STR_MOVS:
		mem_write(c, S_ES, di, n, mem_read(c, src_seg, si, n));
		idx_set(c, i, R_ESI, si + (uint32_t)delta);
		idx_set(c, i, R_EDI, di + (uint32_t)delta);
		return true;
	case STR_STOS:
		mem_write(c, S_ES, di, n, load_n(c->r.r8, n));
		idx_set(c, i, R_EDI, di + (uint32_t)delta);
		return true;
	case STR_LODS:
		store_n(c->r.r8, n, mem_read(c, src_seg, si, n));
		idx_set(c, i, R_ESI, si + (uint32_t)delta);
		return true;
	case STR_CMPS: {
		uint32_t a = mem_read(c, src_seg, si, n), b = mem_read(c, S_ES, di, n);
		flags_lazy(c, LF_SUB, n, a - b, a, b);
		idx_set(c, i, R_ESI, si + (uint32_t)delta);
		idx_set(c, i, R_EDI, di + (uint32_t)delta);
		break;
	}
	case STR_SCAS: {
		uint32_t a = load_n(c->r.r8, n), b = mem_read(c, S_ES, di, n);
		flags_lazy(c, LF_SUB, n, a - b, a, b);
		idx_set(c, i, R_EDI, di + (uint32_t)delta);
		break;
	}
	case STR_INS: {
		uint8_t buf[4];
		io_port_check(c, c->r.r16[R_EDX * 2], n);
		mem_probe_write(c, S_ES, di, n);
		cpu_pio(c, c->r.r16[R_EDX * 2], buf, n, false);
		mem_write(c, S_ES, di, n, load_n(buf, n));
		idx_set(c, i, R_EDI, di + (uint32_t)delta);
		return true;
	}
	default: { /* OUTS */
		uint8_t buf[4];
		io_port_check(c, c->r.r16[R_EDX * 2], n);
		store_n(buf, n, mem_read(c, src_seg, si, n));
		cpu_pio(c, c->r.r16[R_EDX * 2], buf, n, true);
		idx_set(c, i, R_ESI, si + (uint32_t)delta);
		return true;
	}
	}
	bool zf = (c->lf_a & size_mask(n)) == (c->lf_b & size_mask(n));
	return i->rep == REP_E ? zf : !zf;
}

/* REP STOS/MOVS on flat segments, forward, within one page each: done
 * with memset/memmove on the host pointers (the common memset/memcpy). */
static bool string_fast(struct cpu *c, const struct insn *i, unsigned n)
{
	if (i->asize != 4 || (c->eflags & EFLAGS_DF) || !(c->seg_flat[S_ES] & SEGF_WRITE))
		return false;
	uint32_t cnt = c->r.r32[R_ECX], di = c->r.r32[R_EDI];
	uint32_t room = (0x1000 - (di & 0xfff)) / n;
	if (room == 0)
		return false;
	uint32_t k = cnt < room ? cnt : room;
	uint8_t *d = tlb_ptr(c, di, k * n, true);
	if (!d)
		return false;
	if (i->sub == STR_STOS) {
		uint32_t v = load_n(c->r.r8, n);
		if (n == 1)
			memset(d, (int)v, k);
		else
			for (uint32_t j = 0; j < k; j++)
				store_n(d + j * n, n, v);
	} else {
		uint32_t si = c->r.r32[R_ESI];
		if (!(c->seg_flat[i->op[0].seg] & SEGF_READ))
			return false;
		uint32_t sroom = (0x1000 - (si & 0xfff)) / n;
		if (sroom == 0)
			return false;
		if (k > sroom)
			k = sroom;
		uint8_t *s = tlb_ptr(c, si, k * n, false);
		if (!s)
			return false;
		/* Overlapping forward copies replicate like the byte loop does. */
		if (d > s && d < s + k * n) {
			for (uint32_t j = 0; j < k * n; j++)
				d[j] = s[j];
		} else {
			memmove(d, s, k * n);
		}
		c->r.r32[R_ESI] = si + k * n;
	}
	c->r.r32[R_EDI] = di + k * n;
	c->r.r32[R_ECX] = cnt - k;
	return true;
}

H(h_string)
{
	unsigned n = i->imm2;
	int32_t delta = (c->eflags & EFLAGS_DF) ? -(int32_t)n : (int32_t)n;
	if (!i->rep) {
		string_step(c, i, n, delta);
		NEXT(c, i);
		return;
	}
	/* Single-step traps after each iteration (SDM vol. 3, 17.3.1.4): with
	 * TF set, one iteration per execution, EIP staying on the instruction
	 * until the count runs out. */
	bool step = c->eflags & EFLAGS_TF;
	for (unsigned iter = 0;; iter++) {
		uint32_t cnt = idx_get(c, i, R_ECX);
		if (cnt == 0)
			break;
		if (!step && (i->sub == STR_STOS || i->sub == STR_MOVS) && string_fast(c, i, n))
			continue;
		bool go = string_step(c, i, n, delta);
		idx_set(c, i, R_ECX, cnt - 1);
		if (!go)
			break;
		if (step || c->exit >= 0 || ((iter & 1023) == 1023 && *c->kick)) {
			/* Stop here; the instruction resumes on the next run. */
			if (idx_get(c, i, R_ECX) != 0) {
				c->blk_end = NULL;
				return;
			}
			break;
		}
	}
	NEXT(c, i);
}
