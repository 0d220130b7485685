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

/* The physical page the guest would fetch lin from now, or ~0. */
static uint32_t fetch_ppn(struct cpu *c, uint32_t lin, bool user)
{
	volatile uint32_t pa = ~0u;
	if (_setjmp(c->jb))
		return ~0u;
	bool w;
	pa = paging_translate(c, lin, false, user, true, &w);
	return pa >> 12;
}

struct bt_block *bt_lookup(struct bt *t, uint32_t lin, uint32_t cs_base, bool user)
{
	uint32_t ppn = ~0u;
	bool walked = false;
	for (struct bt_block *b = t->hash[hash_of(lin, user)]; b; b = b->hnext) {
		if (b->lin != lin || b->cs_base != cs_base || b->user != user)
			continue;
		if (b->gen == t->gen)
			return b;
		if (!walked) {
			ppn = fetch_ppn(&t->cpu, lin, user);
			walked = true;
		}
		if (b->ppage == ppn) {
			b->gen = t->gen;
			return b;
		}
	}
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

/* --- emission --- */

/* A conditional branch inside a block whose taken side leaves it: the
 * jcc rel32 is emitted in line, its exit stub after the block's last
 * instruction (side_exits_emit), so the not-taken path runs on in line. */
struct side_exit {
	uint8_t *jcc;
	uint32_t target;
};

struct emit {
	struct bt *t;
	uint8_t *p;
	bool oom;
	bool in_block;		   /* emitting a block translated from: */
	uint32_t block_lin, block_ppn; /* its linear address, its physical page */
	struct side_exit side[BT_BLOCK_MAX_INSNS];
	unsigned nside;
};

static uint32_t here(const struct emit *e)
{
	return (uint32_t)(uintptr_t)e->p;
}

static void emit_exit(struct emit *e, uint32_t eip, uint8_t kind, uint8_t why);

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
	t->nchained = 0;
	t->nchained_g = 0;
	bt_segsites_reset(t);
	t->cache_used = BT_CACHE;
	t->chain_from = -1;
	t->fill_lookup = false;
	memset(t->lin_blocks, 0, (1u << 20) * sizeof *t->lin_blocks);
	t->n.flushes++;
	/* The shared lookup-miss exit, first in the cache. */
	struct emit e = { .t = t, .p = host_ptr(BT_CACHE) };
	t->miss_stub = BT_CACHE;
	emit_exit(&e, 0, EX_MISS, 0);
	t->cache_used = (here(&e) + 15) & ~15u;
	bt_tables_reset(t);
}

/* Every lookup entry leads to the miss exit (entered with the target in
 * ECX, which no entry checks). Only the entries filled since the last
 * reset are rewritten, unless the list overflowed. */
void bt_tables_reset(struct bt *t)
{
	if (t->tables_clean && t->nfilled <= t->capfilled) {
		for (size_t k = 0; k < t->nfilled; k++)
			*(uint32_t *)host_ptr(t->filled[k]) = t->miss_stub;
	} else {
		uint32_t *k = (uint32_t *)host_ptr(BT_TABLE_K), *u = (uint32_t *)host_ptr(BT_TABLE_U);
		for (uint32_t i = 0; i < BT_TABLE_ENTRIES; i++)
			k[i] = u[i] = t->miss_stub;
	}
	t->nfilled = 0;
	t->tables_clean = true;
}

void bt_lookup_fill(struct bt *t, const struct bt_block *b)
{
	uint32_t at = (b->user ? BT_TABLE_U : BT_TABLE_K) + 4 * (b->eip & (BT_TABLE_ENTRIES - 1));
	*(uint32_t *)host_ptr(at) = b->ind;
	if (t->nfilled < t->capfilled) {
		t->filled[t->nfilled] = at;
		t->filled_lin[t->nfilled] = b->lin;
	}
	t->nfilled++; /* past capfilled: the next reset rewrites everything */
	t->n.lookups_filled++;
}


static void pc_fix(struct emit *e, uint32_t eip, uint8_t fix, int8_t ecx_at, int8_t edx_at)
{
	struct bt *t = e->t;
	if (!grow((void **)&t->pcs, &t->cappcs, t->npcs, sizeof *t->pcs)) {
		e->oom = true;
		return;
	}
	t->pcs[t->npcs++] = (struct bt_pc){ here(e), eip, fix, ecx_at, edx_at };
}

static void pc_add(struct emit *e, uint32_t eip)
{
	pc_fix(e, eip, PC_EXACT, 0, 0);
}

/* movd xmm0, ecx / movd xmm1, edx / movd ecx, xmm0 / movd edx, xmm1 /
 * movd xmm1, eax / movd eax, xmm1: spills that touch neither flags nor
 * memory (bt_priv.h). */
static const uint8_t SPILL_ECX[] = { 0x66, 0x0f, 0x6e, 0xc1 };
static const uint8_t SPILL_EDX[] = { 0x66, 0x0f, 0x6e, 0xca };
static const uint8_t FILL_ECX[] = { 0x66, 0x0f, 0x7e, 0xc1 };
static const uint8_t FILL_EDX[] = { 0x66, 0x0f, 0x7e, 0xca };
static const uint8_t SPILL_EAX1[] = { 0x66, 0x0f, 0x6e, 0xc8 };
static const uint8_t FILL_EAX1[] = { 0x66, 0x0f, 0x7e, 0xc8 };

static void out(struct emit *e, const void *bytes, unsigned n)
{
	memcpy(e->p, bytes, n);
	e->p += n;
}

static void out32(struct emit *e, uint32_t v)
{
	put32(e->p, v);
	e->p += 4;
}

static int exit_new(struct emit *e, uint32_t eip, uint8_t kind, uint8_t why)
{
	struct bt *t = e->t;
	if (!grow((void **)&t->exits, &t->capexits, t->nexits, sizeof *t->exits)) {
		e->oom = true;
		return 0;
	}
	t->exits[t->nexits] = (struct bt_exit){ .eip = eip, .kind = kind, .why = why,
						.src_lin = e->block_lin,
						.src_ppn = e->in_block ? e->block_ppn : ~0u };
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
	if (kind == EX_MISS)
		pc_fix(e, 0, PC_MISS, 1, 1);
	else
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

/* The page directory entry that maps lin under cr3 (non-PAE), or 0 when
 * that directory is not in RAM. */
static uint32_t pde_of(const struct cpu *c, uint32_t cr3, uint32_t lin)
{
	uint64_t pa = (uint64_t)(cr3 & ~0xfffu) + 4 * (lin >> 22);
	uint32_t v = 0;
	if (pa + 4 <= c->ram_size)
		memcpy(&v, c->ram + pa, 4);
	return v;
}

/* Does lin keep its mapping from the directory at old_cr3 to the current
 * one? Yes when both directories hold the same present entry for it: the
 * same page table (or the same 4 MiB page). That is how every process's
 * directory shares the kernel half (Linux copies those entries into each
 * new one). A PTE the guest changed there without INVLPG or a flush of
 * its own would stay stale, as it does in a real TLB with global pages. */
static bool mapping_kept(const struct bt *t, uint32_t old_cr3, uint32_t lin)
{
	uint32_t o = pde_of(&t->cpu, old_cr3, lin);
	return (o & 1) && o == pde_of(&t->cpu, t->cpu.cr3, lin);
}

static void unchain(struct bt *t, const struct bt_exit *x)
{
	patch_jmp(x->jmp_at, x->jmp_at + 5);
	if (x->src_at) {
		uint8_t *src = host_ptr(x->src_at);
		uint32_t len = src[0] == 0x0f ? 6 : 5;
		put32(src + len - 4, x->jmp_at - (x->src_at + len));
	}
}

/* Lookup entries of guest kernel code whose mapping is kept (keep_pde:
 * the directory entry is the same in both directories), and of code on
 * global pages (keep_global), survive a CR3 write; others are reset. An
 * entry stays only if every block that filled it (the list is in order,
 * the last one is in it) is kept: resetting is always safe. */
static void tables_keep(struct bt *t, uint32_t old_cr3, bool keep_pde, bool keep_global)
{
	if (!t->tables_clean || t->nfilled > t->capfilled) {
		bt_tables_reset(t);
		return;
	}
	size_t kept = 0;
	for (size_t k = 0; k < t->nfilled; k++) {
		uint32_t at = t->filled[k], lin = t->filled_lin[k];
		if ((keep_pde && at < BT_TABLE_U && mapping_kept(t, old_cr3, lin)) ||
		    (keep_global && paging_global(&t->cpu, lin))) {
			t->filled[kept] = at;
			t->filled_lin[kept++] = lin;
			continue;
		}
		*(uint32_t *)host_ptr(at) = t->miss_stub;
	}
	t->n.lookups_kept += kept;
	t->nfilled = kept;
}

/* A CR3 write: chains and lookup entries skip the mapping check, so those
 * whose target may now map other code are undone (each stub's jmp falls
 * through again, each jcc leads to its stub again); the blocks stay, to be
 * checked on their next lookup. Code runs only in blocks that were found
 * valid in the current address space (a lookup walks the tables) or that
 * a kept chain leads to, and a chain is kept only if its target is valid
 * wherever its source is:
 *  - a chain within one page (both blocks translated from the same linear
 *    page and the same physical page, as QEMU keeps its direct jumps): if
 *    the source is valid its page maps that physical page, so does the
 *    target's, whatever CR3 says;
 *  - a chain whose target's directory entry is present and the same in the
 *    old and the new directory (the shared kernel half), unless the write
 *    is of the same value (old_cr3 is the current CR3: how guests flush
 *    their TLB, Linux after fork's write-protect) or with PAE;
 *  - when keep_global (a CR3 write, not a full flush), a chain whose target
 *    is on a global page: the TLB the guest programs for keeps it too, so
 *    a guest that changes such a mapping must INVLPG it, which drops the
 *    page's blocks (bt_invalidate_lin). Linux's kernel text is global and
 *    its TLB flushes reload CR3 with the same value. */
void bt_new_address_space(struct bt *t, uint32_t old_cr3, bool keep_global)
{
	const struct cpu *c = &t->cpu;
	bool keep = old_cr3 != c->cr3 && !(c->cr4 & CR4_PAE);
	keep_global = keep_global && (c->cr4 & CR4_PGE) && !(c->cr4 & CR4_PAE);
	size_t kept = 0;
	for (size_t k = 0; k < t->nchained; k++) {
		struct bt_chained ch = t->chained[k];
		if (ch.same_page || (keep && mapping_kept(t, old_cr3, ch.to_lin))) {
			t->chained[kept++] = ch;
			continue;
		}
		unchain(t, &t->exits[ch.exit_id]);
		t->n.unchained++;
	}
	t->nchained = kept;
	if (!keep_global) {
		for (size_t k = 0; k < t->nchained_g; k++)
			unchain(t, &t->exits[t->chained_g[k].exit_id]);
		t->n.unchained += t->nchained_g;
		t->nchained_g = 0;
	}
	t->n.chains_kept += kept + t->nchained_g;
	t->chain_from = -1;
	t->fill_lookup = false;
	if (keep || keep_global)
		tables_keep(t, old_cr3, keep, keep_global);
	else
		bt_tables_reset(t);
	t->gen++;
	t->n.as_switches++;
}

void bt_chain(struct bt *t, int exit_id, const struct bt_block *to)
{
	if (exit_id < 0 || (size_t)exit_id >= t->nexits || t->exits[exit_id].kind != EX_BRANCH)
		return;
	const struct bt_exit *x = &t->exits[exit_id];
	struct bt_chained ch = { (uint32_t)exit_id, to->lin,
				 x->src_ppn == to->ppage && (x->src_lin >> 12) == (to->lin >> 12) };
	if (!ch.same_page && paging_global(&t->cpu, to->lin)) {
		if (!grow((void **)&t->chained_g, &t->capchained_g, t->nchained_g,
			  sizeof *t->chained_g))
			return; /* could not be undone later: stay unchained */
		t->chained_g[t->nchained_g++] = ch;
	} else if (grow((void **)&t->chained, &t->capchained, t->nchained, sizeof *t->chained)) {
		t->chained[t->nchained++] = ch;
	} else {
		return;
	}
	patch_jmp(x->jmp_at, to->host);
	if (x->src_at) {
		/* jcc rel32 (0F 8x) or jmp rel32 (E9) */
		uint8_t *src = host_ptr(x->src_at);
		uint32_t len = src[0] == 0x0f ? 6 : 5;
		put32(src + len - 4, to->host - (x->src_at + len));
	}
	t->n.chained++;
}

/* The lookup, entered with the target in ECX, ESP final and the guest's
 * ECX/EDX spilled: index by the target's low 16 bits and jump through the
 * table (read through CS, the only segment that reaches the window). */
static void emit_lookup_jump(struct emit *e)
{
	static const uint8_t movzx_edx_cx[] = { 0x0f, 0xb7, 0xd1 };
	static const uint8_t jmp_tab[] = { 0x2e, 0xff, 0x24, 0x95 };
	bool user = e->t->cpu.cpl == 3;
	pc_fix(e, 0, PC_MISS, 1, 1);
	out(e, movzx_edx_cx, 3);
	pc_fix(e, 0, PC_MISS, 1, 1);
	out(e, jmp_tab, 4);
	out32(e, user ? BT_TABLE_U : BT_TABLE_K);
}

/*
 * ret, jmp r/m, call r/m, without leaving translated code, touching the
 * guest's flags or writing anything the guest would not: the target goes
 * to ECX, the guest's ECX/EDX to XMM0/XMM1, and the jump goes through the
 * lookup table to the destination's check (emit_check). The guest memory
 * access (the operand, the return address) comes before any register
 * changes for good, and every position maps back to exact guest state.
 */
/* code[0..len): the instruction's bytes (len is not in->len when its GS
 * operand was rebased, gs_rebase). */
static void emit_indirect(struct emit *e, const struct insn_info *in, const uint8_t *code,
			  unsigned len, uint32_t eip)
{
	static const uint8_t mov_ecx_edx[] = { 0x89, 0xd1 };
	pc_add(e, eip);
	out(e, SPILL_EDX, 4);
	pc_fix(e, eip, PC_SPILL, 0, 1);
	if (in->branch == BR_RET) {
		static const uint8_t ld_edx[] = { 0x8b, 0x14, 0x24 }; /* mov edx, [esp] */
		out(e, ld_edx, 3);
	} else {
		/* jmp/call r/m32 -> mov edx, r/m: the same bytes, opcode 8B and
		 * ModRM.reg = EDX, so the operand is read exactly as the guest's */
		unsigned op = in->modrm_off - 1u; /* the FF opcode byte */
		memcpy(e->p, code, len);
		e->p[op] = 0x8b;
		e->p[in->modrm_off] = (uint8_t)((code[in->modrm_off] & 0xc7) | (2 << 3));
		e->p += len;
	}
	pc_fix(e, eip, PC_SPILL, 0, 1);
	out(e, SPILL_ECX, 4);
	pc_fix(e, eip, PC_SPILL, 1, 1);
	out(e, mov_ecx_edx, 2);
	pc_fix(e, eip, PC_SPILL, 1, 1);
	if (in->branch == BR_RET) {
		uint32_t d = 4u + in->ret_imm;
		uint8_t lea[7] = { 0x8d, 0xa4, 0x24 }; /* lea esp, [esp+disp32] */
		put32(lea + 3, d);
		out(e, lea, 7);
	} else if (in->branch == BR_CALL_IND) {
		e->p[0] = 0x68;
		put32(e->p + 1, eip + in->len); /* the guest's return address */
		e->p += 5;
	}
	emit_lookup_jump(e);
}

/* The entry for indirect transfers into a block at guest EIP g, in the
 * lookup state (target in ECX, guest ECX/EDX in XMM0/XMM1): lea and
 * jecxz compare without touching the flags. */
static uint32_t emit_check(struct emit *e, uint32_t g)
{
	uint32_t at = here(e);
	pc_fix(e, 0, PC_MISS, 1, 1);
	e->p[0] = 0x8d;
	e->p[1] = 0x89;
	put32(e->p + 2, (uint32_t)-g); /* lea ecx, [ecx - g] */
	e->p += 6;
	pc_fix(e, g, PC_STEP, 0, 0);
	e->p[0] = 0xe3; /* jecxz hit */
	e->p[1] = 11;
	e->p += 2;
	pc_fix(e, g, PC_STEP, 0, 0);
	e->p[0] = 0x8d;
	e->p[1] = 0x89;
	put32(e->p + 2, g); /* lea ecx, [ecx + g]: the target again */
	e->p += 6;
	pc_fix(e, 0, PC_MISS, 1, 1);
	e->p[0] = 0xe9;
	put32(e->p + 1, e->t->miss_stub - (here(e) + 5));
	e->p += 5;
	pc_fix(e, g, PC_SPILL, 1, 1);
	out(e, FILL_ECX, 4);
	pc_fix(e, g, PC_SPILL, 0, 1);
	out(e, FILL_EDX, 4);
	return at;
}

/* --- sensitive instructions as inline code on the vCPU page --- */

#define VP(field) ((uint32_t)offsetof(struct bt_vpage, field))
#define GS 0x65 /* segment override: the VMM data segment in guest kernel mode */

/* The positions of an inline sequence after its first have no exact guest
 * state: they are PC_STEP, and none of them can fault, because the first
 * instruction of each sequence touches every guest byte the sequence will. */
static void step(struct emit *e)
{
	pc_fix(e, 0, PC_STEP, 0, 0);
}

static void raw(struct emit *e, const uint8_t *b, unsigned n)
{
	out(e, b, n);
	step(e);
}

/* gs: op ecx <-> [vpage field]: 89 (store), 8B (load), 09 (or to mem),
 * 23 (and ecx, mem), 0B (or ecx, mem) */
static void vp_op(struct emit *e, uint8_t opcode, uint32_t field)
{
	const uint8_t b[3] = { GS, opcode, 0x0d };
	out(e, b, 3);
	out32(e, field);
	step(e);
}

static void vp_store_imm(struct emit *e, uint32_t field, uint32_t imm)
{
	static const uint8_t b[3] = { GS, 0xc7, 0x05 };
	out(e, b, 3);
	out32(e, field);
	out32(e, imm);
	step(e);
}

/* cli/sti at CPL 0 on the virtual IF; sti leaves for the VMM first if an
 * interrupt waits (the core then runs sti, its shadow, the delivery). */
static void emit_cli_sti(struct emit *e, bool sti, uint32_t eip)
{
	if (!sti) {
		pc_add(e, eip);
		static const uint8_t b[3] = { GS, 0xc7, 0x05 };
		out(e, b, 3);
		out32(e, VP(vif));
		out32(e, 0);
		return;
	}
	pc_add(e, eip);
	vp_op(e, 0x89, VP(spill));	 /* mov gs:[spill], ecx */
	vp_op(e, 0x8b, VP(irq_pending)); /* mov ecx, gs:[irq_pending] */
	uint8_t *jz = e->p;
	raw(e, (const uint8_t[]){ 0xe3, 0 }, 2); /* jecxz ok */
	static const uint8_t ld[3] = { GS, 0x8b, 0x0d };
	out(e, ld, 3);
	out32(e, VP(spill));
	emit_exit(e, eip, EX_EMULATE, SENS_STI);
	jz[1] = (uint8_t)(e->p - (jz + 2));
	step(e);
	vp_store_imm(e, VP(vif), EFLAGS_IF);
	out(e, ld, 3);
	out32(e, VP(spill));
}

/* pushfd: the host's arithmetic flags, the guest's virtual ones (read
 * through CS, so this works in guest user mode too). The live flags are
 * kept by lahf/seto and restored by add/sahf (DF and AC are untouched). */
static void emit_pushf(struct emit *e, uint32_t eip)
{
	pc_add(e, eip);
	raw(e, (const uint8_t[]){ 0x9c }, 1); /* pushfd: the value */
	raw(e, SPILL_ECX, 4);
	raw(e, SPILL_EAX1, 4);
	raw(e, (const uint8_t[]){ 0x9f }, 1);		  /* lahf */
	raw(e, (const uint8_t[]){ 0x0f, 0x90, 0xc0 }, 3); /* seto al */
	raw(e, (const uint8_t[]){ 0x8b, 0x0c, 0x24 }, 3); /* mov ecx, [esp] */
	uint8_t and_[6] = { 0x81, 0xe1 };		  /* and ecx, H */
	put32(and_ + 2, BT_HOST_FLAGS);
	raw(e, and_, 6);
	uint8_t or_[7] = { 0x2e, 0x0b, 0x0d }; /* or ecx, cs:[vflags] */
	put32(or_ + 3, BT_VPAGE + VP(vflags));
	raw(e, or_, 7);
	put32(or_ + 3, BT_VPAGE + VP(vif)); /* or ecx, cs:[vif] */
	raw(e, or_, 7);
	raw(e, (const uint8_t[]){ 0x89, 0x0c, 0x24 }, 3); /* mov [esp], ecx */
	raw(e, (const uint8_t[]){ 0x04, 0x7f }, 2);	  /* add al, 0x7f: OF back */
	raw(e, (const uint8_t[]){ 0x9e }, 1);		  /* sahf */
	raw(e, FILL_EAX1, 4);
	out(e, FILL_ECX, 4);
}

/* popfd at CPL 0: the host takes the arithmetic flags (popfd), the vCPU
 * page IF, IOPL, NT and ID; RF is cleared. If that enables interrupts
 * while one waits, the block leaves by an exit that is never chained. */
static void emit_popf(struct emit *e, uint32_t eip, uint32_t next)
{
	pc_add(e, eip);
	out(e, SPILL_ECX, 4);
	pc_fix(e, eip, PC_SPILL, 1, 0);
	raw(e, (const uint8_t[]){ 0x8b, 0x0c, 0x24 }, 3); /* mov ecx, [esp]: the value */
	uint8_t and_if[6] = { 0x81, 0xe1 };
	put32(and_if + 2, EFLAGS_IF);
	raw(e, and_if, 6);
	vp_op(e, 0x89, VP(vif));
	raw(e, (const uint8_t[]){ 0x8b, 0x0c, 0x24 }, 3);
	const uint32_t taken = EFLAGS_IOPL | EFLAGS_NT | EFLAGS_ID;
	uint8_t and_t[6] = { 0x81, 0xe1 };
	put32(and_t + 2, taken);
	raw(e, and_t, 6);
	uint8_t and_v[11] = { GS, 0x81, 0x25 };
	put32(and_v + 3, VP(vflags));
	put32(and_v + 7, ~(taken | EFLAGS_RF));
	raw(e, and_v, 11);
	vp_op(e, 0x09, VP(vflags)); /* or gs:[vflags], ecx */
	vp_op(e, 0x8b, VP(irq_pending));
	vp_op(e, 0x23, VP(vif)); /* and ecx, gs:[vif] */
	uint8_t *jz = e->p;
	raw(e, (const uint8_t[]){ 0xe3, 0 }, 2);
	for (int pass = 0; pass < 2; pass++) {
		raw(e, (const uint8_t[]){ 0x9d }, 1); /* popfd: the guest's value */
		out(e, FILL_ECX, 4);
		if (pass == 0) {
			emit_exit(e, next, EX_IRQ, 0);
			jz[1] = (uint8_t)(e->p - (jz + 2));
			step(e);
		}
	}
}

/* mov r, sreg: the guest's selector, read from the vCPU page via CS. */
static bool emit_mov_from_sreg(struct emit *e, const struct insn_info *in, const uint8_t *code,
			       uint32_t eip)
{
	uint8_t modrm = code[in->modrm_off];
	unsigned sreg = (modrm >> 3) & 7;
	if ((modrm & 0xc0) != 0xc0 || sreg >= 6 || in->modrm_off != in->prefix_len + 1u)
		return false; /* a memory destination: the core does it */
	unsigned r = modrm & 7;
	pc_add(e, eip);
	if (in->osize == 2)
		out(e, (const uint8_t[]){ 0x66, 0x2e, 0x8b, (uint8_t)(r << 3 | 5) }, 4);
	else
		out(e, (const uint8_t[]){ 0x2e, 0x0f, 0xb7, (uint8_t)(r << 3 | 5) }, 4);
	out32(e, BT_VPAGE + VP(gsel) + 2 * sreg);
	return true;
}

/* push sreg (32-bit operand): the guest's selector, read from the vCPU
 * page; like the core, only the low 16 bits of the slot are written. The
 * store comes before ESP moves, so a fault there is exact. */
static bool emit_push_sreg(struct emit *e, const struct insn_info *in, const uint8_t *code,
			   uint32_t eip)
{
	if (in->prefix_len || in->osize != 4)
		return false;
	int sreg;
	switch (code[0]) {
	case 0x06: sreg = S_ES; break;
	case 0x0e: sreg = S_CS; break;
	case 0x16: sreg = S_SS; break;
	case 0x1e: sreg = S_DS; break;
	case 0x0f: sreg = code[1] == 0xa0 ? S_FS : code[1] == 0xa8 ? S_GS : -1; break;
	default: sreg = -1; break;
	}
	if (sreg < 0)
		return false;
	pc_add(e, eip);
	out(e, SPILL_ECX, 4);
	pc_fix(e, eip, PC_SPILL, 1, 0);
	out(e, (const uint8_t[]){ 0x2e, 0x0f, 0xb7, 0x0d }, 4); /* movzx ecx, word cs:[gsel] */
	out32(e, BT_VPAGE + VP(gsel) + 2 * (uint32_t)sreg);
	pc_fix(e, eip, PC_SPILL, 1, 0);
	out(e, (const uint8_t[]){ 0x66, 0x89, 0x4c, 0x24, 0xfc }, 5); /* mov [esp-4], cx */
	pc_fix(e, eip, PC_SPILL, 1, 0);
	out(e, (const uint8_t[]){ 0x8d, 0x64, 0x24, 0xfc }, 4); /* lea esp, [esp-4] */
	step(e);
	out(e, FILL_ECX, 4);
	return true;
}

/* mov r32, crN (N = 0, 2, 3, 4) in the guest kernel: the value the core
 * holds, from the vCPU page (to_native writes it at each entry; only the
 * core changes a control register). A page fault handler reads CR2 each
 * time: one load instead of a VMM call. */
static bool emit_mov_from_cr(struct emit *e, const struct insn_info *in, const uint8_t *code,
			     uint32_t eip)
{
	if (in->prefix_len || in->len != 3 || code[0] != 0x0f || code[1] != 0x20)
		return false;
	unsigned n = (code[2] >> 3) & 7, r = code[2] & 7;
	if (n == 1 || n > 4)
		return false; /* #UD: the core raises it */
	pc_add(e, eip);
	out(e, (const uint8_t[]){ 0x2e, 0x8b, (uint8_t)(r << 3 | 5) }, 3); /* mov r, cs:[cr] */
	out32(e, BT_VPAGE + VP(cr) + 4 * n);
	return true;
}

/* rdtsc: the host's TSC plus the guest's offset (a VMM call costs ~40x
 * more, and Linux reads its clock this way all the time: kvm-clock, the
 * scheduler). EAX and EDX are outputs, so the live flags wait in XMM1
 * while the add carries; XMM0 holds the low half while they come back. */
static void emit_rdtsc(struct emit *e, uint32_t eip)
{
	pc_add(e, eip);
	raw(e, (const uint8_t[]){ 0x9f }, 1);		  /* lahf */
	raw(e, (const uint8_t[]){ 0x0f, 0x90, 0xc0 }, 3); /* seto al */
	raw(e, SPILL_EAX1, 4);
	raw(e, (const uint8_t[]){ 0x0f, 0x31 }, 2); /* rdtsc */
	uint8_t add[7] = { 0x2e, 0x03, 0x05 };	    /* add eax, cs:[tsc_offset] */
	put32(add + 3, BT_VPAGE + VP(tsc_offset));
	raw(e, add, 7);
	uint8_t adc[7] = { 0x2e, 0x13, 0x15 }; /* adc edx, cs:[tsc_offset + 4] */
	put32(adc + 3, BT_VPAGE + VP(tsc_offset) + 4);
	raw(e, adc, 7);
	raw(e, (const uint8_t[]){ 0x66, 0x0f, 0x6e, 0xc0 }, 4); /* movd xmm0, eax */
	raw(e, FILL_EAX1, 4);
	raw(e, (const uint8_t[]){ 0x04, 0x7f }, 2); /* add al, 0x7f: OF back */
	raw(e, (const uint8_t[]){ 0x9e }, 1);	    /* sahf */
	out(e, (const uint8_t[]){ 0x66, 0x0f, 0x7e, 0xc0 }, 4); /* movd eax, xmm0 */
}

/*
 * mov sreg, r16 and pop sreg (32-bit) into ES, DS, FS or GS in the guest
 * kernel: an inline segment-load site (segsite.c has the why). ECX is the
 * only scratch (spilled to XMM0):
 *
 *       movzx ecx, r16 | word [esp]    the selector (a pop's read faults exactly)
 *       lea ecx, [ecx - S]; jecxz 1f; jmp slow
 *   1:  mov ecx, cs:[L];   lea ecx, [ecx - D.lo]; jecxz 1f; jmp slow
 *   1:  mov ecx, cs:[L+4]; lea ecx, [ecx - D.hi]; jecxz ok
 *   slow: movd ecx, xmm0; <exit: the core loads, the VMM fills the site>
 *   ok: mov word gs:[gsel + 2*sreg], S; mov dword gs:[seg_site + 4*sreg], id+1
 *       mov ecx, H; mov sreg, ecx       (not GS: at CPL 0 the host's GS is the
 *                                        VMM's, the guest's is virtual)
 *       lea esp, [esp+4]                (pop)
 *       movd ecx, xmm0
 *
 * Every position up to the slow exit has the guest's exact state at this
 * instruction (ECX in XMM0), so a fault of the descriptor read (the guest
 * unmapped its GDT) or a kick there is redone by the core. From ok on
 * nothing can fault (the vCPU page, a slot the VMM wrote) and a kick
 * single-steps to the next instruction.
 */
static bool emit_seg_load(struct emit *e, const struct insn_info *in, const uint8_t *code,
			  uint32_t eip)
{
	struct bt *t = e->t;
	int sreg = -1;
	bool pop = false;
	uint8_t modrm = 0;
	if (in->prefix_len == 0 && in->len == 2 && code[0] == 0x8e) {
		modrm = code[1];
		sreg = (modrm >> 3) & 7;
		if ((modrm & 0xc0) != 0xc0)
			return false; /* a memory operand: the core */
	} else if (in->prefix_len == 0 && in->osize == 4) {
		pop = true;
		switch (code[0]) {
		case 0x07: sreg = S_ES; break;
		case 0x1f: sreg = S_DS; break;
		case 0x0f: sreg = code[1] == 0xa1 ? S_FS : code[1] == 0xa9 ? S_GS : -1; break;
		default: break;
		}
	}
	if (sreg != S_ES && sreg != S_DS && sreg != S_FS && sreg != S_GS)
		return false;
	if (!grow((void **)&t->sites, &t->capsites, t->nsites, sizeof *t->sites)) {
		e->oom = true;
		return false;
	}
	uint32_t id = (uint32_t)t->nsites;
	struct bt_segsite s = { .sreg = (uint8_t)sreg };
	pc_add(e, eip);
	out(e, SPILL_ECX, 4);
#define SPILLED() pc_fix(e, eip, PC_SPILL, 1, 0)
	SPILLED();
	if (pop)
		out(e, (const uint8_t[]){ 0x0f, 0xb7, 0x0c, 0x24 }, 4); /* movzx ecx, word [esp] */
	else
		out(e, (const uint8_t[]){ 0x0f, 0xb7, (uint8_t)(0xc8 | (modrm & 7)) }, 3);
	uint8_t *to_slow[2];
	uint32_t *at_load[2] = { &s.at_dlo, &s.at_dhi }, *at_cmp[2] = { &s.at_lo, &s.at_hi };
	SPILLED();
	out(e, (const uint8_t[]){ 0x8d, 0x89 }, 2); /* lea ecx, [ecx + disp32] */
	s.at_sel = here(e);
	out32(e, (uint32_t)-BT_SEGSITE_NONE);
	for (int k = 0; k < 2; k++) {
		SPILLED();
		out(e, (const uint8_t[]){ 0xe3, 0x02 }, 2); /* jecxz +2 */
		SPILLED();
		to_slow[k] = e->p;
		out(e, (const uint8_t[]){ 0xeb, 0 }, 2); /* jmp slow */
		SPILLED();
		out(e, (const uint8_t[]){ 0x2e, 0x8b, 0x0d }, 3); /* mov ecx, cs:[disp32] */
		*at_load[k] = here(e);
		out32(e, BT_VPAGE);
		SPILLED();
		out(e, (const uint8_t[]){ 0x8d, 0x89 }, 2);
		*at_cmp[k] = here(e);
		out32(e, 0);
	}
	SPILLED();
	uint8_t *to_ok = e->p;
	out(e, (const uint8_t[]){ 0xe3, 0 }, 2); /* jecxz ok */
	for (int k = 0; k < 2; k++)
		to_slow[k][1] = (uint8_t)(e->p - (to_slow[k] + 2));
	SPILLED();
	out(e, FILL_ECX, 4);
#undef SPILLED
	emit_exit(e, eip, EX_EMULATE, SENS_SREG_LOAD);
	if (e->oom)
		return false;
	struct bt_exit *x = &t->exits[t->nexits - 1];
	x->len = in->len;
	x->site = id + 1;
	to_ok[1] = (uint8_t)(e->p - (to_ok + 2));
	step(e);
	out(e, (const uint8_t[]){ 0x66, GS, 0xc7, 0x05 }, 4); /* mov word gs:[gsel], imm16 */
	out32(e, VP(gsel) + 2 * (uint32_t)sreg);
	s.at_gsel = here(e);
	out(e, (const uint8_t[]){ 0, 0 }, 2);
	step(e);
	vp_store_imm(e, VP(seg_site) + 4 * (uint32_t)sreg, id + 1);
	if (sreg != S_GS) {
		out(e, (const uint8_t[]){ 0xb9 }, 1); /* mov ecx, imm32 */
		s.at_hsel = here(e);
		out32(e, 0);
		step(e);
		out(e, (const uint8_t[]){ 0x8e, (uint8_t)(0xc1 | sreg << 3) }, 2); /* mov sreg, ecx */
		step(e);
	}
	if (pop)
		raw(e, (const uint8_t[]){ 0x8d, 0x64, 0x24, 0x04 }, 4); /* lea esp, [esp+4] */
	out(e, FILL_ECX, 4);
	t->sites[t->nsites++] = s;
	return true;
}

/* A sensitive instruction as inline code, if it has one here. */
static bool emit_sensitive(struct emit *e, const struct insn_info *in, const uint8_t *code,
			   uint32_t eip)
{
	bool ring0 = e->t->cpu.cpl == 0;
	bool plain = in->prefix_len == 0;
	switch (in->sens) {
	case SENS_CLI:
	case SENS_STI:
		if (!ring0 || !plain)
			return false;
		emit_cli_sti(e, in->sens == SENS_STI, eip);
		break;
	case SENS_PUSHF:
		if (!plain || in->osize != 4)
			return false;
		emit_pushf(e, eip);
		break;
	case SENS_POPF:
		if (!ring0 || !plain || in->osize != 4)
			return false;
		emit_popf(e, eip, eip + in->len);
		break;
	case SENS_CTL:
		if (!ring0 || !emit_mov_from_cr(e, in, code, eip))
			return false;
		break;
	case SENS_RDTSC:
		/* CR4.TSD makes it fault outside ring 0; a change of TSD
		 * flushes every translation (paging_changed). */
		if (!plain || (e->t->cpu.cpl != 0 && (e->t->cpu.cr4 & CR4_TSD)))
			return false;
		emit_rdtsc(e, eip);
		break;
	case SENS_SREG_LOAD:
		if (!ring0 || !emit_seg_load(e, in, code, eip))
			return false;
		break;
	case SENS_SREG_READ:
		if (code[in->prefix_len] == 0x8c) {
			if (!emit_mov_from_sreg(e, in, code, eip))
				return false;
		} else if (!emit_push_sreg(e, in, code, eip)) {
			return false;
		}
		break;
	default:
		return false;
	}
	e->t->n.inline_sens++;
	return true;
}

/* in/out with an immediate or DX port, no prefix but the operand size:
 * the run loop performs them without the core (guest kernel only: CPL 0
 * is always allowed port IO). */
static void io_describe(struct bt_exit *x, const struct insn_info *in, const uint8_t *code)
{
	bool o16 = in->prefix_len == 1 && code[0] == 0x66;
	if (in->prefix_len > (o16 ? 1u : 0u))
		return;
	uint8_t op = code[in->prefix_len];
	if ((op & 0xf4) != 0xe4)
		return; /* not E4-E7 / EC-EF */
	x->io_out = (op & 2) != 0;
	x->io_dx = (op & 8) != 0;
	x->io_size = (op & 1) ? (o16 ? 2 : 4) : 1;
	x->io_port = x->io_dx ? 0 : code[in->prefix_len + 1];
	x->len = in->len;
}

/* INT imm8 and 32-bit IRET without prefixes: the run loop takes them
 * through gate.c. */
static void gate_describe(struct bt_exit *x, const struct insn_info *in, const uint8_t *code)
{
	if (in->prefix_len)
		return;
	if (in->sens == SENS_INT && code[0] == 0xcd && in->len == 2) {
		x->gate = BT_GATE_INT;
		x->gate_vec = code[1];
	} else if (in->sens == SENS_FAR && code[0] == 0xcf && in->len == 1 && in->osize == 4) {
		x->gate = BT_GATE_IRET;
	}
}

/* An adapted div/idiv r32 (F7 /6, /7, register operand, no prefix): a
 * site that keeps dividing by zero (gate.c delivers its #DE). */
static void div_describe(struct bt_exit *x, const struct insn_info *in, const uint8_t *code)
{
	if (in->prefix_len || in->len != 2 || code[0] != 0xf7 || (code[1] & 0xc0) != 0xc0 ||
	    ((code[1] >> 3) & 7) < 6)
		return;
	x->gate = BT_GATE_DIV;
	x->gate_vec = code[1] & 7;
	x->len = in->len;
}

/* The sensitive instructions that follow a VMM call's own, on the same
 * page: the call emulates them too, saving a round trip each (a guest
 * kernel's interrupt entry loads four segment registers in a row). A
 * control transfer ends the list (it is included); so does anything
 * innocuous, port IO or HLT. Emulating in the core is always correct: the
 * list only says when it is also cheaper. */
static void batch_describe(struct bt_exit *x, const uint8_t *page, uint32_t off, uint32_t eip)
{
	for (unsigned k = 0; k < BT_BATCH && off < 0x1000; k++) {
		struct insn_info in;
		if (insn_decode(page + off, 0x1000 - off, eip, false, &in) < 0 ||
		    in.cls != INSN_SENSITIVE || in.sens == SENS_IO || in.sens == SENS_HLT)
			return;
		x->batch[k] = (uint8_t)(in.len | (in.is_invlpg ? BT_BATCH_INVLPG : 0));
		if (in.sens == SENS_FAR || in.sens == SENS_INT || in.sens == SENS_SYSCALL)
			return;
		off += in.len;
		eip += in.len;
	}
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
		e->t->exits[e->t->nexits - 1].src_at = (uint32_t)(uintptr_t)jcc;
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
		e->t->exits[e->t->nexits - 1].src_at = (uint32_t)(uintptr_t)j;
		return;
	}
	case BR_RET:
	case BR_JMP_IND:
	case BR_CALL_IND:
		emit_indirect(e, in, code, in->len, eip);
		return;
	default:
		emit_exit(e, eip, EX_EMULATE, BT_WHY_INDIRECT);
		return;
	}
}

/* A jcc whose not-taken side stays in the block (a superblock): no taken
 * jump on the path the guest falls through, where a block that ended at
 * every jcc paid one (jcc, then a chained jmp to the next block). The
 * jcc position maps to the guest's state before it, as any copied
 * instruction's; its stub maps to the target. */
static void emit_side_jcc(struct emit *e, const struct insn_info *in, uint32_t eip)
{
	pc_add(e, eip);
	e->side[e->nside++] = (struct side_exit){ e->p, in->target };
	e->p[0] = 0x0f;
	e->p[1] = (uint8_t)(0x80 | in->cc);
	put32(e->p + 2, 0);
	e->p += 6;
}

/* The stubs of the block's side exits, after its last instruction; each
 * jcc reaches its stub until bt_chain points it at the target's block. */
static void side_exits_emit(struct emit *e)
{
	for (unsigned k = 0; k < e->nside; k++) {
		uint8_t *jcc = e->side[k].jcc;
		put32(jcc + 2, here(e) - (uint32_t)(uintptr_t)(jcc + 6));
		emit_exit(e, e->side[k].target, EX_BRANCH, 0);
		e->t->exits[e->t->nexits - 1].src_at = (uint32_t)(uintptr_t)jcc;
	}
	e->nside = 0;
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
	tlb_drop_phys(c, ppn << 12); /* a page address, as the TLB keeps it */
	if (!grow((void **)&t->code_pages, &t->capcode_pages, t->ncode_pages, sizeof(uint32_t)))
		return -1;
	t->code_pages[t->ncode_pages++] = ppn;
	return shadow_code_set(&t->sh, (uint64_t)ppn << 12, true);
}

/* Copies a guest user instruction whose memory operand goes through GS
 * into out[] with BT_GS_REBASE added to its displacement, as a disp32 form
 * (the offset arithmetic wraps at 32 bits, as the guest's does). Returns
 * the new length, or 0 when the form cannot be rewritten so (16-bit
 * addressing, no ModRM memory operand but moffs, LEA, a result longer than
 * 15 bytes): the caller makes it a VMM call. */
static unsigned gs_rebase(uint8_t *out, const uint8_t *code, const struct insn_info *in)
{
	if (in->asize != 4 || !in->has_mem || in->mem.seg != S_GS)
		return 0;
	unsigned pl = in->prefix_len;
	uint8_t op = code[pl];
	if (!in->modrm_off) {
		if (op < 0xa0 || op > 0xa3 || in->len != pl + 5u)
			return 0; /* string instructions and the like */
		memcpy(out, code, in->len); /* mov al/eax <-> moffs32 */
		uint32_t d;
		memcpy(&d, code + pl + 1, 4);
		put32(out + pl + 1, d + BT_GS_REBASE);
		return in->len;
	}
	unsigned m = in->modrm_off;
	uint8_t modrm = code[m], mod = modrm >> 6, rm = modrm & 7;
	if (mod == 3 || (op == 0x8d && m == pl + 1u))
		return 0; /* no memory access, or LEA (no segment at all) */
	unsigned at = m + 1;
	uint8_t sib = 0;
	if (rm == 4)
		sib = code[at++];
	bool no_base = mod == 0 && (rm == 5 || (rm == 4 && (sib & 7) == 5));
	unsigned dsz = mod == 1 ? 1 : (mod == 2 || no_base) ? 4 : 0;
	uint32_t disp = 0;
	if (dsz == 1)
		disp = (uint32_t)(int32_t)(int8_t)code[at];
	else if (dsz == 4)
		memcpy(&disp, code + at, 4);
	unsigned rest = in->len - (at + dsz), n = at + 4 + rest;
	if (n > INSN_MAX_LEN)
		return 0;
	memcpy(out, code, at);
	out[m] = (uint8_t)(((no_base ? 0 : 2) << 6) | (modrm & 0x3f));
	put32(out + at, disp + BT_GS_REBASE);
	memcpy(out + at + 4, code + at + dsz, rest);
	return n;
}

static uint32_t host_ms(void)
{
	return (uint32_t)(host_ns() / 1000000u);
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
	if ((uint64_t)(pa | 0xfff) >= c->ram_size)
		return NULL;
	if (t->smc_count[ppn] >= BT_VOLATILE_AFTER) {
		if (host_ms() - t->smc_last_ms[ppn] < BT_VOLATILE_MS)
			return NULL;
		t->smc_count[ppn] = 0; /* quiet for a while: translate it again */
		t->n.volatile_retried++;
	}
	/* The block array never moves (the hash points into it): when it or
	 * the cache is full, everything is flushed. */
	if (BT_CACHE_END - t->cache_used < 4096 || t->nblocks == t->capblocks)
		bt_flush(t);
	const uint8_t *page = c->ram + (pa & ~0xfffu);
	uint32_t off = pa & 0xfff;
	struct emit e = { .t = t, .p = host_ptr(t->cache_used), .in_block = true, .block_lin = lin,
			  .block_ppn = ppn };
	size_t pcs0 = t->npcs, exits0 = t->nexits, sites0 = t->nsites;
	uint32_t ind = emit_check(&e, eip);
	uint32_t start = here(&e);
	unsigned n = 0;
	uint8_t gs_buf[INSN_MAX_LEN];
	for (;;) {
		struct insn_info in;
		const uint8_t *code = page + off;
		if (eip == c->stop_eip && n > 0) { /* bt_run_flat's stop */
			emit_exit(&e, eip, EX_BRANCH, 0);
			break;
		}
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
		/* The bytes an innocuous instruction is copied as: its own, or
		 * with its GS operand rebased. */
		const uint8_t *bytes = code;
		unsigned nbytes = in.len;
		if (memchr(code, GS, in.prefix_len)) {
			/* GS is the VMM's in guest kernel mode (bt_priv.h);
			 * in user mode it is rebased (BT_GS_REBASE). */
			unsigned len = 0;
			bool adapted = bt_adapted(t, cs_base + eip);
			if (c->cpl == 3 && !adapted &&
			    (in.cls == INSN_INNOCUOUS || in.branch == BR_JMP_IND ||
			     in.branch == BR_CALL_IND))
				len = gs_rebase(gs_buf, code, &in);
			if (!len) {
				emit_exit(&e, eip, EX_EMULATE, adapted ? BT_WHY_ADAPT : BT_WHY_GS);
				break;
			}
			if (in.cls == INSN_BRANCH) {
				emit_indirect(&e, &in, gs_buf, len, eip);
				break;
			}
			bytes = gs_buf;
			nbytes = len;
		} else if (in.cls == INSN_INNOCUOUS && bt_adapted(t, cs_base + eip)) {
			emit_exit(&e, eip, EX_EMULATE, BT_WHY_ADAPT);
			div_describe(&t->exits[t->nexits - 1], &in, code);
			break;
		}
		if (in.cls == INSN_INNOCUOUS) {
			pc_add(&e, eip);
			memcpy(e.p, bytes, nbytes);
			e.p += nbytes;
		} else if (in.branch == BR_JCC && off + in.len < 0x1000 &&
			   n + 1 < BT_BLOCK_MAX_INSNS) {
			emit_side_jcc(&e, &in, eip);
		} else if (in.cls == INSN_BRANCH) {
			emit_branch(&e, &in, code, eip);
			break;
		} else if (!emit_sensitive(&e, &in, code, eip)) {
			emit_exit(&e, eip, EX_EMULATE, (uint8_t)in.sens);
			t->exits[t->nexits - 1].len = in.len;
			gate_describe(&t->exits[t->nexits - 1], &in, code);
			if (in.sens == SENS_IO && c->cpl == 0)
				io_describe(&t->exits[t->nexits - 1], &in, code);
			else if (in.is_invlpg && in.has_mem && c->cpl == 0) {
				t->exits[t->nexits - 1].invlpg = true;
				t->exits[t->nexits - 1].inv = in.mem;
			} else
				batch_describe(&t->exits[t->nexits - 1], page, off + in.len,
					       eip + in.len);
			break;
		}
		/* Copied or inline: on to the next one, unless the block is full. */
		eip += in.len;
		off += in.len;
		n++;
		if (off >= 0x1000 || n >= BT_BLOCK_MAX_INSNS) {
			emit_exit(&e, eip, EX_BRANCH, 0);
			break;
		}
	}
	side_exits_emit(&e);
	if (e.oom)
		goto fail;
	if (code_page_add(t, ppn) < 0)
		goto fail;
	struct bt_block *b = &t->blocks[t->nblocks++];
	*b = (struct bt_block){ .lin = lin, .eip = c->eip, .cs_base = cs_base, .user = user,
				.ppage = ppn, .host = start, .host_end = here(&e), .ind = ind,
				.gen = t->gen };
	block_link(t, b);
	b->lnext = t->lin_blocks[lin >> 12];
	t->lin_blocks[lin >> 12] = b;
	t->n.cache_bytes += ((here(&e) + 15) & ~15u) - t->cache_used;
	t->cache_used = (here(&e) + 15) & ~15u;
	t->n.blocks++;
	return b;
fail:
	t->npcs = pcs0;
	t->nexits = exits0;
	t->nsites = sites0; /* none was filled: no exit names them */
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

/* Counts a write that killed translations on page ppn; the eighth in a row
 * (each within BT_VOLATILE_MS of the one before) makes the page volatile. */
static void smc_note(struct bt *t, uint32_t ppn)
{
	uint32_t now = host_ms();
	if (now - t->smc_last_ms[ppn] >= BT_VOLATILE_MS)
		t->smc_count[ppn] = 0;
	t->smc_last_ms[ppn] = now;
	if (t->smc_count[ppn] < BT_VOLATILE_AFTER && ++t->smc_count[ppn] == BT_VOLATILE_AFTER)
		t->n.volatile_pages++;
}

/* The guest wrote to physical page ppn, which holds translations: they
 * die. A dead block's entry becomes a jump to a fresh exit to its guest
 * EIP, so the chained jumps that still lead there reach the VMM, which
 * translates the new code and chains that exit to it. */
void bt_invalidate_page(struct bt *t, uint32_t ppn, bool written)
{
	struct bt_block *b = t->page_blocks[ppn];
	if (!b)
		return;
	t->page_blocks[ppn] = NULL;
	shadow_code_set(&t->sh, (uint64_t)ppn << 12, false);
	t->n.invalidations++;
	if (written)
		smc_note(t, ppn);
	/* Each dead block gets a trampoline (an exit stub, 32 bytes with its
	 * alignment): room is checked for each one. Checked once for the
	 * whole page, a page of init code with a few hundred blocks, freed
	 * by Linux near the end of the cache, wrote past BT_CACHE_END into
	 * the unmapped last page (the VMM died in emit_exit, ~1 boot in 30). */
	bool room = true;
	for (; b; b = b->pnext) {
		if (b->dead)
			continue;
		b->dead = true;
		unlink_hash(t, b);
		if (BT_CACHE_END - t->cache_used < 64)
			room = false;
		if (!room)
			continue;
		struct emit e = { .t = t, .p = host_ptr(t->cache_used) };
		uint32_t tramp = here(&e);
		emit_exit(&e, b->eip, EX_BRANCH, 0);
		t->cache_used = (here(&e) + 15) & ~15u;
		host_ptr(b->host)[0] = 0xe9;
		patch_jmp(b->host, tramp);
	}
	if (!room)
		bt_flush(t); /* no room for trampolines: start afresh */
}

static void drop_lin_blocks(struct bt *t, uint32_t page, uint32_t lin);

/* INVLPG: translations made through that linear page may no longer be
 * what the guest would fetch there. */
void bt_invalidate_lin(struct bt *t, uint32_t lin)
{
	drop_lin_blocks(t, lin >> 12, 0);
}


static unsigned adapt_slot(uint32_t lin)
{
	return (lin ^ (lin >> BT_ADAPT_BITS) ^ (lin >> 20)) & ((1u << BT_ADAPT_BITS) - 1);
}

bool bt_adapted(const struct bt *t, uint32_t lin)
{
	unsigned k = adapt_slot(lin);
	return lin && t->adapt[k].lin == lin && t->adapt[k].faults >= BT_ADAPT_AFTER;
}

/* A copied instruction at guest linear lin faulted for the guest (the
 * core redid it). The BT_ADAPT_AFTER'th time, its translations die and it
 * is translated as a VMM call from then on (Adams & Agesen's adaptive BT:
 * page-table writes, MMIO, divide errors at one site). */
void bt_adapt_note(struct bt *t, uint32_t lin)
{
	unsigned k = adapt_slot(lin);
	if (t->adapt[k].lin != lin) {
		t->adapt[k].lin = lin;
		t->adapt[k].faults = 0;
		t->adapt[k].rounds = 0;
	}
	t->adapt[k].clean = 0;
	if (t->adapt[k].faults >= BT_ADAPT_AFTER || ++t->adapt[k].faults < BT_ADAPT_AFTER)
		return;
	t->n.adapted++;
	drop_lin_blocks(t, lin >> 12, lin);
}

/* An adapted instruction was emulated without a fault. After a run of
 * those (the guest fixed whatever made it fault: mapped the pages, stopped
 * dividing by zero) it is copied natively again. Some never stop faulting
 * natively although the guest sees no fault (glibc's TLS at negative
 * offsets from GS, beyond the truncated segment's limit): each time one
 * comes back, it must run clean twice as long before the next try, so it
 * soon stays a VMM call instead of costing two retranslations a cycle. */
void bt_adapt_clean(struct bt *t, uint32_t lin)
{
	unsigned k = adapt_slot(lin);
	if (t->adapt[k].lin != lin)
		return;
	unsigned rounds = t->adapt[k].rounds < 10 ? t->adapt[k].rounds : 10;
	if (++t->adapt[k].clean < (uint32_t)BT_ADAPT_CLEAN << rounds)
		return;
	t->adapt[k].faults = 0;
	t->adapt[k].clean = 0;
	if (t->adapt[k].rounds < 255)
		t->adapt[k].rounds++;
	drop_lin_blocks(t, lin >> 12, lin);
}

/* Kills the translations made through linear page `page` (only those of
 * blocks starting at or below lin, if lin is not 0: a block after it does
 * not hold it). */
static void drop_lin_blocks(struct bt *t, uint32_t page, uint32_t lin)
{
	uint64_t flushes = t->n.flushes;
	struct bt_block *b = t->lin_blocks[page];
	if (!lin)
		t->lin_blocks[page] = NULL;
	for (; b && t->n.flushes == flushes; b = b->lnext)
		if (!b->dead && (!lin || lin >= b->lin))
			bt_invalidate_page(t, b->ppage, false);
}
