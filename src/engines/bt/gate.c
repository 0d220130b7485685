/*
 * INT n and IRET of translated code, straight into the core's delivery and
 * return, without the core's instruction pipeline.
 *
 * A guest system call is two VMM calls that the core must do (int 0x80
 * from ring 3, iret back to it), and an exception handler's return one
 * (iret). The run loop already knows, from translation time, which
 * instruction the exit stands for: a plain INT imm8 (its vector, its
 * length) or a plain 32-bit IRET. For those the VMM calls the core's own
 * idt_deliver / cpu_iret directly, under a _setjmp of its own: whatever
 * the core would raise (a bad gate, #NP, a stack fault, #GP on a return
 * CS, a task gate or nested task, V86) makes these return false before
 * the virtual CPU changed, and the run loop then emulates the instruction
 * the ordinary way, which raises and delivers the guest's fault exactly
 * as before. Saved: the instruction-cache check, cpu_run's set-up, the
 * decoded-block lookup and dispatch; the semantics are the core's.
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

bool bt_gate_int(struct bt *t, uint8_t vec, uint32_t len)
{
	struct cpu *c = &t->cpu;
	struct gate_undo u;
	gate_save(c, &u);
	if (_setjmp(c->jb)) {
		gate_restore(c, &u);
		return false;
	}
	if (!plain_gate(c, vec))
		return false;
	idt_deliver(c, vec, 0, false, EV_SOFT_INT, c->eip + len);
	c->db_inhibit = false; /* TF is clear here (native_ok): nothing to inhibit */
	c->insns++;
	return true;
}

bool bt_gate_iret(struct bt *t, uint32_t len)
{
	struct cpu *c = &t->cpu;
	if (c->eflags & EFLAGS_NT)
		return false; /* a task return */
	struct gate_undo u;
	gate_save(c, &u);
	if (_setjmp(c->jb)) {
		gate_restore(c, &u);
		return false;
	}
	cpu_iret(c, 4, len);
	c->insns++;
	return true;
}
