/*
 * Specialised handlers for the hottest instruction forms, chosen at decode
 * time (fast_form). Each one does only the common case: 32-bit addressing,
 * a segment with a 4 GiB limit, a TLB hit, and otherwise hands the whole
 * instruction to the general handler of its family. Invariant: a fast
 * handler changes no state before it knows it can finish, so the general
 * handler that takes over redoes the instruction from the start, exactly.
 * Written that way the fast path calls nothing: the compiler makes it a
 * leaf that saves no registers, and the fallback is a tail call.
 */
#include <Zydis/Zydis.h>

#include "exec.h"

/* A 32-bit register by its byte offset (a multiple of 4): no shift. */
#define R32(c, o) (*(uint32_t *)((c)->r.r8 + (o).reg))

/* MOV r32, m32 */
static H(f_ld32)
{
	uint8_t *p;
	if (unlikely(!fast_mem(c, &i->op[1], 4, false, &p))) {
		GENERIC(h_mov32_rm, c, i); /* a tail call */
		return;
	}
	R32(c, i->op[0]) = load_n(p, 4);
	NEXT_THREADED(c, i);
}

/* MOV m32, r32 */
static H(f_st32)
{
	uint8_t *p;
	if (unlikely(!fast_mem(c, &i->op[0], 4, true, &p))) {
		GENERIC(h_mov32_mr, c, i); /* a tail call */
		return;
	}
	store_n(p, 4, R32(c, i->op[1]));
	NEXT_THREADED(c, i);
}

/* MOV m32, imm32 */
static H(f_st32i)
{
	uint8_t *p;
	if (unlikely(!fast_mem(c, &i->op[0], 4, true, &p))) {
		GENERIC(h_mov32_mr, c, i); /* a tail call */
		return;
	}
	store_n(p, 4, i->op[1].disp);
	NEXT_THREADED(c, i);
}

/* MOV r8/r16, m8/m16 */
static H(f_ld_small)
{
	uint8_t *p;
	unsigned n = i->op[0].size;
	if (unlikely(!fast_mem(c, &i->op[1], n, false, &p))) {
		GENERIC(h_mov, c, i); /* a tail call */
		return;
	}
	store_n(c->r.r8 + i->op[0].reg, n, load_n(p, n));
	NEXT_THREADED(c, i);
}

/* MOV m8/m16, r8/r16 */
static H(f_st_small)
{
	uint8_t *p;
	unsigned n = i->op[0].size;
	if (unlikely(!fast_mem(c, &i->op[0], n, true, &p))) {
		GENERIC(h_mov, c, i); /* a tail call */
		return;
	}
	store_n(p, n, load_n(c->r.r8 + i->op[1].reg, n));
	NEXT_THREADED(c, i);
}

/* MOV m8/m16, imm */
static H(f_st_small_i)
{
	uint8_t *p;
	unsigned n = i->op[0].size;
	if (unlikely(!fast_mem(c, &i->op[0], n, true, &p))) {
		GENERIC(h_mov, c, i); /* a tail call */
		return;
	}
	store_n(p, n, i->op[1].disp);
	NEXT_THREADED(c, i);
}

/* MOVZX r32, m8/m16 */
static H(f_movzx32_m)
{
	uint8_t *p;
	unsigned n = i->op[1].size;
	if (unlikely(!fast_mem(c, &i->op[1], n, false, &p))) {
		GENERIC(h_movzx, c, i); /* a tail call */
		return;
	}
	R32(c, i->op[0]) = load_n(p, n);
	NEXT_THREADED(c, i);
}

/* MOVZX r32, r8/r16 */
static H(f_movzx32_r)
{
	R32(c, i->op[0]) = load_n(c->r.r8 + i->op[1].reg, i->op[1].size);
	NEXT_THREADED(c, i);
}

/* MOVSX r32, m8/m16 */
static H(f_movsx32_m)
{
	uint8_t *p;
	unsigned n = i->op[1].size;
	if (unlikely(!fast_mem(c, &i->op[1], n, false, &p))) {
		GENERIC(h_movsx, c, i); /* a tail call */
		return;
	}
	R32(c, i->op[0]) = (uint32_t)sext(load_n(p, n), n);
	NEXT_THREADED(c, i);
}

/* MOVSX r32, r8/r16 */
static H(f_movsx32_r)
{
	R32(c, i->op[0]) = (uint32_t)sext(load_n(c->r.r8 + i->op[1].reg, i->op[1].size),
					  i->op[1].size);
	NEXT_THREADED(c, i);
}

/* LEA r32, m (32-bit addressing) */
static H(f_lea32)
{
	const struct opnd *o = &i->op[1];
	R32(c, i->op[0]) = o->disp + c->r.r32[o->base] + (c->r.r32[o->index] << o->scale);
	NEXT_THREADED(c, i);
}

static inline void imul32(struct cpu *c, const struct insn *i, uint32_t a, uint32_t b)
{
	int64_t p = (int64_t)(int32_t)a * (int32_t)b;
	R32(c, i->op[0]) = (uint32_t)p;
	flags_lazy_co(c, 4, (uint32_t)p, p != (int32_t)p, p != (int32_t)p);
	NEXT_THREADED(c, i);
}

/* IMUL r32, r32 */
static H(f_imul32_rr)
{
	imul32(c, i, R32(c, i->op[0]), R32(c, i->op[1]));
}

/* IMUL r32, r32, imm */
static H(f_imul32_rri)
{
	imul32(c, i, R32(c, i->op[1]), i->op[2].disp);
}

/* IMUL r32, m32 */
static H(f_imul32_rm)
{
	uint8_t *p;
	if (unlikely(!fast_mem(c, &i->op[1], 4, false, &p))) {
		GENERIC(h_imul2, c, i); /* a tail call */
		return;
	}
	imul32(c, i, R32(c, i->op[0]), load_n(p, 4));
}

/* IMUL r32, m32, imm */
static H(f_imul32_rmi)
{
	uint8_t *p;
	if (unlikely(!fast_mem(c, &i->op[1], 4, false, &p))) {
		GENERIC(h_imul2, c, i); /* a tail call */
		return;
	}
	imul32(c, i, load_n(p, 4), i->op[2].disp);
}

/* SHL/SHR/SAR r32, imm8 with the count (1..31) known at decode time, in
 * i->imm2. Flags as shift() in exec_alu.c sets them. */
static H(f_shl32_ri)
{
	uint32_t a = R32(c, i->op[0]), n = i->imm2, r = a << n;
	bool cf = (a >> (32 - n)) & 1;
	R32(c, i->op[0]) = r;
	flags_lazy_co(c, 4, r, cf, (r >> 31) ^ cf);
	NEXT_THREADED(c, i);
}

static H(f_shr32_ri)
{
	uint32_t a = R32(c, i->op[0]), n = i->imm2, r = a >> n;
	R32(c, i->op[0]) = r;
	flags_lazy_co(c, 4, r, (a >> (n - 1)) & 1, a >> 31);
	NEXT_THREADED(c, i);
}

static H(f_sar32_ri)
{
	int32_t a = (int32_t)R32(c, i->op[0]);
	uint32_t n = i->imm2, r = (uint32_t)(a >> n);
	R32(c, i->op[0]) = r;
	flags_lazy_co(c, 4, r, (a >> (n - 1)) & 1, false);
	NEXT_THREADED(c, i);
}

/* INC/DEC r32: CF is kept, so it is carried in lf_b (LF_INC/LF_DEC). */
static H(f_inc32_r)
{
	uint32_t a = R32(c, i->op[0]), cf = cf_get(c), r = a + 1;
	R32(c, i->op[0]) = r;
	flags_lazy(c, LF_INC, 4, r, a, cf);
	NEXT_THREADED(c, i);
}

static H(f_dec32_r)
{
	uint32_t a = R32(c, i->op[0]), cf = cf_get(c), r = a - 1;
	R32(c, i->op[0]) = r;
	flags_lazy(c, LF_DEC, 4, r, a, cf);
	NEXT_THREADED(c, i);
}

/* CMP/TEST r8, imm8 and CMP/TEST m8, imm8 / r8 (string scanning code). */
static H(f_cmp8_ri)
{
	uint32_t a = c->r.r8[i->op[0].reg], b = i->op[1].disp;
	if (i->sub == ALU_CMP)
		flags_lazy(c, LF_SUB, 1, a - b, a, b);
	else
		flags_lazy(c, LF_LOGIC, 1, a & b, 0, 0);
	NEXT_THREADED(c, i);
}

static H(f_cmp8_m)
{
	uint8_t *p;
	if (unlikely(!fast_mem(c, &i->op[0], 1, false, &p))) {
		GENERIC(h_alu, c, i); /* a tail call */
		return;
	}
	uint32_t a = *p;
	uint32_t b = i->op[1].kind == OK_IMM ? i->op[1].disp : c->r.r8[i->op[1].reg];
	if (i->sub == ALU_CMP)
		flags_lazy(c, LF_SUB, 1, a - b, a, b);
	else
		flags_lazy(c, LF_LOGIC, 1, a & b, 0, 0);
	NEXT_THREADED(c, i);
}

/*
 * Jcc with a 32-bit operand size, one handler per condition so that
 * cond_fast (exec.h) folds at compile time. A taken Jcc ends the block,
 * unless its target is a later instruction of the same block (an
 * if-then skipping a few instructions): decode put that instruction's
 * index in imm2 (block_link_local_jumps), and the block runs on there, as
 * long as it may (blk_end: the budget, single-stepping, a write to a code
 * page) and the target is not emu_flat's stop address. Only forward, so a
 * block still ends within BLOCK_MAX_INSNS instructions. The instructions
 * skipped are taken off the count that the block's end adds up.
 */
#define JCC_FORM(cc)                                                              \
	static H(f_jcc_##cc)                                                      \
	{                                                                         \
		int taken = cond_fast(c, cc);                                     \
		if (unlikely(taken < 0)) {                                        \
			GENERIC(h_jcc, c, i); /* a tail call */                            \
			return;                                                   \
		}                                                                 \
		uint32_t next = c->blk_eip + i->next_off;                         \
		if (taken) {                                                      \
			uint32_t target = next + i->op[0].disp;                   \
			if (unlikely(target > c->seg[S_CS].limit)) {              \
				EIP_HERE(c, i);                                   \
				cpu_raise(c, EXC_GP, 0);                          \
			}                                                         \
			c->eip = target;                                          \
			const struct insn *t = c->blk_start + i->imm2;            \
			if (i->imm2 && t < c->blk_end && target != c->stop_eip) { \
				c->insns -= (uint64_t)(t - i - 1);                \
				c->cur = t;                                       \
				t->fn(c, t);                                      \
				return;                                           \
			}                                                         \
			c->blk_end = NULL; /* the block runs on only if not taken */ \
		} else {                                                          \
			NEXT_THREADED(c, i);                                      \
		}                                                                 \
	}
JCC_FORM(0) JCC_FORM(1) JCC_FORM(2) JCC_FORM(3) JCC_FORM(4) JCC_FORM(5) JCC_FORM(6) JCC_FORM(7)
JCC_FORM(8) JCC_FORM(9) JCC_FORM(10) JCC_FORM(11) JCC_FORM(12) JCC_FORM(13) JCC_FORM(14)
JCC_FORM(15)

static const insn_fn jcc32_fns[16] = {
	f_jcc_0, f_jcc_1, f_jcc_2, f_jcc_3, f_jcc_4, f_jcc_5, f_jcc_6, f_jcc_7,
	f_jcc_8, f_jcc_9, f_jcc_10, f_jcc_11, f_jcc_12, f_jcc_13, f_jcc_14, f_jcc_15,
};

/* SETcc r8, CMOVcc r32, r32 and CMOVcc r32, m32, one handler per
 * condition like Jcc (cond_now, exec.h).
 * CMOVcc reads its source whether or not it moves it (a fault is taken
 * either way), as h_cmovcc does. */

#define CC_FORMS(cc)                                                              \
	static H(f_setcc_r_##cc)                                                  \
	{                                                                         \
		c->r.r8[i->op[0].reg] = cond_now(c, cc);                          \
		NEXT_THREADED(c, i);                                              \
	}                                                                         \
	static H(f_cmov32_rr_##cc)                                                \
	{                                                                         \
		if (cond_now(c, cc))                                              \
			R32(c, i->op[0]) = R32(c, i->op[1]);                      \
		NEXT_THREADED(c, i);                                              \
	}                                                                         \
	static H(f_cmov32_rm_##cc)                                                \
	{                                                                         \
		uint8_t *p;                                                       \
		if (unlikely(!fast_mem(c, &i->op[1], 4, false, &p))) {           \
			GENERIC(h_cmovcc, c, i); /* a tail call */                         \
			return;                                                   \
		}                                                                 \
		uint32_t v = load_n(p, 4);                                        \
		if (cond_now(c, cc))                                              \
			R32(c, i->op[0]) = v;                                     \
		NEXT_THREADED(c, i);                                              \
	}
CC_FORMS(0) CC_FORMS(1) CC_FORMS(2) CC_FORMS(3) CC_FORMS(4) CC_FORMS(5) CC_FORMS(6) CC_FORMS(7)
CC_FORMS(8) CC_FORMS(9) CC_FORMS(10) CC_FORMS(11) CC_FORMS(12) CC_FORMS(13) CC_FORMS(14)
CC_FORMS(15)

#define CC_TABLE(form)                                                                       \
	static const insn_fn form##_fns[16] = {                                              \
		form##_0, form##_1, form##_2, form##_3, form##_4, form##_5, form##_6, form##_7,  \
		form##_8, form##_9, form##_10, form##_11, form##_12, form##_13, form##_14,       \
		form##_15,                                                                   \
	};
CC_TABLE(f_setcc_r)
CC_TABLE(f_cmov32_rr)
CC_TABLE(f_cmov32_rm)

/* JMP rel32: to a later instruction of its block like a taken Jcc
 * (imm2), or the block ends. */
static H(f_jmp)
{
	uint32_t target = c->blk_eip + i->next_off + i->op[0].disp;
	if (unlikely(target > c->seg[S_CS].limit)) {
		EIP_HERE(c, i);
		cpu_raise(c, EXC_GP, 0);
	}
	c->eip = target;
	const struct insn *t = c->blk_start + i->imm2;
	if (i->imm2 && t < c->blk_end && target != c->stop_eip) {
		c->insns -= (uint64_t)(t - i - 1);
		c->cur = t;
		t->fn(c, t);
		return;
	}
	c->blk_end = NULL;
}

/* CALL rel32 and RET / RET imm16 with a 32-bit operand size and stack
 * (the general h_call, h_ret otherwise, from the start: they raise the
 * #GP for a target past the CS limit, or the stack fault). */
static H(f_call32)
{
	uint8_t *p;
	uint32_t ret = c->blk_eip + i->next_off, target = ret + i->op[0].disp;
	uint32_t sp = c->r.r32[R_ESP] - 4;
	if (unlikely(target > c->seg[S_CS].limit || !fast_stack(c, sp, true, &p))) {
		GENERIC(h_call, c, i); /* a tail call */
		return;
	}
	store_n(p, 4, ret);
	c->r.r32[R_ESP] = sp;
	c->eip = target;
}

static H(f_ret32)
{
	uint8_t *p;
	uint32_t sp = c->r.r32[R_ESP];
	if (unlikely(!fast_stack(c, sp, false, &p))) {
		GENERIC(h_ret, c, i); /* a tail call */
		return;
	}
	uint32_t target = load_n(p, 4);
	if (unlikely(target > c->seg[S_CS].limit)) {
		GENERIC(h_ret, c, i);
		return;
	}
	c->r.r32[R_ESP] = sp + 4 + (i->op[0].kind == OK_IMM ? i->op[0].disp : 0);
	c->eip = target;
}

bool fast_jmp(insn_fn fn)
{
	return fn == f_jmp;
}

bool fast_jcc(insn_fn fn)
{
	for (unsigned k = 0; k < 16; k++)
		if (fn == jcc32_fns[k])
			return true;
	return false;
}

/*
 * CMP/TEST r32, r32/imm and the Jcc fast form right after it, run by one
 * handler (decode's block_fuse_pairs puts it on the CMP; the Jcc keeps its
 * own handler for a jump that lands on it). The flags are recorded as the
 * CMP records them and the condition decided from them (the compiler sees
 * the values it has just stored); then the Jcc's path, as f_jcc_* takes
 * it. If the block must stop between the two (blk_end: the budget,
 * single-stepping), this is the CMP alone. The Jcc counts as retired like
 * any other instruction: c->cur is on it whenever the pair completes.
 */
static inline __attribute__((always_inline)) void cmp_jcc(struct cpu *c, const struct insn *i,
							   unsigned cc, bool test, uint32_t a,
							   uint32_t b)
{
	if (test)
		flags_lazy(c, LF_LOGIC, 4, a & b, 0, 0);
	else
		flags_lazy(c, LF_SUB, 4, a - b, a, b);
	const struct insn *j = i + 1;
	if (unlikely(j >= c->blk_end)) {
		NEXT_THREADED(c, i);
		return;
	}
	c->cur = j;
	uint32_t next = c->blk_eip + j->next_off;
	if (cond_fast(c, cc)) {
		uint32_t target = next + j->op[0].disp;
		if (unlikely(target > c->seg[S_CS].limit)) {
			c->eip = c->blk_eip + i->next_off; /* the Jcc's own */
			cpu_raise(c, EXC_GP, 0);
		}
		c->eip = target;
		const struct insn *t = c->blk_start + j->imm2;
		if (j->imm2 && t < c->blk_end && target != c->stop_eip) {
			c->insns -= (uint64_t)(t - j - 1);
			c->cur = t;
			t->fn(c, t);
			return;
		}
		c->blk_end = NULL;
	} else {
		NEXT_THREADED(c, j);
	}
}

#define CMPJCC_FORMS(cc)                                                                  \
	static H(f_cmpjcc_rr_##cc)                                                        \
	{                                                                                 \
		cmp_jcc(c, i, cc, false, R32(c, i->op[0]), R32(c, i->op[1]));             \
	}                                                                                 \
	static H(f_cmpjcc_ri_##cc)                                                        \
	{                                                                                 \
		cmp_jcc(c, i, cc, false, R32(c, i->op[0]), i->op[1].disp);                \
	}                                                                                 \
	static H(f_testjcc_rr_##cc)                                                       \
	{                                                                                 \
		cmp_jcc(c, i, cc, true, R32(c, i->op[0]), R32(c, i->op[1]));              \
	}                                                                                 \
	static H(f_testjcc_ri_##cc)                                                       \
	{                                                                                 \
		cmp_jcc(c, i, cc, true, R32(c, i->op[0]), i->op[1].disp);                 \
	}
CMPJCC_FORMS(0) CMPJCC_FORMS(1) CMPJCC_FORMS(2) CMPJCC_FORMS(3) CMPJCC_FORMS(4)
CMPJCC_FORMS(5) CMPJCC_FORMS(6) CMPJCC_FORMS(7) CMPJCC_FORMS(8) CMPJCC_FORMS(9)
CMPJCC_FORMS(10) CMPJCC_FORMS(11) CMPJCC_FORMS(12) CMPJCC_FORMS(13) CMPJCC_FORMS(14)
CMPJCC_FORMS(15)

#define CMPJCC_TABLE(form)                                                                   \
	{                                                                                    \
		form##_0, form##_1, form##_2, form##_3, form##_4, form##_5, form##_6, form##_7,  \
		form##_8, form##_9, form##_10, form##_11, form##_12, form##_13, form##_14,       \
		form##_15,                                                                   \
	}
static const insn_fn cmpjcc_fns[2][2][16] = {
	{ CMPJCC_TABLE(f_cmpjcc_rr), CMPJCC_TABLE(f_cmpjcc_ri) },
	{ CMPJCC_TABLE(f_testjcc_rr), CMPJCC_TABLE(f_testjcc_ri) },
};

void fuse_cmp_jcc(struct insn *i, const struct insn *j)
{
	const struct opnd *a = &i->op[0], *b = &i->op[1];
	if (!reg_forms_on || !fast_jcc(j->fn) ||
	    !(i->mnem == ZYDIS_MNEMONIC_CMP || i->mnem == ZYDIS_MNEMONIC_TEST))
		return;
	if (!(a->kind == OK_REG && a->size == 4) || i->nops != 2)
		return;
	bool imm = b->kind == OK_IMM;
	if (!imm && !(b->kind == OK_REG && b->size == 4))
		return;
	i->fn = cmpjcc_fns[i->mnem == ZYDIS_MNEMONIC_TEST][imm][j->sub & 15];
}

static bool mem_a32(const struct opnd *o)
{
	return o->kind == OK_MEM && !o->a16;
}

static bool reg_of(const struct opnd *o, unsigned size)
{
	return o->kind == OK_REG && o->size == size;
}

static bool small(unsigned size)
{
	return size == 1 || size == 2;
}

static insn_fn fast_fn(struct insn *i)
{
	const struct opnd *a = &i->op[0], *b = &i->op[1], *d = &i->op[2];
	insn_fn fn = i->fn;
	if (fn == h_jcc && i->osize == 4)
		return jcc32_fns[i->sub & 15];
	if (fn == h_jmp && i->osize == 4)
		return f_jmp;
	if (fn == h_call && i->osize == 4)
		return f_call32;
	if (fn == h_ret && i->osize == 4)
		return f_ret32;
	if (fn == h_setcc && reg_of(a, 1))
		return f_setcc_r_fns[i->sub & 15];
	if (fn == h_cmovcc && reg_of(a, 4) && reg_of(b, 4))
		return reg_form(i, f_cmov32_rr_fns[i->sub & 15], RF_CMOV_RR);
	if (fn == h_cmovcc && reg_of(a, 4) && mem_a32(b) && b->size == 4)
		return reg_form(i, f_cmov32_rm_fns[i->sub & 15], RF_CMOV_RM);
	if (i->sub < ALU_N && fn == alu32_rm_fns[i->sub])
		return reg_form(i, fn, RF_ALU_RM);
	if (i->sub < ALU_N && fn == alu32_mr_fns[i->sub])
		return reg_form(i, fn, RF_ALU_MR);
	if (fn == h_mov32_rr)
		return reg_form(i, fn, RF_MOV_RR);
	if (fn == h_mov32_ri)
		return reg_form(i, fn, RF_MOV_RI);
	if (fn == h_push32_r)
		return reg_form(i, fn, RF_PUSH_R);
	if (fn == h_pop32_r)
		return reg_form(i, fn, RF_POP_R);
	if (i->sub < ALU_N && fn == alu32_rr_fns[i->sub])
		return reg_form(i, fn, RF_ALU_RR);
	if (i->sub < ALU_N && fn == alu32_ri_fns[i->sub])
		return reg_form(i, fn, RF_ALU_RI);
	if (fn == h_mov32_rm && mem_a32(b))
		return reg_form(i, f_ld32, RF_LD32);
	if (fn == h_mov32_mr && mem_a32(a) && reg_of(b, 4))
		return reg_form(i, f_st32, RF_ST32);
	if (fn == h_mov32_mr && mem_a32(a) && b->kind == OK_IMM)
		return f_st32i;
	if (fn == h_mov && small(a->size) && a->size == b->size) {
		if (a->kind == OK_REG && mem_a32(b))
			return reg_form(i, f_ld_small, RF_LD_SMALL);
		if (mem_a32(a) && b->kind == OK_REG)
			return reg_form(i, f_st_small, RF_ST_SMALL);
		if (mem_a32(a) && b->kind == OK_IMM)
			return f_st_small_i;
	}
	if ((fn == h_movzx || fn == h_movsx) && reg_of(a, 4) && small(b->size)) {
		bool zx = fn == h_movzx;
		if (b->kind == OK_REG)
			return zx ? reg_form(i, f_movzx32_r, RF_MOVZX_R) : f_movsx32_r;
		if (mem_a32(b))
			return zx ? reg_form(i, f_movzx32_m, RF_MOVZX_M) : f_movsx32_m;
	}
	if (fn == h_lea && reg_of(a, 4) && mem_a32(b))
		return reg_form(i, f_lea32, RF_LEA32);
	if (fn == h_imul2 && reg_of(a, 4)) {
		if (i->nops == 2 && reg_of(b, 4))
			return reg_form(i, f_imul32_rr, RF_IMUL_RR);
		if (i->nops == 2 && mem_a32(b) && b->size == 4)
			return f_imul32_rm;
		if (i->nops == 3 && d->kind == OK_IMM && reg_of(b, 4))
			return f_imul32_rri;
		if (i->nops == 3 && d->kind == OK_IMM && mem_a32(b) && b->size == 4)
			return f_imul32_rmi;
	}
	unsigned cnt = b->kind == OK_NONE ? 1 : b->disp & 0x1f;
	if (fn == h_shift && reg_of(a, 4) && (b->kind == OK_IMM || b->kind == OK_NONE) && cnt) {
		i->imm2 = cnt;
		if (i->sub == 4)
			return reg_form(i, f_shl32_ri, RF_SHL_RI);
		if (i->sub == 5)
			return reg_form(i, f_shr32_ri, RF_SHR_RI);
		if (i->sub == 7)
			return reg_form(i, f_sar32_ri, RF_SAR_RI);
	}
	if (fn == h_inc && reg_of(a, 4))
		return reg_form(i, f_inc32_r, RF_INC_R);
	if (fn == h_dec && reg_of(a, 4))
		return reg_form(i, f_dec32_r, RF_DEC_R);
	if (fn == h_alu && (i->sub == ALU_CMP || i->sub == ALU_TEST) && a->size == 1) {
		if (a->kind == OK_REG && b->kind == OK_IMM)
			return f_cmp8_ri;
		if (mem_a32(a) && (b->kind == OK_IMM || reg_of(b, 1)))
			return f_cmp8_m;
	}
	return fn;
}

/* Every general handler, for h_generic_entry. */
#define GENERIC_ENTRY(name) name,
static const insn_fn generic_fns[] = { HANDLERS(GENERIC_ENTRY) };
_Static_assert(sizeof generic_fns / sizeof generic_fns[0] <= 256, "insn.gen is a byte");

/* A general handler's entry inside a block: EIP first (NEXT_THREADED
 * leaves it lazy), then the handler (i->gen). */
static H(h_generic_entry)
{
	EIP_HERE(c, i);
	generic_fns[i->gen](c, i);
}

void fast_form(struct insn *i)
{
	insn_fn fn = fast_fn(i);
	/* These two are threaded and never read EIP: left as they are. */
	if (fn != h_mov32_rr && fn != h_mov32_ri)
		for (unsigned k = 0; k < sizeof generic_fns / sizeof generic_fns[0]; k++)
			if (fn == generic_fns[k]) {
				i->gen = (uint8_t)k;
				fn = h_generic_entry;
				break;
			}
	i->fn = fn;
}
