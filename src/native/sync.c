/*
 * Virtual CPU <-> native register and segment sync: see sync.h.
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "cpu/cpu.h"
#include "cpu/exec.h"
#include "native/sync.h"

static uint32_t clip_limit(const struct seg *g, uint32_t user_top)
{
	return g->base >= user_top ? 0 : user_top - 1 - g->base;
}

static void note_wide(struct native_host *h, unsigned idx, const struct seg *g)
{
	for (unsigned k = 0; k < h->nwide; k++)
		if (h->wide_idx[k] == idx) {
			h->wide_seg[k] = *g;
			return;
		}
	if (h->nwide == NATIVE_WIDE_MAX) {
		h->wide_overflow = true;
		return;
	}
	h->wide_idx[h->nwide] = (uint16_t)idx;
	h->wide_seg[h->nwide++] = *g;
}

/* Guest user code is about to run: no slot may still reach above
 * user_top. Slots written whole for the guest kernel are clipped again;
 * if there were too many to remember, every valid slot is (rare). */
static int sync_clip_wide(struct native_host *h, uint32_t user_top)
{
	for (unsigned k = 0; k < h->nwide; k++) {
		const struct seg *g = &h->wide_seg[k];
		if (native_ldt_set(h, h->wide_idx[k], g, clip_limit(g, user_top)) < 0)
			return -1;
	}
	h->nwide = 0;
	if (h->wide_overflow && h->ldt) {
		for (unsigned idx = 0; idx < NATIVE_LDT_SLOTS; idx++) {
			struct native_ldt_entry *e = &h->ldt[idx];
			uint32_t lim = e->pages ? (e->limit_raw << 12) | 0xfff : e->limit_raw;
			uint32_t gbase = e->base - h->base;
			uint32_t max = gbase >= user_top ? 0 : user_top - 1 - gbase;
			if (!e->valid || e->contents >= 2 || lim <= max) /* code: never wide */
				continue;
			struct seg g;
			memset(&g, 0, sizeof g);
			g.sel = e->guest_sel;
			g.base = gbase;
			g.limit = lim;
			g.type = (uint8_t)((e->contents << 2) | (e->ro ? 0 : 2));
			g.s = 1;
			g.dpl = 3;
			g.present = e->present;
			g.db = e->db;
			g.g = e->pages;
			if (native_ldt_set(h, idx, &g, max) < 0)
				return -1;
		}
		h->wide_overflow = false;
	}
	return 0;
}

int native_sync_to(struct native_host *h, struct cpu *c, uint32_t user_top,
		   struct native_regs *r, char *msg, size_t msg_len)
{
	if (c->cpl == 3 && (h->nwide || h->wide_overflow) && sync_clip_wide(h, user_top) < 0) {
		snprintf(msg, msg_len, "modify_ldt: %s", strerror(errno));
		return -1;
	}
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
		/* Clip user segments below user_top while guest user code
		 * runs. The guest kernel gets its user data segments whole:
		 * Linux runs its kernel with DS = ES = __USER_DS (DPL 3), and
		 * clipped, every access of its own data would fault and be
		 * emulated. Such a slot is remembered and clipped again on the
		 * way back to user mode (sync_clip_wide), also when no segment
		 * register holds it then, since the guest may have saved its
		 * selector and reload it natively. */
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
		} else if (c->cpl == 3) {
			limit_max = clip_limit(g, user_top);
		}
		unsigned idx = native_slot_of(g->sel);
		if (g->dpl == 3 && c->cpl != 3 && s != S_CS && g->limit > clip_limit(g, user_top))
			note_wide(h, idx, g);
		if (native_ldt_set(h, idx, g, limit_max) < 0) {
			snprintf(msg, msg_len, "modify_ldt: %s", strerror(errno));
			return -1;
		}
		r->sel[s] = NATIVE_SEL(idx);
	}
	return 0;
}

bool native_sync_enterable(const struct cpu *c)
{
	const struct seg *cs = &c->seg[S_CS], *ss = &c->seg[S_SS];
	if (!cs->present || cs->unusable || !cs->s || !(cs->type & 8) || c->eip > cs->limit)
		return false;
	if (ss->unusable || !ss->present || !ss->s || (ss->type & 8) || !(ss->type & 2))
		return false;
	static const int data_segs[] = { S_ES, S_DS, S_FS, S_GS };
	for (unsigned k = 0; k < 4; k++) {
		const struct seg *g = &c->seg[data_segs[k]];
		if (g->unusable || !g->present || !(g->sel & ~3u))
			continue; /* loaded as the null selector */
		if (!g->s || ((g->type & 8) && !(g->type & 2)))
			return false;
	}
	return true;
}

int native_sync_from(struct native_host *h, struct cpu *c, const struct native_regs *r)
{
	memcpy(c->r.r32, r->gpr, sizeof r->gpr);
	c->eip = r->eip;
	flags_materialize(c);
	/* TF too: a native POPF or IRET sets it at any CPL (the host then
	 * single-steps the guest, and the #DB handler must see TF pushed). */
	const uint32_t host_bits = EFLAGS_ARITH | EFLAGS_DF | EFLAGS_TF | EFLAGS_AC | EFLAGS_ID;
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
