/*
 * Control transfers: near jumps/calls/returns, loops, far transfers to
 * code segments with the privilege checks (to TSSs, task gates and call
 * gates in gates.c; in real and v8086 mode in realmode.c), IRET (task
 * return in task.c, into v8086 in v86.c), INT n/INT3/INTO, BOUND.
 */
#include "exec.h"

#define SEL_ERR(sel) ((uint32_t)((sel) & 0xfffc))

/* Relative targets are pre-computed at decode time as offsets from the
 * next instruction (op[0].disp). */
/* A direct JMP need not be the last of its block (decode.c): it ends it. */
H(h_jmp)
{
	jump_to(c, i, c->eip + i->len + i->op[0].disp);
	c->blk_end = NULL;
}

H(h_jmp_ind)
{
	jump_to(c, i, op_read(c, &i->op[0]));
}

/* The common case inline: a 32-bit CMP/SUB decides the branch. */
static inline bool jcc_taken(const struct cpu *c, unsigned cc)
{
	if (likely(c->lf_op == LF_SUB && c->lf_size == 4)) {
		uint32_t a = c->lf_a, b = c->lf_b;
		switch (cc) {
		case 0x2: return a < b;
		case 0x3: return a >= b;
		case 0x4: return a == b;
		case 0x5: return a != b;
		case 0x6: return a <= b;
		case 0x7: return a > b;
		case 0xc: return (int32_t)a < (int32_t)b;
		case 0xd: return (int32_t)a >= (int32_t)b;
		case 0xe: return (int32_t)a <= (int32_t)b;
		case 0xf: return (int32_t)a > (int32_t)b;
		default: break;
		}
	}
	return cond_eval(c, cc);
}

/* Blocks run on past a Jcc (decode.c): a taken one ends its block. */
H(h_jcc)
{
	if (jcc_taken(c, i->sub)) {
		jump_to(c, i, c->eip + i->len + i->op[0].disp);
		c->blk_end = NULL;
	} else {
		NEXT(c, i);
	}
}

static void call_to(struct cpu *c, const struct insn *i, uint32_t target)
{
	uint32_t ret = c->eip + i->len;
	if (i->osize == 2) {
		target &= 0xffff;
		ret &= 0xffff;
	}
	if (target > c->seg[S_CS].limit)
		cpu_raise(c, EXC_GP, 0);
	push(c, i->osize, ret);
	c->eip = target;
}

H(h_call)
{
	call_to(c, i, c->eip + i->len + i->op[0].disp);
}

H(h_call_ind)
{
	call_to(c, i, op_read(c, &i->op[0]));
}

H(h_ret)
{
	uint32_t target = stack_peek(c, i->osize, 0);
	if (target > c->seg[S_CS].limit)
		cpu_raise(c, EXC_GP, 0);
	sp_set(c, sp_get(c) + i->osize + (i->op[0].kind == OK_IMM ? i->op[0].disp : 0));
	c->eip = target;
}

static uint32_t count_reg(struct cpu *c, const struct insn *i)
{
	return i->asize == 2 ? c->r.r16[R_ECX * 2] : c->r.r32[R_ECX];
}

H(h_loop)
{
	uint32_t n = count_reg(c, i) - 1;
	if (i->asize == 2) {
		n &= 0xffff;
		c->r.r16[R_ECX * 2] = (uint16_t)n;
	} else {
		c->r.r32[R_ECX] = n;
	}
	bool take = n != 0;
	if (i->sub == 1)
		take = take && cond_eval(c, 4);
	else if (i->sub == 2)
		take = take && !cond_eval(c, 4);
	if (take)
		jump_to(c, i, c->eip + i->len + i->op[0].disp);
	else
		NEXT(c, i);
}

H(h_jcxz)
{
	if (count_reg(c, i) == 0)
		jump_to(c, i, c->eip + i->len + i->op[0].disp);
	else
		NEXT(c, i);
}

/* A far JMP/CALL target must be a code segment this CPL may enter
 * without a gate; false if it is a system descriptor (gates.c). */
static bool far_target(struct cpu *c, uint16_t sel, uint32_t off, uint32_t d[2])
{
	if (!(sel & ~3u))
		cpu_raise(c, EXC_GP, 0);
	desc_read_or_fault(c, sel, d, EXC_GP, SEL_ERR(sel));
	struct seg sg;
	desc_to_seg(d, sel, &sg);
	if (!sg.s)
		return false;
	if (!(sg.type & 8))
		cpu_raise(c, EXC_GP, SEL_ERR(sel));
	if (sg.type & 4) {
		if (sg.dpl > c->cpl)
			cpu_raise(c, EXC_GP, SEL_ERR(sel));
	} else if ((sel & 3u) > c->cpl || sg.dpl != c->cpl) {
		cpu_raise(c, EXC_GP, SEL_ERR(sel));
	}
	if (!sg.present)
		cpu_raise(c, EXC_NP, SEL_ERR(sel));
	if (off > sg.limit)
		cpu_raise(c, EXC_GP, 0);
	return true;
}

static bool real_or_v86(const struct cpu *c)
{
	return cpu_real_mode(c) || cpu_v86_mode(c);
}

static void far_operand(struct cpu *c, const struct insn *i, uint16_t *sel, uint32_t *off)
{
	if (i->op[0].kind == OK_IMM) {
		*off = i->op[0].disp;
		*sel = (uint16_t)i->imm2;
		return;
	}
	if (i->op[0].kind != OK_MEM)
		cpu_raise(c, EXC_UD, 0);
	uint32_t ea = ea_of(c, &i->op[0]);
	*off = mem_read(c, i->op[0].seg, ea, i->osize);
	*sel = (uint16_t)mem_read(c, i->op[0].seg, ea + i->osize, 2);
}

H(h_jmp_far)
{
	uint16_t sel;
	uint32_t off, d[2];
	far_operand(c, i, &sel, &off);
	if (i->osize == 2)
		off &= 0xffff;
	if (real_or_v86(c)) {
		real_far_jump(c, sel, off);
		return;
	}
	if (!far_target(c, sel, off, d)) {
		far_to_system(c, sel, d, false, c->eip + i->len);
		return;
	}
	desc_set_accessed(c, sel, d);
	seg_load_cs(c, sel, d, c->cpl);
	c->eip = off;
}

H(h_call_far)
{
	uint16_t sel;
	uint32_t off, d[2];
	far_operand(c, i, &sel, &off);
	uint32_t n = i->osize;
	uint32_t ret = c->eip + i->len;
	if (n == 2) {
		off &= 0xffff;
		ret &= 0xffff;
	}
	if (real_or_v86(c)) {
		real_far_call(c, n, sel, off, ret);
		return;
	}
	if (!far_target(c, sel, off, d)) {
		far_to_system(c, sel, d, true, ret);
		return;
	}
	uint32_t sp = sp_get(c);
	mem_write(c, S_SS, (sp - n) & (c->stack16 ? 0xffff : ~0u), n, c->seg[S_CS].sel);
	mem_write(c, S_SS, (sp - 2 * n) & (c->stack16 ? 0xffff : ~0u), n, ret);
	desc_set_accessed(c, sel, d);
	sp_set(c, sp - 2 * n);
	seg_load_cs(c, sel, d, c->cpl);
	c->eip = off;
}

/* The CS checks RET far and IRET share; returns the new CPL (= RPL). */
static int return_cs_check(struct cpu *c, uint16_t sel, uint32_t d[2])
{
	if (!(sel & ~3u))
		cpu_raise(c, EXC_GP, 0);
	desc_read_or_fault(c, sel, d, EXC_GP, SEL_ERR(sel));
	struct seg sg;
	desc_to_seg(d, sel, &sg);
	int rpl = sel & 3;
	if (!sg.s || !(sg.type & 8) || rpl < c->cpl)
		cpu_raise(c, EXC_GP, SEL_ERR(sel));
	if ((sg.type & 4) ? sg.dpl > rpl : sg.dpl != rpl)
		cpu_raise(c, EXC_GP, SEL_ERR(sel));
	if (!sg.present)
		cpu_raise(c, EXC_NP, SEL_ERR(sel));
	return rpl;
}

/* Loads SS:ESP popped for a return to an outer ring (checks as for MOV SS
 * at the new CPL), then CS, and nulls data segments the new ring may not
 * use. */
static void return_outer(struct cpu *c, uint16_t cs_sel, uint32_t cs_d[2], int rpl,
			 uint16_t ss_sel, uint32_t esp, uint32_t eip)
{
	struct seg old_ss = c->seg[S_SS];
	bool old_stack16 = c->stack16;
	seg_load_ss_checked(c, ss_sel, rpl, EXC_GP);
	struct seg cs;
	desc_to_seg(cs_d, cs_sel, &cs);
	if (eip > cs.limit) {
		c->seg[S_SS] = old_ss;
		c->stack16 = old_stack16;
		seg_update_cache(c, S_SS);
		cpu_raise(c, EXC_GP, 0);
	}
	desc_set_accessed(c, cs_sel, cs_d);
	seg_load_cs(c, cs_sel, cs_d, rpl);
	c->r.r32[R_ESP] = c->stack16 ? (c->r.r32[R_ESP] & 0xffff0000u) | (esp & 0xffff) : esp;
	c->eip = eip;
	seg_null_if_unusable(c, rpl);
}

H(h_ret_far)
{
	unsigned n = i->osize;
	uint32_t imm = i->op[0].kind == OK_IMM ? i->op[0].disp : 0;
	if (real_or_v86(c)) {
		real_far_ret(c, n, imm);
		return;
	}
	uint32_t eip = stack_peek(c, n, 0);
	uint16_t sel = (uint16_t)stack_peek(c, n, 1);
	uint32_t d[2];
	int rpl = return_cs_check(c, sel, d);
	if (rpl == c->cpl) {
		struct seg cs;
		desc_to_seg(d, sel, &cs);
		if (eip > cs.limit)
			cpu_raise(c, EXC_GP, 0);
		sp_set(c, sp_get(c) + 2 * n + imm);
		desc_set_accessed(c, sel, d);
		seg_load_cs(c, sel, d, rpl);
		c->eip = eip;
		return;
	}
	uint32_t sp = sp_get(c) + 2 * n + imm;
	uint32_t esp = mem_read(c, S_SS, sp & (c->stack16 ? 0xffff : ~0u), n);
	uint16_t ss = (uint16_t)mem_read(c, S_SS, (sp + n) & (c->stack16 ? 0xffff : ~0u), 2);
	return_outer(c, sel, d, rpl, ss, esp + imm, eip);
}

/* The EFLAGS bits POPF and IRET may change at this CPL and IOPL. */
uint32_t eflags_writable(struct cpu *c, unsigned size);
uint32_t eflags_writable(struct cpu *c, unsigned size)
{
	uint32_t m = EFLAGS_ARITH | EFLAGS_TF | EFLAGS_DF | EFLAGS_NT | EFLAGS_AC | EFLAGS_ID;
	unsigned iopl = (c->eflags >> 12) & 3;
	if (c->cpl == 0)
		m |= EFLAGS_IOPL;
	if (c->cpl <= iopl)
		m |= EFLAGS_IF;
	if (size == 2)
		m &= 0xffff;
	return m;
}

H(h_iret)
{
	cpu_iret(c, i->osize, i->len);
}

void cpu_iret(struct cpu *c, unsigned n, unsigned len)
{
	if (cpu_real_mode(c)) {
		real_iret(c, n);
		return;
	}
	if (cpu_v86_mode(c)) {
		if (cpu_iopl(c) < 3)
			cpu_raise(c, EXC_GP, 0);
		real_iret(c, n);
		return;
	}
	if (c->eflags & EFLAGS_NT) {
		/* Back to the task that called this one (the back link). */
		uint16_t link = (uint16_t)sys_read(c, c->tr.base, 2);
		task_switch(c, link, TASK_IRET, c->eip + len, false, 0, 0);
		return;
	}
	uint32_t eip = stack_peek(c, n, 0);
	uint16_t sel = (uint16_t)stack_peek(c, n, 1);
	uint32_t fl = stack_peek(c, n, 2);
	if (n == 4 && (fl & EFLAGS_VM) && c->cpl == 0) {
		v86_enter_by_iret(c);
		return;
	}
	uint32_t d[2];
	int rpl = return_cs_check(c, sel, d);
	uint32_t mask = eflags_writable(c, n) | (n == 4 ? EFLAGS_RF : 0);
	if (rpl == c->cpl) {
		struct seg cs;
		desc_to_seg(d, sel, &cs);
		if (eip > cs.limit)
			cpu_raise(c, EXC_GP, 0);
		sp_set(c, sp_get(c) + 3 * n);
		desc_set_accessed(c, sel, d);
		seg_load_cs(c, sel, d, rpl);
		c->eip = eip;
	} else {
		uint32_t esp = stack_peek(c, n, 3);
		uint16_t ss = (uint16_t)stack_peek(c, n, 4);
		return_outer(c, sel, d, rpl, ss, esp, eip);
	}
	eflags_write(c, fl, mask);
}

/* INT n is IOPL-sensitive in v8086 (no VME): the monitor emulates it. */
H(h_int)
{
	if (cpu_v86_mode(c) && cpu_iopl(c) < 3)
		cpu_raise(c, EXC_GP, 0);
	idt_deliver(c, (int)(i->op[0].disp & 0xff), 0, false, EV_SOFT_INT, c->eip + i->len);
}

H(h_int3)
{
	idt_deliver(c, EXC_BP, 0, false, EV_SOFT_INT, c->eip + i->len);
}

H(h_into)
{
	if (flags_get(c) & EFLAGS_OF)
		idt_deliver(c, EXC_OF, 0, false, EV_SOFT_INT, c->eip + i->len);
	else
		NEXT(c, i);
}

H(h_bound)
{
	unsigned size = i->op[0].size;
	int32_t idx = sext(reg_read(c, &i->op[0]), size);
	uint32_t ea = ea_of(c, &i->op[1]);
	int32_t lo = sext(mem_read(c, i->op[1].seg, ea, size), size);
	int32_t hi = sext(mem_read(c, i->op[1].seg, ea + size, size), size);
	if (idx < lo || idx > hi)
		cpu_raise(c, EXC_BR, 0);
	NEXT(c, i);
}
