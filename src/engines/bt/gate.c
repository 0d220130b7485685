/*
 * INT n, IRET, a divide-by-zero #DE and the faults of adapted user
 * instructions: delivered or returned by the VMM without the core's
 * instruction pipeline, and most often without the core at all.
 *
 * A guest system call is two VMM calls that the core must do (int 0x80
 * from ring 3, iret back to it), an exception handler's return one. The
 * run loop knows from translation time which instruction an exit stands
 * for: a plain INT imm8 (vector, length), a plain 32-bit IRET, an adapted
 * div/idiv r32 (whose divisor register says whether it raises #DE); and
 * an adapted user instruction run by the core hands its fault back
 * (exc_return). For those the VMM calls the core's own idt_deliver or
 * cpu_iret directly, under a _setjmp of its own with the virtual CPU up
 * to its control registers saved (gate_undo): whatever the core raises
 * (a bad gate, #NP, a stack fault, #GP on a return CS; task gates and
 * nested tasks are excluded up front) restores that state and returns
 * false, and the run loop emulates the instruction the ordinary way,
 * which raises and delivers the guest's fault exactly as before.
 *
 * In front of that, the commonest cases go without the core: INT n or an
 * exception from ring 3 to a ring-0 handler, #DE from ring 0 to ring 0,
 * IRET from ring 0 to ring 0 or to ring 3. Each time the core has done
 * one, bt keeps its answer (the new CS and SS as loaded) with every guest
 * byte the answer depended on: the gate, the CS and SS descriptors,
 * TSS.SS0, the popped selectors. The next one compares those bytes, read
 * now from the guest's current tables through the core's TLB, and if all
 * are the same the result is the same: the same checks pass, the same
 * segments load (their accessed bits are already set, or the bytes would
 * differ). What the answer does not depend on is taken fresh each time:
 * TSS.ESP0, the pushed or popped EIP/ESP/EFLAGS, the stack's limits. A
 * TLB miss, a stack page not writable or holding code, a limit that
 * would be crossed, VM or NT: the core, as above. Soft INTs and
 * exceptions keep separate answers (only the former check the gate's
 * DPL).
 *
 * Runs only in the run loop (never in the signal callback).
 */
#include <setjmp.h>
#include <stddef.h>
#include <string.h>

#include "bt_priv.h"

/* What a raise can leave half changed when it unwinds out of the core's
 * delivery or return (a fault on the accessed-bit write after SS was
 * set, CR2 on a page fault): the virtual CPU up to its control
 * registers, restored before the ordinary emulation redoes the
 * instruction. Memory the core wrote (the new stack frame, an accessed
 * bit) is written again, or faults again, by the redo. */
#define GATE_STATE offsetof(struct cpu, cr3_loads)
struct gate_undo {
	unsigned char head[GATE_STATE];
};

static void gate_save(const struct cpu *c, struct gate_undo *u)
{
	memcpy(u->head, c, GATE_STATE);
}

static void gate_restore(struct cpu *c, const struct gate_undo *u)
{
	memcpy(c, u->head, GATE_STATE);
	cpu_set_cpl(c, c->cpl); /* the TLB pointer follows the CPL */
}

/* The gate for vector vec is a present 32-bit interrupt or trap gate: no
 * task gate (a task switch writes the old TSS before it can fault). */
static bool plain_gate(struct cpu *c, uint8_t vec)
{
	if ((uint32_t)vec * 8 + 7 > c->idtr.limit)
		return false;
	uint32_t g1 = sys_read(c, c->idtr.base + (uint32_t)vec * 8 + 4, 4);
	unsigned type = (g1 >> 8) & 0x1f;
	return (type == 0x0e || type == 0x0f) && (g1 & 0x8000);
}

/* The core's idt_deliver of vector vec through a plain gate (the return
 * EIP ret), under a _setjmp of its own: whatever it raises restores the
 * virtual CPU (gate_undo) and answers false, for the ordinary path to
 * redo. An exception is marked as being delivered meanwhile, as
 * cpu_handle_exception does (a fault now would be a double fault). */
static bool deliver_direct(struct cpu *c, uint8_t vec, uint32_t err, bool has_err,
			   enum event_kind kind, uint32_t ret)
{
	struct gate_undo u;
	gate_save(c, &u);
	if (_setjmp(c->jb)) {
		gate_restore(c, &u);
		c->delivering = -1;
		return false;
	}
	if (!plain_gate(c, vec))
		return false;
	if (kind == EV_EXCEPTION)
		c->delivering = vec;
	idt_deliver(c, vec, err, has_err, kind, ret);
	c->delivering = -1;
	return true;
}

/* A host pointer to n bytes of guest linear memory at lin, through the
 * core's supervisor TLB (RAM only), for reading or writing; NULL on a
 * miss, a page crossing, a page not writable, dirty-tracked or holding
 * code (its write entry is kept invalid). */
static uint8_t *sup_ptr(const struct cpu *c, uint32_t lin, unsigned n, bool write)
{
	if ((lin & 0xfffu) > 0x1000u - n)
		return NULL;
	const struct tlb_entry *e = &c->tlb_all[0][(lin >> 12) & (TLB_SIZE - 1)];
	uint32_t page = lin & ~0xfffu;
	if ((write ? e->tag_w : e->tag_r) != page)
		return NULL;
	return (uint8_t *)(e->addend + lin);
}

/* The guest descriptor sel names now, as bytes (false: beyond its table,
 * no LDT, not in the TLB). */
static bool desc_now(const struct cpu *c, uint16_t sel, uint32_t d[2])
{
	uint32_t base = c->gdtr.base, limit = c->gdtr.limit;
	if (sel & 4) {
		if (c->ldtr.unusable || !c->ldtr.present)
			return false;
		base = c->ldtr.base;
		limit = c->ldtr.limit;
	}
	if ((uint32_t)(sel & ~7u) + 7 > limit)
		return false;
	const uint8_t *p = sup_ptr(c, base + (sel & ~7u), 8, false);
	if (!p)
		return false;
	memcpy(d, p, 8);
	return true;
}

static bool desc_same(const struct cpu *c, uint16_t sel, const uint32_t want[2])
{
	uint32_t d[2];
	return desc_now(c, sel, d) && d[0] == want[0] && d[1] == want[1];
}

/* TSS.ESP0 and TSS.SS0 (the checks of tss_stack_for that do not depend on
 * the bytes compared). */
static bool tss_ring0(const struct cpu *c, uint32_t *esp0, uint16_t *ss0)
{
	if (c->tr.unusable || 4 + 5 > c->tr.limit)
		return false;
	const uint8_t *p = sup_ptr(c, c->tr.base + 4, 6, false);
	if (!p)
		return false;
	memcpy(esp0, p, 4);
	memcpy(ss0, p + 4, 2);
	return true;
}

/* An expand-up 32-bit stack segment: offsets [off, off + n) inside it. */
static bool stack_fits(const struct seg *ss, uint32_t off, uint32_t n)
{
	return ss->db && !(ss->type & 4) && off <= ss->limit && ss->limit - off >= n - 1;
}

static void load_cs_ss(struct cpu *c, const struct seg *cs, const struct seg *ss, int cpl)
{
	c->seg[S_CS] = *cs;
	seg_update_cache(c, S_CS);
	c->code16 = !cs->db;
	if (ss) {
		c->seg[S_SS] = *ss;
		seg_update_cache(c, S_SS);
		c->stack16 = !ss->db;
	}
	cpu_set_cpl(c, cpl);
}

/* INT n (soft: t->gates->intc) or an exception (t->gates->excu: no gate DPL check,
 * maybe an error code) from ring 3 with the kept answer k for vector vec;
 * ret_eip is the EIP pushed. */
static bool ring0_cached(struct bt *t, const struct bt_intcache *k, uint8_t vec, uint32_t ret_eip,
			 bool has_err, uint32_t err)
{
	struct cpu *c = &t->cpu;
	if (!k->valid || c->cpl != 3 || (uint32_t)vec * 8 + 7 > c->idtr.limit)
		return false;
	const uint8_t *g = sup_ptr(c, c->idtr.base + (uint32_t)vec * 8, 8, false);
	uint32_t esp0;
	uint16_t ss0;
	if (!g || memcmp(g, k->gate, 8) || !desc_same(c, (uint16_t)(k->gate[0] >> 16), k->cs_d) ||
	    !tss_ring0(c, &esp0, &ss0) || ss0 != k->ss.sel || !desc_same(c, ss0, k->ss_d))
		return false;
	uint32_t n = has_err ? 24 : 20;
	if (esp0 < n || !stack_fits(&k->ss, esp0 - n, n))
		return false;
	uint8_t *w = sup_ptr(c, k->ss.base + esp0 - n, n, true);
	if (!w)
		return false;
	uint32_t flags = flags_get(c);
	const uint32_t frame[6] = { err, ret_eip, c->seg[S_CS].sel, flags, c->r.r32[R_ESP],
				    c->seg[S_SS].sel };
	memcpy(w, has_err ? frame : frame + 1, n);
	c->r.r32[R_ESP] = esp0 - n;
	load_cs_ss(c, &k->cs, &k->ss, 0);
	c->eflags = flags & ~(EFLAGS_TF | EFLAGS_NT | EFLAGS_RF | EFLAGS_VM);
	if (((k->gate[1] >> 8) & 7) == 6) /* interrupt gate, not trap gate */
		c->eflags &= ~EFLAGS_IF;
	c->lf_op = LF_NONE;
	c->eip = (k->gate[0] & 0xffff) | (k->gate[1] & 0xffff0000u);
	c->halted = false;
	return true;
}

/* The core delivered vector vec from ring 3 to ring 0: keep its answer
 * in k. */
static void ring0_fill(struct bt *t, struct bt_intcache *k, uint8_t vec)
{
	struct cpu *c = &t->cpu;
	k->valid = false;
	const uint8_t *g = sup_ptr(c, c->idtr.base + (uint32_t)vec * 8, 8, false);
	uint32_t esp0;
	uint16_t ss0;
	if (!g || !tss_ring0(c, &esp0, &ss0) || ss0 != c->seg[S_SS].sel)
		return;
	memcpy(k->gate, g, 8);
	if (((k->gate[1] >> 8) & 0x1f) != 0x0e && ((k->gate[1] >> 8) & 0x1f) != 0x0f)
		return;
	if (!desc_now(c, (uint16_t)(k->gate[0] >> 16), k->cs_d) || !desc_now(c, ss0, k->ss_d))
		return;
	k->cs = c->seg[S_CS];
	k->ss = c->seg[S_SS];
	k->valid = k->ss.db && !(k->ss.type & 4);
}

/* IRET at ring 0 with a cached answer: to ring 0 (an exception handler's
 * return) or to ring 3 (a system call's). */
static bool iret_cached(struct bt *t)
{
	struct cpu *c = &t->cpu;
	const struct seg *ss = &c->seg[S_SS];
	uint32_t esp = c->r.r32[R_ESP];
	if (c->cpl != 0 || !stack_fits(ss, esp, 20))
		return false;
	const uint8_t *p = sup_ptr(c, ss->base + esp, 20, false);
	if (!p)
		return false;
	uint32_t f[5];
	memcpy(f, p, sizeof f);
	uint32_t eip = f[0], fl = f[2];
	uint16_t cs_sel = (uint16_t)f[1];
	if (fl & EFLAGS_VM)
		return false;
	/* what IRET may change at CPL 0 (eflags_writable, 32-bit) */
	const uint32_t mask = EFLAGS_ARITH | EFLAGS_TF | EFLAGS_DF | EFLAGS_NT | EFLAGS_AC |
			      EFLAGS_ID | EFLAGS_IOPL | EFLAGS_IF | EFLAGS_RF;
	if ((cs_sel & 3) == 0) {
		const struct bt_iretcache *k = &t->gates->iret_same;
		if (!k->valid || cs_sel != k->cs.sel || !desc_same(c, cs_sel, k->cs_d) ||
		    eip > k->cs.limit)
			return false;
		c->r.r32[R_ESP] = esp + 12;
		load_cs_ss(c, &k->cs, NULL, 0);
	} else if ((cs_sel & 3) == 3) {
		const struct bt_iretcache *k = &t->gates->iret_user;
		uint16_t ss_sel = (uint16_t)f[4];
		if (!k->valid || cs_sel != k->cs.sel || ss_sel != k->ss.sel ||
		    !desc_same(c, cs_sel, k->cs_d) || !desc_same(c, ss_sel, k->ss_d) ||
		    eip > k->cs.limit)
			return false;
		c->r.r32[R_ESP] = f[3];
		load_cs_ss(c, &k->cs, &k->ss, 3);
		seg_null_if_unusable(c, 3);
	} else {
		return false;
	}
	c->eip = eip;
	eflags_write(c, fl, mask);
	return true;
}

/* The core did an IRET from ring 0 (to ring 0 or 3): keep its answer. */
static void iret_fill(struct bt *t)
{
	struct cpu *c = &t->cpu;
	if (c->eflags & EFLAGS_VM)
		return;
	struct bt_iretcache *k = c->cpl == 3 ? &t->gates->iret_user : &t->gates->iret_same;
	k->valid = false;
	if (!desc_now(c, c->seg[S_CS].sel, k->cs_d))
		return;
	k->cs = c->seg[S_CS];
	if (c->cpl == 3) {
		if (!desc_now(c, c->seg[S_SS].sel, k->ss_d) || !c->seg[S_SS].db)
			return;
		k->ss = c->seg[S_SS];
	}
	k->valid = true;
}

/* A divide error at ring 0 delivered to a ring-0 handler (no stack
 * switch) with the core's last answer, same byte checks as for INT. */
static bool divzero_cached(struct bt *t)
{
	struct cpu *c = &t->cpu;
	const struct bt_intcache *k = &t->gates->de_same;
	if (!k->valid || c->idtr.limit < 7)
		return false;
	const uint8_t *g = sup_ptr(c, c->idtr.base, 8, false);
	if (!g || memcmp(g, k->gate, 8) || !desc_same(c, k->cs.sel, k->cs_d))
		return false;
	const struct seg *ss = &c->seg[S_SS];
	uint32_t esp = c->r.r32[R_ESP];
	if (esp < 12 || !stack_fits(ss, esp - 12, 12))
		return false;
	uint8_t *w = sup_ptr(c, ss->base + esp - 12, 12, true);
	if (!w)
		return false;
	uint32_t flags = flags_get(c);
	const uint32_t frame[3] = { c->eip, c->seg[S_CS].sel, flags };
	memcpy(w, frame, sizeof frame);
	c->r.r32[R_ESP] = esp - 12;
	load_cs_ss(c, &k->cs, NULL, 0);
	c->eflags = flags & ~(EFLAGS_TF | EFLAGS_NT | EFLAGS_RF | EFLAGS_VM);
	if (((k->gate[1] >> 8) & 7) == 6)
		c->eflags &= ~EFLAGS_IF;
	c->lf_op = LF_NONE;
	c->eip = (k->gate[0] & 0xffff) | (k->gate[1] & 0xffff0000u);
	c->halted = false;
	return true;
}

/* The core delivered #DE at ring 0 to a ring-0 handler: keep its answer. */
static void divzero_fill(struct bt *t)
{
	struct cpu *c = &t->cpu;
	struct bt_intcache *k = &t->gates->de_same;
	k->valid = false;
	const uint8_t *g = sup_ptr(c, c->idtr.base, 8, false);
	const struct seg *cs = &c->seg[S_CS];
	if (!g || c->cpl != 0 || (cs->type & 4) || cs->dpl != 0 || !desc_now(c, cs->sel, k->cs_d))
		return;
	memcpy(k->gate, g, 8);
	k->cs = *cs;
	k->valid = (uint16_t)(k->gate[0] >> 16) == cs->sel;
}

/* An adapted div/idiv r32 at ring 0 whose divisor register reg is 0: the
 * CPU raises #DE, whatever the dividend. Delivered with the kept answer,
 * or by the core's idt_deliver directly (as for INT: a fault during the
 * delivery, a double fault among them, goes back to the ordinary path).
 * A divisor that is not 0: false, the core divides. */
bool bt_gate_divzero(struct bt *t, uint8_t reg)
{
	struct cpu *c = &t->cpu;
	if (c->r.r32[reg] != 0 || c->cpl != 0 || c->delivering >= 0)
		return false;
	if (divzero_cached(t)) {
		t->n.cached_gates++;
		return true;
	}
	if (!deliver_direct(c, EXC_DE, 0, false, EV_EXCEPTION, c->eip))
		return false;
	if (c->cpl == 0)
		divzero_fill(t);
	return true;
}

bool bt_gate_int(struct bt *t, uint8_t vec, uint32_t len)
{
	struct cpu *c = &t->cpu;
	if (ring0_cached(t, &t->gates->intc[vec], vec, c->eip + len, false, 0)) {
		c->insns++;
		t->n.cached_gates++;
		return true;
	}
	int cpl = c->cpl;
	if (!deliver_direct(c, vec, 0, false, EV_SOFT_INT, c->eip + len))
		return false;
	c->db_inhibit = false; /* TF is clear here (native_ok): nothing to inhibit */
	c->insns++;
	if (cpl == 3 && c->cpl == 0)
		ring0_fill(t, &t->gates->intc[vec], vec);
	return true;
}

bool bt_gate_iret(struct bt *t, uint32_t len)
{
	struct cpu *c = &t->cpu;
	if (c->eflags & EFLAGS_NT)
		return false; /* a task return */
	if (iret_cached(t)) {
		c->insns++;
		t->n.cached_gates++;
		return true;
	}
	volatile int cpl = c->cpl; /* volatile for -Wclobbered (read only when no longjmp came) */
	struct gate_undo u;
	gate_save(c, &u);
	if (_setjmp(c->jb)) {
		gate_restore(c, &u);
		return false;
	}
	cpu_iret(c, 4, len);
	c->insns++;
	if (cpl == 0)
		iret_fill(t);
	return true;
}

/* The core handed back an exception (exc_return) raised by an instruction
 * of guest user code: deliver it into its ring-0 handler, with the kept
 * answer or by the core's idt_deliver directly. False (nothing changed
 * but the fault's own state): the caller redoes the instruction. */
bool bt_gate_exception(struct bt *t)
{
	struct cpu *c = &t->cpu;
	int vec = c->exc_vec;
	uint32_t err = c->exc_err;
	bool has_err = c->exc_has_err;
	if (vec < 0 || vec >= 32 || c->cpl != 3 || c->delivering >= 0)
		return false;
	struct bt_intcache *k = &t->gates->excu[vec];
	if (ring0_cached(t, k, (uint8_t)vec, c->eip, has_err, err)) {
		t->n.cached_gates++;
		return true;
	}
	if (!deliver_direct(c, (uint8_t)vec, err, has_err, EV_EXCEPTION, c->eip))
		return false;
	if (c->cpl == 0)
		ring0_fill(t, k, (uint8_t)vec);
	return true;
}
