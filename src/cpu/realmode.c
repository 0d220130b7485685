/*
 * Real-address mode and the parts of virtual-8086 mode that behave like
 * it: a segment register holds a paragraph number (base = selector << 4),
 * far transfers load CS without descriptor checks, and interrupts go
 * through the interrupt vector table (4-byte offset:segment entries at
 * IDTR.base, which LIDT may move, as on a 286 and later).
 *
 * Invariants:
 *   - In real mode the CPL is 0; in v8086 it is 3 (paging then applies
 *     user-mode protection to every access).
 *   - A real-mode load changes only the selector and the base, as QEMU
 *     and the hardware do: the limit and D/B survive from protected mode
 *     ("unreal mode"), so a guest that wants 64 KiB segments and 16-bit
 *     code loads them before it clears CR0.PE. The type becomes read/write
 *     data (a real-mode CS may be written through an override).
 *   - A v8086 load always yields a 64 KiB, 16-bit, DPL-3 segment.
 *   - A20 is always enabled: FFFF:FFFF reaches 0x10FFEF, nothing wraps at
 *     1 MiB.
 */
#include "exec.h"

void seg_load_real(struct cpu *c, int s, uint16_t sel)
{
	struct seg *sg = &c->seg[s];
	if (cpu_v86_mode(c)) {
		memset(sg, 0, sizeof *sg);
		sg->limit = 0xffff;
		sg->dpl = 3;
	} else {
		/* A segment nulled in protected mode holds no limit worth
		 * keeping: it gets the real-mode 64 KiB. */
		if (sg->unusable || !sg->present) {
			sg->limit = 0xffff;
			sg->db = 0;
			sg->g = 0;
		}
		sg->dpl = 0;
	}
	sg->sel = sel;
	sg->base = (uint32_t)sel << 4;
	sg->type = 0x3;
	sg->s = 1;
	sg->present = 1;
	sg->unusable = 0;
	seg_update_cache(c, s);
	if (s == S_CS)
		c->code16 = !sg->db;
	else if (s == S_SS)
		c->stack16 = !sg->db;
}

/* A 16-bit frame (FLAGS, CS, IP) on SS:SP (SS.B picks SP or ESP); the IVT
 * entry is read before anything is pushed. No error code in real mode. */
void real_deliver(struct cpu *c, int vec, enum event_kind kind, uint32_t ret_eip)
{
	uint32_t at = (uint32_t)vec * 4;
	if (at + 3 > c->idtr.limit)
		cpu_raise(c, EXC_GP, 0);
	uint32_t entry = sys_read(c, c->idtr.base + at, 4);
	uint32_t flags = flags_get(c);
	uint32_t sp = sp_get(c), mask = c->stack16 ? 0xffff : ~0u;
	/* Both ends of the 6-byte frame first: the writes then cannot fault. */
	mem_probe_write(c, S_SS, (sp - 2) & mask, 2);
	mem_probe_write(c, S_SS, (sp - 6) & mask, 2);
	mem_write(c, S_SS, (sp - 2) & mask, 2, flags);
	mem_write(c, S_SS, (sp - 4) & mask, 2, c->seg[S_CS].sel);
	mem_write(c, S_SS, (sp - 6) & mask, 2, ret_eip);
	sp_set(c, sp - 6);
	c->eflags = flags & ~(EFLAGS_IF | EFLAGS_TF | EFLAGS_AC | EFLAGS_RF);
	c->lf_op = LF_NONE;
	if (kind == EV_SOFT_INT)
		c->db_inhibit = true;
	seg_load_real(c, S_CS, (uint16_t)(entry >> 16));
	c->eip = entry & 0xffff;
	c->halted = false;
}

void real_far_jump(struct cpu *c, uint16_t sel, uint32_t off)
{
	if (off > c->seg[S_CS].limit)
		cpu_raise(c, EXC_GP, 0);
	seg_load_real(c, S_CS, sel);
	c->eip = off;
}

void real_far_call(struct cpu *c, unsigned n, uint16_t sel, uint32_t off, uint32_t ret)
{
	if (off > c->seg[S_CS].limit)
		cpu_raise(c, EXC_GP, 0);
	uint32_t sp = sp_get(c);
	uint32_t mask = c->stack16 ? 0xffff : ~0u;
	mem_write(c, S_SS, (sp - n) & mask, n, c->seg[S_CS].sel);
	mem_write(c, S_SS, (sp - 2 * n) & mask, n, ret);
	sp_set(c, sp - 2 * n);
	seg_load_real(c, S_CS, sel);
	c->eip = off;
}

void real_far_ret(struct cpu *c, unsigned n, uint32_t imm)
{
	uint32_t off = stack_peek(c, n, 0);
	uint16_t sel = (uint16_t)stack_peek(c, n, 1);
	if (off > c->seg[S_CS].limit)
		cpu_raise(c, EXC_GP, 0);
	sp_set(c, sp_get(c) + 2 * n + imm);
	seg_load_real(c, S_CS, sel);
	c->eip = off;
}

uint32_t eflags_writable(struct cpu *c, unsigned size);

/* Real mode: every flag but VM (and IOPL is writable at CPL 0). v8086 at
 * IOPL 3: CPL 3 rules, so IOPL and VM stay as they are. */
void real_iret(struct cpu *c, unsigned n)
{
	uint32_t off = stack_peek(c, n, 0);
	uint16_t sel = (uint16_t)stack_peek(c, n, 1);
	uint32_t fl = stack_peek(c, n, 2);
	if (off > c->seg[S_CS].limit)
		cpu_raise(c, EXC_GP, 0);
	sp_set(c, sp_get(c) + 3 * n);
	seg_load_real(c, S_CS, sel);
	c->eip = off;
	eflags_write(c, fl, eflags_writable(c, n) | (n == 4 ? EFLAGS_RF : 0));
}
