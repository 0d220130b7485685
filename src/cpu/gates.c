/*
 * Far JMP and CALL whose selector names a system descriptor: a TSS or a
 * task gate (a task switch, task.c) or a call gate (a controlled entry to
 * a code segment, at a more privileged level for CALL, with a stack
 * switch from the TSS and the gate's parameter count copied from the old
 * stack to the new one). The return is an ordinary far RET (exec_branch.c),
 * which pops SS:ESP when it goes back to an outer level.
 *
 * Everything that can fault is read or written before CS, SS, ESP or the
 * CPL change, so a fault is raised in the caller's context.
 */
#include "exec.h"

#define SEL_ERR(sel) ((uint32_t)((sel) & 0xfffc))

#define TYPE_TSS16 0x1
#define TYPE_TASK_GATE 0x5
#define TYPE_CALL_GATE16 0x4
#define TYPE_TSS32 0x9
#define TYPE_CALL_GATE32 0xc

/* The gate or TSS must be reachable from this CPL and the selector's RPL. */
static void check_dpl(struct cpu *c, uint16_t sel, unsigned dpl)
{
	if (dpl < c->cpl || dpl < (sel & 3u))
		cpu_raise(c, EXC_GP, SEL_ERR(sel));
}

/* Writes n bytes at ESP - off on a stack segment that is not SS yet. */
static void new_stack_write(struct cpu *c, const struct seg *ss, uint32_t esp, uint32_t off,
			    unsigned n, uint32_t v, uint16_t ss_sel)
{
	uint32_t at = esp - off;
	if (!ss->db)
		at &= 0xffff;
	bool expand_down = !(ss->type & 8) && (ss->type & 4);
	bool ok = expand_down ? at > ss->limit : (uint64_t)at + n - 1 <= ss->limit;
	if (!ok)
		cpu_raise(c, EXC_SS, SEL_ERR(ss_sel));
	lin_write_slow(c, ss->base + at, n, v, false); /* an inner stack: supervisor */
}

#define GATE_PARAMS_MAX 31

/* CALL to a more privileged non-conforming segment: the new stack gets
 * the caller's SS and ESP, the gate's parameters in their order, then the
 * caller's CS and EIP. */
static void call_gate_inner(struct cpu *c, uint16_t cs_sel, uint32_t cs_d[2],
			    const struct seg *cs, uint32_t target, unsigned n, unsigned params,
			    uint32_t ret)
{
	uint16_t ss_sel;
	uint32_t esp;
	struct seg ss;
	tss_stack_for(c, cs->dpl, 0, &ss_sel, &esp, &ss);
	uint32_t param[GATE_PARAMS_MAX];
	uint32_t old_sp = sp_get(c), mask = c->stack16 ? 0xffff : ~0u;
	for (unsigned k = 0; k < params; k++)
		param[k] = mem_read(c, S_SS, (old_sp + k * n) & mask, n);
	uint32_t off = 0;
	new_stack_write(c, &ss, esp, off += n, n, c->seg[S_SS].sel, ss_sel);
	new_stack_write(c, &ss, esp, off += n, n, c->r.r32[R_ESP], ss_sel);
	for (unsigned k = params; k-- > 0;)
		new_stack_write(c, &ss, esp, off += n, n, param[k], ss_sel);
	new_stack_write(c, &ss, esp, off += n, n, c->seg[S_CS].sel, ss_sel);
	new_stack_write(c, &ss, esp, off += n, n, ret, ss_sel);
	desc_set_accessed(c, cs_sel, cs_d);
	c->seg[S_SS] = ss;
	c->r.r32[R_ESP] = ss.db ? esp - off : (esp & 0xffff0000u) | ((esp - off) & 0xffff);
	seg_load_cs(c, cs_sel, cs_d, cs->dpl);
	c->eip = target;
}

static void call_gate(struct cpu *c, uint16_t gsel, const uint32_t g[2], bool is_call,
		      uint32_t ret)
{
	unsigned type = (g[1] >> 8) & 0xf;
	check_dpl(c, gsel, (g[1] >> 13) & 3);
	if (!(g[1] & 0x8000))
		cpu_raise(c, EXC_NP, SEL_ERR(gsel));
	unsigned n = type == TYPE_CALL_GATE32 ? 4 : 2;
	uint32_t target = (g[0] & 0xffff) | (n == 4 ? g[1] & 0xffff0000u : 0);
	unsigned params = g[1] & 0x1f;
	uint16_t sel = (uint16_t)(g[0] >> 16);
	if (!(sel & ~3u))
		cpu_raise(c, EXC_GP, 0);
	uint32_t d[2];
	desc_read_or_fault(c, sel, d, EXC_GP, SEL_ERR(sel));
	struct seg cs;
	desc_to_seg(d, sel, &cs);
	if (!cs.s || !(cs.type & 8) || cs.dpl > c->cpl)
		cpu_raise(c, EXC_GP, SEL_ERR(sel));
	bool conforming = cs.type & 4;
	if (!is_call && !conforming && cs.dpl != c->cpl)
		cpu_raise(c, EXC_GP, SEL_ERR(sel));
	if (!cs.present)
		cpu_raise(c, EXC_NP, SEL_ERR(sel));
	if (target > cs.limit)
		cpu_raise(c, EXC_GP, 0);
	if (is_call && !conforming && cs.dpl < c->cpl) {
		call_gate_inner(c, sel, d, &cs, target, n, params, ret);
		return;
	}
	if (is_call) {
		uint32_t sp = sp_get(c), mask = c->stack16 ? 0xffff : ~0u;
		mem_probe_write(c, S_SS, (sp - 2 * n) & mask, n);
		mem_write(c, S_SS, (sp - n) & mask, n, c->seg[S_CS].sel);
		mem_write(c, S_SS, (sp - 2 * n) & mask, n, ret);
		sp_set(c, sp - 2 * n);
	}
	desc_set_accessed(c, sel, d);
	seg_load_cs(c, sel, d, c->cpl);
	c->eip = target;
}

void far_to_system(struct cpu *c, uint16_t sel, const uint32_t d[2], bool is_call,
		   uint32_t ret_eip)
{
	unsigned type = (d[1] >> 8) & 0xf;
	unsigned dpl = (d[1] >> 13) & 3;
	enum task_reason why = is_call ? TASK_CALL : TASK_JMP;
	switch (type) {
	case TYPE_CALL_GATE32:
	case TYPE_CALL_GATE16:
		call_gate(c, sel, d, is_call, ret_eip);
		return;
	case TYPE_TSS32:
	case TYPE_TSS16:
		check_dpl(c, sel, dpl);
		task_switch(c, sel, why, ret_eip, false, 0, 0);
		return;
	case TYPE_TASK_GATE:
		check_dpl(c, sel, dpl);
		if (!(d[1] & 0x8000))
			cpu_raise(c, EXC_NP, SEL_ERR(sel));
		task_switch(c, (uint16_t)(d[0] >> 16), why, ret_eip, false, 0, 0);
		return;
	default: /* busy TSS, LDT, interrupt or trap gate */
		cpu_raise(c, EXC_GP, SEL_ERR(sel));
	}
}
