/*
 * The hottest fast forms once more, one handler per guest register (or
 * pair of registers), chosen at decode time by fast_form.
 *
 * Why: guest registers live in memory (struct cpu), so a guest value
 * passes from the handler that writes it to the one that reads it through
 * a host store and load, and the guest's dependency chains are the
 * critical path of this interpreter. A generic handler first reads the
 * register's offset from the decoded instruction, then the register
 * ((%rdi,%rax,1)); a handler that knows the register at compile time reads
 * it at a constant displacement (0x8(%rdi)). Timed as a dependent
 * load-add-store chain through one word (bench/regfwd.c), the first costs
 * 1.5 to 1.8 times the second on this host's EPYC; on the Linux boot the
 * forms below took 11% of the CPU time off (docs/04-interp.md).
 *
 * Each handler here is its generic form (exec_fast.c, exec_alu.c,
 * exec_data.c) with the register numbers as constants: same checks, same
 * fallbacks, same results. The index register of a memory operand stays
 * generic (r32[8] reads as zero when there is none).
 */
#include "exec.h"

#define GR(c, n) ((c)->r.r32[n])

/* Lists for the preprocessor: M(p, q, k) for each register number k.
 * Two copies, because a macro does not expand inside its own expansion. */
#define FOR8(M, p, q) M(p, q, 0) M(p, q, 1) M(p, q, 2) M(p, q, 3) M(p, q, 4) M(p, q, 5) M(p, q, 6) M(p, q, 7)
#define FOR8B(M, p, q) M(p, q, 0) M(p, q, 1) M(p, q, 2) M(p, q, 3) M(p, q, 4) M(p, q, 5) M(p, q, 6) M(p, q, 7)
/* Bases: the eight registers and REG_NONE (8, always zero: [disp32]). */
#define FOR9B(M, p, q) FOR8B(M, p, q) M(p, q, 8)

/* exec.h's fast_mem with the base register a constant; the index is
 * used only when has_index (decode puts REG_NONE there otherwise). */
static inline __attribute__((always_inline)) bool fast_mem_b(const struct cpu *c,
							    const struct opnd *o, unsigned base,
							    bool has_index, unsigned size,
							    bool write, uint8_t **p)
{
	uint32_t off = o->disp + GR(c, base);
	if (has_index)
		off += c->r.r32[o->index] << o->scale;
	return fast_off_hit(c, o->seg, off, size, write, p);
}

/* MOV r32, r32 */
#define MOV_RR(_, d, s)                                     \
	static H(mov_rr_##d##_##s)                          \
	{                                                   \
		GR(c, d) = GR(c, s);                        \
		NEXT_THREADED(c, i);                        \
	}
#define MOV_RR_ROW(_, u_, d) FOR8B(MOV_RR, _, d)
FOR8(MOV_RR_ROW, _, _)

/* ALU r32, r32 (op is the ALU_* number) */
#define ALU_RR(op, d, s)                                                       \
	static H(alu_rr_##op##_##d##_##s)                                      \
	{                                                                      \
		uint32_t r = alu_do(c, op, 4, GR(c, d), GR(c, s));             \
		if (alu_writes(op))                                            \
			GR(c, d) = r;                                          \
		NEXT_THREADED(c, i);                                           \
	}
#define ALU_RR_ROW(op, _, d) FOR8B(ALU_RR, op, d)
#define ALU_RR_OP(op) FOR8(ALU_RR_ROW, op, _)
ALU_RR_OP(0) ALU_RR_OP(1) ALU_RR_OP(2) ALU_RR_OP(3) ALU_RR_OP(4) ALU_RR_OP(5) ALU_RR_OP(6)
ALU_RR_OP(7) ALU_RR_OP(8)

/* ALU r32, imm */
#define ALU_RI(OP, _, d)                                                       \
	static H(alu_ri_##OP##_##d)                                            \
	{                                                                      \
		uint32_t r = alu_do(c, OP, 4, GR(c, d), i->op[1].disp);        \
		if (alu_writes(OP))                                            \
			GR(c, d) = r;                                          \
		NEXT_THREADED(c, i);                                           \
	}
#define ALU_RI_OP(OP) FOR8(ALU_RI, OP, _)
ALU_RI_OP(0) ALU_RI_OP(1) ALU_RI_OP(2) ALU_RI_OP(3) ALU_RI_OP(4) ALU_RI_OP(5) ALU_RI_OP(6)
ALU_RI_OP(7) ALU_RI_OP(8)

/* MOV r32, m32 and MOV m32, r32: x says whether there is an index. */
#define LD32(x, d, b)                                                                 \
	static H(ld32_##x##_##d##_##b)                                                \
	{                                                                             \
		uint8_t *p;                                                           \
		if (unlikely(!fast_mem_b(c, &i->op[1], b, x, 4, false, &p))) {        \
			GENERIC(h_mov32_rm, c, i); /* a tail call */                           \
			return;                                                       \
		}                                                                     \
		GR(c, d) = load_n(p, 4);                                              \
		NEXT_THREADED(c, i);                                                  \
	}
#define ST32(x, s, b)                                                                 \
	static H(st32_##x##_##s##_##b)                                                \
	{                                                                             \
		uint8_t *p;                                                           \
		if (unlikely(!fast_mem_b(c, &i->op[0], b, x, 4, true, &p))) {         \
			GENERIC(h_mov32_mr, c, i); /* a tail call */                           \
			return;                                                       \
		}                                                                     \
		store_n(p, 4, GR(c, s));                                              \
		NEXT_THREADED(c, i);                                                  \
	}
/* LEA r32, [base + index*scale + disp] */
#define LEA32(x, d, b)                                                                \
	static H(lea32_##x##_##d##_##b)                                               \
	{                                                                             \
		const struct opnd *o = &i->op[1];                                     \
		uint32_t v = o->disp + GR(c, b);                                      \
		if (x)                                                                \
			v += c->r.r32[o->index] << o->scale;                          \
		GR(c, d) = v;                                                         \
		NEXT_THREADED(c, i);                                                  \
	}
#define LD32_ROW(x, _, d) FOR9B(LD32, x, d)
#define ST32_ROW(x, _, s) FOR9B(ST32, x, s)
#define LEA32_ROW(x, _, d) FOR9B(LEA32, x, d)
FOR8(LD32_ROW, 0, _) FOR8(LD32_ROW, 1, _)
FOR8(ST32_ROW, 0, _) FOR8(ST32_ROW, 1, _)
FOR8(LEA32_ROW, 0, _) FOR8(LEA32_ROW, 1, _)

/* IMUL r32, r32 (flags as exec_fast.c's imul32) */
#define IMUL_RR(_, d, s)                                                              \
	static H(imul_rr_##d##_##s)                                                   \
	{                                                                             \
		int64_t p = (int64_t)(int32_t)GR(c, d) * (int32_t)GR(c, s);           \
		GR(c, d) = (uint32_t)p;                                               \
		flags_lazy_co(c, 4, (uint32_t)p, p != (int32_t)p, p != (int32_t)p);   \
		NEXT_THREADED(c, i);                                                  \
	}
#define IMUL_RR_ROW(_, u_, d) FOR8B(IMUL_RR, _, d)
FOR8(IMUL_RR_ROW, _, _)

/* MOVZX/MOVSX r32, m8/m16 (n: the operand's size) */
#define MOVX_M(x, d, b)                                                               \
	static H(movx_m_##x##_##d##_##b)                                              \
	{                                                                             \
		uint8_t *p;                                                           \
		unsigned n = i->op[1].size;                                           \
		if (unlikely(!fast_mem_b(c, &i->op[1], b, x, n, false, &p))) {        \
			GENERIC(h_movzx, c, i); /* a tail call */                              \
			return;                                                       \
		}                                                                     \
		GR(c, d) = load_n(p, n);                                              \
		NEXT_THREADED(c, i);                                                  \
	}
#define MOVX_M_ROW(x, u_, d) FOR9B(MOVX_M, x, d)
FOR8(MOVX_M_ROW, 0, _) FOR8(MOVX_M_ROW, 1, _)

/* MOV r32, imm32 */
#define MOV_RI(u_, v_, d)                                   \
	static H(mov_ri_##d)                                \
	{                                                   \
		GR(c, d) = i->op[1].disp;                   \
		NEXT_THREADED(c, i);                        \
	}
FOR8(MOV_RI, _, _)

/* SHL/SHR/SAR r32, imm8 (count 1..31 in imm2; flags as exec_fast.c's) */
#define SHIFT_RI(u_, v_, d)                                                           \
	static H(shl_ri_##d)                                                          \
	{                                                                             \
		uint32_t a = GR(c, d), n = i->imm2, r = a << n;                       \
		bool cf = (a >> (32 - n)) & 1;                                        \
		GR(c, d) = r;                                                         \
		flags_lazy_co(c, 4, r, cf, (r >> 31) ^ cf);                           \
		NEXT_THREADED(c, i);                                                  \
	}                                                                             \
	static H(shr_ri_##d)                                                          \
	{                                                                             \
		uint32_t a = GR(c, d), n = i->imm2, r = a >> n;                       \
		GR(c, d) = r;                                                         \
		flags_lazy_co(c, 4, r, (a >> (n - 1)) & 1, a >> 31);                  \
		NEXT_THREADED(c, i);                                                  \
	}                                                                             \
	static H(sar_ri_##d)                                                          \
	{                                                                             \
		int32_t a = (int32_t)GR(c, d);                                        \
		uint32_t n = i->imm2, r = (uint32_t)(a >> n);                         \
		GR(c, d) = r;                                                         \
		flags_lazy_co(c, 4, r, (a >> (n - 1)) & 1, false);                    \
		NEXT_THREADED(c, i);                                                  \
	}
FOR8(SHIFT_RI, _, _)

/* INC/DEC r32 (CF kept, carried in lf_b) */
#define INCDEC(u_, v_, d)                                                             \
	static H(inc_r_##d)                                                           \
	{                                                                             \
		uint32_t a = GR(c, d), cf = cf_get(c), r = a + 1;                     \
		GR(c, d) = r;                                                         \
		flags_lazy(c, LF_INC, 4, r, a, cf);                                   \
		NEXT_THREADED(c, i);                                                  \
	}                                                                             \
	static H(dec_r_##d)                                                           \
	{                                                                             \
		uint32_t a = GR(c, d), cf = cf_get(c), r = a - 1;                     \
		GR(c, d) = r;                                                         \
		flags_lazy(c, LF_DEC, 4, r, a, cf);                                   \
		NEXT_THREADED(c, i);                                                  \
	}
FOR8(INCDEC, _, _)

/* PUSH r32 / POP r32 with a 32-bit stack: the write or read first, ESP
 * last (as h_push32_r, h_pop32_r, which take every other case). PUSH ESP
 * pushes the old value, POP ESP loads ESP with the popped value. */
#define PUSHPOP(u_, v_, d)                                                            \
	static H(push_r_##d)                                                          \
	{                                                                             \
		uint8_t *p;                                                           \
		uint32_t sp = GR(c, R_ESP) - 4;                                       \
		if (unlikely(!fast_stack(c, sp, true, &p))) {                         \
			GENERIC(h_push32_r, c, i); /* a tail call */                           \
			return;                                                       \
		}                                                                     \
		store_n(p, 4, GR(c, d));                                              \
		GR(c, R_ESP) = sp;                                                    \
		NEXT_THREADED(c, i);                                                  \
	}                                                                             \
	static H(pop_r_##d)                                                           \
	{                                                                             \
		uint8_t *p;                                                           \
		uint32_t sp = GR(c, R_ESP);                                           \
		if (unlikely(!fast_stack(c, sp, false, &p))) {                        \
			GENERIC(h_pop32_r, c, i); /* a tail call */                            \
			return;                                                       \
		}                                                                     \
		GR(c, R_ESP) = sp + 4;                                                \
		GR(c, d) = load_n(p, 4);                                              \
		NEXT_THREADED(c, i);                                                  \
	}
FOR8(PUSHPOP, _, _)

/* exec.h's fast_mem as it is (generic base and index), for the forms
 * below that are specialised by their register operand only. */

/* ALU r32, m32 and ALU m32, r32 by op and register (exec_alu.c's
 * alu32_rm_* / alu32_mr_*; the general h_alu on a miss). */
#define ALU_RM(OP, u_, d)                                                             \
	static H(alu_rm_##OP##_##d)                                                   \
	{                                                                             \
		uint8_t *p;                                                           \
		if (unlikely(!fast_mem(c, &i->op[1], 4, false, &p))) {               \
			GENERIC(h_alu, c, i); /* a tail call */                                \
			return;                                                       \
		}                                                                     \
		uint32_t r = alu_do(c, OP, 4, GR(c, d), load_n(p, 4));                \
		if (alu_writes(OP))                                                   \
			GR(c, d) = r;                                                 \
		NEXT_THREADED(c, i);                                                  \
	}                                                                             \
	static H(alu_mr_##OP##_##d)                                                   \
	{                                                                             \
		uint8_t *p;                                                           \
		if (unlikely(!fast_mem(c, &i->op[0], 4, alu_writes(OP), &p))) {      \
			GENERIC(h_alu, c, i); /* a tail call */                                \
			return;                                                       \
		}                                                                     \
		uint32_t r = alu_do(c, OP, 4, load_n(p, 4), GR(c, d));                \
		if (alu_writes(OP))                                                   \
			store_n(p, 4, r);                                             \
		NEXT_THREADED(c, i);                                                  \
	}
#define ALU_RM_OP(OP) FOR8(ALU_RM, OP, _)
ALU_RM_OP(0) ALU_RM_OP(1) ALU_RM_OP(2) ALU_RM_OP(3) ALU_RM_OP(4) ALU_RM_OP(5) ALU_RM_OP(6)
ALU_RM_OP(7) ALU_RM_OP(8)

/* CMOVcc r32, m32 by condition and register (exec_fast.c's forms). */
#define CMOV_RM(cc, u_, d)                                                            \
	static H(cmov_rm_##cc##_##d)                                                  \
	{                                                                             \
		uint8_t *p;                                                           \
		if (unlikely(!fast_mem(c, &i->op[1], 4, false, &p))) {               \
			GENERIC(h_cmovcc, c, i); /* a tail call */                             \
			return;                                                       \
		}                                                                     \
		uint32_t v = load_n(p, 4);                                            \
		if (cond_now(c, cc))                                                  \
			GR(c, d) = v;                                                 \
		NEXT_THREADED(c, i);                                                  \
	}                                                                             \
	static H(cmov_rr_##cc##_##d)                                                  \
	{                                                                             \
		uint32_t v = c->r.r32[i->op[1].reg >> 2];                             \
		if (cond_now(c, cc))                                                  \
			GR(c, d) = v;                                                 \
		NEXT_THREADED(c, i);                                                  \
	}
#define CMOV_CC(cc) FOR8(CMOV_RM, cc, _)
CMOV_CC(0) CMOV_CC(1) CMOV_CC(2) CMOV_CC(3) CMOV_CC(4) CMOV_CC(5) CMOV_CC(6) CMOV_CC(7)
CMOV_CC(8) CMOV_CC(9) CMOV_CC(10) CMOV_CC(11) CMOV_CC(12) CMOV_CC(13) CMOV_CC(14) CMOV_CC(15)

/* MOV r8/r16, m and MOV m, r8/r16 by base register (the 8/16-bit register
 * stays generic: a partial register cannot be forwarded whole anyway). */
#define SMALL(x, u_, b)                                                               \
	static H(ld_small_##x##_##b)                                                  \
	{                                                                             \
		uint8_t *p;                                                           \
		unsigned n = i->op[0].size;                                           \
		if (unlikely(!fast_mem_b(c, &i->op[1], b, x, n, false, &p))) {        \
			GENERIC(h_mov, c, i); /* a tail call */                                \
			return;                                                       \
		}                                                                     \
		store_n(c->r.r8 + i->op[0].reg, n, load_n(p, n));                     \
		NEXT_THREADED(c, i);                                                  \
	}                                                                             \
	static H(st_small_##x##_##b)                                                  \
	{                                                                             \
		uint8_t *p;                                                           \
		unsigned n = i->op[0].size;                                           \
		if (unlikely(!fast_mem_b(c, &i->op[0], b, x, n, true, &p))) {         \
			GENERIC(h_mov, c, i); /* a tail call */                                \
			return;                                                       \
		}                                                                     \
		store_n(p, n, load_n(c->r.r8 + i->op[1].reg, n));                     \
		NEXT_THREADED(c, i);                                                  \
	}
FOR9B(SMALL, 0, _) FOR9B(SMALL, 1, _)

/* MOVZX r32, r8/r16 by destination */
#define MOVZX_R(u_, v_, d)                                                            \
	static H(movzx_r_##d)                                                         \
	{                                                                             \
		GR(c, d) = load_n(c->r.r8 + i->op[1].reg, i->op[1].size);             \
		NEXT_THREADED(c, i);                                                  \
	}
FOR8(MOVZX_R, _, _)

/* The tables, indexed by the register numbers. */
#define P2(_, a, b) mov_rr_##a##_##b,
#define P2_ROW(_, u_, a) { FOR8B(P2, _, a) },
static const insn_fn mov_rr_tab[8][8] = { FOR8(P2_ROW, _, _) };
#undef P2
#undef P2_ROW

#define P2(_, a, b) imul_rr_##a##_##b,
#define P2_ROW(_, u_, a) { FOR8B(P2, _, a) },
static const insn_fn imul_rr_tab[8][8] = { FOR8(P2_ROW, _, _) };
#undef P2
#undef P2_ROW

#define P3(op, a, b) alu_rr_##op##_##a##_##b,
#define P3_ROW(op, _, a) { FOR8B(P3, op, a) },
#define P3_OP(op) { FOR8(P3_ROW, op, _) },
static const insn_fn alu_rr_tab[ALU_N][8][8] = {
	P3_OP(0) P3_OP(1) P3_OP(2) P3_OP(3) P3_OP(4) P3_OP(5) P3_OP(6) P3_OP(7) P3_OP(8)
};

#define PRI(op, _, a) alu_ri_##op##_##a,
#define PRI_OP(op) { FOR8(PRI, op, _) },
static const insn_fn alu_ri_tab[ALU_N][8] = {
	PRI_OP(0) PRI_OP(1) PRI_OP(2) PRI_OP(3) PRI_OP(4) PRI_OP(5) PRI_OP(6) PRI_OP(7) PRI_OP(8)
};

#define PM(x, a, b) NAME_(x, a, b),
#define PM_ROW(x, _, a) { FOR9B(PM, x, a) },
#define NAME_(x, a, b) ld32_##x##_##a##_##b
static const insn_fn ld32_tab[2][8][9] = { { FOR8(PM_ROW, 0, _) }, { FOR8(PM_ROW, 1, _) } };
#undef NAME_
#define NAME_(x, a, b) st32_##x##_##a##_##b
static const insn_fn st32_tab[2][8][9] = { { FOR8(PM_ROW, 0, _) }, { FOR8(PM_ROW, 1, _) } };
#undef NAME_
#define NAME_(x, a, b) lea32_##x##_##a##_##b
static const insn_fn lea32_tab[2][8][9] = { { FOR8(PM_ROW, 0, _) }, { FOR8(PM_ROW, 1, _) } };
#undef NAME_

#define NAME_(x, a, b) movx_m_##x##_##a##_##b
static const insn_fn movx_m_tab[2][8][9] = { { FOR8(PM_ROW, 0, _) }, { FOR8(PM_ROW, 1, _) } };
#undef NAME_

/* One handler per guest register: the table PFX_tab of PFX_0 .. PFX_7. */
#define P1(pfx, u_, a) pfx##_##a,
#define REG_TAB(pfx) static const insn_fn pfx##_tab[8] = { FOR8(P1, pfx, _) };
REG_TAB(mov_ri)
REG_TAB(shl_ri)
REG_TAB(shr_ri)
REG_TAB(sar_ri)
REG_TAB(inc_r)
REG_TAB(dec_r)
REG_TAB(push_r)
REG_TAB(pop_r)
REG_TAB(movzx_r)

#define PRM(OP, u_, a) NAME_(OP, a),
#define PRM_OP(OP) { FOR8(PRM, OP, _) },
#define NAME_(OP, a) alu_rm_##OP##_##a
static const insn_fn alu_rm_tab[ALU_N][8] = {
	PRM_OP(0) PRM_OP(1) PRM_OP(2) PRM_OP(3) PRM_OP(4) PRM_OP(5) PRM_OP(6) PRM_OP(7) PRM_OP(8)
};
#undef NAME_
#define NAME_(OP, a) alu_mr_##OP##_##a
static const insn_fn alu_mr_tab[ALU_N][8] = {
	PRM_OP(0) PRM_OP(1) PRM_OP(2) PRM_OP(3) PRM_OP(4) PRM_OP(5) PRM_OP(6) PRM_OP(7) PRM_OP(8)
};
#undef NAME_
#define CC_ROWS {                                                                  \
	PRM_OP(0) PRM_OP(1) PRM_OP(2) PRM_OP(3) PRM_OP(4) PRM_OP(5) PRM_OP(6) PRM_OP(7)  \
	PRM_OP(8) PRM_OP(9) PRM_OP(10) PRM_OP(11) PRM_OP(12) PRM_OP(13) PRM_OP(14)       \
	PRM_OP(15) }
#define NAME_(cc, a) cmov_rm_##cc##_##a
static const insn_fn cmov_rm_tab[16][8] = CC_ROWS;
#undef NAME_
#define NAME_(cc, a) cmov_rr_##cc##_##a
static const insn_fn cmov_rr_tab[16][8] = CC_ROWS;
#undef NAME_

#define PS(x, u_, b) NAME_(x, b),
#define NAME_(x, b) ld_small_##x##_##b
static const insn_fn ld_small_tab[2][9] = { { FOR9B(PS, 0, _) }, { FOR9B(PS, 1, _) } };
#undef NAME_
#define NAME_(x, b) st_small_##x##_##b
static const insn_fn st_small_tab[2][9] = { { FOR9B(PS, 0, _) }, { FOR9B(PS, 1, _) } };
#undef NAME_

/* A 32-bit register operand's number. */
static unsigned rn(const struct opnd *o)
{
	return o->reg >> 2;
}

/* A 32-bit-addressing memory operand's index form and base. */
static unsigned has_index(const struct opnd *o)
{
	return o->index != REG_NONE;
}

bool reg_forms_on = true;

insn_fn reg_form(const struct insn *i, insn_fn generic, enum reg_form_kind k)
{
	const struct opnd *a = &i->op[0], *b = &i->op[1];
	if (!reg_forms_on)
		return generic;
	switch (k) {
	case RF_MOV_RR: return mov_rr_tab[rn(a)][rn(b)];
	case RF_IMUL_RR: return imul_rr_tab[rn(a)][rn(b)];
	case RF_ALU_RR: return alu_rr_tab[i->sub][rn(a)][rn(b)];
	case RF_ALU_RI: return alu_ri_tab[i->sub][rn(a)];
	case RF_LD32: return ld32_tab[has_index(b)][rn(a)][b->base];
	case RF_ST32: return st32_tab[has_index(a)][rn(b)][a->base];
	case RF_LEA32: return lea32_tab[has_index(b)][rn(a)][b->base];
	case RF_MOVZX_M: return movx_m_tab[has_index(b)][rn(a)][b->base];
	case RF_MOV_RI: return mov_ri_tab[rn(a)];
	case RF_SHL_RI: return shl_ri_tab[rn(a)];
	case RF_SHR_RI: return shr_ri_tab[rn(a)];
	case RF_SAR_RI: return sar_ri_tab[rn(a)];
	case RF_INC_R: return inc_r_tab[rn(a)];
	case RF_DEC_R: return dec_r_tab[rn(a)];
	case RF_PUSH_R: return push_r_tab[rn(a)];
	case RF_POP_R: return pop_r_tab[rn(a)];
	case RF_MOVZX_R: return movzx_r_tab[rn(a)];
	case RF_ALU_RM: return alu_rm_tab[i->sub][rn(a)];
	case RF_ALU_MR: return alu_mr_tab[i->sub][rn(b)];
	case RF_CMOV_RM: return cmov_rm_tab[i->sub & 15][rn(a)];
	case RF_CMOV_RR: return cmov_rr_tab[i->sub & 15][rn(a)];
	case RF_LD_SMALL: return ld_small_tab[has_index(b)][b->base];
	case RF_ST_SMALL: return st_small_tab[has_index(a)][a->base];
	}
	return generic;
}
