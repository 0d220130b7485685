/*
 * Which LDT slot backs a guest data segment under bt: slots are chosen by
 * what they describe, not by the guest's selector.
 *
 * trap must give each guest selector a fixed slot (native_slot_of): guest
 * code loads segment registers natively there, and a selector it pushed
 * must name the same segment when popped. bt is different: translated code
 * never loads a segment register and never sees a host selector (mov r,
 * sreg and push sreg are answered from the vCPU page, every load is a VMM
 * call), so the slot behind a guest segment is bt's own choice at each
 * entry. It is chosen by content: the native descriptor (base, limit as
 * clipped, type, size, presence) is looked up in a table of the slots
 * written so far, and a slot is written (modify_ldt, a host system call of
 * several thousand cycles that also makes the host reload its LDT) only
 * for a descriptor not seen before.
 *
 * That is what makes guest user/kernel switches cheap: a DPL-3 segment
 * (Linux's __USER_DS) has two native views, clipped below BT_USER_TOP
 * while guest user code runs and below the VMM window while the kernel
 * runs, and both stay written in two slots; the mode switch only picks
 * the other selector. A guest descriptor that changes is a different
 * content, hence another slot: no slot is ever rewritten under a segment
 * register that uses it, except when the pool is full and one is reused
 * (then every segment register is reloaded at the next entry: the CPU
 * keeps the descriptor it loaded).
 *
 * Slots BT_SLOT_FIRST..NATIVE_LDT_SLOTS-1 are the pool; the low ones stay
 * empty or are bt's own (BT_CODE_SLOT, BT_DATA_SLOT).
 */
#include <errno.h>
#include <string.h>

#include "bt_priv.h"

static uint32_t key_hash(const struct bt_slot_key *k)
{
	uint32_t h = k->base * 0x9e3779b1u;
	h ^= k->limit * 0x85ebca6bu;
	h ^= (uint32_t)k->type << 24 ^ (uint32_t)k->db << 28 ^ (uint32_t)k->present << 29;
	h ^= h >> 15;
	return h & (BT_SLOT_BUCKETS - 1);
}

static bool key_eq(const struct bt_slot_key *a, const struct bt_slot_key *b)
{
	return a->base == b->base && a->limit == b->limit && a->type == b->type &&
	       a->db == b->db && a->present == b->present;
}

/* Unlinks slot idx from its hash chain. */
static void slot_unlink(struct bt_slots *s, unsigned idx)
{
	uint16_t *p = &s->head[key_hash(&s->key[idx])];
	while (*p && *p != idx)
		p = &s->next[*p];
	if (*p == idx)
		*p = s->next[idx];
	s->next[idx] = 0;
	s->used[idx] = false;
}

/* The next slot to (re)use, round robin over the pool, never one of the
 * busy selectors (those the coming entry loads). */
static unsigned slot_victim(struct bt_slots *s, const uint16_t busy[SREG_COUNT])
{
	for (;;) {
		unsigned idx = s->clock++;
		if (s->clock >= NATIVE_LDT_SLOTS)
			s->clock = BT_SLOT_FIRST;
		bool taken = false;
		for (int r = 0; r < SREG_COUNT; r++)
			taken |= busy[r] == NATIVE_SEL(idx);
		if (!taken)
			return idx;
	}
}

void bt_slots_reset(struct bt_slots *s)
{
	memset(s, 0, sizeof *s);
	s->clock = BT_SLOT_FIRST;
}

int bt_slot_get(struct bt *t, const struct seg *g, uint32_t limit_max,
		const uint16_t busy[SREG_COUNT], uint16_t *sel)
{
	struct bt_slots *s = &t->slots;
	struct bt_slot_key k = {
		.base = g->base,
		.limit = g->limit < limit_max ? g->limit : limit_max,
		.type = g->type & 0xf,
		.db = g->db,
		.present = g->present && !g->unusable,
	};
	uint32_t h = key_hash(&k);
	for (unsigned idx = s->head[h]; idx; idx = s->next[idx])
		if (key_eq(&s->key[idx], &k)) {
			*sel = NATIVE_SEL(idx);
			return 0;
		}
	unsigned idx = slot_victim(s, busy);
	if (s->used[idx]) {
		slot_unlink(s, idx);
		/* A segment register may still hold this selector with the
		 * old descriptor (the CPU caches it): reload them all. */
		t->seg_reload = 0x3f;
		memset(t->seg_memo, 0, sizeof t->seg_memo);
		bt_segsites_drop(t); /* their host selectors may name it */
		t->n.slot_reuses++;
	}
	/* native_ldt_set clips the same way (its cache would skip the write
	 * if the slot already said this, which a fresh one never does). */
	if (native_ldt_set(&t->nh, idx, g, k.limit) < 0)
		return -1;
	t->n.slot_writes++;
	s->key[idx] = k;
	s->used[idx] = true;
	s->next[idx] = s->head[h];
	s->head[h] = (uint16_t)idx;
	*sel = NATIVE_SEL(idx);
	return 0;
}
