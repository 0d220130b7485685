/*
 * x87 forms of the differential test (included by native_runner.c, whose
 * helpers it uses).
 *
 * Every case: FNINIT; FLDCW (a random control word: rounding, precision,
 * sometimes unmasked exceptions); a stack of 0-8 values (up to three
 * interesting 80-bit values loaded from the data area on top of
 * constants); the instruction under test with an edge-biased memory
 * operand; sometimes FWAIT (which raises a pending unmasked exception as
 * #MF); then FNSAVE into the data area. So the whole x87 state after the
 * instruction (control, status, tags, registers, and the instruction and
 * data pointers) is compared byte for byte as data, the end vector (#MF,
 * #UD) and EIP as for every case, EFLAGS for FCOMI and friends.
 *
 * EBP is the frame: EBP = data + 0x100; the FNSAVE image at [ebp-0x80],
 * stack values at [ebp+0..0x4f], the control word at [ebp+0x50]; memory
 * operands are at data + 0x200..0x3ff, environments at data + 0x400.
 */

#define C_X87 100 /* the form's cls: an x87 case (#MF and #UD may end it) */

#define X87_FRAME (DIFF_DATA_ADDR + 0x100)
#define X87_ENV_AT (DIFF_DATA_ADDR + 0x400)

enum x87_mt {
	MT_NONE, MT_F32, MT_F64, MT_F80, MT_I16, MT_I32, MT_I64, MT_BCD, /* loads */
	MT_ST16, MT_ST32, MT_ST64, MT_ST80, /* stores: a destination of that size */
	MT_CW, MT_ENV16, MT_ENV32, MT_SAVE16, MT_SAVE32, /* control */
	MT_SAVE_OUT,
};

/* An 80-bit value: mantissa (J bit included) and sign+exponent. */
struct x87_val {
	uint64_t m;
	uint16_t se;
};

static uint64_t rnd64(void)
{
	return (uint64_t)rnd() << 32 | rnd();
}

static struct x87_val x87_edge80(void)
{
	struct x87_val v;
	uint16_t s = rn(2) ? 0x8000 : 0;
	switch (rn(20)) {
	case 0: v.m = 0; v.se = s; break;				/* +-0 */
	case 1: v.m = 1ull << 63; v.se = s | 0x3fff; break;		/* +-1 */
	case 2: v.m = rnd64() >> (1 + rn(63)); v.se = s; break;	/* denormal */
	case 3: v.m = (1ull << 63) | rnd64(); v.se = s; break;	/* pseudo-denormal */
	case 4: v.m = rnd64() >> 1; v.se = s | (uint16_t)(1 + rn(0x7ffe)); break; /* unnormal */
	case 5: v.m = 1ull << 63; v.se = s | 0x7fff; break;		/* inf */
	case 6: v.m = (3ull << 62) | (rnd64() >> 2); v.se = s | 0x7fff; break; /* QNaN */
	case 7: v.m = (2ull << 62) | ((rnd64() >> 2) | 1); v.se = s | 0x7fff; break; /* SNaN */
	case 8: v.m = 3ull << 62; v.se = 0xffff; break;		/* indefinite */
	case 9: v.m = (1ull << 63) | rnd64(); v.se = s | 0x7ffe; break; /* huge */
	case 10: v.m = (1ull << 63) | rnd64(); v.se = s | (uint16_t)(1 + rn(3)); break; /* tiny */
	case 11: v.m = rnd64() >> 2; v.se = s | 0x7fff; break;	/* pseudo-NaN/inf */
	case 12: /* a small integer */
	{
		uint32_t k = 1 + rn(1000);
		int e = 31 - __builtin_clz(k);
		v.m = (uint64_t)k << (63 - e);
		v.se = s | (uint16_t)(0x3fff + e);
		break;
	}
	case 13: /* an integer plus a half, or just over: rounding */
	{
		v.se = s | (uint16_t)(0x3fff + rn(64));
		v.m = (1ull << 63) | (rnd64() & ~0ull << (rn(2) ? 20 : 1));
		break;
	}
	case 14: /* near the range of the destination formats */
		v.m = (1ull << 63) | rnd64();
		v.se = s | (uint16_t)((rn(2) ? 0x3fff + 127 : 0x3fff + 1023) - 2 + rn(5));
		break;
	case 15:
		v.m = (1ull << 63) | rnd64();
		v.se = s | (uint16_t)((rn(2) ? 0x3fff - 126 : 0x3fff - 1022) - 3 + rn(6));
		break;
	case 16: /* large for FPREM/FSIN/F2XM1 ranges */
		v.m = (1ull << 63) | rnd64();
		v.se = s | (uint16_t)(0x3fff + rn(80));
		break;
	default: /* ordinary magnitudes */
		v.m = (1ull << 63) | rnd64();
		v.se = s | (uint16_t)(0x3fff - 40 + rn(80));
		break;
	}
	return v;
}

static void poke80(uint32_t addr, struct x87_val v)
{
	poke(addr, (uint32_t)v.m, 4);
	poke(addr + 4, (uint32_t)(v.m >> 32), 4);
	poke(addr + 8, v.se, 2);
}

static uint32_t x87_f32(void)
{
	uint32_t s = rn(2) ? 0x80000000u : 0;
	switch (rn(10)) {
	case 0: return s;
	case 1: return s | 0x3f800000u;
	case 2: return s | (rnd() & 0x7fffff);		/* denormal */
	case 3: return s | 0x7f800000u;			/* inf */
	case 4: return s | 0x7fc00000u | (rnd() & 0x3fffff); /* QNaN */
	case 5: return s | 0x7f800000u | ((rnd() & 0x3fffff) | 1); /* SNaN */
	case 6: return s | 0x7f000000u | (rnd() & 0xffffff);
	default: return s | ((0x60 + rn(0x40)) << 23) | (rnd() & 0x7fffff);
	}
}

static uint64_t x87_f64(void)
{
	uint64_t s = rn(2) ? 1ull << 63 : 0;
	switch (rn(10)) {
	case 0: return s;
	case 1: return s | 0x3ff0000000000000ull;
	case 2: return s | (rnd64() & 0xfffffffffffffull);
	case 3: return s | 0x7ff0000000000000ull;
	case 4: return s | 0x7ff8000000000000ull | (rnd64() & 0x7ffffffffffffull);
	case 5: return s | 0x7ff0000000000000ull | ((rnd64() & 0x7ffffffffffffull) | 1);
	case 6: return s | 0x7fe0000000000000ull | (rnd64() & 0xfffffffffffffull);
	default:
		return s | (uint64_t)(0x3ff - 60 + rn(120)) << 52 | (rnd64() & 0xfffffffffffffull);
	}
}

static uint64_t x87_int(int bits)
{
	uint64_t v;
	switch (rn(6)) {
	case 0: v = 0; break;
	case 1: v = 1ull << (bits - 1); break; /* most negative */
	case 2: v = (1ull << (bits - 1)) - 1; break;
	case 3: v = (uint64_t)-(int64_t)rn(100); break;
	default: v = rnd64(); break;
	}
	return bits == 64 ? v : v & ((1ull << bits) - 1);
}

/* A packed BCD operand: 18 digits and a sign byte; sometimes bad digits. */
static void poke_bcd(uint32_t addr)
{
	for (int k = 0; k < 9; k++) {
		uint32_t lo = rn(10), hi = rn(10);
		if (rn(30) == 0)
			lo = 10 + rn(6);
		if (k > 2 + (int)rn(7))
			lo = hi = 0;
		poke(addr + (uint32_t)k, lo | hi << 4, 1);
	}
	poke(addr + 9, rn(2) ? 0x80 : (rn(8) ? 0 : rnd() & 0xff), 1);
}

static uint16_t x87_cw(void)
{
	uint16_t cw = 0x037f;
	cw = (uint16_t)((cw & ~0x0c00u) | rn(4) << 10); /* rounding */
	if (rn(3) == 0)
		cw = (uint16_t)((cw & ~0x0300u) | (rn(2) ? 0 : 2) << 8); /* single / double */
	if (rn(5) == 0)
		cw = (uint16_t)(cw & ~(rnd() & 0x3fu)); /* unmask some */
	return cw;
}

/* The instruction under test: opcode, then a register ModRM or a memory
 * operand of type f->rw. */
static void x87_operand(const struct form *f)
{
	uint32_t avoid = 1u << EBP;
	int reg = f->digit;
	if (!f->mem) {
		emit((uint8_t)(f->sub | (f->randcc ? rn(8) : 0)));
		return;
	}
	uint32_t addr = pick_addr(0x200, 0x3f0) & ~(rn(4) ? 1u : 0u);
	if (f->lock) {
		/* f->lock bytes long, crossing the end of the data area into
		 * unmapped memory: #PF, and nothing may change */
		addr = DIFF_DATA_ADDR + DIFF_DATA_SIZE - 1 - rn(f->lock - 1);
		emit_mem(reg, addr, avoid, false);
		return;
	}
	switch (f->rw) {
	case MT_F32: poke(addr, x87_f32(), 4); break;
	case MT_F64: {
		uint64_t v = x87_f64();
		poke(addr, (uint32_t)v, 4);
		poke(addr + 4, (uint32_t)(v >> 32), 4);
		break;
	}
	case MT_F80: poke80(addr, x87_edge80()); break;
	case MT_I16: poke(addr, (uint32_t)x87_int(16), 2); break;
	case MT_I32: poke(addr, (uint32_t)x87_int(32), 4); break;
	case MT_I64: {
		uint64_t v = x87_int(64);
		poke(addr, (uint32_t)v, 4);
		poke(addr + 4, (uint32_t)(v >> 32), 4);
		break;
	}
	case MT_BCD: poke_bcd(addr); break;
	case MT_CW: poke(addr, x87_cw() ^ (rn(3) ? 0 : (rnd() & 0xf0c0)), 2); break;
	case MT_ENV16:
	case MT_ENV32:
	case MT_SAVE16:
	case MT_SAVE32: {
		/* An environment: random control/status/tags, pointers; the
		 * registers of a FRSTOR image are the data area's random fill. */
		bool o16 = f->rw == MT_ENV16 || f->rw == MT_SAVE16;
		unsigned step = o16 ? 2 : 4;
		addr = X87_ENV_AT;
		poke(addr, x87_cw() | (rn(4) ? 0 : (rnd() & 0xf0c0)), 2);
		uint32_t sw = rnd() & (rn(2) ? 0x3800 : 0xffff);
		if (rn(2))
			sw &= ~0x80u;
		poke(addr + step, sw, 2);
		poke(addr + 2 * step, rn(3) ? rnd() & 0xffff : 0xffff, 2);
		poke(addr + 3 * step, rnd(), o16 ? 2 : 4);
		poke(addr + 4 * step, rnd(), o16 ? 2 : 4);
		poke(addr + 5 * step, rnd(), o16 ? 2 : 4);
		poke(addr + 6 * step, rnd(), 2);
		break;
	}
	case MT_SAVE_OUT: /* FNSAVE under test: it is the case's final image */
		addr = X87_FRAME - 0x80;
		break;
	default: /* stores: the destination keeps the fill */
		break;
	}
	emit_mem(reg, addr, avoid, false);
}

static void gen_x87(const struct form *f)
{
	static const uint8_t consts[7] = { 0xe8, 0xe9, 0xea, 0xeb, 0xec, 0xed, 0xee };
	init_case(32);
	cur.in_gpr[EBP] = X87_FRAME;
	emit(0xdb), emit(0xe3); /* fninit */
	poke(X87_FRAME + 0x50, rn(4) ? x87_cw() : 0x037f, 2);
	emit(0xd9), emit(0x6d), emit(0x50); /* fldcw [ebp+0x50] */
	/* the stack: depth 0-8, mostly what the instruction needs */
	unsigned depth;
	switch (rn(10)) {
	case 0: depth = 0; break;
	case 1: depth = 1; break;
	case 2: depth = 8; break;
	case 3: depth = 7; break;
	default: depth = 2 + rn(2); break;
	}
	unsigned nval = depth < 3 ? depth : 3;
	for (unsigned k = nval; k < depth; k++)
		emit(0xd9), emit(consts[rn(7)]);
	for (unsigned k = 0; k < nval; k++) {
		poke80(X87_FRAME + 10 * k, x87_edge80());
		emit(0xdb), emit(0x6d), emit((uint8_t)(10 * k)); /* fld tword [ebp+10k] */
	}
	if (f->pfx[0])
		emit(f->pfx[0]); /* 0x66: the 16-bit environment formats */
	emit(f->op[0]);
	x87_operand(f);
	if (f->rw == MT_SAVE_OUT)
		return;
	if (f->imm == 2)
		emit(0xd9), emit(0x75), emit(0x58); /* then fnstenv [ebp+0x58] */
	if (f->imm == 1 || rn(4) == 0)
		emit(0x9b); /* fwait */
	emit(0xdd), emit(0x75), emit(0x80); /* fnsave [ebp-0x80] */
}

static struct form *x87_form(int n, const char *name, uint8_t op, int modrm, int mt, int reg)
{
	struct form *f = add_form(gen_x87, n, "x87.%s", name);
	f->cls = C_X87;
	f->op[0] = op;
	f->oplen = 1;
	if (modrm >= 0) {
		f->sub = (uint8_t)modrm;
	} else {
		f->mem = 1;
		f->rw = (uint8_t)mt;
		f->digit = (int8_t)reg;
	}
	return f;
}

static void build_x87_forms(void)
{
	static const char *const arith[8] = { "fadd", "fmul", "fcom", "fcomp",
					      "fsub", "fsubr", "fdiv", "fdivr" };
	static const char *const ari_p[8] = { "faddp", "fmulp", "fcomp5", "fcompp",
					      "fsubrp", "fsubp", "fdivrp", "fdivp" };
	static const char *const ari_r[8] = { "fadd", "fmul", "fcom2", "fcomp3",
					      "fsubr", "fsub", "fdivr", "fdiv" };
	char nm[48];
	for (int r = 0; r < 8; r++) {
		snprintf(nm, sizeof nm, "%s.st0_sti", arith[r]);
		x87_form(24, nm, 0xd8, 0xc0 | r << 3, 0, 0)->randcc = 1;
		snprintf(nm, sizeof nm, "%s.sti_st0", ari_r[r]);
		x87_form(16, nm, 0xdc, 0xc0 | r << 3, 0, 0)->randcc = 1;
		if (r == 3)
			x87_form(16, "fcompp", 0xde, 0xd9, 0, 0);
		else {
			snprintf(nm, sizeof nm, "%s.sti", ari_p[r]);
			x87_form(16, nm, 0xde, 0xc0 | r << 3, 0, 0)->randcc = 1;
		}
		snprintf(nm, sizeof nm, "%s.m32", arith[r]);
		x87_form(24, nm, 0xd8, -1, MT_F32, r);
		snprintf(nm, sizeof nm, "%s.m64", arith[r]);
		x87_form(24, nm, 0xdc, -1, MT_F64, r);
		snprintf(nm, sizeof nm, "fi%s.m32", arith[r] + 1);
		x87_form(16, nm, 0xda, -1, MT_I32, r);
		snprintf(nm, sizeof nm, "fi%s.m16", arith[r] + 1);
		x87_form(16, nm, 0xde, -1, MT_I16, r);
	}
	/* loads and stores */
	x87_form(24, "fld.m32", 0xd9, -1, MT_F32, 0);
	x87_form(24, "fld.m64", 0xdd, -1, MT_F64, 0);
	x87_form(24, "fld.m80", 0xdb, -1, MT_F80, 5);
	x87_form(16, "fild.m16", 0xdf, -1, MT_I16, 0);
	x87_form(16, "fild.m32", 0xdb, -1, MT_I32, 0);
	x87_form(16, "fild.m64", 0xdf, -1, MT_I64, 5);
	x87_form(24, "fbld.m80", 0xdf, -1, MT_BCD, 4);
	x87_form(24, "fst.m32", 0xd9, -1, MT_ST32, 2);
	x87_form(24, "fstp.m32", 0xd9, -1, MT_ST32, 3);
	x87_form(24, "fst.m64", 0xdd, -1, MT_ST64, 2);
	x87_form(24, "fstp.m64", 0xdd, -1, MT_ST64, 3);
	x87_form(24, "fstp.m80", 0xdb, -1, MT_ST80, 7);
	x87_form(24, "fist.m16", 0xdf, -1, MT_ST16, 2);
	x87_form(24, "fistp.m16", 0xdf, -1, MT_ST16, 3);
	x87_form(24, "fist.m32", 0xdb, -1, MT_ST32, 2);
	x87_form(24, "fistp.m32", 0xdb, -1, MT_ST32, 3);
	x87_form(24, "fistp.m64", 0xdf, -1, MT_ST64, 7);
	x87_form(24, "fbstp.m80", 0xdf, -1, MT_ST80, 6);
	/* stores and loads that run off the end of memory: #PF, state kept */
	x87_form(8, "fstp.m64.pf", 0xdd, -1, MT_ST64, 3)->lock = 8;
	x87_form(8, "fstp.m80.pf", 0xdb, -1, MT_ST80, 7)->lock = 10;
	x87_form(8, "fistp.m16.pf", 0xdf, -1, MT_ST16, 3)->lock = 2;
	x87_form(8, "fld.m80.pf", 0xdb, -1, MT_F80, 5)->lock = 10;
	x87_form(8, "fnsave32.pf", 0xdd, -1, MT_NONE, 6)->lock = 108;
	x87_form(8, "fnstenv32.pf", 0xd9, -1, MT_NONE, 6)->lock = 28;
	x87_form(8, "frstor32.pf", 0xdd, -1, MT_NONE, 4)->lock = 108;
	/* control */
	x87_form(16, "fldcw", 0xd9, -1, MT_CW, 5);
	x87_form(8, "fnstcw", 0xd9, -1, MT_ST16, 7);
	x87_form(12, "fnstsw.m16", 0xdd, -1, MT_ST16, 7);
	x87_form(12, "fnstsw.ax", 0xdf, 0xe0, 0, 0);
	x87_form(12, "fnstenv32", 0xd9, -1, MT_ST80, 6)->rw = MT_NONE;
	x87_form(12, "fnstenv16", 0xd9, -1, MT_NONE, 6)->pfx[0] = 0x66;
	x87_form(24, "fldenv32", 0xd9, -1, MT_ENV32, 4);
	x87_form(16, "fldenv16", 0xd9, -1, MT_ENV16, 4)->pfx[0] = 0x66;
	/* an environment loaded as it is (ES as given), then FNSTENV masks */
	x87_form(48, "fldenv32.fnstenv", 0xd9, -1, MT_ENV32, 4)->imm = 2;
	x87_form(24, "frstor32", 0xdd, -1, MT_SAVE32, 4);
	x87_form(16, "frstor16", 0xdd, -1, MT_SAVE16, 4)->pfx[0] = 0x66;
	x87_form(12, "fnsave16", 0xdd, -1, MT_SAVE_OUT, 6)->pfx[0] = 0x66;
	x87_form(12, "fnsave32", 0xdd, -1, MT_SAVE_OUT, 6);
	x87_form(8, "fnclex", 0xdb, 0xe2, 0, 0);
	x87_form(8, "fninit", 0xdb, 0xe3, 0, 0);
	x87_form(6, "fneni", 0xdb, 0xe0, 0, 0);
	x87_form(6, "fndisi", 0xdb, 0xe1, 0, 0);
	x87_form(6, "fnsetpm", 0xdb, 0xe4, 0, 0);
	x87_form(16, "fwait", 0xd9, 0xd0, 0, 0)->imm = 1; /* fnop; fwait */
	/* register forms of D9 DA DB DD DF */
	x87_form(16, "fld.sti", 0xd9, 0xc0, 0, 0)->randcc = 1;
	x87_form(16, "fxch.sti", 0xd9, 0xc8, 0, 0)->randcc = 1;
	x87_form(8, "fnop", 0xd9, 0xd0, 0, 0);
	x87_form(12, "fstp1.sti", 0xd9, 0xd8, 0, 0)->randcc = 1;
	static const struct { const char *n; uint8_t m; int cnt; } d9[] = {
		{ "fchs", 0xe0, 16 }, { "fabs", 0xe1, 16 }, { "ftst", 0xe4, 24 }, { "fxam", 0xe5, 32 },
		{ "fld1", 0xe8, 8 }, { "fldl2t", 0xe9, 12 }, { "fldl2e", 0xea, 12 },
		{ "fldpi", 0xeb, 12 }, { "fldlg2", 0xec, 12 }, { "fldln2", 0xed, 12 },
		{ "fldz", 0xee, 8 }, { "f2xm1", 0xf0, 32 }, { "fyl2x", 0xf1, 32 },
		{ "fptan", 0xf2, 32 }, { "fpatan", 0xf3, 32 }, { "fxtract", 0xf4, 32 },
		{ "fprem1", 0xf5, 32 }, { "fdecstp", 0xf6, 12 }, { "fincstp", 0xf7, 12 },
		{ "fprem", 0xf8, 32 }, { "fyl2xp1", 0xf9, 32 }, { "fsqrt", 0xfa, 32 },
		{ "fsincos", 0xfb, 32 }, { "frndint", 0xfc, 32 }, { "fscale", 0xfd, 32 },
		{ "fsin", 0xfe, 32 }, { "fcos", 0xff, 32 },
	};
	for (unsigned k = 0; k < sizeof d9 / sizeof d9[0]; k++)
		x87_form(d9[k].cnt, d9[k].n, 0xd9, d9[k].m, 0, 0);
	static const char *const fcmov[8] = { "fcmovb", "fcmove", "fcmovbe", "fcmovu",
					      "fcmovnb", "fcmovne", "fcmovnbe", "fcmovnu" };
	for (int r = 0; r < 4; r++) {
		x87_form(16, fcmov[r], 0xda, 0xc0 | r << 3, 0, 0)->randcc = 1;
		x87_form(16, fcmov[r + 4], 0xdb, 0xc0 | r << 3, 0, 0)->randcc = 1;
	}
	x87_form(16, "fucompp", 0xda, 0xe9, 0, 0);
	x87_form(24, "fucomi.sti", 0xdb, 0xe8, 0, 0)->randcc = 1;
	x87_form(24, "fcomi.sti", 0xdb, 0xf0, 0, 0)->randcc = 1;
	x87_form(24, "fucomip.sti", 0xdf, 0xe8, 0, 0)->randcc = 1;
	x87_form(24, "fcomip.sti", 0xdf, 0xf0, 0, 0)->randcc = 1;
	x87_form(12, "ffree.sti", 0xdd, 0xc0, 0, 0)->randcc = 1;
	x87_form(12, "fxch4.sti", 0xdd, 0xc8, 0, 0)->randcc = 1;
	x87_form(16, "fst.sti", 0xdd, 0xd0, 0, 0)->randcc = 1;
	x87_form(16, "fstp.sti", 0xdd, 0xd8, 0, 0)->randcc = 1;
	x87_form(16, "fucom.sti", 0xdd, 0xe0, 0, 0)->randcc = 1;
	x87_form(16, "fucomp.sti", 0xdd, 0xe8, 0, 0)->randcc = 1;
	x87_form(12, "ffreep.sti", 0xdf, 0xc0, 0, 0)->randcc = 1;
	x87_form(12, "fxch7.sti", 0xdf, 0xc8, 0, 0)->randcc = 1;
	x87_form(12, "fstp8.sti", 0xdf, 0xd0, 0, 0)->randcc = 1;
	x87_form(12, "fstp9.sti", 0xdf, 0xd8, 0, 0)->randcc = 1;
	/* reserved encodings: #UD */
	static const uint8_t ud[][2] = {
		{ 0xd9, 0xd1 }, { 0xd9, 0xe2 }, { 0xd9, 0xe3 }, { 0xd9, 0xe6 }, { 0xd9, 0xe7 },
		{ 0xd9, 0xef }, { 0xda, 0xe8 }, { 0xda, 0xf0 }, { 0xdb, 0xe5 }, { 0xdb, 0xf8 },
		{ 0xdd, 0xf0 }, { 0xde, 0xd8 }, { 0xdf, 0xe1 }, { 0xdf, 0xf8 },
	};
	for (unsigned k = 0; k < sizeof ud / sizeof ud[0]; k++) {
		snprintf(nm, sizeof nm, "ud.%02x_%02x", ud[k][0], ud[k][1]);
		x87_form(2, nm, ud[k][0], ud[k][1], 0, 0);
	}
	static const struct { const char *n; uint8_t op, reg; } mud[] = {
		{ "ud.d9_m1", 0xd9, 1 }, { "ud.db_m4", 0xdb, 4 }, { "ud.db_m6", 0xdb, 6 },
		{ "ud.dd_m5", 0xdd, 5 },
	};
	for (unsigned k = 0; k < sizeof mud / sizeof mud[0]; k++)
		x87_form(2, mud[k].n, mud[k].op, -1, MT_NONE, mud[k].reg);
}
