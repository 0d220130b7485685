/*
 * Exceptions and interrupts: raising them (longjmp back to the run loop),
 * the double/triple-fault rules, and delivery through 32-bit interrupt and
 * trap gates (32-bit, and 16-bit ones that push words) with the TSS stack
 * switch on a privilege change, from protected mode or from virtual-8086
 * mode; through task gates (task.c); in real mode through the IVT
 * (realmode.c).
 */
#include <stdio.h>

#include "cpu.h"

#define SEL_ERR(sel) ((uint32_t)((sel) & 0xfffc))

bool exc_has_error_code(int vec)
{
	return vec == EXC_DF || (vec >= EXC_TS && vec <= EXC_PF) || vec == EXC_AC;
}

_Noreturn void cpu_raise(struct cpu *c, int vec, uint32_t err)
{
	c->exc_vec = vec;
	c->exc_err = err;
	c->exc_has_err = exc_has_error_code(vec);
	longjmp(c->jb, 1);
}

_Noreturn void cpu_raise_noerr(struct cpu *c, int vec)
{
	cpu_raise(c, vec, 0);
}

_Noreturn void cpu_exit_now(struct cpu *c, int reason, const char *msg)
{
	c->exit = reason;
	if (msg)
		snprintf(c->errmsg, sizeof c->errmsg, "%s", msg);
	longjmp(c->jb, 2);
}

static bool contributory(int vec)
{
	return vec == EXC_DE || (vec >= EXC_TS && vec <= EXC_GP);
}

/* Called by the run loop after an exception unwound to it. */
void cpu_handle_exception(struct cpu *c)
{
	int vec = c->exc_vec;
	uint32_t err = c->exc_err;
	bool has_err = c->exc_has_err;
	int first = c->delivering;
	if (first >= 0) {
		if (first == EXC_DF) {
			c->delivering = -1;
			c->exit = EXIT_SHUTDOWN;
			snprintf(c->errmsg, sizeof c->errmsg, "triple fault (vector %d)", vec);
			return;
		}
		bool fc = contributory(first), fp = first == EXC_PF;
		bool sc = contributory(vec), sp = vec == EXC_PF;
		if ((fc && sc) || (fp && (sc || sp))) {
			vec = EXC_DF;
			err = 0;
			has_err = true;
		}
	}
	c->delivering = vec;
	idt_deliver(c, vec, err, has_err, EV_EXCEPTION, c->eip);
	c->delivering = -1;
}

#define DR6_BS 0x4000u

void cpu_single_step_trap(struct cpu *c)
{
	c->dr[6] |= DR6_BS;
	cpu_raise(c, EXC_DB, 0); /* a trap: EIP already points past the instruction */
}

/* Pushes one w-byte value (4 for a 32-bit gate, 2 for a 16-bit one) at
 * esp - w*slot on a stack that may not be SS yet. */
static void push_on(struct cpu *c, const struct seg *ss, uint32_t esp, int slot, uint32_t v,
		    bool user, uint32_t fault_err, unsigned w)
{
	uint32_t off = esp - w * (uint32_t)slot;
	if (!ss->db)
		off &= 0xffff;
	bool expand_down = !(ss->type & 8) && (ss->type & 4);
	bool ok = expand_down ? off > ss->limit : (uint64_t)off + w - 1 <= ss->limit;
	if (!ok)
		cpu_raise(c, EXC_SS, fault_err);
	lin_write_slow(c, ss->base + off, w, w == 4 ? v : v & 0xffff, user);
}

void tss_stack_for(struct cpu *c, int dpl, uint32_t ext, uint16_t *ss_sel, uint32_t *esp,
		   struct seg *ss)
{
	uint32_t off = 4 + (uint32_t)dpl * 8;
	if (c->tr.unusable || off + 5 > c->tr.limit)
		cpu_raise(c, EXC_TS, SEL_ERR(c->tr.sel) | ext);
	*esp = sys_read(c, c->tr.base + off, 4);
	uint16_t sel = (uint16_t)sys_read(c, c->tr.base + off + 4, 2);
	uint32_t d[2];
	if (!(sel & ~3u))
		cpu_raise(c, EXC_TS, ext);
	if ((sel & 3) != dpl)
		cpu_raise(c, EXC_TS, SEL_ERR(sel) | ext);
	desc_read_or_fault(c, sel, d, EXC_TS, SEL_ERR(sel) | ext);
	desc_to_seg(d, sel, ss);
	if (!ss->s || (ss->type & 8) || !(ss->type & 2) || ss->dpl != dpl)
		cpu_raise(c, EXC_TS, SEL_ERR(sel) | ext);
	if (!ss->present)
		cpu_raise(c, EXC_SS, SEL_ERR(sel) | ext);
	desc_set_accessed(c, sel, d);
	ss->type |= 1;
	*ss_sel = sel;
}

void idt_deliver(struct cpu *c, int vec, uint32_t err, bool has_err, enum event_kind kind,
		 uint32_t ret_eip)
{
	if (cpu_real_mode(c)) {
		real_deliver(c, vec, kind, ret_eip);
		return;
	}
	uint32_t ext = kind == EV_SOFT_INT ? 0 : 1;
	uint32_t gate_err = (uint32_t)vec * 8 + 2 + ext;
	if ((uint32_t)vec * 8 + 7 > c->idtr.limit)
		cpu_raise(c, EXC_GP, gate_err);
	uint32_t g0 = sys_read(c, c->idtr.base + (uint32_t)vec * 8, 4);
	uint32_t g1 = sys_read(c, c->idtr.base + (uint32_t)vec * 8 + 4, 4);
	unsigned type = (g1 >> 8) & 0x1f;
	unsigned gate_dpl = (g1 >> 13) & 3;
	if (type == 0x05) {
		if (kind == EV_SOFT_INT && gate_dpl < c->cpl)
			cpu_raise(c, EXC_GP, gate_err);
		if (!(g1 & 0x8000))
			cpu_raise(c, EXC_NP, gate_err);
		task_switch(c, (uint16_t)(g0 >> 16), TASK_INT, ret_eip, has_err, err, ext);
		if (kind == EV_SOFT_INT)
			c->db_inhibit = true;
		return;
	}
	if (type != 0x0e && type != 0x0f && type != 0x06 && type != 0x07)
		cpu_raise(c, EXC_GP, gate_err);
	unsigned w = (type & 8) ? 4 : 2; /* 16-bit gates push words */
	if (kind == EV_SOFT_INT && gate_dpl < c->cpl)
		cpu_raise(c, EXC_GP, gate_err);
	if (!(g1 & 0x8000))
		cpu_raise(c, EXC_NP, gate_err);
	uint16_t sel = (uint16_t)(g0 >> 16);
	uint32_t target = (g0 & 0xffff) | (w == 4 ? g1 & 0xffff0000u : 0);
	if (!(sel & ~3u))
		cpu_raise(c, EXC_GP, ext);
	uint32_t d[2];
	desc_read_or_fault(c, sel, d, EXC_GP, SEL_ERR(sel) | ext);
	struct seg cs;
	desc_to_seg(d, sel, &cs);
	if (!cs.s || !(cs.type & 8) || cs.dpl > c->cpl)
		cpu_raise(c, EXC_GP, SEL_ERR(sel) | ext);
	if (!cs.present)
		cpu_raise(c, EXC_NP, SEL_ERR(sel) | ext);
	if (target > cs.limit)
		cpu_raise(c, EXC_GP, ext);

	uint32_t flags = flags_get(c);
	bool conforming = cs.type & 4;
	int new_cpl = conforming ? c->cpl : cs.dpl;
	/* From v8086 only to a non-conforming ring-0 handler through a 32-bit
	 * gate (a 16-bit gate has no room for the v8086 segment registers:
	 * #GP, as Bochs does). */
	bool from_v86 = cpu_v86_mode(c);
	if (from_v86 && (conforming || cs.dpl != 0 || w != 4))
		cpu_raise(c, EXC_GP, SEL_ERR(sel) | ext);
	if (new_cpl < c->cpl) {
		uint16_t ss_sel;
		uint32_t esp;
		struct seg ss;
		tss_stack_for(c, new_cpl, ext, &ss_sel, &esp, &ss);
		uint32_t serr = SEL_ERR(ss_sel) | ext;
		bool user = new_cpl == 3;
		int n = 0;
		if (from_v86) {
			push_on(c, &ss, esp, ++n, c->seg[S_GS].sel, user, serr, w);
			push_on(c, &ss, esp, ++n, c->seg[S_FS].sel, user, serr, w);
			push_on(c, &ss, esp, ++n, c->seg[S_DS].sel, user, serr, w);
			push_on(c, &ss, esp, ++n, c->seg[S_ES].sel, user, serr, w);
		}
		push_on(c, &ss, esp, ++n, c->seg[S_SS].sel, user, serr, w);
		push_on(c, &ss, esp, ++n, c->r.r32[R_ESP], user, serr, w);
		push_on(c, &ss, esp, ++n, flags, user, serr, w);
		push_on(c, &ss, esp, ++n, c->seg[S_CS].sel, user, serr, w);
		push_on(c, &ss, esp, ++n, ret_eip, user, serr, w);
		if (has_err)
			push_on(c, &ss, esp, ++n, err, user, serr, w);
		c->seg[S_SS] = ss;
		if (from_v86) {
			static const int data[] = { S_ES, S_DS, S_FS, S_GS };
			for (int k = 0; k < 4; k++) {
				memset(&c->seg[data[k]], 0, sizeof c->seg[data[k]]);
				c->seg[data[k]].unusable = 1;
			}
		}
		c->r.r32[R_ESP] = ss.db ? esp - w * (uint32_t)n
					: (esp & 0xffff0000u) | ((esp - w * (uint32_t)n) & 0xffff);
	} else {
		struct seg ss = c->seg[S_SS];
		uint32_t esp = c->r.r32[R_ESP];
		bool user = c->cpl == 3;
		int n = 0;
		push_on(c, &ss, esp, ++n, flags, user, 0, w);
		push_on(c, &ss, esp, ++n, c->seg[S_CS].sel, user, 0, w);
		push_on(c, &ss, esp, ++n, ret_eip, user, 0, w);
		if (has_err)
			push_on(c, &ss, esp, ++n, err, user, 0, w);
		sp_set(c, esp - w * (uint32_t)n);
	}
	desc_set_accessed(c, sel, d);
	cs.type |= 1;
	cs.sel = (uint16_t)((sel & ~3u) | (unsigned)new_cpl);
	c->seg[S_CS] = cs;
	c->eflags = flags & ~(EFLAGS_TF | EFLAGS_NT | EFLAGS_RF | EFLAGS_VM);
	/* INT n, INT3 and INTO enter their handler with TF clear and raise no
	 * single-step trap of their own (as QEMU and Bochs do). */
	if (kind == EV_SOFT_INT)
		c->db_inhibit = true;
	if ((type & 7) == 6) /* interrupt gate, not trap gate */
		c->eflags &= ~EFLAGS_IF;
	c->lf_op = LF_NONE;
	c->eip = target;
	c->halted = false;
	cpu_set_cpl(c, new_cpl);
	cpu_mode_changed(c);
}

void eflags_write(struct cpu *c, uint32_t v, uint32_t mask)
{
	uint32_t old = flags_get(c);
	c->eflags = (old & ~mask) | (v & mask) | EFLAGS_FIXED;
	c->lf_op = LF_NONE;
	c->irq_check = true;
}
