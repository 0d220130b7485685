/*
 * Data movement and flag instructions: MOV and its forms, SETcc/CMOVcc,
 * exchanges, sign extensions, BCD adjustments, direct flag edits.
 */
#include "exec.h"

/* A 32-bit register by its byte offset (a multiple of 4): no shift. */
#define R32(c, o) (*(uint32_t *)((c)->r.r8 + (o).reg))

H(h_nop)
{
	NEXT(c, i);
}

H(h_mov)
{
	op_write(c, &i->op[0], op_read(c, &i->op[1]));
	NEXT(c, i);
}

H(h_mov32_rr)
{
	R32(c, i->op[0]) = R32(c, i->op[1]);
	NEXT_THREADED(c, i);
}

H(h_mov32_ri)
{
	R32(c, i->op[0]) = i->op[1].disp;
	NEXT_THREADED(c, i);
}

H(h_mov32_rm)
{
	R32(c, i->op[0]) = mem_read(c, i->op[1].seg, ea_of(c, &i->op[1]), 4);
	NEXT(c, i);
}

H(h_mov32_mr)
{
	mem_write(c, i->op[0].seg, ea_of(c, &i->op[0]), 4, op_read(c, &i->op[1]));
	NEXT(c, i);
}

H(h_movzx)
{
	reg_write(c, &i->op[0], op_read(c, &i->op[1]));
	NEXT(c, i);
}

H(h_movsx)
{
	uint32_t v = (uint32_t)sext(op_read(c, &i->op[1]), i->op[1].size);
	reg_write(c, &i->op[0], v & size_mask(i->op[0].size));
	NEXT(c, i);
}

H(h_lea)
{
	reg_write(c, &i->op[0], ea_of(c, &i->op[1]));
	NEXT(c, i);
}

H(h_setcc)
{
	op_write(c, &i->op[0], cond_eval(c, i->sub));
	NEXT(c, i);
}

H(h_cmovcc)
{
	uint32_t v = op_read(c, &i->op[1]);
	if (cond_eval(c, i->sub))
		reg_write(c, &i->op[0], v);
	NEXT(c, i);
}

H(h_xchg)
{
	const struct opnd *m = &i->op[0], *r = &i->op[1];
	if (r->kind != OK_REG) {
		m = &i->op[1];
		r = &i->op[0];
	}
	struct loc l;
	uint32_t b = reg_read(c, r);
	uint32_t a = loc_open(c, m, &l);
	loc_store(c, &l, b);
	reg_write(c, r, a);
	NEXT(c, i);
}

H(h_cmpxchg)
{
	unsigned size = i->op[0].size;
	struct loc l;
	uint32_t acc = load_n(c->r.r8, size);
	uint32_t src = reg_read(c, &i->op[1]);
	uint32_t t = loc_open(c, &i->op[0], &l);
	flags_lazy(c, LF_SUB, size, acc - t, acc, t);
	if (acc == t) {
		loc_store(c, &l, src);
	} else {
		loc_store(c, &l, t);
		store_n(c->r.r8, size, t);
	}
	NEXT(c, i);
}

H(h_xadd)
{
	unsigned size = i->op[0].size;
	struct loc l;
	uint32_t s = reg_read(c, &i->op[1]);
	uint32_t d = loc_open(c, &i->op[0], &l);
	uint32_t sum = (d + s) & size_mask(size);
	reg_write(c, &i->op[1], d);
	loc_store(c, &l, sum);
	flags_lazy(c, LF_ADD, size, sum, d, s);
	NEXT(c, i);
}

H(h_cmpxchg8b)
{
	const struct opnd *o = &i->op[0];
	if (o->kind != OK_MEM)
		cpu_raise(c, EXC_UD, 0);
	uint32_t ea = ea_of(c, o);
	mem_probe_write(c, o->seg, ea, 4);
	mem_probe_write(c, o->seg, ea + 4, 4);
	uint32_t lo = mem_read(c, o->seg, ea, 4), hi = mem_read(c, o->seg, ea + 4, 4);
	flags_materialize(c);
	if (lo == c->r.r32[R_EAX] && hi == c->r.r32[R_EDX]) {
		mem_write(c, o->seg, ea, 4, c->r.r32[R_EBX]);
		mem_write(c, o->seg, ea + 4, 4, c->r.r32[R_ECX]);
		c->eflags |= EFLAGS_ZF;
	} else {
		mem_write(c, o->seg, ea, 4, lo);
		mem_write(c, o->seg, ea + 4, 4, hi);
		c->r.r32[R_EAX] = lo;
		c->r.r32[R_EDX] = hi;
		c->eflags &= ~EFLAGS_ZF;
	}
	NEXT(c, i);
}

H(h_bswap)
{
	uint32_t v = reg_read(c, &i->op[0]);
	reg_write(c, &i->op[0], i->op[0].size == 4 ? __builtin_bswap32(v) : 0);
	NEXT(c, i);
}

H(h_cbw)
{
	if (i->osize == 2)
		c->r.r16[R_EAX * 2] = (uint16_t)(int8_t)c->r.r8[0];
	else
		c->r.r32[R_EAX] = (uint32_t)(int16_t)c->r.r16[R_EAX * 2];
	NEXT(c, i);
}

H(h_cwd)
{
	if (i->osize == 2)
		c->r.r16[R_EDX * 2] = (c->r.r16[R_EAX * 2] & 0x8000) ? 0xffff : 0;
	else
		c->r.r32[R_EDX] = (c->r.r32[R_EAX] & 0x80000000u) ? 0xffffffffu : 0;
	NEXT(c, i);
}

static void set_flag(struct cpu *c, uint32_t bit, bool on)
{
	if (on)
		c->eflags |= bit;
	else
		c->eflags &= ~bit;
}

H(h_daa)
{
	flags_materialize(c);
	uint8_t al = c->r.r8[0], old = al;
	bool old_cf = c->eflags & EFLAGS_CF, cf = false, af = false;
	if ((al & 0xf) > 9 || (c->eflags & EFLAGS_AF)) {
		cf = old_cf || al > 0xf9;
		al += 6;
		af = true;
	}
	if (old > 0x99 || old_cf) {
		al += 0x60;
		cf = true;
	}
	c->r.r8[0] = al;
	flags_set_arith(c, szp_flags(al, 1) | (cf ? EFLAGS_CF : 0) | (af ? EFLAGS_AF : 0));
	NEXT(c, i);
}

H(h_das)
{
	flags_materialize(c);
	uint8_t al = c->r.r8[0], old = al;
	bool old_cf = c->eflags & EFLAGS_CF, cf = false, af = false;
	if ((al & 0xf) > 9 || (c->eflags & EFLAGS_AF)) {
		cf = old_cf || al < 6;
		al -= 6;
		af = true;
	}
	if (old > 0x99 || old_cf) {
		al -= 0x60;
		cf = true;
	}
	c->r.r8[0] = al;
	flags_set_arith(c, szp_flags(al, 1) | (cf ? EFLAGS_CF : 0) | (af ? EFLAGS_AF : 0));
	NEXT(c, i);
}

static void ascii_adjust(struct cpu *c, bool add)
{
	flags_materialize(c);
	bool adj = (c->r.r8[0] & 0xf) > 9 || (c->eflags & EFLAGS_AF);
	if (adj) {
		if (add) {
			c->r.r16[0] = (uint16_t)(c->r.r16[0] + 0x106);
		} else {
			c->r.r16[0] = (uint16_t)(c->r.r16[0] - 6);
			c->r.r8[1]--;
		}
	}
	c->r.r8[0] &= 0xf;
	set_flag(c, EFLAGS_AF, adj);
	set_flag(c, EFLAGS_CF, adj);
}

H(h_aaa)
{
	ascii_adjust(c, true);
	NEXT(c, i);
}

H(h_aas)
{
	ascii_adjust(c, false);
	NEXT(c, i);
}

H(h_aam)
{
	uint8_t base = (uint8_t)i->op[0].disp;
	if (base == 0)
		cpu_raise(c, EXC_DE, 0);
	uint8_t al = c->r.r8[0];
	c->r.r8[1] = al / base;
	c->r.r8[0] = al % base;
	flags_set_arith(c, szp_flags(c->r.r8[0], 1));
	NEXT(c, i);
}

H(h_aad)
{
	uint8_t base = (uint8_t)i->op[0].disp;
	c->r.r8[0] = (uint8_t)(c->r.r8[0] + c->r.r8[1] * base);
	c->r.r8[1] = 0;
	flags_set_arith(c, szp_flags(c->r.r8[0], 1));
	NEXT(c, i);
}

H(h_lahf)
{
	c->r.r8[1] = (uint8_t)((flags_get(c) & 0xd5) | 2);
	NEXT(c, i);
}

H(h_sahf)
{
	flags_materialize(c);
	c->eflags = (c->eflags & ~0xd5u) | (c->r.r8[1] & 0xd5u);
	NEXT(c, i);
}

H(h_clc)
{
	flags_materialize(c);
	c->eflags &= ~EFLAGS_CF;
	NEXT(c, i);
}

H(h_stc)
{
	flags_materialize(c);
	c->eflags |= EFLAGS_CF;
	NEXT(c, i);
}

H(h_cmc)
{
	flags_materialize(c);
	c->eflags ^= EFLAGS_CF;
	NEXT(c, i);
}

H(h_cld)
{
	c->eflags &= ~EFLAGS_DF;
	NEXT(c, i);
}

H(h_std)
{
	c->eflags |= EFLAGS_DF;
	NEXT(c, i);
}

H(h_xlat)
{
	uint32_t ea = c->r.r32[R_EBX] + c->r.r8[0];
	if (i->asize == 2)
		ea &= 0xffff;
	c->r.r8[0] = (uint8_t)mem_read(c, i->op[0].seg, ea, 1);
	NEXT(c, i);
}

H(h_salc)
{
	c->r.r8[0] = cf_get(c) ? 0xff : 0;
	NEXT(c, i);
}
