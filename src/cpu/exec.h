/*
 * What instruction handlers share: operand access through the
 * pre-decoded operand descriptors. Registers are addressed by byte offset
 * into union regs, so one load/store serves 8-, 16- and 32-bit registers.
 */
#ifndef RINGVM_CPU_EXEC_H
#define RINGVM_CPU_EXEC_H

#include "cpu.h"
#include "decode.h"

#define NEXT(c, i) ((c)->eip += (i)->len)

/*
 * Straight into the block's next entry while the block lasts (threaded
 * code: the compiler makes the call a jump, so the run loop's call, return
 * and loop test are saved). The run loop learns where the block stopped
 * from c->cur. Only as a handler's last statement, and only in handlers
 * that may fall through (blk_end: the budget, a taken branch, a write to a
 * code page end the block there). Without tail calls (-O1 builds) the
 * nesting is bounded by BLOCK_MAX_INSNS.
 *
 * EIP is lazy inside a block: a threaded handler does not store it (it
 * equals blk_eip + the instruction's offset), only the one that ends the
 * run stores the next instruction's. Whatever needs c->eip mid-block gets
 * it first: a general handler through h_generic_entry (decode wraps every
 * one, exec_fast.c) or GENERIC (a fast form's fallback), and a fast form
 * that raises an exception itself sets it (EIP_HERE).
 */
#define NEXT_THREADED(c, i)                                          \
	do {                                                         \
		const struct insn *next_ = (i) + 1;                  \
		if (likely(next_ < (c)->blk_end)) {                  \
			(c)->cur = next_;                            \
			next_->fn((c), next_);                       \
		} else {                                             \
			(c)->eip = (c)->blk_eip + (i)->next_off;     \
		}                                                    \
	} while (0)

/* c->eip of the instruction i, inside a block (see NEXT_THREADED). */
#define EIP_HERE(c, i) ((c)->eip = (c)->blk_eip + (i)->next_off - (i)->len)

/* A fast form's fallback: the general handler h redoes i from the start,
 * with EIP where it expects it. A tail call. */
#define GENERIC(h, c, i)                 \
	do {                             \
		EIP_HERE(c, i);          \
		h(c, i);                 \
	} while (0)

#define H(name) void name(struct cpu *c, const struct insn *i)

static inline uint32_t ea_of(const struct cpu *c, const struct opnd *o)
{
	uint32_t ea = o->disp + c->r.r32[o->base] + (c->r.r32[o->index] << o->scale);
	/* 16-bit addressing: the low 16 bits of the 32-bit sum are the
	 * 16-bit sum, so masking afterwards is exact. */
	return o->a16 ? ea & 0xffff : ea;
}

static inline uint32_t reg_read(const struct cpu *c, const struct opnd *o)
{
	return load_n(c->r.r8 + o->reg, o->size);
}

static inline void reg_write(struct cpu *c, const struct opnd *o, uint32_t v)
{
	store_n(c->r.r8 + o->reg, o->size, v);
}

static inline uint32_t op_read(struct cpu *c, const struct opnd *o)
{
	if (o->kind == OK_REG)
		return reg_read(c, o);
	if (o->kind == OK_IMM)
		return o->disp;
	return mem_read(c, o->seg, ea_of(c, o), o->size);
}

static inline void op_write(struct cpu *c, const struct opnd *o, uint32_t v)
{
	if (o->kind == OK_REG)
		reg_write(c, o, v);
	else
		mem_write(c, o->seg, ea_of(c, o), o->size, v);
}

/* A read-modify-write destination, translated once for writing. */
struct loc {
	uint8_t *p;   /* host pointer, or NULL: go through lin_*_slow */
	uint32_t lin;
	uint8_t size;
};

static inline uint32_t loc_open(struct cpu *c, const struct opnd *o, struct loc *l)
{
	l->size = o->size;
	l->lin = 0;
	if (o->kind == OK_REG) {
		l->p = c->r.r8 + o->reg;
		return load_n(l->p, o->size);
	}
	l->lin = seg_lin(c, o->seg, ea_of(c, o), o->size, true);
	l->p = tlb_ptr(c, l->lin, o->size, true);
	if (likely(l->p != NULL))
		return load_n(l->p, o->size);
	return lin_read_slow(c, l->lin, o->size, c->cpl == 3, true);
}

static inline void loc_store(struct cpu *c, struct loc *l, uint32_t v)
{
	if (likely(l->p != NULL))
		store_n(l->p, l->size, v);
	else
		lin_write_slow(c, l->lin, l->size, v, c->cpl == 3);
}

static inline uint32_t size_mask(unsigned size)
{
	return size == 4 ? 0xffffffffu : (1u << (size * 8)) - 1;
}

static inline uint32_t sign_bit(unsigned size)
{
	return 1u << (size * 8 - 1);
}

static inline int32_t sext(uint32_t v, unsigned size)
{
	if (size == 4)
		return (int32_t)v;
	if (size == 2)
		return (int16_t)v;
	return (int8_t)v;
}

static inline bool cf_get(struct cpu *c)
{
	uint32_t mask = size_mask(c->lf_size);
	switch (c->lf_op) {
	case LF_SUB: return (c->lf_a & mask) < (c->lf_b & mask);
	case LF_ADD: return (c->lf_res & mask) < (c->lf_a & mask);
	case LF_LOGIC: return false;
	case LF_CO: return c->lf_a & 1;
	case LF_INC: case LF_DEC: return c->lf_b & 1; /* CF as it was */
	default: return flags_get(c) & EFLAGS_CF;
	}
}

static inline uint32_t parity_flag(uint32_t r)
{
	return __builtin_parity(r & 0xff) ? 0 : EFLAGS_PF;
}

/* Sets the arithmetic flags eagerly (rotates, shifts, multiply, ...). */
static inline void flags_set_arith(struct cpu *c, uint32_t f)
{
	/* All six are replaced: nothing lazy needs computing first. */
	c->lf_op = LF_NONE;
	c->eflags = (c->eflags & ~EFLAGS_ARITH) | (f & EFLAGS_ARITH);
}

/* SF ZF PF from res, the given CF and OF, AF clear: computed lazily. */
static inline void flags_lazy_co(struct cpu *c, unsigned size, uint32_t res, bool cf, bool of)
{
	flags_lazy(c, LF_CO, size, res, (uint32_t)cf | (uint32_t)of << 1, 0);
}

static inline uint32_t szp_flags(uint32_t r, unsigned size)
{
	r &= size_mask(size);
	uint32_t f = parity_flag(r);
	if (r == 0)
		f |= EFLAGS_ZF;
	if (r & sign_bit(size))
		f |= EFLAGS_SF;
	return f;
}

/* CLI and STI: CPL <= IOPL (v8086 runs at CPL 3, so IOPL 3 there).
 * Port access also consults the TSS I/O bitmap: io_port_check. */
static inline void io_permission(struct cpu *c)
{
	if (c->cpl > ((c->eflags >> 12) & 3))
		cpu_raise(c, EXC_GP, 0);
}

static inline void jump_to(struct cpu *c, const struct insn *i, uint32_t target)
{
	if (i->osize == 2)
		target &= 0xffff;
	if (unlikely(target > c->seg[S_CS].limit))
		cpu_raise(c, EXC_GP, 0);
	c->eip = target;
}

/* The host pointer of a memory operand (32-bit addressing) if the access
 * can go straight to RAM: the segment cannot fail it and the TLB maps all
 * of it. The segment rules are seg_lin's. Fast handlers only
 * (exec_fast.c, exec_alu.c): decode gives them no 16-bit addressing. */
static inline __attribute__((always_inline)) bool fast_off_hit(const struct cpu *c, uint8_t seg,
							      uint32_t off, unsigned size,
							      bool write, uint8_t **p)
{
	uint8_t f = c->seg_flat[seg];
	uint32_t lin = off;
	if (unlikely(!(f & (write ? SEGF_WRITE : SEGF_READ)))) {
		if (!(f & (write ? SEGF_WRITE_ANY : SEGF_READ_ANY)) || off > ~(uint32_t)(size - 1))
			return false;
		lin = c->seg[seg].base + off;
	}
	return tlb_hit(c, lin, size, write, p);
}

static inline __attribute__((always_inline)) bool fast_mem(const struct cpu *c,
							  const struct opnd *o, unsigned size,
							  bool write, uint8_t **p)
{
	uint32_t off = o->disp + c->r.r32[o->base] + (c->r.r32[o->index] << o->scale);
	return fast_off_hit(c, o->seg, off, size, write, p);
}

/* The host pointer of the dword at SS:off on a 32-bit stack, under the
 * same conditions as fast_mem (the fast PUSH, POP, CALL, RET forms). */
static inline __attribute__((always_inline)) bool fast_stack(const struct cpu *c, uint32_t off,
							    bool write, uint8_t **p)
{
	uint8_t f = c->seg_flat[S_SS];
	uint32_t lin = off;
	if (unlikely(c->stack16))
		return false;
	if (unlikely(!(f & (write ? SEGF_WRITE : SEGF_READ)))) {
		if (!(f & (write ? SEGF_WRITE_ANY : SEGF_READ_ANY)) || off > ~(uint32_t)3)
			return false;
		lin = c->seg[S_SS].base + off;
	}
	return tlb_hit(c, lin, 4, write, p);
}

/*
 * A condition code from the lazy flags without materializing them, or -1
 * when cond_eval must decide (flags not lazy). ZF, SF and PF come from
 * the recorded result for every lazy operation; CF and OF from the
 * recorded operands (SUB/CMP compare them directly), or as recorded
 * (LF_CO; INC and DEC keep CF in lf_b). 8- and 16-bit results are shifted
 * to the top of 32 bits first, which
 * keeps every carry, sign, zero and overflow relation (and discards what
 * lies above the operand size). With a constant cc it folds to a few
 * instructions (exec_fast.c's Jcc handlers); tests/unit/test_cpu.c checks
 * it against cond_eval.
 */
static inline __attribute__((always_inline)) int cond_fast_sh(const struct cpu *c, unsigned cc,
								unsigned op, unsigned sh)
{
	bool neg = cc & 1;
	uint32_t r = c->lf_res << sh, a = c->lf_a << sh, b = c->lf_b << sh;
	switch (cc >> 1) {
	case 2: return (r == 0) ^ neg;
	case 4: return (r >> 31) ^ neg;
	case 5: return !__builtin_parity(c->lf_res & 0xff) ^ neg;
	default: break;
	}
	bool cf, of;
	if (op == LF_SUB) {
		switch (cc >> 1) {
		case 1: return (a < b) ^ neg;
		case 3: return (a <= b) ^ neg;
		case 6: return ((int32_t)a < (int32_t)b) ^ neg;
		case 7: return ((int32_t)a <= (int32_t)b) ^ neg;
		default: break;
		}
		cf = a < b;
		of = ((a ^ b) & (a ^ r)) >> 31;
	} else if (op == LF_ADD) {
		cf = r < a;
		of = ((a ^ r) & (b ^ r)) >> 31;
	} else if (op == LF_LOGIC) {
		cf = of = false;
	} else if (op == LF_CO) { /* shifts, multiplies: CF and OF recorded */
		cf = c->lf_a & 1;
		of = (c->lf_a >> 1) & 1;
	} else if (op == LF_INC || op == LF_DEC) {
		/* CF as it was; OF when the result is the sign bit alone (INC)
		 * or all ones below it (DEC), at the operand size. */
		cf = c->lf_b & 1;
		of = r == (op == LF_INC ? 0x80000000u : 0x80000000u - (1u << sh));
	} else if (op == LF_ADC) { /* the carry out of the top bit, bit by bit */
		cf = ((a & b) | ((a | b) & ~r)) >> 31;
		of = ((a ^ r) & (b ^ r)) >> 31;
	} else if (op == LF_SBB) {
		cf = ((~a & b) | ((~a | b) & r)) >> 31;
		of = ((a ^ b) & (a ^ r)) >> 31;
	} else {
		return -1;
	}
	bool zf = r == 0, sf = r >> 31;
	switch (cc >> 1) {
	case 0: return of ^ neg;
	case 1: return cf ^ neg;
	case 3: return (cf || zf) ^ neg;
	case 6: return (sf != of) ^ neg;
	default: return (zf || sf != of) ^ neg;
	}
}

static inline __attribute__((always_inline)) int cond_fast(const struct cpu *c, unsigned cc)
{
	unsigned op = c->lf_op;
	if (unlikely(op == LF_NONE))
		return -1;
	if (likely(c->lf_size == 4)) /* the common case, with the shifts folded away */
		return cond_fast_sh(c, cc, op, 0);
	return cond_fast_sh(c, cc, op, 32 - 8 * (unsigned)c->lf_size); /* 16 or 24 */
}

/* Condition cc now: from the lazy flags, or by cond_eval when they are
 * not lazy. */
static inline __attribute__((always_inline)) bool cond_now(const struct cpu *c, unsigned cc)
{
	int t = cond_fast(c, cc);
	return likely(t >= 0) ? t : cond_eval(c, cc);
}

/* ALU ops in encoding order (ADD OR ADC SBB AND SUB XOR CMP), then TEST. */
enum { ALU_ADD, ALU_OR, ALU_ADC, ALU_SBB, ALU_AND, ALU_SUB, ALU_XOR, ALU_CMP, ALU_TEST, ALU_N };

/* One ALU operation with its lazy flags; op is a constant in the
 * specialised handlers, so this folds to the one operation. */
static inline __attribute__((always_inline)) uint32_t alu_do(struct cpu *c, unsigned op,
							      unsigned size, uint32_t a, uint32_t b)
{
	uint32_t r;
	switch (op) {
	case ALU_ADD:
		r = a + b;
		flags_lazy(c, LF_ADD, size, r, a, b);
		break;
	case ALU_OR:
		r = a | b;
		flags_lazy(c, LF_LOGIC, size, r, 0, 0);
		break;
	case ALU_ADC:
		r = a + b + cf_get(c);
		flags_lazy(c, LF_ADC, size, r, a, b);
		break;
	case ALU_SBB:
		r = a - b - cf_get(c);
		flags_lazy(c, LF_SBB, size, r, a, b);
		break;
	case ALU_AND:
	case ALU_TEST:
		r = a & b;
		flags_lazy(c, LF_LOGIC, size, r, 0, 0);
		break;
	case ALU_XOR:
		r = a ^ b;
		flags_lazy(c, LF_LOGIC, size, r, 0, 0);
		break;
	default: /* SUB, CMP */
		r = a - b;
		flags_lazy(c, LF_SUB, size, r, a, b);
		break;
	}
	return r;
}

static inline bool alu_writes(unsigned op)
{
	return op != ALU_CMP && op != ALU_TEST;
}

/* Handler declarations, by family. */
#define HANDLERS(X)                                                                               \
	X(h_ud) X(h_unimpl) X(h_nop) X(h_too_long)                                                \
	X(h_alu)                                                                                  \
	X(h_inc) X(h_dec) X(h_neg) X(h_not) X(h_shift) X(h_shld) X(h_shrd)                        \
	X(h_mul1) X(h_imul1) X(h_imul2) X(h_div) X(h_idiv)                                        \
	X(h_bt) X(h_bsf) X(h_bsr) X(h_setcc) X(h_cmovcc)                                          \
	X(h_xchg) X(h_cmpxchg) X(h_xadd) X(h_cmpxchg8b) X(h_bswap)                                \
	X(h_mov) X(h_mov32_rr) X(h_mov32_ri) X(h_mov32_rm) X(h_mov32_mr) X(h_movzx) X(h_movsx)    \
	X(h_lea) X(h_cbw) X(h_cwd) X(h_daa) X(h_das) X(h_aaa) X(h_aas) X(h_aam) X(h_aad)          \
	X(h_lahf) X(h_sahf) X(h_clc) X(h_stc) X(h_cmc) X(h_cld) X(h_std) X(h_xlat) X(h_salc)      \
	X(h_jmp) X(h_jmp_ind) X(h_jcc) X(h_call) X(h_call_ind) X(h_ret) X(h_loop) X(h_jcxz)       \
	X(h_jmp_far) X(h_call_far) X(h_ret_far) X(h_iret) X(h_int) X(h_int3) X(h_into) X(h_bound) \
	X(h_push) X(h_push32_r) X(h_pop) X(h_pop32_r) X(h_pusha) X(h_popa) X(h_pushf) X(h_popf)   \
	X(h_enter) X(h_leave) X(h_push_sreg) X(h_pop_sreg) X(h_mov_to_sreg) X(h_mov_from_sreg)    \
	X(h_lxs) X(h_string) X(h_hlt) X(h_cli) X(h_sti) X(h_in) X(h_out)                          \
	X(h_mov_to_cr) X(h_mov_from_cr) X(h_mov_to_dr) X(h_mov_from_dr) X(h_lgdt) X(h_lidt)       \
	X(h_sgdt) X(h_sidt) X(h_lldt) X(h_ltr) X(h_sldt) X(h_str) X(h_smsw) X(h_lmsw) X(h_clts)   \
	X(h_invlpg) X(h_rdmsr) X(h_wrmsr) X(h_cpuid) X(h_rdtsc) X(h_sysenter) X(h_sysexit)        \
	X(h_lar) X(h_lsl) X(h_verr) X(h_verw) X(h_arpl) X(h_wbinvd)                          \
	X(h_fpu) X(h_fwait)

#define DECLARE_HANDLER(name) H(name);
HANDLERS(DECLARE_HANDLER)

/* Replaces i->fn by a handler specialised for i's operand forms, if there
 * is one (exec_fast.c); called once the general handler is chosen. */
void fast_form(struct insn *i);
/* Is fn one of the Jcc fast forms (which may jump within their block)? */
bool fast_jcc(insn_fn fn);
bool fast_jmp(insn_fn fn); /* the JMP rel32 fast form */
/* If i is a CMP/TEST r32, r32/imm and j (right after it) a Jcc fast form,
 * gives i the handler that runs both. */
void fuse_cmp_jcc(struct insn *i, const struct insn *j);

/* The same forms specialised by guest register (exec_reg.c): the handler
 * for i, whose generic fast handler is generic, of the given kind. */
enum reg_form_kind {
	RF_MOV_RR, RF_IMUL_RR, RF_ALU_RR, RF_ALU_RI, RF_LD32, RF_ST32, RF_LEA32, RF_MOVZX_M,
	RF_MOV_RI, RF_SHL_RI, RF_SHR_RI, RF_SAR_RI, RF_INC_R, RF_DEC_R, RF_PUSH_R, RF_POP_R,
	RF_MOVZX_R, RF_ALU_RM, RF_ALU_MR, RF_CMOV_RM, RF_CMOV_RR, RF_LD_SMALL, RF_ST_SMALL,
};
insn_fn reg_form(const struct insn *i, insn_fn generic, enum reg_form_kind k);
/* false: decode keeps the generic forms and fuses no CMP+Jcc (for tests
 * that compare the two; blocks already decoded keep what they have). */
extern bool reg_forms_on;

extern const insn_fn alu32_rr_fns[ALU_N], alu32_ri_fns[ALU_N], alu32_rm_fns[ALU_N],
	alu32_mr_fns[ALU_N], alu32_mi_fns[ALU_N];

#endif
