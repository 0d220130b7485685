/*
 * Lazy EFLAGS. Arithmetic instructions only record their operands and
 * result (flags_lazy); the six arithmetic flags are computed here when an
 * instruction reads them. Jcc/SETcc/CMOVcc after CMP or TEST (the common
 * case) compare the recorded operands directly.
 */
#include "cpu.h"
#include "exec.h"

uint32_t flags_arith(const struct cpu *c)
{
	unsigned size = c->lf_size;
	uint32_t mask = size_mask(size);
	uint32_t sign = sign_bit(size);
	uint32_t res = c->lf_res & mask, a = c->lf_a, b = c->lf_b;
	uint32_t cf = 0, of = 0, af = 0;
	switch (c->lf_op) {
	case LF_ADD:
	case LF_ADC:
		cf = ((a & b) | ((a | b) & ~res)) & sign;
		of = ((a ^ res) & (b ^ res)) & sign;
		af = (a ^ b ^ res) & 0x10;
		break;
	case LF_SUB:
	case LF_SBB:
		cf = ((~a & b) | ((~a | b) & res)) & sign;
		of = ((a ^ b) & (a ^ res)) & sign;
		af = (a ^ b ^ res) & 0x10;
		break;
	case LF_LOGIC:
		break;
	case LF_CO:
		cf = a & 1;
		of = a & 2;
		break;
	case LF_INC:
		cf = b;
		of = res == sign;
		af = (res & 0xf) == 0;
		break;
	case LF_DEC:
		cf = b;
		of = res == sign - 1;
		af = (res & 0xf) == 0xf;
		break;
	default:
		return c->eflags & EFLAGS_ARITH;
	}
	uint32_t f = 0;
	if (cf)
		f |= EFLAGS_CF;
	if (of)
		f |= EFLAGS_OF;
	if (af)
		f |= EFLAGS_AF;
	if (res == 0)
		f |= EFLAGS_ZF;
	if (res & sign)
		f |= EFLAGS_SF;
	if (!__builtin_parity(res & 0xff))
		f |= EFLAGS_PF;
	return f;
}

static bool cond_from_flags(uint32_t f, unsigned cc)
{
	bool r;
	switch (cc >> 1) {
	case 0: r = f & EFLAGS_OF; break;
	case 1: r = f & EFLAGS_CF; break;
	case 2: r = f & EFLAGS_ZF; break;
	case 3: r = f & (EFLAGS_CF | EFLAGS_ZF); break;
	case 4: r = f & EFLAGS_SF; break;
	case 5: r = f & EFLAGS_PF; break;
	case 6: r = !(f & EFLAGS_SF) != !(f & EFLAGS_OF); break;
	default: r = (f & EFLAGS_ZF) || (!(f & EFLAGS_SF) != !(f & EFLAGS_OF)); break;
	}
	return r ^ (cc & 1);
}


bool cond_eval(const struct cpu *c, unsigned cc)
{
	if (c->lf_op == LF_SUB) {
		uint32_t mask = size_mask(c->lf_size);
		uint32_t a = c->lf_a & mask, b = c->lf_b & mask;
		bool r;
		switch (cc >> 1) {
		case 1: r = a < b; break;
		case 2: r = a == b; break;
		case 3: r = a <= b; break;
		case 6: r = sext(a, c->lf_size) < sext(b, c->lf_size); break;
		case 7: r = sext(a, c->lf_size) <= sext(b, c->lf_size); break;
		default: return cond_from_flags(flags_arith(c), cc);
		}
		return r ^ (cc & 1);
	}
	if (c->lf_op == LF_LOGIC) {
		int32_t v = sext(c->lf_res, c->lf_size);
		bool r;
		switch (cc >> 1) {
		case 0: r = false; break;
		case 1: r = false; break;
		case 2: r = v == 0; break;
		case 3: r = v == 0; break;
		case 4: r = v < 0; break;
		case 6: r = v < 0; break;
		case 7: r = v <= 0; break;
		default: return cond_from_flags(flags_arith(c), cc);
		}
		return r ^ (cc & 1);
	}
	return cond_from_flags(flags_get((struct cpu *)c), cc);
}
