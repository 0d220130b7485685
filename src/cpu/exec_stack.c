/*
 * The stack: PUSH/POP in all forms, PUSHA/POPA, PUSHF/POPF, ENTER/LEAVE.
 * Every push or pop writes or reads memory first and commits ESP last, so
 * a fault leaves the stack pointer where it was.
 */
#include "exec.h"

uint32_t eflags_writable(struct cpu *c, unsigned size);

static inline uint32_t sp_wrap(struct cpu *c, uint32_t sp)
{
	return c->stack16 ? sp & 0xffff : sp;
}

void push(struct cpu *c, unsigned size, uint32_t v)
{
	uint32_t sp = sp_wrap(c, sp_get(c) - size);
	mem_write(c, S_SS, sp, size, v);
	sp_set(c, sp);
}

uint32_t stack_peek(struct cpu *c, unsigned size, uint32_t depth)
{
	return mem_read(c, S_SS, sp_wrap(c, sp_get(c) + depth * size), size);
}

uint32_t pop(struct cpu *c, unsigned size)
{
	uint32_t v = stack_peek(c, size, 0);
	sp_set(c, sp_get(c) + size);
	return v;
}

H(h_push)
{
	push(c, i->osize, op_read(c, &i->op[0]));
	NEXT(c, i);
}

H(h_push32_r)
{
	uint32_t v = c->r.r32[i->op[0].reg >> 2];
	uint32_t sp = c->r.r32[R_ESP] - 4;
	if (likely(!c->stack16)) {
		mem_write(c, S_SS, sp, 4, v);
		c->r.r32[R_ESP] = sp;
	} else {
		push(c, 4, v);
	}
	NEXT(c, i);
}

H(h_pop32_r)
{
	uint32_t v;
	if (likely(!c->stack16)) {
		v = mem_read(c, S_SS, c->r.r32[R_ESP], 4);
		c->r.r32[R_ESP] += 4;
	} else {
		v = pop(c, 4);
	}
	c->r.r32[i->op[0].reg >> 2] = v;
	NEXT(c, i);
}

/* POP r/m: ESP is incremented before the destination address is formed. */
H(h_pop)
{
	unsigned n = i->osize;
	uint32_t v = stack_peek(c, n, 0);
	uint32_t old = sp_get(c);
	if (i->op[0].kind == OK_REG) {
		sp_set(c, old + n);
		reg_write(c, &i->op[0], v);
	} else {
		sp_set(c, old + n);
		uint32_t ea = ea_of(c, &i->op[0]);
		sp_set(c, old);
		mem_write(c, i->op[0].seg, ea, n, v);
		sp_set(c, old + n);
	}
	NEXT(c, i);
}

H(h_pusha)
{
	unsigned n = i->osize;
	uint32_t sp = sp_get(c);
	for (int r = 0; r < 8; r++) {
		uint32_t v = r == R_ESP ? sp : c->r.r32[r];
		mem_write(c, S_SS, sp_wrap(c, sp - n * (uint32_t)(r + 1)), n, v);
	}
	sp_set(c, sp - 8 * n);
	NEXT(c, i);
}

H(h_popa)
{
	unsigned n = i->osize;
	uint32_t v[8];
	for (int r = 0; r < 8; r++)
		v[7 - r] = stack_peek(c, n, (uint32_t)r);
	for (int r = 0; r < 8; r++) {
		if (r == R_ESP)
			continue;
		if (n == 4)
			c->r.r32[r] = v[r];
		else
			c->r.r16[r * 2] = (uint16_t)v[r];
	}
	sp_set(c, sp_get(c) + 8 * n);
	NEXT(c, i);
}

/* PUSHF/POPF are IOPL-sensitive in v8086 (no VME): the monitor emulates
 * them below IOPL 3. */
static void v86_iopl_check(struct cpu *c)
{
	if (cpu_v86_mode(c) && cpu_iopl(c) < 3)
		cpu_raise(c, EXC_GP, 0);
}

H(h_pushf)
{
	v86_iopl_check(c);
	push(c, i->osize, flags_get(c) & ~(EFLAGS_VM | EFLAGS_RF));
	NEXT(c, i);
}

H(h_popf)
{
	v86_iopl_check(c);
	uint32_t v = stack_peek(c, i->osize, 0);
	sp_set(c, sp_get(c) + i->osize);
	eflags_write(c, v, eflags_writable(c, i->osize));
	NEXT(c, i);
}

H(h_enter)
{
	unsigned n = i->osize;
	uint32_t size = i->op[0].disp & 0xffff;
	unsigned level = i->op[1].disp & 31;
	uint32_t sp = sp_get(c);
	uint32_t bp = c->stack16 ? c->r.r16[R_EBP * 2] : c->r.r32[R_EBP];
	sp -= n;
	mem_write(c, S_SS, sp_wrap(c, sp), n, bp);
	uint32_t frame = sp;
	for (unsigned k = 1; k < level; k++) {
		bp -= n;
		uint32_t v = mem_read(c, S_SS, sp_wrap(c, bp), n);
		sp -= n;
		mem_write(c, S_SS, sp_wrap(c, sp), n, v);
	}
	if (level) {
		sp -= n;
		mem_write(c, S_SS, sp_wrap(c, sp), n, frame);
	}
	sp -= size;
	if (n == 4)
		c->r.r32[R_EBP] = c->stack16 ? (c->r.r32[R_EBP] & 0xffff0000u) | (frame & 0xffff) : frame;
	else
		c->r.r16[R_EBP * 2] = (uint16_t)frame;
	sp_set(c, sp);
	NEXT(c, i);
}

H(h_leave)
{
	unsigned n = i->osize;
	uint32_t bp = c->stack16 ? c->r.r16[R_EBP * 2] : c->r.r32[R_EBP];
	uint32_t v = mem_read(c, S_SS, bp, n);
	sp_set(c, bp + n);
	if (n == 4)
		c->r.r32[R_EBP] = v;
	else
		c->r.r16[R_EBP * 2] = (uint16_t)v;
	NEXT(c, i);
}

H(h_push_sreg)
{
	uint32_t sp = sp_wrap(c, sp_get(c) - i->osize);
	/* A 32-bit push of a segment register writes only the low 16 bits. */
	mem_write(c, S_SS, sp, 2, c->seg[i->sub].sel);
	sp_set(c, sp);
	NEXT(c, i);
}

H(h_pop_sreg)
{
	uint16_t sel = (uint16_t)stack_peek(c, i->osize, 0);
	seg_load(c, i->sub, sel);
	sp_set(c, sp_get(c) + i->osize);
	if (i->sub == S_SS)
		c->shadow = c->db_inhibit = true;
	NEXT(c, i);
}
