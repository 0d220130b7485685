/*
 * The task-state segment: hardware task switches and the I/O permission
 * bitmap.
 *
 * A task switch (SDM vol. 3, 8.3) is caused by a far JMP or CALL to a TSS
 * descriptor or a task gate, by an interrupt or exception through a task
 * gate in the IDT, or by IRET with EFLAGS.NT set (back to the task named
 * by the current TSS's back link). Only 32-bit TSSs are implemented; a
 * 16-bit TSS is counted as unimplemented and raises #GP.
 *
 * Order, so that a fault leaves a consistent machine:
 *   1. every check on the new TSS descriptor, and every read of the new
 *      TSS (faults here are the old task's, nothing has changed yet);
 *   2. the outgoing state is written to the old TSS, busy bits and the
 *      back link are updated;
 *   3. the new state is committed (TR, CR3, registers, EFLAGS, selectors),
 *      then LDTR and the segment registers are loaded with their checks:
 *      a fault there is raised in the new task (#TS with the selector),
 *      as on the hardware.
 */
#include "exec.h"

#define SEL_ERR(sel) ((uint32_t)((sel) & 0xfffc))

/* 32-bit TSS layout. */
#define TSS_LINK 0x00
#define TSS_CR3 0x1c
#define TSS_EIP 0x20
#define TSS_EFLAGS 0x24
#define TSS_GPR 0x28 /* eax ecx edx ebx esp ebp esi edi, 4 bytes each */
#define TSS_SREG 0x48 /* es cs ss ds fs gs, 4 bytes each */
#define TSS_LDT 0x60
#define TSS_IOMAP 0x66
#define TSS_MIN_LIMIT 0x67

#define TYPE_TSS32_AVAIL 0x9
#define TYPE_TSS32_BUSY 0xb
#define TYPE_TSS16_AVAIL 0x1
#define TYPE_TSS16_BUSY 0x3

struct tss_image {
	uint32_t cr3, eip, eflags, gpr[8];
	uint16_t sreg[SREG_COUNT], ldt;
};

static void tss_read(struct cpu *c, uint32_t base, struct tss_image *t)
{
	t->cr3 = sys_read(c, base + TSS_CR3, 4);
	t->eip = sys_read(c, base + TSS_EIP, 4);
	t->eflags = sys_read(c, base + TSS_EFLAGS, 4);
	for (int r = 0; r < 8; r++)
		t->gpr[r] = sys_read(c, base + TSS_GPR + 4u * (uint32_t)r, 4);
	for (int s = 0; s < SREG_COUNT; s++)
		t->sreg[s] = (uint16_t)sys_read(c, base + TSS_SREG + 4u * (uint32_t)s, 2);
	t->ldt = (uint16_t)sys_read(c, base + TSS_LDT, 2);
}

/* The dynamic fields of the outgoing task (the static ones, SS0-2, CR3,
 * LDT, the I/O map base, are never written by the CPU). */
static void tss_save(struct cpu *c, uint32_t base, uint32_t eip, uint32_t eflags)
{
	sys_write(c, base + TSS_EIP, 4, eip);
	sys_write(c, base + TSS_EFLAGS, 4, eflags);
	for (int r = 0; r < 8; r++)
		sys_write(c, base + TSS_GPR + 4u * (uint32_t)r, 4, c->r.r32[r]);
	for (int s = 0; s < SREG_COUNT; s++)
		sys_write(c, base + TSS_SREG + 4u * (uint32_t)s, 2, c->seg[s].sel);
}

/* Sets or clears the busy bit (type bit 1) of a TSS descriptor in the GDT. */
static void tss_set_busy(struct cpu *c, uint16_t sel, bool busy)
{
	uint32_t at = c->gdtr.base + (sel & ~7u) + 5;
	uint32_t access = sys_read(c, at, 1);
	access = busy ? access | 2u : access & ~2u;
	sys_write(c, at, 1, access);
}

static void task_load_ldt(struct cpu *c, uint16_t sel)
{
	memset(&c->ldtr, 0, sizeof c->ldtr);
	c->ldtr.sel = sel;
	if (!(sel & ~3u)) {
		c->ldtr.unusable = 1;
		return;
	}
	c->ldtr.unusable = 1; /* until it checks out: no descriptor read uses it */
	uint32_t d[2];
	if (sel & 4)
		cpu_raise(c, EXC_TS, SEL_ERR(sel));
	desc_read_or_fault(c, sel, d, EXC_TS, SEL_ERR(sel));
	struct seg sg;
	desc_to_seg(d, sel, &sg);
	if (sg.s || sg.type != 2)
		cpu_raise(c, EXC_TS, SEL_ERR(sel));
	if (!sg.present)
		cpu_raise(c, EXC_NP, SEL_ERR(sel));
	c->ldtr = sg;
}

/* CS of the new task: a present code segment; the CPL becomes its RPL. */
static void task_load_cs(struct cpu *c, uint16_t sel)
{
	if (!(sel & ~3u))
		cpu_raise(c, EXC_TS, 0);
	uint32_t d[2];
	desc_read_or_fault(c, sel, d, EXC_TS, SEL_ERR(sel));
	struct seg sg;
	desc_to_seg(d, sel, &sg);
	int rpl = sel & 3;
	if (!sg.s || !(sg.type & 8))
		cpu_raise(c, EXC_TS, SEL_ERR(sel));
	if ((sg.type & 4) ? sg.dpl > rpl : sg.dpl != rpl)
		cpu_raise(c, EXC_TS, SEL_ERR(sel));
	if (!sg.present)
		cpu_raise(c, EXC_NP, SEL_ERR(sel));
	desc_set_accessed(c, sel, d);
	seg_load_cs(c, sel, d, rpl);
}

/* The selectors are committed before they are checked, so that a #TS
 * raised while loading them is delivered in the new task with all of its
 * selectors visible (the handler, usually a task gate, repairs them). */
static void task_load_segments(struct cpu *c, const struct tss_image *t)
{
	for (int s = 0; s < SREG_COUNT; s++) {
		memset(&c->seg[s], 0, sizeof c->seg[s]);
		c->seg[s].sel = t->sreg[s];
		c->seg[s].unusable = 1;
	}
	c->seg[S_CS].unusable = 0;
	c->seg[S_CS].present = 1;
	c->seg[S_CS].s = 1;
	c->seg[S_CS].type = 0xb;
	c->seg[S_CS].limit = 0xffffffffu;
	c->seg[S_CS].db = 1;
	c->seg[S_SS] = c->seg[S_CS]; /* a usable placeholder, replaced below */
	c->seg[S_SS].sel = t->sreg[S_SS];
	c->seg[S_SS].type = 0x3;
	cpu_set_cpl(c, t->sreg[S_CS] & 3);
	cpu_mode_changed(c);
	task_load_ldt(c, t->ldt);
	if (t->eflags & EFLAGS_VM) {
		for (int s = 0; s < SREG_COUNT; s++)
			seg_load_real(c, s, t->sreg[s]);
		cpu_set_cpl(c, 3);
		cpu_mode_changed(c);
		return;
	}
	task_load_cs(c, t->sreg[S_CS]);
	seg_load_ss_checked(c, t->sreg[S_SS], c->cpl, EXC_TS);
	static const int data[] = { S_ES, S_DS, S_FS, S_GS };
	for (int k = 0; k < 4; k++)
		seg_load_data_checked(c, data[k], t->sreg[data[k]], EXC_TS);
	cpu_mode_changed(c);
}

void task_switch(struct cpu *c, uint16_t sel, enum task_reason why, uint32_t ret_eip,
		 bool has_err, uint32_t err, uint32_t ext)
{
	int vec = why == TASK_IRET ? EXC_TS : EXC_GP;
	if (sel & 4)
		cpu_raise(c, vec, SEL_ERR(sel) | ext);
	uint32_t d[2];
	desc_read_or_fault(c, sel, d, vec, SEL_ERR(sel) | ext);
	struct seg nt;
	desc_to_seg(d, sel, &nt);
	if (!nt.s && (nt.type == TYPE_TSS16_AVAIL || nt.type == TYPE_TSS16_BUSY)) {
		cpu_unimplemented(c, "16-bit TSS");
		cpu_raise(c, vec, SEL_ERR(sel) | ext);
	}
	unsigned want = why == TASK_IRET ? TYPE_TSS32_BUSY : TYPE_TSS32_AVAIL;
	if (nt.s || nt.type != want)
		cpu_raise(c, vec, SEL_ERR(sel) | ext);
	if (!nt.present)
		cpu_raise(c, EXC_NP, SEL_ERR(sel) | ext);
	if (nt.limit < TSS_MIN_LIMIT)
		cpu_raise(c, EXC_TS, SEL_ERR(sel) | ext);
	if (c->tr.unusable || c->tr.limit < TSS_MIN_LIMIT || c->tr.type != TYPE_TSS32_BUSY)
		cpu_raise(c, EXC_TS, SEL_ERR(c->tr.sel) | ext);

	struct tss_image t;
	tss_read(c, nt.base, &t);

	uint32_t old_flags = flags_get(c) | EFLAGS_FIXED;
	if (why == TASK_JMP || why == TASK_IRET)
		old_flags &= ~EFLAGS_NT;
	tss_save(c, c->tr.base, ret_eip, old_flags);
	if (why == TASK_JMP || why == TASK_IRET)
		tss_set_busy(c, c->tr.sel, false);
	if (why != TASK_IRET) {
		tss_set_busy(c, sel, true);
		if (why == TASK_CALL || why == TASK_INT) {
			sys_write(c, nt.base + TSS_LINK, 2, c->tr.sel);
			t.eflags |= EFLAGS_NT;
		}
	}

	/* Commit. */
	nt.type = TYPE_TSS32_BUSY;
	c->tr = nt;
	c->cr0 |= CR0_TS;
	if ((c->cr0 & CR0_PG) && t.cr3 != c->cr3)
		cr3_write(c, t.cr3);
	memcpy(c->r.r32, t.gpr, sizeof t.gpr);
	c->eip = t.eip;
	c->eflags = (t.eflags | EFLAGS_FIXED) & ~EFLAGS_RF;
	c->lf_op = LF_NONE;
	c->halted = false;
	c->irq_check = true;
	task_load_segments(c, &t);
	if (c->eip > c->seg[S_CS].limit)
		cpu_raise(c, EXC_GP, 0);
	if (has_err)
		push(c, 4, err);
}

void io_port_check(struct cpu *c, uint16_t port, unsigned size)
{
	if (cpu_real_mode(c) || (!cpu_v86_mode(c) && c->cpl <= cpu_iopl(c)))
		return;
	const struct seg *tr = &c->tr;
	if (tr->unusable || !tr->present || tr->s || (tr->type & 0xd) != TYPE_TSS32_AVAIL ||
	    tr->limit < TSS_MIN_LIMIT)
		cpu_raise(c, EXC_GP, 0);
	uint32_t map = sys_read(c, tr->base + TSS_IOMAP, 2);
	uint32_t at = map + port / 8u;
	/* Two bytes are always read: a port range may cross a byte. */
	if (at + 1 > tr->limit)
		cpu_raise(c, EXC_GP, 0);
	uint32_t bits = sys_read(c, tr->base + at, 2);
	uint32_t want = ((1u << size) - 1) << (port & 7);
	if (bits & want)
		cpu_raise(c, EXC_GP, 0);
}
