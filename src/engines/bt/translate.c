/*
 * Translation: guest basic blocks into the translation cache, the block
 * map (guest linear address -> translation), chaining, invalidation.
 *
 * A block runs to the first control transfer or sensitive instruction, at
 * most BT_BLOCK_MAX_INSNS instructions, and never leaves its guest page (so
 * one write-protected page covers it). Innocuous instructions are copied
 * byte for byte. Every way out of a block is an exit stub:
 *
 *     E9 rel32            jmp: 0 at first (falls through), patched to the
 *                         target's translation once known (chaining)
 *     EA off32 33 00      ljmp 0x33:snippet (compatibility -> 64-bit mode)
 *   snippet (64-bit):
 *     C7 05 d32 id        mov dword [rip+d32], id   (bt_vpage.exit_id)
 *     FF 25 d32           jmp [rip+d32]             (bt_vpage.exit64)
 *
 * Only the VMM chooses the selector of every far jump emitted, and nothing
 * emitted loads a segment register. Every cache address where a signal can
 * land (the start of each emitted instruction) is recorded with the guest
 * EIP whose exact state the registers hold there (bt_pc), so a fault or a
 * kick inside translated code maps back to precise guest state.
 *
 * Runs only in the run loop, never in a signal handler.
 */
#include <stdlib.h>
#include <string.h>

#include "bt_priv.h"
#include "cpu/insn.h"
#include "vm/vm.h"

static inline uint8_t *host_ptr(uint32_t a)
{
	return (uint8_t *)(uintptr_t)a;
}

static void put32(uint8_t *p, uint32_t v)
{
	memcpy(p, &v, 4);
}

static bool grow(void **v, size_t *cap, size_t n, size_t elem)
{
	if (n < *cap)
		return true;
	size_t nc = *cap ? *cap * 2 : 1024;
	void *p = realloc(*v, nc * elem);
	if (!p)
		return false;
	*v = p;
	*cap = nc;
	return true;
}

static unsigned hash_of(uint32_t lin, bool user)
{
	return ((lin ^ (lin >> BT_HASH_BITS)) ^ (user ? 0x2345u : 0)) & ((1u << BT_HASH_BITS) - 1);
}

struct bt_block *bt_lookup(struct bt *t, uint32_t lin, uint32_t cs_base, bool user)
{
	for (struct bt_block *b = t->hash[hash_of(lin, user)]; b; b = b->hnext)
		if (b->lin == lin && b->cs_base == cs_base && b->user == user)
			return b;
	return NULL;
}

const struct bt_pc *bt_pc_find(const struct bt *t, uint32_t host)
{
	size_t lo = 0, hi = t->npcs;
	while (lo < hi) {
		size_t mid = (lo + hi) / 2;
		if (t->pcs[mid].host < host)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo < t->npcs && t->pcs[lo].host == host ? &t->pcs[lo] : NULL;
}

/* Drops every translation (cache full, paging changed). */
void bt_flush(struct bt *t)
{
	for (size_t k = 0; k < t->ncode_pages; k++)
		shadow_code_set(&t->sh, (uint64_t)t->code_pages[k] << 12, false);
	t->ncode_pages = 0;
	memset(t->hash, 0, sizeof t->hash);
	memset(t->page_blocks, 0, (t->cpu.ram_size >> 12) * sizeof *t->page_blocks);
	t->nblocks = 0;
	t->npcs = 0;
	t->nexits = 0;
	t->cache_used = BT_CACHE;
	t->chain_from = -1;
	t->n.flushes++;
}

/* --- emission --- */

struct emit {
	struct bt *t;
	uint8_t *p;
	bool oom;
};

static uint32_t here(const struct emit *e)
{
	return (uint32_t)(uintptr_t)e->p;
}

static void pc_add(struct emit *e, uint32_t eip)
{
	struct bt *t = e->t;
	if (!grow((void **)&t->pcs, &t->cappcs, t->npcs, sizeof *t->pcs)) {
		e->oom = true;
		return;
	}
	t->pcs[t->npcs++] = (struct bt_pc){ here(e), eip };
}

static int exit_new(struct emit *e, uint32_t eip, uint8_t kind, uint8_t why)
{
	struct bt *t = e->t;
	if (!grow((void **)&t->exits, &t->capexits, t->nexits, sizeof *t->exits)) {
		e->oom = true;
		return 0;
	}
	t->exits[t->nexits] = (struct bt_exit){ eip, kind, why, 0 };
	return (int)t->nexits++;
}

/* An exit stub leaving translated code with the guest at eip. */
static void emit_exit(struct emit *e, uint32_t eip, uint8_t kind, uint8_t why)
{
	int id = exit_new(e, eip, kind, why);
	if (kind == EX_BRANCH) {
		pc_add(e, eip);
		e->t->exits[id].jmp_at = here(e);
		e->p[0] = 0xe9;
		put32(e->p + 1, 0);
		e->p += 5;
	}
	pc_add(e, eip);
	uint32_t snippet = here(e) + 7;
	e->p[0] = 0xea;
	put32(e->p + 1, snippet);
	e->p[5] = 0x33;
	e->p[6] = 0;
	e->p += 7;
	/* 64-bit: RIP-relative, since a disp32 absolute address above 2 GiB
	 * would be sign-extended. */
	e->p[0] = 0xc7;
	e->p[1] = 0x05;
	put32(e->p + 2, BT_VPAGE + offsetof(struct bt_vpage, exit_id) - (here(e) + 10));
	put32(e->p + 6, (uint32_t)id);
	e->p += 10;
	e->p[0] = 0xff;
	e->p[1] = 0x25;
	put32(e->p + 2, BT_VPAGE + offsetof(struct bt_vpage, exit64) - (here(e) + 6));
	e->p += 6;
}

/* Patches the jmp rel32 at 'at' to reach 'to'. */
static void patch_jmp(uint32_t at, uint32_t to)
{
	put32(host_ptr(at + 1), to - (at + 5));
}

void bt_chain(struct bt *t, int exit_id, const struct bt_block *to)
{
	if (exit_id < 0 || (size_t)exit_id >= t->nexits || t->exits[exit_id].kind != EX_BRANCH)
		return;
	patch_jmp(t->exits[exit_id].jmp_at, to->host);
	t->n.chained++;
}

/* Emits one branch instruction and the exits it needs. */
static void emit_branch(struct emit *e, const struct insn_info *in, const uint8_t *code,
			uint32_t eip)
{
	uint32_t next = eip + in->len;
	switch (in->branch) {
	case BR_JMP:
		emit_exit(e, in->target, EX_BRANCH, 0);
		return;
	case BR_CALL: {
		/* The guest's return address, never the cache's. A fault of
		 * the push leaves the guest exactly before the call. */
		pc_add(e, eip);
		e->p[0] = 0x68;
		put32(e->p + 1, next);
		e->p += 5;
		emit_exit(e, in->target, EX_BRANCH, 0);
		return;
	}
	case BR_JCC: {
		pc_add(e, eip);
		uint8_t *jcc = e->p;
		jcc[0] = 0x0f;
		jcc[1] = (uint8_t)(0x80 | in->cc);
		e->p += 6;
		emit_exit(e, next, EX_BRANCH, 0);
		put32(jcc + 2, here(e) - (uint32_t)(uintptr_t)(jcc + 6));
		emit_exit(e, in->target, EX_BRANCH, 0);
		return;
	}
	case BR_LOOP: {
		/* loop/jecxz have only rel8: the copy jumps 2 ahead to a
		 * jmp rel32 to the taken exit, or falls to a short jmp over
		 * it. Prefixes (address size picks CX or ECX) are kept. */
		pc_add(e, eip);
		memcpy(e->p, code, in->len - 1u);
		e->p[in->len - 1] = 2;
		e->p += in->len;
		pc_add(e, next);
		e->p[0] = 0xeb;
		e->p[1] = 5;
		e->p += 2;
		pc_add(e, in->target);
		uint8_t *j = e->p;
		j[0] = 0xe9;
		e->p += 5;
		emit_exit(e, next, EX_BRANCH, 0);
		put32(j + 1, here(e) - (uint32_t)(uintptr_t)(j + 5));
		emit_exit(e, in->target, EX_BRANCH, 0);
		return;
	}
	default: /* ret, jmp/call r/m: the core does them for now */
		emit_exit(e, eip, EX_EMULATE, BT_WHY_INDIRECT);
		return;
	}
}

static void block_link(struct bt *t, struct bt_block *b)
{
	unsigned h = hash_of(b->lin, b->user);
	b->hnext = t->hash[h];
	t->hash[h] = b;
	b->pnext = t->page_blocks[b->ppage];
	t->page_blocks[b->ppage] = b;
}

/* Marks a physical page as holding translations: every native mapping of
 * it becomes read-only, and the core reports its own writes to it. */
static int code_page_add(struct bt *t, uint32_t ppn)
{
	struct cpu *c = &t->cpu;
	c->code_page[ppn] = 1;
	if (t->page_blocks[ppn])
		return 0; /* already flagged */
	tlb_drop_phys(c, ppn);
	if (!grow((void **)&t->code_pages, &t->capcode_pages, t->ncode_pages, sizeof(uint32_t)))
		return -1;
	t->code_pages[t->ncode_pages++] = ppn;
	return shadow_code_set(&t->sh, (uint64_t)ppn << 12, true);
}

/* Translates the block at the virtual CPU's CS:EIP. NULL: it cannot be
 * translated (the fetch faults, not RAM, a volatile page, an instruction
 * that crosses the page): the caller emulates one instruction instead. */
struct bt_block *bt_translate(struct bt *t)
{
	struct cpu *c = &t->cpu;
	bool user = c->cpl == 3;
	uint32_t eip = c->eip, cs_base = c->seg[S_CS].base, lin = cs_base + eip;
	volatile uint32_t pa = 0;
	if (_setjmp(c->jb))
		return NULL; /* the fetch faults: the core raises it */
	bool w;
	pa = paging_translate(c, lin, false, user, true, &w);
	uint32_t ppn = pa >> 12;
	if ((uint64_t)(pa | 0xfff) >= c->ram_size || t->smc_count[ppn] >= BT_VOLATILE_AFTER)
		return NULL;
	/* The block array never moves (the hash points into it): when it or
	 * the cache is full, everything is flushed. */
	if (BT_CACHE_END - t->cache_used < 4096 || t->nblocks == t->capblocks)
		bt_flush(t);
	const uint8_t *page = c->ram + (pa & ~0xfffu);
	uint32_t off = pa & 0xfff;
	struct emit e = { t, host_ptr(t->cache_used), false };
	uint32_t start = here(&e);
	size_t pcs0 = t->npcs, exits0 = t->nexits;
	unsigned n = 0;
	for (;;) {
		struct insn_info in;
		const uint8_t *code = page + off;
		int r = insn_decode(code, 0x1000 - off, eip, false, &in);
		if (r < 0 && 0x1000 - off < INSN_MAX_LEN) {
			/* Crosses into the next page (or is invalid there). */
			if (n == 0)
				goto fail;
			emit_exit(&e, eip, EX_BRANCH, 0);
			break;
		}
		if (r < 0) {
			emit_exit(&e, eip, EX_EMULATE, BT_WHY_INVALID);
			break;
		}
		if (in.cls == INSN_INNOCUOUS) {
			pc_add(&e, eip);
			memcpy(e.p, code, in.len);
			e.p += in.len;
			eip += in.len;
			off += in.len;
			n++;
			if (off >= 0x1000 || n >= BT_BLOCK_MAX_INSNS) {
				emit_exit(&e, eip, EX_BRANCH, 0);
				break;
			}
			continue;
		}
		if (in.cls == INSN_BRANCH) {
			emit_branch(&e, &in, code, eip);
			break;
		}
		emit_exit(&e, eip, EX_EMULATE, (uint8_t)in.sens);
		break;
	}
	if (e.oom)
		goto fail;
	if (code_page_add(t, ppn) < 0)
		goto fail;
	struct bt_block *b = &t->blocks[t->nblocks++];
	*b = (struct bt_block){ .lin = lin, .eip = c->eip, .cs_base = cs_base, .user = user,
				.ppage = ppn, .host = start, .host_end = here(&e) };
	block_link(t, b);
	t->cache_used = (here(&e) + 15) & ~15u;
	t->n.blocks++;
	return b;
fail:
	t->npcs = pcs0;
	t->nexits = exits0;
	return NULL;
}

static void unlink_hash(struct bt *t, struct bt_block *b)
{
	struct bt_block **pp = &t->hash[hash_of(b->lin, b->user)];
	while (*pp && *pp != b)
		pp = &(*pp)->hnext;
	if (*pp)
		*pp = b->hnext;
}

/* The guest wrote to physical page ppn, which holds translations: they
 * die. A dead block's entry becomes a jump to a fresh exit to its guest
 * EIP, so the chained jumps that still lead there reach the VMM, which
 * translates the new code and chains that exit to it. */
void bt_invalidate_page(struct bt *t, uint32_t ppn)
{
	struct bt_block *b = t->page_blocks[ppn];
	if (!b)
		return;
	t->page_blocks[ppn] = NULL;
	shadow_code_set(&t->sh, (uint64_t)ppn << 12, false);
	t->n.invalidations++;
	if (t->smc_count[ppn] < 255 && ++t->smc_count[ppn] == BT_VOLATILE_AFTER)
		t->n.volatile_pages++;
	bool room = BT_CACHE_END - t->cache_used >= 4096;
	for (; b; b = b->pnext) {
		if (b->dead)
			continue;
		b->dead = true;
		unlink_hash(t, b);
		if (!room)
			continue;
		struct emit e = { t, host_ptr(t->cache_used), false };
		uint32_t tramp = here(&e);
		emit_exit(&e, b->eip, EX_BRANCH, 0);
		t->cache_used = (here(&e) + 15) & ~15u;
		host_ptr(b->host)[0] = 0xe9;
		patch_jmp(b->host, tramp);
	}
	if (!room)
		bt_flush(t); /* no room for trampolines: start afresh */
}
