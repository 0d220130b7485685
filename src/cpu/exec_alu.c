/*
 * Integer arithmetic and logic: ALU ops, INC/DEC/NEG/NOT, shifts and
 * rotates, multiply and divide, bit tests and scans. Two-operand ALU ops
 * have 32-bit handlers specialised by operand form (one per op, chosen at
 * decode time) because they are most of what ordinary code executes.
 */
#include "exec.h"

H(h_alu)
{
	unsigned size = i->op[0].size;
	struct loc l;
	uint32_t a, b = op_read(c, &i->op[1]);
	if (alu_writes(i->sub)) {
		a = loc_open(c, &i->op[0], &l);
		uint32_t r = alu_do(c, i->sub, size, a, b);
		loc_store(c, &l, r & size_mask(size));
	} else {
		a = op_read(c, &i->op[0]);
		alu_do(c, i->sub, size, a, b);
	}
	NEXT(c, i);
}

/* A 32-bit register by its byte offset (a multiple of 4): no shift. */
#define R32(c, o) (*(uint32_t *)((c)->r.r8 + (o).reg))

#define ALU32_FORMS(OP)                                                              \
	static void alu32_rr_##OP(struct cpu *c, const struct insn *i)                \
	{                                                                            \
		uint32_t r = alu_do(c, OP, 4, R32(c, i->op[0]), R32(c, i->op[1]));    \
		if (alu_writes(OP))                                                  \
			R32(c, i->op[0]) = r;                                        \
		NEXT_THREADED(c, i);                                                 \
	}                                                                            \
	static void alu32_ri_##OP(struct cpu *c, const struct insn *i)                \
	{                                                                            \
		uint32_t r = alu_do(c, OP, 4, R32(c, i->op[0]), i->op[1].disp);       \
		if (alu_writes(OP))                                                  \
			R32(c, i->op[0]) = r;                                        \
		NEXT_THREADED(c, i);                                                 \
	}                                                                            \
	static void alu32_rm_##OP(struct cpu *c, const struct insn *i)                \
	{                                                                            \
		uint8_t *p;                                                          \
		if (unlikely(!fast_mem(c, &i->op[1], 4, false, &p))) {               \
			GENERIC(h_alu, c, i); /* the general case, from the start */          \
			return;                                                      \
		}                                                                    \
		uint32_t r = alu_do(c, OP, 4, R32(c, i->op[0]), load_n(p, 4));       \
		if (alu_writes(OP))                                                  \
			R32(c, i->op[0]) = r;                                        \
		NEXT_THREADED(c, i);                                                 \
	}                                                                            \
	static void alu32_mr_##OP(struct cpu *c, const struct insn *i)                \
	{                                                                            \
		uint8_t *p;                                                          \
		if (unlikely(!fast_mem(c, &i->op[0], 4, alu_writes(OP), &p))) {      \
			GENERIC(h_alu, c, i);                                                 \
			return;                                                      \
		}                                                                    \
		uint32_t r = alu_do(c, OP, 4, load_n(p, 4), R32(c, i->op[1]));       \
		if (alu_writes(OP))                                                  \
			store_n(p, 4, r);                                            \
		NEXT_THREADED(c, i);                                                 \
	}                                                                            \
	static void alu32_mi_##OP(struct cpu *c, const struct insn *i)                \
	{                                                                            \
		uint8_t *p;                                                          \
		if (unlikely(!fast_mem(c, &i->op[0], 4, alu_writes(OP), &p))) {      \
			GENERIC(h_alu, c, i);                                                 \
			return;                                                      \
		}                                                                    \
		uint32_t r = alu_do(c, OP, 4, load_n(p, 4), i->op[1].disp);          \
		if (alu_writes(OP))                                                  \
			store_n(p, 4, r);                                            \
		NEXT_THREADED(c, i);                                                 \
	}

ALU32_FORMS(0)
ALU32_FORMS(1)
ALU32_FORMS(2)
ALU32_FORMS(3)
ALU32_FORMS(4)
ALU32_FORMS(5)
ALU32_FORMS(6)
ALU32_FORMS(7)
ALU32_FORMS(8)

#define ALU_TABLE(form)                                                                     \
	const insn_fn alu32_##form##_fns[ALU_N] = {                                         \
		alu32_##form##_0, alu32_##form##_1, alu32_##form##_2, alu32_##form##_3,     \
		alu32_##form##_4, alu32_##form##_5, alu32_##form##_6, alu32_##form##_7,     \
		alu32_##form##_8,                                                           \
	};
ALU_TABLE(rr)
ALU_TABLE(ri)
ALU_TABLE(rm)
ALU_TABLE(mr)
ALU_TABLE(mi)

H(h_inc)
{
	struct loc l;
	unsigned size = i->op[0].size;
	uint32_t a = loc_open(c, &i->op[0], &l);
	uint32_t cf = cf_get(c);
	uint32_t r = (a + 1) & size_mask(size);
	loc_store(c, &l, r);
	flags_lazy(c, LF_INC, size, r, a, cf);
	NEXT(c, i);
}

H(h_dec)
{
	struct loc l;
	unsigned size = i->op[0].size;
	uint32_t a = loc_open(c, &i->op[0], &l);
	uint32_t cf = cf_get(c);
	uint32_t r = (a - 1) & size_mask(size);
	loc_store(c, &l, r);
	flags_lazy(c, LF_DEC, size, r, a, cf);
	NEXT(c, i);
}

H(h_neg)
{
	struct loc l;
	unsigned size = i->op[0].size;
	uint32_t a = loc_open(c, &i->op[0], &l);
	uint32_t r = (0 - a) & size_mask(size);
	loc_store(c, &l, r);
	flags_lazy(c, LF_SUB, size, r, 0, a);
	NEXT(c, i);
}

H(h_not)
{
	struct loc l;
	uint32_t a = loc_open(c, &i->op[0], &l);
	loc_store(c, &l, ~a & size_mask(i->op[0].size));
	NEXT(c, i);
}

/* Rotates change only CF and OF. */
static void flags_cf_of(struct cpu *c, bool cf, bool of)
{
	flags_materialize(c);
	c->eflags &= ~(EFLAGS_CF | EFLAGS_OF);
	if (cf)
		c->eflags |= EFLAGS_CF;
	if (of)
		c->eflags |= EFLAGS_OF;
}

enum { SH_ROL, SH_ROR, SH_RCL, SH_RCR, SH_SHL, SH_SHR, SH_SAL, SH_SAR };

static uint32_t rotate(struct cpu *c, unsigned op, unsigned size, uint32_t a, unsigned cnt)
{
	unsigned bits = size * 8;
	uint32_t mask = size_mask(size), top = sign_bit(size);
	uint32_t r = a;
	bool cf;
	switch (op) {
	case SH_ROL:
		cnt %= bits;
		r = cnt ? ((a << cnt) | (a >> (bits - cnt))) & mask : a;
		cf = r & 1;
		flags_cf_of(c, cf, !!(r & top) ^ cf);
		break;
	case SH_ROR:
		cnt %= bits;
		r = cnt ? ((a >> cnt) | (a << (bits - cnt))) & mask : a;
		flags_cf_of(c, r & top, !!(r & top) ^ !!(r & (top >> 1)));
		break;
	case SH_RCL:
		cnt %= bits + 1;
		cf = cf_get(c);
		for (unsigned k = 0; k < cnt; k++) {
			bool out = r & top;
			r = ((r << 1) | cf) & mask;
			cf = out;
		}
		flags_cf_of(c, cf, !!(r & top) ^ cf);
		break;
	default: /* RCR */
		cnt %= bits + 1;
		cf = cf_get(c);
		bool of = !!(a & top) ^ cf;
		for (unsigned k = 0; k < cnt; k++) {
			bool out = r & 1;
			r = (r >> 1) | (cf ? top : 0);
			cf = out;
		}
		flags_cf_of(c, cf, of);
		break;
	}
	return r;
}

static uint32_t shift(struct cpu *c, unsigned op, unsigned size, uint32_t a, unsigned cnt)
{
	unsigned bits = size * 8;
	uint32_t mask = size_mask(size), top = sign_bit(size);
	uint32_t r;
	bool cf, of;
	if (op == SH_SHL || op == SH_SAL) {
		r = (cnt < 32 ? a << cnt : 0) & mask;
		cf = cnt <= bits ? (a >> (bits - cnt)) & 1 : 0;
		of = !!(r & top) ^ cf;
	} else if (op == SH_SHR) {
		r = cnt < 32 ? a >> cnt : 0;
		cf = (a >> (cnt - 1)) & 1;
		of = a & top;
	} else {
		int32_t s = sext(a, size);
		r = (uint32_t)(s >> cnt) & mask;
		cf = (s >> (cnt - 1)) & 1;
		of = false;
	}
	flags_lazy_co(c, size, r, cf, of);
	return r;
}

H(h_shift)
{
	struct loc l;
	unsigned size = i->op[0].size;
	unsigned cnt = (i->op[1].kind == OK_NONE ? 1 : op_read(c, &i->op[1])) & 0x1f;
	uint32_t a = loc_open(c, &i->op[0], &l);
	if (cnt) {
		uint32_t r = i->sub < SH_SHL ? rotate(c, i->sub, size, a, cnt)
					      : shift(c, i->sub, size, a, cnt);
		loc_store(c, &l, r);
	}
	NEXT(c, i);
}

static void double_shift(struct cpu *c, const struct insn *i, bool left)
{
	struct loc l;
	unsigned size = i->op[0].size, bits = size * 8;
	uint32_t b = op_read(c, &i->op[1]);
	unsigned cnt = op_read(c, &i->op[2]) & 0x1f;
	uint32_t a = loc_open(c, &i->op[0], &l);
	if (cnt) {
		uint32_t mask = size_mask(size), top = sign_bit(size);
		uint32_t r;
		bool cf;
		if (left) {
			uint64_t x = ((uint64_t)a << bits) | b;
			r = (uint32_t)((x << cnt) >> bits) & mask;
			cf = (x >> (2 * bits - cnt)) & 1;
		} else {
			uint64_t x = ((uint64_t)b << bits) | a;
			r = (uint32_t)(x >> cnt) & mask;
			cf = (x >> (cnt - 1)) & 1;
		}
		uint32_t f = szp_flags(r, size);
		if (cf)
			f |= EFLAGS_CF;
		if ((r ^ a) & top)
			f |= EFLAGS_OF;
		loc_store(c, &l, r);
		flags_set_arith(c, f);
	}
	NEXT(c, i);
}

H(h_shld)
{
	double_shift(c, i, true);
}

H(h_shrd)
{
	double_shift(c, i, false);
}

static inline void mul_flags(struct cpu *c, bool overflow, uint32_t low, unsigned size)
{
	flags_lazy_co(c, size, low, overflow, overflow);
}

H(h_mul1)
{
	unsigned size = i->op[0].size;
	uint64_t b = op_read(c, &i->op[0]);
	uint32_t *r = c->r.r32;
	if (size == 1) {
		uint32_t p = (r[R_EAX] & 0xff) * (uint32_t)b;
		c->r.r16[R_EAX * 2] = (uint16_t)p;
		mul_flags(c, p >> 8, p, 1);
	} else if (size == 2) {
		uint32_t p = c->r.r16[R_EAX * 2] * (uint32_t)b;
		c->r.r16[R_EAX * 2] = (uint16_t)p;
		c->r.r16[R_EDX * 2] = (uint16_t)(p >> 16);
		mul_flags(c, p >> 16, p, 2);
	} else {
		uint64_t p = r[R_EAX] * b;
		r[R_EAX] = (uint32_t)p;
		r[R_EDX] = (uint32_t)(p >> 32);
		mul_flags(c, p >> 32, (uint32_t)p, 4);
	}
	NEXT(c, i);
}

H(h_imul1)
{
	unsigned size = i->op[0].size;
	int64_t b = sext(op_read(c, &i->op[0]), size);
	if (size == 1) {
		int32_t p = (int8_t)c->r.r8[0] * (int32_t)b;
		c->r.r16[R_EAX * 2] = (uint16_t)p;
		mul_flags(c, p != (int8_t)p, (uint32_t)p, 1);
	} else if (size == 2) {
		int32_t p = (int16_t)c->r.r16[R_EAX * 2] * (int32_t)b;
		c->r.r16[R_EAX * 2] = (uint16_t)p;
		c->r.r16[R_EDX * 2] = (uint16_t)((uint32_t)p >> 16);
		mul_flags(c, p != (int16_t)p, (uint32_t)p, 2);
	} else {
		int64_t p = (int64_t)(int32_t)c->r.r32[R_EAX] * b;
		c->r.r32[R_EAX] = (uint32_t)p;
		c->r.r32[R_EDX] = (uint32_t)((uint64_t)p >> 32);
		mul_flags(c, p != (int32_t)p, (uint32_t)p, 4);
	}
	NEXT(c, i);
}

/* IMUL r, r/m and IMUL r, r/m, imm: truncated signed product. */
H(h_imul2)
{
	unsigned size = i->op[0].size;
	const struct opnd *x = i->nops == 3 ? &i->op[1] : &i->op[0];
	const struct opnd *y = i->nops == 3 ? &i->op[2] : &i->op[1];
	int64_t p = (int64_t)sext(op_read(c, x), size) * sext(op_read(c, y), size);
	uint32_t low = (uint32_t)p & size_mask(size);
	reg_write(c, &i->op[0], low);
	mul_flags(c, p != sext(low, size), low, size);
	NEXT(c, i);
}

H(h_div)
{
	unsigned size = i->op[0].size;
	uint64_t d = op_read(c, &i->op[0]);
	if (d == 0)
		cpu_raise(c, EXC_DE, 0);
	if (size == 1) {
		uint32_t n = c->r.r16[R_EAX * 2];
		uint32_t q = n / (uint32_t)d;
		if (q > 0xff)
			cpu_raise(c, EXC_DE, 0);
		c->r.r8[0] = (uint8_t)q;
		c->r.r8[1] = (uint8_t)(n % d);
	} else if (size == 2) {
		uint32_t n = ((uint32_t)c->r.r16[R_EDX * 2] << 16) | c->r.r16[R_EAX * 2];
		uint32_t q = n / (uint32_t)d;
		if (q > 0xffff)
			cpu_raise(c, EXC_DE, 0);
		c->r.r16[R_EAX * 2] = (uint16_t)q;
		c->r.r16[R_EDX * 2] = (uint16_t)(n % d);
	} else {
		uint64_t n = ((uint64_t)c->r.r32[R_EDX] << 32) | c->r.r32[R_EAX];
		uint64_t q = n / d;
		if (q > 0xffffffffull)
			cpu_raise(c, EXC_DE, 0);
		c->r.r32[R_EAX] = (uint32_t)q;
		c->r.r32[R_EDX] = (uint32_t)(n % d);
	}
	NEXT(c, i);
}

H(h_idiv)
{
	unsigned size = i->op[0].size;
	int64_t d = sext(op_read(c, &i->op[0]), size);
	if (d == 0)
		cpu_raise(c, EXC_DE, 0);
	int64_t n;
	if (size == 1)
		n = (int16_t)c->r.r16[R_EAX * 2];
	else if (size == 2)
		n = (int32_t)(((uint32_t)c->r.r16[R_EDX * 2] << 16) | c->r.r16[R_EAX * 2]);
	else
		n = (int64_t)(((uint64_t)c->r.r32[R_EDX] << 32) | c->r.r32[R_EAX]);
	/* INT64_MIN / -1 cannot happen: n fits in 64 bits only up to 2^63-1
	 * when it came from 32-bit halves, but guard the C division anyway. */
	if (n == INT64_MIN && d == -1)
		cpu_raise(c, EXC_DE, 0);
	int64_t q = n / d, r = n % d;
	int64_t lim = (int64_t)sign_bit(size);
	if (q >= lim || q < -lim)
		cpu_raise(c, EXC_DE, 0);
	if (size == 1) {
		c->r.r8[0] = (uint8_t)q;
		c->r.r8[1] = (uint8_t)r;
	} else if (size == 2) {
		c->r.r16[R_EAX * 2] = (uint16_t)q;
		c->r.r16[R_EDX * 2] = (uint16_t)r;
	} else {
		c->r.r32[R_EAX] = (uint32_t)q;
		c->r.r32[R_EDX] = (uint32_t)r;
	}
	NEXT(c, i);
}

/* BT/BTS/BTR/BTC (sub 0..3). A register bit offset with a memory operand
 * addresses any bit relative to the operand (signed). */
H(h_bt)
{
	unsigned size = i->op[0].size, bits = size * 8;
	uint32_t off = op_read(c, &i->op[1]);
	bool cf;
	if (i->op[0].kind == OK_REG) {
		uint32_t v = reg_read(c, &i->op[0]);
		unsigned bit = off & (bits - 1);
		cf = (v >> bit) & 1;
		if (i->sub == 1)
			v |= 1u << bit;
		else if (i->sub == 2)
			v &= ~(1u << bit);
		else if (i->sub == 3)
			v ^= 1u << bit;
		if (i->sub)
			reg_write(c, &i->op[0], v);
	} else {
		uint32_t ea = ea_of(c, &i->op[0]);
		unsigned bit = off & (bits - 1);
		if (i->op[1].kind != OK_IMM)
			ea += (uint32_t)((sext(off, size) >> (size == 4 ? 5 : 4)) * (int32_t)size);
		if (i->op[0].a16)
			ea &= 0xffff;
		if (i->sub == 0) {
			cf = (mem_read(c, i->op[0].seg, ea, size) >> bit) & 1;
		} else {
			mem_probe_write(c, i->op[0].seg, ea, size);
			uint32_t v = mem_read(c, i->op[0].seg, ea, size);
			cf = (v >> bit) & 1;
			if (i->sub == 1)
				v |= 1u << bit;
			else if (i->sub == 2)
				v &= ~(1u << bit);
			else
				v ^= 1u << bit;
			mem_write(c, i->op[0].seg, ea, size, v);
		}
	}
	flags_materialize(c);
	c->eflags = (c->eflags & ~EFLAGS_CF) | (cf ? EFLAGS_CF : 0);
	NEXT(c, i);
}

/* BSF/BSR: ZF says whether the source was zero; then the destination is
 * left unchanged (what AMD documents and Intel CPUs do). */
static void bit_scan(struct cpu *c, const struct insn *i, bool reverse)
{
	uint32_t v = op_read(c, &i->op[1]);
	flags_materialize(c);
	if (v == 0) {
		c->eflags |= EFLAGS_ZF;
		return;
	}
	c->eflags &= ~EFLAGS_ZF;
	reg_write(c, &i->op[0], reverse ? 31u - (uint32_t)__builtin_clz(v) : (uint32_t)__builtin_ctz(v));
}

H(h_bsf)
{
	bit_scan(c, i, false);
	NEXT(c, i);
}

H(h_bsr)
{
	bit_scan(c, i, true);
	NEXT(c, i);
}
