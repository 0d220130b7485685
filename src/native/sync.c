/*
 * Virtual CPU <-> native register and segment sync: see sync.h.
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "cpu/cpu.h"
#include "cpu/exec.h"
#include "native/sync.h"

int native_sync_to(struct native_host *h, struct cpu *c, uint32_t user_top,
		   struct native_regs *r, char *msg, size_t msg_len)
{
	flags_materialize(c);
	memcpy(r->gpr, c->r.r32, sizeof r->gpr);
	r->eip = c->eip;
	r->eflags = c->eflags;
	for (int s = 0; s < SREG_COUNT; s++) {
		const struct seg *g = &c->seg[s];
		if (g->unusable || (!g->present && s != S_CS && s != S_SS) || !(g->sel & ~3u)) {
			r->sel[s] = 0;
			continue;
		}
		/* Clip user segments (DPL 3) below user_top, whatever the CPL:
		 * a slot must describe its guest selector the same way in both
		 * modes, since the guest may save and restore it natively. */
		uint32_t limit_max = 0xffffffffu;
		struct seg flat_cs;
		if (s == S_CS && (g->dpl == 3 || c->cpl == 3)) {
			/* User code: the guest's own limit, execute-only (a CS
			 * override read faults and is emulated), so nothing of
			 * the kernel half is readable through it; the kernel's
			 * pages are not executable then (shadow_note_mode). */
			flat_cs = *g;
			flat_cs.type &= ~2u;
			g = &flat_cs;
		} else if (g->dpl == 3 || c->cpl == 3) {
			limit_max = g->base >= user_top ? 0 : user_top - 1 - g->base;
		}
		unsigned idx = native_slot_of(g->sel);
		if (native_ldt_set(h, idx, g, limit_max) < 0) {
			snprintf(msg, msg_len, "modify_ldt: %s", strerror(errno));
			return -1;
		}
		r->sel[s] = NATIVE_SEL(idx);
	}
	return 0;
}

int native_sync_from(struct native_host *h, struct cpu *c, const struct native_regs *r)
{
	memcpy(c->r.r32, r->gpr, sizeof r->gpr);
	c->eip = r->eip;
	flags_materialize(c);
	const uint32_t host_bits = EFLAGS_ARITH | EFLAGS_DF | EFLAGS_AC | EFLAGS_ID;
	c->eflags = (c->eflags & ~host_bits) | (r->eflags & host_bits);
	static const int data_segs[] = { S_ES, S_SS, S_DS, S_FS, S_GS };
	for (unsigned k = 0; k < 5; k++) {
		int s = data_segs[k];
		const struct seg *g = &c->seg[s];
		uint16_t hs = r->sel[s];
		uint16_t want = 0;
		if (!g->unusable && (g->present || s == S_SS) && (g->sel & ~3u))
			want = NATIVE_SEL(native_slot_of(g->sel));
		if (hs == want)
			continue;
		/* Which guest selector the guest loaded: one of our slots (it
		 * restored a saved register), or a selector of the host's GDT
		 * that loaded without faulting, taken as the guest's own. */
		uint16_t gs = hs;
		if (!hs)
			gs = 0;
		else if ((hs & 4) && h->ldt && NATIVE_SLOT_OF_SEL(hs) < NATIVE_LDT_SLOTS &&
			 h->ldt[NATIVE_SLOT_OF_SEL(hs)].valid)
			gs = h->ldt[NATIVE_SLOT_OF_SEL(hs)].guest_sel;
		if (gs == g->sel && !(gs & ~3u))
			continue;
		volatile int vs = s;
		volatile uint16_t vgs = gs;
		switch (_setjmp(c->jb)) {
		case 0:
			seg_load(c, vs, vgs);
			break;
		case 1:
			cpu_handle_exception(c);
			if (c->exit >= 0)
				return c->exit;
			break;
		default:
			return c->exit;
		}
	}
	return -1;
}
