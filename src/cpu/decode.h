/*
 * The decode cache: guest code is decoded once by Zydis into blocks of
 * pre-decoded instructions (handler pointer + operand descriptors), keyed
 * by the guest-physical address of their first byte. A block ends at an
 * indirect or far control transfer, a CALL or RET, an instruction that
 * changes the CPU mode, or the end of its page. A Jcc or a direct JMP
 * ends it only when it jumps, and not even then when its target is a
 * later instruction of the same block (exec_fast.c). Writes to a page that
 * holds blocks invalidate them.
 */
#ifndef RINGVM_CPU_DECODE_H
#define RINGVM_CPU_DECODE_H

#include "cpu.h"

enum opkind { OK_NONE, OK_REG, OK_MEM, OK_IMM };

#define REG_NONE 8 /* r32[8] is always zero */

struct opnd {
	uint8_t kind;
	uint8_t size;  /* bytes */
	uint8_t reg;   /* OK_REG: byte offset of the register in union regs */
	uint8_t seg;   /* OK_MEM: effective segment */
	uint8_t base;  /* OK_MEM: gpr index or REG_NONE */
	uint8_t index; /* OK_MEM: gpr index or REG_NONE */
	uint8_t scale; /* OK_MEM: shift count 0..3 */
	uint8_t a16;   /* OK_MEM: 16-bit address size */
	uint32_t disp; /* OK_MEM: displacement; OK_IMM: the value, masked to size */
};

struct insn;
typedef void (*insn_fn)(struct cpu *c, const struct insn *i);

struct insn {
	insn_fn fn;
	struct opnd op[3];
	uint8_t len;
	uint8_t osize; /* operand size in bytes */
	uint8_t asize; /* address size in bytes */
	uint8_t sub;   /* ALU op, condition code, string op, register number */
	uint8_t rep;   /* 0, REP_E (rep/repe), REP_NE */
	uint8_t nops;
	uint16_t mnem; /* ZydisMnemonic, for "unimplemented" counting */
	uint32_t imm2; /* far pointer selector, ENTER nesting level */
	uint16_t next_off; /* offset of the next instruction from the block's start */
	uint8_t gen;	   /* the general handler behind h_generic_entry (exec_fast.c) */
};

#define REP_E 1
#define REP_NE 2

#define BLOCK_MAX_INSNS 64

/* The jump cache: the block last found at an EIP, for this CS base, CPL
 * and code size, valid while its tag holds the CPU's jc_gen (bumped by
 * every TLB change: the EIP may now translate to another page, or to
 * none, and by a full flush of the decode cache) and the block is valid. */
#define JC_BITS 12
struct jc_entry {
	uint32_t eip, cs_base;
	uint32_t tag; /* jc_gen | cpl | code16 << 2 */
	struct block *b;
};

struct block {
	uint32_t phys;	/* guest-physical address of the first byte */
	uint32_t phys2; /* second page for a page-crossing instruction, or ~0 */
	uint32_t lin2;	/* its linear page */
	uint16_t n, bytes;
	uint8_t code16, valid;
	uint8_t succ_next; /* the succ entry to replace next */
	struct block *hnext, *pnext, *pnext2;
	/* Two jump-cache entries of this block's own, for the blocks that ran
	 * after it (usually its fall-through and its branch target): the run
	 * loop looks here first, in the header it has just read, before the
	 * shared jump cache, whose entry is most of the time a cache miss.
	 * An entry names a block by EIP, tag and CS base exactly as a jc_entry
	 * does and is checked the same way, so it is valid for any
	 * predecessor: the block it came from does not matter. */
	struct jc_entry succ[2];
	struct insn insns[];
};


static inline uint32_t jc_tag(const struct cpu *c)
{
	return c->jc_gen | c->cpl | (uint32_t)c->code16 << 2;
}

static inline struct jc_entry *jc_slot(struct cpu *c, uint32_t eip)
{
	return &c->jc[(eip ^ (eip >> JC_BITS)) & ((1u << JC_BITS) - 1)];
}

struct block *block_lookup(struct cpu *c);

/* The block at CS:EIP. Between two blocks (a handful of instructions
 * under interp) this is most of the time the run loop spends, so the hit
 * is inline; a CS with a limit below 4 GiB takes the slow path, which
 * checks the limit. */
static inline bool jc_hit(const struct cpu *c, const struct jc_entry *e)
{
	return e->eip == c->eip && e->tag == jc_tag(c) && e->cs_base == c->seg[S_CS].base &&
	       c->seg[S_CS].limit == 0xffffffffu && e->b->valid;
}

static inline struct block *block_find(struct cpu *c)
{
	struct jc_entry *e = jc_slot(c, c->eip);
	if (likely(jc_hit(c, e)))
		return e->b;
	return block_lookup(c);
}

/* The block at CS:EIP, which runs after prev: prev's own successor
 * entries first, then block_find, whose answer prev remembers. */
static inline struct block *block_find_after(struct cpu *c, struct block *prev)
{
	if (likely(jc_hit(c, &prev->succ[0])))
		return prev->succ[0].b;
	if (likely(jc_hit(c, &prev->succ[1])))
		return prev->succ[1].b;
	uint32_t gen = c->jc_gen;
	struct block *b = block_find(c);
	/* A full flush (which bumps jc_gen) may have reused prev's memory:
	 * remember only if there was none. b may be the uncached MMIO
	 * scratch block: never remembered (it is not valid). */
	if (c->jc_gen == gen && b->valid) {
		struct jc_entry *e = &prev->succ[prev->succ_next];
		prev->succ_next ^= 1;
		e->eip = c->eip;
		e->cs_base = c->seg[S_CS].base;
		e->tag = jc_tag(c);
		e->b = b;
	}
	return b;
}

int decode_init(struct cpu *c);
void decode_fini(struct cpu *c);
void decode_invalidate_page(struct cpu *c, uint32_t page_no);
void decode_flush_all(struct cpu *c);
/* Forgets the jump cache: a linear address may now map elsewhere. */
void decode_jc_flush(struct cpu *c);

#endif
