/*
 * Differential test, native side: a 32-bit Linux program (gcc -m32 -static).
 *
 * It generates test cases from a fixed-seed PRNG, one explicit table of
 * instruction forms (print it with --list-forms), runs each case on the real
 * CPU at guest addresses (code page DIFF_CODE_ADDR, data area DIFF_DATA_ADDR,
 * mapped MAP_FIXED_NOREPLACE) and writes cases + native results in the
 * format of diff_format.h.  tests/unit/test_diff.c replays them through the
 * emulator.
 *
 *   diff_native [--seed N] [--out FILE|-] [--list-forms] [--dump] [--form SUBSTR]
 *
 * Encodings are hand-assembled from the opcode table below (no assembler).
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <errno.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <ucontext.h>
#include <unistd.h>

#include "diff_format.h"

#ifndef MAP_FIXED_NOREPLACE
#define MAP_FIXED_NOREPLACE 0x100000
#endif

#define F_CF 0x001u
#define F_PF 0x004u
#define F_AF 0x010u
#define F_ZF 0x040u
#define F_SF 0x080u
#define F_IF 0x200u
#define F_DF 0x400u
#define F_OF 0x800u
#define F_IOPL 0x3000u
#define F_ALL6 (F_CF | F_PF | F_AF | F_ZF | F_SF | F_OF)

enum { EAX, ECX, EDX, EBX, ESP, EBP, ESI, EDI };

extern void diff_run_native(const uint32_t in[9]);
extern void diff_capture(void);
extern uint32_t diff_cap[16];
extern uint32_t diff_entry;

/* ------------------------------------------------------------------ PRNG */

static uint64_t rng_state;

static uint32_t rnd(void)
{
	uint64_t z = (rng_state += 0x9e3779b97f4a7c15ull);
	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
	return (uint32_t)((z ^ (z >> 31)) >> 16);
}

static uint32_t rn(uint32_t n) { return rnd() % n; }

static uint32_t wmask(int w) { return w >= 32 ? 0xffffffffu : (1u << w) - 1; }

/* An operand value of width w, biased towards edge values. */
static uint32_t edge(int w)
{
	static const uint32_t e[] = { 0x7f, 0x80, 0xff, 0x7fff, 0x8000, 0xffff,
				      0x7fffffff, 0x80000000, 0xffffffff,
				      0x100, 0x10000, 0x0f, 0x10 };
	uint32_t m = wmask(w), sb = 1u << (w - 1);
	switch (rn(16)) {
	case 0: return 0;
	case 1: return 1;
	case 2: return sb - 1;
	case 3: return sb;
	case 4: return m;
	case 5: return m - 1;
	case 6: return sb + 1;
	case 7: return 2;
	case 8: return rn(16);
	case 9: return (m - rn(16)) & m;
	case 10:
	case 11: return e[rn(sizeof e / sizeof e[0])] & m;
	default: return rnd() & m;
	}
}

/* --------------------------------------------------------------- forms */

enum cls {
	C_NONE,	   /* flags all defined (unchanged or computed) */
	C_LOGIC,   /* AF undefined */
	C_SHIFT,   /* sub = /digit of the group-2 opcode */
	C_SHD,	   /* SHLD/SHRD */
	C_MUL,	   /* MUL / IMUL one-operand */
	C_IMUL,	   /* IMUL two/three-operand */
	C_DIV,	   /* DIV / IDIV, sub 6 / 7 */
	C_BT,	   /* BT*: only CF defined */
	C_BS,	   /* BSF / BSR */
	C_CMPXCHG, /* accumulator = destination half the time */
};

enum cnt { CNT_NONE, CNT_ONE, CNT_CL, CNT_IMM };

struct form {
	char name[DIFF_NAME_LEN];
	void (*gen)(const struct form *f);
	uint8_t pfx[3], npfx;
	uint8_t op[3], oplen;
	int8_t digit;	/* /digit, or -1 for /r */
	uint8_t mem;	/* r/m is a memory operand */
	uint8_t w;	/* operand width of reg (and r/m unless rw) */
	uint8_t rw;	/* r/m width */
	uint8_t imm;	/* immediate bytes */
	uint8_t cls;
	uint8_t sub;
	uint8_t cnt;	/* shift count source */
	uint8_t randcc; /* low nibble of the last opcode byte random */
	uint8_t lock;
	uint16_t n;	/* cases */
	uint8_t xpfx[15], nxpfx; /* prefixes emitted before everything else */
	uint8_t fault_ok;	 /* the instruction may raise #UD or #GP */
};

#define MAX_FORMS 2400
static struct form forms[MAX_FORMS];
static int nforms;

static struct form *add_form(void (*gen)(const struct form *), int n,
			     const char *fmt, ...)
{
	if (nforms == MAX_FORMS) {
		fprintf(stderr, "too many forms\n");
		exit(2);
	}
	struct form *f = &forms[nforms++];
	memset(f, 0, sizeof *f);
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(f->name, sizeof f->name, fmt, ap);
	va_end(ap);
	f->gen = gen;
	f->n = (uint16_t)n;
	f->digit = -1;
	return f;
}

/* ---------------------------------------------------------- case state */

static struct diff_case cur;
static uint8_t gdata[DIFF_DATA_SIZE]; /* the generator's view of the data */
static int cur_form;
static bool gen_error;

static void gfail(const char *what)
{
	fprintf(stderr, "generator: %s in form %s\n", what, forms[cur_form].name);
	gen_error = true;
}

static void emit(uint8_t b)
{
	if (cur.code_len >= DIFF_MAX_CODE) {
		gfail("code too long");
		return;
	}
	cur.code[cur.code_len++] = b;
}

static void emitn(uint32_t v, int bytes)
{
	for (int i = 0; i < bytes; i++)
		emit((uint8_t)(v >> (8 * i)));
}

static void poke(uint32_t addr, uint32_t v, int bytes)
{
	for (int i = 0; i < bytes; i++) {
		uint32_t off = addr + i - DIFF_DATA_ADDR;
		if (off >= DIFF_DATA_SIZE || cur.npatch >= DIFF_MAX_PATCH) {
			gfail("bad poke");
			return;
		}
		cur.patch[cur.npatch].off = (uint16_t)off;
		cur.patch[cur.npatch].val = (uint8_t)(v >> (8 * i));
		cur.npatch++;
		gdata[off] = (uint8_t)(v >> (8 * i));
	}
}

static uint32_t peek(uint32_t addr, int bytes)
{
	uint32_t v = 0;
	for (int i = 0; i < bytes; i++)
		v |= (uint32_t)gdata[addr + i - DIFF_DATA_ADDR] << (8 * i);
	return v;
}

/* A register value whose low w bits (and AH..BH's byte for w 8) are edge-biased. */
static uint32_t reg_value(int w)
{
	uint32_t v = rnd();
	if (rn(8) == 0)
		v = rn(2) ? 0 : 0xffffffffu;
	if (w == 8)
		return (v & 0xffff0000u) | edge(8) | edge(8) << 8;
	return (v & ~wmask(w)) | edge(w);
}

static void init_case(int w)
{
	memset(&cur, 0, sizeof cur);
	cur.form = (uint32_t)cur_form;
	cur.fill_seed = rnd() | 1;
	diff_fill(gdata, DIFF_DATA_SIZE, cur.fill_seed);
	for (int r = 0; r < 8; r++) {
		cur.in_gpr[r] = reg_value(w);
		cur.gpr_mask[r] = 0xffffffffu;
	}
	cur.in_gpr[ESP] = DIFF_DATA_ADDR + 0x2000 - 0x80 + 4 * rn(64);
	cur.in_eflags = 0x202 | (rnd() & F_ALL6) | (rn(2) ? F_DF : 0);
}

/* Register of width w: value get/set (8-bit regs in ModRM numbering). */
static uint32_t get_reg(int r, int w)
{
	if (w == 8)
		return r < 4 ? cur.in_gpr[r] & 0xff : (cur.in_gpr[r - 4] >> 8) & 0xff;
	return cur.in_gpr[r] & wmask(w);
}

static void set_reg(int r, int w, uint32_t v)
{
	if (w == 8) {
		if (r < 4)
			cur.in_gpr[r] = (cur.in_gpr[r] & ~0xffu) | (v & 0xff);
		else
			cur.in_gpr[r - 4] = (cur.in_gpr[r - 4] & ~0xff00u) | (v & 0xff) << 8;
		return;
	}
	cur.in_gpr[r] = (cur.in_gpr[r] & ~wmask(w)) | (v & wmask(w));
}

/* The 32-bit register that register operand r of width w lives in. */
static int full_reg(int r, int w) { return w == 8 ? (r & 3) : r; }

/* A register operand of width w, not ESP and not in the 32-bit mask avoid. */
static int pick_reg(int w, uint32_t avoid)
{
	for (int tries = 0; tries < 100; tries++) {
		int r = (int)rn(8);
		if (w != 8 && r == ESP)
			continue;
		if (avoid & (1u << full_reg(r, w)))
			continue;
		return r;
	}
	gfail("no register");
	return 0;
}

static uint32_t pick_addr(uint32_t lo, uint32_t hi)
{
	return DIFF_DATA_ADDR + lo + rn(hi - lo);
}

static uint32_t pick_free(uint32_t *avoid, bool no_ebp)
{
	for (int tries = 0; tries < 200; tries++) {
		int r = (int)rn(8);
		if (r == ESP || (*avoid & (1u << r)) || (no_ebp && r == EBP))
			continue;
		*avoid |= 1u << r;
		return (uint32_t)r;
	}
	return 8;
}

static uint32_t small_index(void)
{
	switch (rn(4)) {
	case 0: return rnd();
	case 1: return 0;
	default: return (uint32_t)((int32_t)rn(129) - 64);
	}
}

/*
 * ModRM (+SIB, displacement) for a memory operand at guest address addr,
 * with reg in the reg field.  Base/index registers are chosen outside avoid
 * (and never ESP unless allow_esp) and given values that make the address.
 */
static void emit_mem(int reg, uint32_t addr, uint32_t avoid, bool allow_esp)
{
	avoid |= 1u << ESP;
	uint8_t rf = (uint8_t)((reg & 7) << 3);
	for (int tries = 0; tries < 20; tries++) {
		int mode = (int)rn(allow_esp ? 9 : 8);
		uint32_t a = avoid, b, x, sc = rn(4);
		int32_t d8 = (int32_t)rn(256) - 128;
		uint32_t d32 = rn(4) ? (uint32_t)((int32_t)rn(8192) - 4096) : rnd();
		switch (mode) {
		case 0: /* [disp32] */
			emit(0x05 | rf);
			emitn(addr, 4);
			return;
		case 1: /* [base] */
			if ((b = pick_free(&a, true)) == 8)
				continue;
			cur.in_gpr[b] = addr;
			emit(0x00 | rf | b);
			return;
		case 2: /* [base+disp8] */
			if ((b = pick_free(&a, false)) == 8)
				continue;
			cur.in_gpr[b] = addr - (uint32_t)d8;
			emit(0x40 | rf | b);
			emit((uint8_t)d8);
			return;
		case 3: /* [base+disp32] */
			if ((b = pick_free(&a, false)) == 8)
				continue;
			cur.in_gpr[b] = addr - d32;
			emit(0x80 | rf | b);
			emitn(d32, 4);
			return;
		case 4: /* [base+index*scale] */
		case 5: /* [base+index*scale+disp8] */
			if ((b = pick_free(&a, mode == 4)) == 8 || (x = pick_free(&a, false)) == 8)
				continue;
			if (rn(6) == 0 && !(avoid & (1u << b))) /* same reg as base and index */
				x = b;
			if (x == b) {
				uint32_t v = addr - (mode == 5 ? (uint32_t)d8 : 0);
				/* b + b<<sc = v: only solvable for some v; use scale 1 and even v */
				sc = 0;
				if (v & 1)
					continue;
				cur.in_gpr[b] = v / 2;
			} else {
				cur.in_gpr[x] = small_index();
				cur.in_gpr[b] = addr - (cur.in_gpr[x] << sc) -
						(mode == 5 ? (uint32_t)d8 : 0);
			}
			emit((mode == 4 ? 0x04 : 0x44) | rf);
			emit((uint8_t)(sc << 6 | x << 3 | b));
			if (mode == 5)
				emit((uint8_t)d8);
			return;
		case 6: /* [index*scale+disp32] */
			if ((x = pick_free(&a, false)) == 8)
				continue;
			cur.in_gpr[x] = small_index();
			emit(0x04 | rf);
			emit((uint8_t)(sc << 6 | x << 3 | 5));
			emitn(addr - (cur.in_gpr[x] << sc), 4);
			return;
		case 7: /* [base+disp8] through a SIB with no index */
			if ((b = pick_free(&a, false)) == 8)
				continue;
			cur.in_gpr[b] = addr - (uint32_t)d8;
			emit(0x44 | rf);
			emit((uint8_t)(rn(4) << 6 | 4 << 3 | b));
			emit((uint8_t)d8);
			return;
		case 8: /* [esp+disp32] */
			emit(0x84 | rf);
			emit(0x24);
			emitn(addr - cur.in_gpr[ESP], 4);
			return;
		}
	}
	emit(0x05 | rf);
	emitn(addr, 4);
}

static void emit_prefixes_op(const struct form *f, uint8_t cc)
{
	for (int i = 0; i < f->nxpfx; i++)
		emit(f->xpfx[i]);
	if (f->lock)
		emit(0xf0);
	for (int i = 0; i < f->npfx; i++)
		emit(f->pfx[i]);
	for (int i = 0; i < f->oplen; i++)
		emit(i == f->oplen - 1 ? (uint8_t)(f->op[i] + cc) : f->op[i]);
}

static uint32_t pick_count(int w)
{
	switch (rn(12)) {
	case 0: return 0;
	case 1: return 1;
	case 2: return (uint32_t)w - 1;
	case 3: return (uint32_t)w;
	case 4: return (uint32_t)w + 1;
	case 5: return 31;
	case 6: return 32 + rn(224);
	case 7: return 2;
	case 8: return (uint32_t)w * 2 > 31 ? 16 : (uint32_t)w * 2;
	default: return rn(32);
	}
}

static uint32_t shift_undef(int sub, int w, uint32_t count)
{
	uint32_t c = count & 31, u = 0;
	if (c == 0)
		return 0;
	if (c != 1)
		u |= F_OF;
	if (sub >= 4) { /* SHL SHR SAL SAR */
		u |= F_AF;
		if (sub != 7 && c >= (uint32_t)w)
			u |= F_CF;
	}
	return u;
}

/* Dividend/divisor for DIV (sub 6) / IDIV (sub 7), mostly without #DE. */
static void div_operands(int sub, int w, uint64_t *dividend, uint32_t *divisor)
{
	uint32_t m = wmask(w);
	int k = (int)rn(8);
	if (k == 0) { /* divide by zero */
		*divisor = 0;
		*dividend = ((uint64_t)rnd() << 32 | rnd());
		return;
	}
	if (k == 1) { /* anything: mostly overflow */
		*divisor = edge(w);
		*dividend = ((uint64_t)rnd() << 32 | rnd());
		return;
	}
	if (k == 2 && sub == 7) { /* most negative / -1 */
		*divisor = m;
		*dividend = (uint64_t)1 << (2 * w - 1);
		return;
	}
	do
		*divisor = edge(w);
	while (*divisor == 0);
	if (sub == 6) {
		uint64_t q = edge(w), r = rnd() % *divisor;
		*dividend = q * *divisor + r;
	} else {
		int64_t d = (int64_t)(int32_t)(*divisor << (32 - w)) >> (32 - w);
		int64_t q = (int64_t)(int32_t)(edge(w) << (32 - w)) >> (32 - w);
		if (rn(2) && q == -((int64_t)1 << (w - 1)))
			q = -q - 1;
		int64_t ad = d < 0 ? -d : d;
		int64_t r = (int64_t)(rnd() % (uint64_t)ad);
		if ((q < 0) != (d < 0) && q != 0)
			r = -r;
		else if (q == 0 && rn(2))
			r = -r;
		*dividend = (uint64_t)(q * d + r);
	}
}

/* The generic ModRM form generator. */
static void gen_modrm(const struct form *f)
{
	int w = f->w, rw = f->rw ? f->rw : f->w;
	init_case(w == 8 || rw == 8 ? 8 : w);
	uint32_t implicit = 0, excl = 0;
	uint8_t cc = f->randcc ? (uint8_t)rn(16) : 0;
	bool m64 = f->oplen == 2 && f->op[0] == 0x0f && f->op[1] == 0xc7; /* CMPXCHG8B */

	switch (f->cls) {
	case C_MUL: implicit = 1u << EAX | 1u << EDX; break;
	case C_DIV: implicit = excl = 1u << EAX | 1u << EDX; break;
	case C_CMPXCHG:
		implicit = 1u << EAX;
		if (m64)
			implicit |= 1u << ECX | 1u << EDX | 1u << EBX;
		break;
	case C_SHIFT:
	case C_SHD:
		if (f->cnt == CNT_CL)
			implicit = 1u << ECX;
		break;
	}
	/* reg field operand */
	int reg = f->digit >= 0 ? f->digit : pick_reg(w, excl);
	uint32_t avoid = implicit;
	if (f->digit < 0)
		avoid |= 1u << full_reg(reg, w);
	/* r/m operand */
	int rmreg = -1;
	uint32_t addr = 0;
	if (!f->mem) {
		rmreg = pick_reg(rw, excl);
		if (f->digit < 0 && rn(4) != 0) /* mostly distinct registers */
			for (int t = 0; t < 10 && rmreg == reg; t++)
				rmreg = pick_reg(rw, excl);
	} else {
		uint32_t lo = 0x400, hi = DIFF_DATA_SIZE - 0x400;
		if (f->cls == C_BT && f->imm == 0) {
			lo = 0x1800;
			hi = 0x2800;
		}
		addr = pick_addr(lo, hi);
		poke(addr, edge(rw), rw == 8 ? 1 : rw / 8);
		if (m64)
			poke(addr + 4, edge(32), 4);
	}
	uint32_t rmval_w = 0; /* value of the r/m operand, for BSF/BSR */
	uint32_t count = 0;

	switch (f->cls) {
	case C_DIV: {
		uint64_t dividend;
		uint32_t divisor;
		div_operands(f->sub, rw, &dividend, &divisor);
		if (rmreg >= 0)
			set_reg(rmreg, rw, divisor);
		else
			poke(addr, divisor, rw / 8 ? rw / 8 : 1);
		if (rw == 8) {
			set_reg(EAX, 16, (uint32_t)dividend);
		} else {
			set_reg(EAX, rw, (uint32_t)dividend);
			set_reg(EDX, rw, (uint32_t)(dividend >> rw));
		}
		break;
	}
	case C_CMPXCHG:
		if (rn(2)) {
			uint32_t dv = rmreg >= 0 ? get_reg(rmreg, rw) : peek(addr, rw / 8 ? rw / 8 : 1);
			set_reg(EAX, rw, dv);
			if (m64)
				cur.in_gpr[EDX] = peek(addr + 4, 4);
		}
		break;
	case C_BT:
		if (f->imm == 0 && f->mem) { /* bit offset in a register, beyond the operand */
			int32_t off;
			if (w == 16) {
				off = (int16_t)edge(16);
			} else {
				static const int32_t e[] = { 0, 1, 31, 32, 33, -1, -32, -33, 63, -64 };
				off = rn(3) ? (int32_t)rn(0x6000) - 0x3000 : e[rn(10)];
			}
			set_reg(reg, w, (uint32_t)off);
		}
		break;
	case C_BS:
		if (rn(5) == 0) {
			if (rmreg >= 0)
				set_reg(rmreg, rw, 0);
			else
				poke(addr, 0, rw / 8);
		}
		rmval_w = rmreg >= 0 ? get_reg(rmreg, rw) : peek(addr, rw / 8);
		break;
	}
	if (f->cnt == CNT_CL || f->cnt == CNT_IMM) {
		count = pick_count(w);
		/* SHLD/SHRD m16 by more than 16: the memory result is undefined */
		while (f->cls == C_SHD && f->mem && w == 16 && (count & 31) > 16)
			count = pick_count(w);
		if (f->cnt == CNT_CL)
			set_reg(ECX, 8, count);
	} else if (f->cnt == CNT_ONE) {
		count = 1;
	}

	emit_prefixes_op(f, cc);
	if (f->mem)
		emit_mem(reg, addr, avoid, true);
	else
		emit((uint8_t)(0xc0 | reg << 3 | rmreg));
	if (f->cnt == CNT_IMM)
		emit((uint8_t)count);
	else if (f->imm)
		emitn(f->imm == 1 ? edge(8) : edge(f->imm * 8), f->imm);

	/* undefined results */
	switch (f->cls) {
	case C_LOGIC: cur.flags_undef = F_AF; break;
	case C_SHIFT: cur.flags_undef = shift_undef(f->sub, w, count); break;
	case C_SHD: {
		uint32_t c = count & 31;
		if (c == 0)
			break;
		if (w == 16 && c > 16) {
			cur.flags_undef = F_ALL6;
			cur.gpr_mask[rmreg] &= ~0xffffu;
		} else {
			cur.flags_undef = F_AF | (c != 1 ? F_OF : 0);
		}
		break;
	}
	case C_MUL:
	case C_IMUL: cur.flags_undef = F_SF | F_ZF | F_AF | F_PF; break;
	case C_DIV: cur.flags_undef = F_ALL6; break;
	case C_BT: cur.flags_undef = F_ALL6 & ~F_CF; break;
	case C_BS:
		cur.flags_undef = F_ALL6 & ~F_ZF;
		if (rmval_w == 0)
			cur.gpr_mask[reg] &= ~wmask(w);
		break;
	}
}

/* Short forms with the register in the opcode: op+r (INC DEC XCHG BSWAP PUSH POP). */
static void gen_opreg(const struct form *f)
{
	init_case(f->w);
	int r = pick_reg(32, f->sub ? 1u << EAX : 0); /* sub: not EAX (XCHG 90 = NOP) */
	emit_prefixes_op(f, (uint8_t)r);
	if (f->op[f->oplen - 1] >= 0x58 && f->op[f->oplen - 1] <= 0x5f) /* POP */
		poke(cur.in_gpr[ESP], edge(f->w), f->w / 8);
}

/* Forms without ModRM: accumulator/immediate and one-byte ops. */
static void gen_plain(const struct form *f)
{
	init_case(f->w);
	emit_prefixes_op(f, 0);
	if (f->imm)
		emitn(edge(f->imm * 8), f->imm);
	if (f->cls == C_LOGIC)
		cur.flags_undef = F_AF;
}

/* DAA DAS AAA AAS AAM AAD; sub = 1 for AAM/AAD with random imm, 2 for AAM 0. */
static void gen_bcd(const struct form *f)
{
	static const uint8_t al[] = { 0x00, 0x09, 0x0a, 0x0f, 0x10, 0x19, 0x1a, 0x66,
				      0x99, 0x9a, 0x9f, 0xa0, 0xf9, 0xfa, 0xff, 0x7f, 0x80 };
	init_case(8);
	uint32_t a = rn(3) ? al[rn(sizeof al)] : rn(256);
	set_reg(EAX, 8, a);
	emit_prefixes_op(f, 0);
	uint8_t op = f->op[0];
	if (op == 0xd4 || op == 0xd5) {
		uint8_t imm = 10;
		if (f->sub == 2)
			imm = 0;
		else if (rn(2))
			imm = (uint8_t)(rn(255) + 1);
		emit(imm);
		cur.flags_undef = F_OF | F_AF | F_CF;
	} else if (op == 0x27 || op == 0x2f) {
		cur.flags_undef = F_OF;
	} else {
		cur.flags_undef = F_OF | F_SF | F_ZF | F_PF;
	}
}

/* String instructions: sub = opcode (byte form), digit = 0/0xf3/0xf2 prefix. */
static void gen_str(const struct form *f)
{
	init_case(f->w);
	int sz = f->w / 8;
	uint8_t rep = (uint8_t)f->sub;
	bool df = rn(2);
	cur.in_eflags = (cur.in_eflags & ~F_DF) | (df ? F_DF : 0);
	uint32_t n = 1;
	if (rep) {
		n = rn(5) == 0 ? 0 : rn(9);
		cur.in_gpr[ECX] = n; /* small counts */
	}
	uint32_t si = pick_addr(0x1000, 0x1400), di = pick_addr(0x2800, 0x2c00);
	uint8_t op = f->op[0] & 0xfe; /* the byte form's opcode */
	if (op == 0xa4 && rn(4) == 0) /* overlapping MOVS */
		di = si + (uint32_t)((int)rn(9) - 4) * (uint32_t)sz + rn(2);
	cur.in_gpr[ESI] = si;
	cur.in_gpr[EDI] = di;
	int32_t step = df ? -sz : sz;
	if (op == 0xa6 && n) { /* CMPS: equal run of k elements */
		uint32_t k = rn(n + 1);
		for (uint32_t i = 0; i < k; i++)
			poke(di + i * step, peek(si + i * step, sz), sz);
	}
	if (op == 0xae && n) { /* SCAS: equal run, or a match at k */
		uint32_t k = rn(n + 1), acc = get_reg(EAX, f->w);
		if (rn(2))
			for (uint32_t i = 0; i < k; i++)
				poke(di + i * step, acc, sz);
		else if (k < n)
			poke(di + k * step, acc, sz);
	}
	uint32_t opc = f->op[0];
	bool p66 = f->w == 16;
	if (p66 && rn(2)) {
		emit(0x66);
		p66 = false;
	}
	if (rep)
		emit(rep);
	if (p66)
		emit(0x66);
	emit((uint8_t)opc);
}

/* LEA: sub = addressing kind; pfx may hold 0x66 / 0x67. */
static void gen_lea(const struct form *f)
{
	init_case(32);
	for (int r = 0; r < 8; r++)
		if (r != ESP)
			cur.in_gpr[r] = rn(3) ? rnd() : edge(32);
	int R = pick_reg(32, 0);
	uint8_t rf = (uint8_t)(R << 3);
	bool a16 = false;
	for (int i = 0; i < f->npfx; i++)
		a16 |= f->pfx[i] == 0x67;
	emit_prefixes_op(f, 0);
	uint32_t sc = rn(4);
	uint32_t b = rn(8), x = rn(8);
	if (a16) {
		uint32_t mod = rn(3), rm = rn(8);
		emit((uint8_t)(mod << 6 | rf | rm));
		if (mod == 1)
			emit((uint8_t)rnd());
		else if (mod == 2 || (mod == 0 && rm == 6))
			emitn(edge(16), 2);
		return;
	}
	switch (f->sub) {
	case 0: emit(0x05 | rf); emitn(edge(32), 4); break;
	case 1:
		while (b == 4 || b == 5) b = rn(8);
		emit((uint8_t)(rf | b));
		break;
	case 2:
		while (b == 4) b = rn(8);
		emit((uint8_t)(0x40 | rf | b)); emit((uint8_t)rnd());
		break;
	case 3:
		while (b == 4) b = rn(8);
		emit((uint8_t)(0x80 | rf | b)); emitn(edge(32), 4);
		break;
	case 4: /* SIB, mod 0 */
		while (b == 5) b = rn(8);
		while (x == 4) x = rn(8);
		emit((uint8_t)(0x04 | rf)); emit((uint8_t)(sc << 6 | x << 3 | b));
		break;
	case 5:
		while (x == 4) x = rn(8);
		emit((uint8_t)(0x44 | rf)); emit((uint8_t)(sc << 6 | x << 3 | b)); emit((uint8_t)rnd());
		break;
	case 6:
		while (x == 4) x = rn(8);
		emit((uint8_t)(0x84 | rf)); emit((uint8_t)(sc << 6 | x << 3 | b)); emitn(edge(32), 4);
		break;
	case 7: /* no base */
		while (x == 4) x = rn(8);
		emit((uint8_t)(0x04 | rf)); emit((uint8_t)(sc << 6 | x << 3 | 5)); emitn(edge(32), 4);
		break;
	case 8: { /* no index (index field 100), any scale, any mod */
		uint32_t mod = rn(3);
		emit((uint8_t)(mod << 6 | rf | 4)); emit((uint8_t)(sc << 6 | 4 << 3 | b));
		if (mod == 1)
			emit((uint8_t)rnd());
		else if (mod == 2 || b == 5)
			emitn(edge(32), 4);
		break;
	}
	}
}

/* PUSH/POP forms. sub: 0 push imm, 1 push m, 2 pop m, 3 pushf, 4 popf,
 * 5 popf with system bits, 6 ALU op then pushfd, 7 popfd then pushfd. */
static void gen_stack(const struct form *f)
{
	init_case(f->w);
	int sz = f->w / 8;
	uint32_t esp = cur.in_gpr[ESP];
	uint32_t popv;
	switch (f->sub) {
	case 0:
		emit_prefixes_op(f, 0);
		emitn(edge(f->imm * 8), f->imm);
		break;
	case 1:
	case 2: {
		uint32_t addr = pick_addr(0x800, 0x1800);
		poke(addr, edge(f->w), sz);
		if (f->sub == 2)
			poke(esp, edge(f->w), sz);
		emit_prefixes_op(f, 0);
		emit_mem(f->digit, addr, 0, false);
		break;
	}
	case 3:
		emit_prefixes_op(f, 0);
		break;
	case 4:
	case 5:
	case 7:
		popv = rnd() & (F_ALL6 | F_DF);
		if (f->sub != 4 || rn(2))
			popv |= rnd() & (0x2 | 0x8 | 0x20 | 0x8000);
		if (f->sub == 5)
			popv |= rnd() & (F_IF | F_IOPL);
		poke(esp, popv, sz);
		emit_prefixes_op(f, 0);
		if (f->sub == 7)
			emit(0x9c);
		break;
	case 6: {
		/* ADD ADC SBB SUB CMP: every flag defined, so the pushed image is too */
		static const uint8_t ops[] = { 0x01, 0x11, 0x19, 0x29, 0x39 };
		uint8_t op = ops[rn(sizeof ops)];
		int a = pick_reg(32, 0), b = pick_reg(32, 0);
		emit(op);
		emit((uint8_t)(0xc0 | b << 3 | a));
		emit(0x9c);
		break;
	}
	}
}

/* CLC STC CMC CLD STD SAHF LAHF CBW CWDE CWD CDQ: one opcode. */
static void gen_simple(const struct form *f)
{
	init_case(f->w ? f->w : 32);
	if (f->op[0] == 0x9e) /* SAHF: AH random */
		set_reg(4, 8, rnd());
	emit_prefixes_op(f, 0);
}

/* ------------------------------------------------------------ form table */

static const char *const alu_names[8] = { "add", "or", "adc", "sbb", "and", "sub", "xor", "cmp" };
static const char *const sh_names[8] = { "rol", "ror", "rcl", "rcr", "shl", "shr", "sal", "sar" };
static const char *const cc_names[16] = { "o", "no", "b", "ae", "e", "ne", "be", "a",
					  "s", "ns", "p", "np", "l", "ge", "le", "g" };

static struct form *mf(int n, const char *name, int w, int pfx66, uint8_t op0, int op1,
		       int digit, int mem, int imm, int cls)
{
	struct form *f = add_form(gen_modrm, n, "%s.%s", name, mem ? "mem" : "reg");
	f->w = (uint8_t)w;
	if (pfx66 || w == 16)
		f->pfx[f->npfx++] = 0x66;
	f->op[f->oplen++] = op0;
	if (op1 >= 0)
		f->op[f->oplen++] = (uint8_t)op1;
	f->digit = (int8_t)digit;
	f->mem = (uint8_t)mem;
	f->imm = (uint8_t)imm;
	f->cls = (uint8_t)cls;
	return f;
}

static struct form *pf(void (*gen)(const struct form *), int n, const char *name, int w,
		       int nop, const uint8_t *op, int imm)
{
	struct form *f = add_form(gen, n, "%s", name);
	f->w = (uint8_t)w;
	if (w == 16)
		f->pfx[f->npfx++] = 0x66;
	for (int i = 0; i < nop; i++)
		f->op[f->oplen++] = op[i];
	f->imm = (uint8_t)imm;
	return f;
}

#define OPS(...) (const uint8_t[]){ __VA_ARGS__ }

#include "x87_forms.c"

static void build_forms(void)
{
	char nm[64];
	static const int ws[3] = { 8, 16, 32 };
	/* ALU: ADD OR ADC SBB AND SUB XOR CMP */
	for (int o = 0; o < 8; o++) {
		int cls = (o == 1 || o == 4 || o == 6) ? C_LOGIC : C_NONE;
		uint8_t base = (uint8_t)(o * 8);
		for (int m = 0; m < 2; m++) {
			for (int i = 0; i < 3; i++) {
				int w = ws[i], s = w != 8;
				snprintf(nm, sizeof nm, "%s.rm%d_r%d", alu_names[o], w, w);
				mf(10, nm, w, 0, base + s, -1, -1, m, 0, cls);
				snprintf(nm, sizeof nm, "%s.r%d_rm%d", alu_names[o], w, w);
				mf(10, nm, w, 0, base + 2 + s, -1, -1, m, 0, cls);
			}
			snprintf(nm, sizeof nm, "%s.rm8_imm8", alu_names[o]);
			mf(10, nm, 8, 0, 0x80, -1, o, m, 1, cls);
			snprintf(nm, sizeof nm, "%s.rm16_imm16", alu_names[o]);
			mf(10, nm, 16, 0, 0x81, -1, o, m, 2, cls);
			snprintf(nm, sizeof nm, "%s.rm32_imm32", alu_names[o]);
			mf(10, nm, 32, 0, 0x81, -1, o, m, 4, cls);
			snprintf(nm, sizeof nm, "%s.rm16_simm8", alu_names[o]);
			mf(10, nm, 16, 0, 0x83, -1, o, m, 1, cls);
			snprintf(nm, sizeof nm, "%s.rm32_simm8", alu_names[o]);
			mf(10, nm, 32, 0, 0x83, -1, o, m, 1, cls);
		}
		snprintf(nm, sizeof nm, "%s.rm8_imm8_op82", alu_names[o]);
		mf(4, nm, 8, 0, 0x82, -1, o, 0, 1, cls);
		snprintf(nm, sizeof nm, "%s.al_imm8", alu_names[o]);
		pf(gen_plain, 10, nm, 8, 1, OPS(base + 4), 1)->cls = (uint8_t)cls;
		snprintf(nm, sizeof nm, "%s.ax_imm16", alu_names[o]);
		pf(gen_plain, 10, nm, 16, 1, OPS(base + 5), 2)->cls = (uint8_t)cls;
		snprintf(nm, sizeof nm, "%s.eax_imm32", alu_names[o]);
		pf(gen_plain, 10, nm, 32, 1, OPS(base + 5), 4)->cls = (uint8_t)cls;
	}
	/* TEST */
	for (int m = 0; m < 2; m++)
		for (int i = 0; i < 3; i++) {
			int w = ws[i], s = w != 8;
			snprintf(nm, sizeof nm, "test.rm%d_r%d", w, w);
			mf(10, nm, w, 0, 0x84 + s, -1, -1, m, 0, C_LOGIC);
			snprintf(nm, sizeof nm, "test.rm%d_imm%d", w, w);
			mf(10, nm, w, 0, 0xf6 + s, -1, 0, m, w / 8, C_LOGIC);
		}
	pf(gen_plain, 10, "test.al_imm8", 8, 1, OPS(0xa8), 1)->cls = C_LOGIC;
	pf(gen_plain, 10, "test.ax_imm16", 16, 1, OPS(0xa9), 2)->cls = C_LOGIC;
	pf(gen_plain, 10, "test.eax_imm32", 32, 1, OPS(0xa9), 4)->cls = C_LOGIC;
	/* INC DEC NEG NOT */
	for (int m = 0; m < 2; m++)
		for (int i = 0; i < 3; i++) {
			int w = ws[i], s = w != 8;
			snprintf(nm, sizeof nm, "inc.rm%d", w);
			mf(10, nm, w, 0, 0xfe + s, -1, 0, m, 0, C_NONE);
			snprintf(nm, sizeof nm, "dec.rm%d", w);
			mf(10, nm, w, 0, 0xfe + s, -1, 1, m, 0, C_NONE);
			snprintf(nm, sizeof nm, "not.rm%d", w);
			mf(10, nm, w, 0, 0xf6 + s, -1, 2, m, 0, C_NONE);
			snprintf(nm, sizeof nm, "neg.rm%d", w);
			mf(10, nm, w, 0, 0xf6 + s, -1, 3, m, 0, C_NONE);
		}
	pf(gen_opreg, 10, "inc.r16_short", 16, 1, OPS(0x40), 0);
	pf(gen_opreg, 10, "inc.r32_short", 32, 1, OPS(0x40), 0);
	pf(gen_opreg, 10, "dec.r16_short", 16, 1, OPS(0x48), 0);
	pf(gen_opreg, 10, "dec.r32_short", 32, 1, OPS(0x48), 0);
	/* shifts and rotates */
	for (int o = 0; o < 8; o++) {
		if (o == 6)
			continue; /* SAL = SHL (/6 is an undocumented alias) */
		for (int m = 0; m < 2; m++)
			for (int i = 0; i < 3; i++) {
				int w = ws[i], s = w != 8;
				struct form *f;
				snprintf(nm, sizeof nm, "%s.rm%d_1", sh_names[o], w);
				f = mf(m ? 6 : 8, nm, w, 0, 0xd0 + s, -1, o, m, 0, C_SHIFT);
				f->sub = (uint8_t)o, f->cnt = CNT_ONE;
				snprintf(nm, sizeof nm, "%s.rm%d_cl", sh_names[o], w);
				f = mf(m ? 8 : 24, nm, w, 0, 0xd2 + s, -1, o, m, 0, C_SHIFT);
				f->sub = (uint8_t)o, f->cnt = CNT_CL;
				snprintf(nm, sizeof nm, "%s.rm%d_imm8", sh_names[o], w);
				f = mf(m ? 8 : 20, nm, w, 0, 0xc0 + s, -1, o, m, 0, C_SHIFT);
				f->sub = (uint8_t)o, f->cnt = CNT_IMM;
			}
	}
	/* SHLD SHRD */
	for (int m = 0; m < 2; m++)
		for (int i = 1; i < 3; i++) {
			int w = ws[i];
			struct form *f;
			snprintf(nm, sizeof nm, "shld.rm%d_r%d_imm8", w, w);
			f = mf(m ? 10 : 20, nm, w, 0, 0x0f, 0xa4, -1, m, 0, C_SHD);
			f->cnt = CNT_IMM;
			snprintf(nm, sizeof nm, "shld.rm%d_r%d_cl", w, w);
			f = mf(m ? 10 : 20, nm, w, 0, 0x0f, 0xa5, -1, m, 0, C_SHD);
			f->cnt = CNT_CL;
			snprintf(nm, sizeof nm, "shrd.rm%d_r%d_imm8", w, w);
			f = mf(m ? 10 : 20, nm, w, 0, 0x0f, 0xac, -1, m, 0, C_SHD);
			f->cnt = CNT_IMM;
			snprintf(nm, sizeof nm, "shrd.rm%d_r%d_cl", w, w);
			f = mf(m ? 10 : 20, nm, w, 0, 0x0f, 0xad, -1, m, 0, C_SHD);
			f->cnt = CNT_CL;
		}
	/* MUL IMUL DIV IDIV */
	for (int m = 0; m < 2; m++)
		for (int i = 0; i < 3; i++) {
			int w = ws[i], s = w != 8;
			snprintf(nm, sizeof nm, "mul.rm%d", w);
			mf(12, nm, w, 0, 0xf6 + s, -1, 4, m, 0, C_MUL);
			snprintf(nm, sizeof nm, "imul.rm%d", w);
			mf(12, nm, w, 0, 0xf6 + s, -1, 5, m, 0, C_MUL);
			snprintf(nm, sizeof nm, "div.rm%d", w);
			mf(16, nm, w, 0, 0xf6 + s, -1, 6, m, 0, C_DIV)->sub = 6;
			snprintf(nm, sizeof nm, "idiv.rm%d", w);
			mf(16, nm, w, 0, 0xf6 + s, -1, 7, m, 0, C_DIV)->sub = 7;
			if (w == 8)
				continue;
			snprintf(nm, sizeof nm, "imul.r%d_rm%d", w, w);
			mf(12, nm, w, 0, 0x0f, 0xaf, -1, m, 0, C_IMUL);
			snprintf(nm, sizeof nm, "imul.r%d_rm%d_imm%d", w, w, w);
			mf(12, nm, w, 0, 0x69, -1, -1, m, w / 8, C_IMUL);
			snprintf(nm, sizeof nm, "imul.r%d_rm%d_simm8", w, w);
			mf(12, nm, w, 0, 0x6b, -1, -1, m, 1, C_IMUL);
		}
	/* BT BTS BTR BTC, BSF BSR */
	static const char *const bt_names[4] = { "bt", "bts", "btr", "btc" };
	for (int o = 0; o < 4; o++)
		for (int m = 0; m < 2; m++)
			for (int i = 1; i < 3; i++) {
				int w = ws[i];
				snprintf(nm, sizeof nm, "%s.rm%d_r%d", bt_names[o], w, w);
				mf(m ? 16 : 10, nm, w, 0, 0x0f, 0xa3 + 8 * o, -1, m, 0, C_BT);
				snprintf(nm, sizeof nm, "%s.rm%d_imm8", bt_names[o], w);
				mf(10, nm, w, 0, 0x0f, 0xba, 4 + o, m, 1, C_BT);
			}
	for (int m = 0; m < 2; m++)
		for (int i = 1; i < 3; i++) {
			int w = ws[i];
			snprintf(nm, sizeof nm, "bsf.r%d_rm%d", w, w);
			mf(12, nm, w, 0, 0x0f, 0xbc, -1, m, 0, C_BS);
			snprintf(nm, sizeof nm, "bsr.r%d_rm%d", w, w);
			mf(12, nm, w, 0, 0x0f, 0xbd, -1, m, 0, C_BS);
		}
	pf(gen_opreg, 10, "bswap.r32", 32, 2, OPS(0x0f, 0xc8), 0);
	/* XADD CMPXCHG CMPXCHG8B XCHG */
	for (int m = 0; m < 2; m++)
		for (int i = 0; i < 3; i++) {
			int w = ws[i], s = w != 8;
			snprintf(nm, sizeof nm, "xadd.rm%d_r%d", w, w);
			mf(10, nm, w, 0, 0x0f, 0xc0 + s, -1, m, 0, C_NONE);
			snprintf(nm, sizeof nm, "cmpxchg.rm%d_r%d", w, w);
			mf(12, nm, w, 0, 0x0f, 0xb0 + s, -1, m, 0, C_CMPXCHG);
			snprintf(nm, sizeof nm, "xchg.rm%d_r%d", w, w);
			mf(8, nm, w, 0, 0x86 + s, -1, -1, m, 0, C_NONE);
		}
	{
		struct form *f = mf(16, "cmpxchg8b.m64", 32, 0, 0x0f, 0xc7, 1, 1, 0, C_CMPXCHG);
		(void)f;
	}
	pf(gen_opreg, 8, "xchg.ax_r16_short", 16, 1, OPS(0x90), 0)->sub = 1;
	pf(gen_opreg, 8, "xchg.eax_r32_short", 32, 1, OPS(0x90), 0)->sub = 1;
	/* LOCK-prefixed read-modify-write forms */
	mf(8, "lock.add.rm32_r32", 32, 0, 0x01, -1, -1, 1, 0, C_NONE)->lock = 1;
	mf(8, "lock.inc.rm16", 16, 0, 0xff, -1, 0, 1, 0, C_NONE)->lock = 1;
	mf(8, "lock.xadd.rm32_r32", 32, 0, 0x0f, 0xc1, -1, 1, 0, C_NONE)->lock = 1;
	mf(8, "lock.cmpxchg.rm8_r8", 8, 0, 0x0f, 0xb0, -1, 1, 0, C_CMPXCHG)->lock = 1;
	mf(8, "lock.bts.rm32_r32", 32, 0, 0x0f, 0xab, -1, 1, 0, C_BT)->lock = 1;
	mf(8, "lock.cmpxchg8b.m64", 32, 0, 0x0f, 0xc7, 1, 1, 0, C_CMPXCHG)->lock = 1;
	/* BCD */
	pf(gen_bcd, 24, "daa", 8, 1, OPS(0x27), 0);
	pf(gen_bcd, 24, "das", 8, 1, OPS(0x2f), 0);
	pf(gen_bcd, 24, "aaa", 8, 1, OPS(0x37), 0);
	pf(gen_bcd, 24, "aas", 8, 1, OPS(0x3f), 0);
	pf(gen_bcd, 20, "aam.imm8", 8, 1, OPS(0xd4), 0);
	pf(gen_bcd, 4, "aam.imm8_zero", 8, 1, OPS(0xd4), 0)->sub = 2;
	pf(gen_bcd, 20, "aad.imm8", 8, 1, OPS(0xd5), 0);
	/* SETcc CMOVcc */
	for (int cc = 0; cc < 16; cc++) {
		snprintf(nm, sizeof nm, "set%s.rm8", cc_names[cc]);
		mf(8, nm, 8, 0, 0x0f, 0x90 + cc, 0, 0, 0, C_NONE);
	}
	mf(16, "setcc.rm8", 8, 0, 0x0f, 0x90, 0, 1, 0, C_NONE)->randcc = 1;
	for (int cc = 0; cc < 16; cc++) {
		snprintf(nm, sizeof nm, "cmov%s.r32_rm32", cc_names[cc]);
		mf(8, nm, 32, 0, 0x0f, 0x40 + cc, -1, 0, 0, C_NONE);
	}
	mf(16, "cmovcc.r16_rm16", 16, 0, 0x0f, 0x40, -1, 0, 0, C_NONE)->randcc = 1;
	mf(16, "cmovcc.r16_rm16", 16, 0, 0x0f, 0x40, -1, 1, 0, C_NONE)->randcc = 1;
	mf(16, "cmovcc.r32_rm32", 32, 0, 0x0f, 0x40, -1, 1, 0, C_NONE)->randcc = 1;
	/* flags */
	pf(gen_simple, 6, "clc", 32, 1, OPS(0xf8), 0);
	pf(gen_simple, 6, "stc", 32, 1, OPS(0xf9), 0);
	pf(gen_simple, 6, "cmc", 32, 1, OPS(0xf5), 0);
	pf(gen_simple, 10, "cld", 32, 1, OPS(0xfc), 0);
	pf(gen_simple, 10, "std", 32, 1, OPS(0xfd), 0);
	pf(gen_simple, 12, "sahf", 32, 1, OPS(0x9e), 0);
	pf(gen_simple, 12, "lahf", 32, 1, OPS(0x9f), 0);
	pf(gen_simple, 8, "cbw", 16, 1, OPS(0x98), 0);
	pf(gen_simple, 8, "cwde", 32, 1, OPS(0x98), 0);
	pf(gen_simple, 8, "cwd", 16, 1, OPS(0x99), 0);
	pf(gen_simple, 8, "cdq", 32, 1, OPS(0x99), 0);
	/* MOVZX MOVSX */
	for (int m = 0; m < 2; m++) {
		static const struct { const char *n; uint8_t op; int w, rw; } mz[] = {
			{ "movzx.r16_rm8", 0xb6, 16, 8 }, { "movzx.r32_rm8", 0xb6, 32, 8 },
			{ "movzx.r32_rm16", 0xb7, 32, 16 }, { "movsx.r16_rm8", 0xbe, 16, 8 },
			{ "movsx.r32_rm8", 0xbe, 32, 8 }, { "movsx.r32_rm16", 0xbf, 32, 16 },
		};
		for (int i = 0; i < 6; i++)
			mf(8, mz[i].n, mz[i].w, 0, 0x0f, mz[i].op, -1, m, 0, C_NONE)->rw = (uint8_t)mz[i].rw;
	}
	/* LEA */
	static const char *const lea_names[9] = { "disp32", "base", "base_disp8", "base_disp32",
						  "sib", "sib_disp8", "sib_disp32", "sib_nobase",
						  "sib_noindex" };
	for (int i = 0; i < 9; i++) {
		snprintf(nm, sizeof nm, "lea.r32_%s", lea_names[i]);
		pf(gen_lea, 10, nm, 32, 1, OPS(0x8d), 0)->sub = (uint8_t)i;
	}
	{
		struct form *f = pf(gen_lea, 10, "lea.r16_sib", 16, 1, OPS(0x8d), 0);
		f->sub = 4;
		f = pf(gen_lea, 10, "lea.r32_addr16", 32, 1, OPS(0x8d), 0);
		f->pfx[f->npfx++] = 0x67;
		f = pf(gen_lea, 10, "lea.r16_addr16", 16, 1, OPS(0x8d), 0);
		f->pfx[f->npfx++] = 0x67;
	}
	/* string instructions */
	static const struct { const char *n; uint8_t op; bool cmp; } so[] = {
		{ "movs", 0xa4, false }, { "stos", 0xaa, false }, { "lods", 0xac, false },
		{ "cmps", 0xa6, true }, { "scas", 0xae, true },
	};
	for (int i = 0; i < 5; i++)
		for (int j = 0; j < 3; j++) {
			static const char sfx[3] = { 'b', 'w', 'd' };
			int w = ws[j];
			snprintf(nm, sizeof nm, "%s%c", so[i].n, sfx[j]);
			struct form *f = add_form(gen_str, 8, "%s", nm);
			f->w = (uint8_t)w, f->op[0] = (uint8_t)(so[i].op + (w != 8)), f->oplen = 1;
			f = add_form(gen_str, 12, "%s.%s", so[i].cmp ? "repe" : "rep", nm);
			f->w = (uint8_t)w, f->op[0] = (uint8_t)(so[i].op + (w != 8)), f->oplen = 1, f->sub = 0xf3;
			if (so[i].cmp) {
				f = add_form(gen_str, 12, "repne.%s", nm);
				f->w = (uint8_t)w, f->op[0] = (uint8_t)(so[i].op + (w != 8)), f->oplen = 1, f->sub = 0xf2;
			}
		}
	/* PUSH POP PUSHF POPF */
	pf(gen_opreg, 8, "push.r32", 32, 1, OPS(0x50), 0);
	pf(gen_opreg, 8, "push.r16", 16, 1, OPS(0x50), 0);
	pf(gen_opreg, 8, "pop.r32", 32, 1, OPS(0x58), 0);
	pf(gen_opreg, 8, "pop.r16", 16, 1, OPS(0x58), 0);
	pf(gen_stack, 8, "push.simm8", 32, 1, OPS(0x6a), 1);
	pf(gen_stack, 8, "push.imm32", 32, 1, OPS(0x68), 4);
	pf(gen_stack, 8, "push.imm16", 16, 1, OPS(0x68), 2);
	{
		struct form *f = pf(gen_stack, 8, "push.m32", 32, 1, OPS(0xff), 0);
		f->sub = 1, f->digit = 6;
		f = pf(gen_stack, 8, "push.m16", 16, 1, OPS(0xff), 0);
		f->sub = 1, f->digit = 6;
		f = pf(gen_stack, 8, "pop.m32", 32, 1, OPS(0x8f), 0);
		f->sub = 2, f->digit = 0;
		f = pf(gen_stack, 8, "pop.m16", 16, 1, OPS(0x8f), 0);
		f->sub = 2, f->digit = 0;
	}
	pf(gen_stack, 8, "pushfd", 32, 1, OPS(0x9c), 0)->sub = 3;
	pf(gen_stack, 8, "pushf16", 16, 1, OPS(0x9c), 0)->sub = 3;
	pf(gen_stack, 16, "popfd", 32, 1, OPS(0x9d), 0)->sub = 4;
	pf(gen_stack, 12, "popf16", 16, 1, OPS(0x9d), 0)->sub = 4;
	pf(gen_stack, 12, "popfd.if_iopl", 32, 1, OPS(0x9d), 0)->sub = 5;
	pf(gen_stack, 16, "alu_then_pushfd", 32, 0, OPS(0), 0)->sub = 6;
	pf(gen_stack, 16, "popfd_then_pushfd", 32, 1, OPS(0x9d), 0)->sub = 7;
	build_x87_forms();
}

/* ------------------------------------------------- prefix combinations */

/* A copy of form i under a new name, with extra prefixes in front. */
static struct form *clone_form(int i, const char *tag, const uint8_t *px, int npx)
{
	char nm[DIFF_NAME_LEN];
	snprintf(nm, sizeof nm, "%s.%s", tag, forms[i].name);
	struct form *f = add_form(forms[i].gen, 4, "%s", nm);
	char keep[DIFF_NAME_LEN];
	memcpy(keep, f->name, sizeof keep);
	*f = forms[i];
	memcpy(f->name, keep, sizeof keep);
	f->n = 4;
	memcpy(f->xpfx, px, (size_t)npx);
	f->nxpfx = (uint8_t)npx;
	return f;
}

static bool simple_gen(const struct form *f)
{
	return f->gen == gen_modrm || f->gen == gen_plain || f->gen == gen_opreg;
}

/* 0f-map opcodes that F2/F3 turn into other instructions on this host
 * (TZCNT, LZCNT, POPCNT with BMI1/ABM), so a REP prefix is not "ignored". */
static bool rep_changes_meaning(const struct form *f)
{
	if (f->oplen < 2 || f->op[0] != 0x0f)
		return false;
	uint8_t o = f->op[1];
	return o == 0xbc || o == 0xbd || o == 0xb8 || o == 0xc7;
}

/* Opcodes that accept LOCK with a memory destination (SDM: LOCK). */
static bool lockable(const struct form *f)
{
	uint8_t o = f->op[0];
	if (f->oplen >= 2 && o == 0x0f) {
		uint8_t o1 = f->op[1];
		return o1 == 0xab || o1 == 0xb3 || o1 == 0xbb || o1 == 0xba || o1 == 0xb0 ||
		       o1 == 0xb1 || o1 == 0xc0 || o1 == 0xc1 || o1 == 0xc7;
	}
	if (o < 0x40 && (o & 7) < 2 && (o >> 3) != 7)
		return true; /* ADD..XOR r/m, r (not CMP) */
	if (o >= 0x80 && o <= 0x83)
		return f->digit != 7;
	if (o == 0x86 || o == 0x87)
		return true;
	if (o == 0xf6 || o == 0xf7)
		return f->digit == 2 || f->digit == 3;
	if (o == 0xfe || o == 0xff)
		return f->digit == 0 || f->digit == 1;
	return false;
}

/*
 * Prefixes as real CPUs treat them (issue 10, item 4): redundant and mixed
 * prefixes, F2/F3 and segment overrides on instructions that ignore them,
 * the last segment prefix winning, 67 on register-only forms, LOCK where
 * it is invalid (#UD), and the 15-byte limit (#GP).
 */
static void build_prefix_forms(void)
{
	int n0 = nforms;
	for (int i = 0; i < n0; i++) {
		const struct form *f = &forms[i];
		if (!simple_gen(f) || f->lock)
			continue;
		bool is16 = f->npfx && f->pfx[0] == 0x66;
		if (i % 3 == 0 && !rep_changes_meaning(f))
			clone_form(i, "rep", OPS(0xf3), 1);
		if (i % 3 == 1 && !rep_changes_meaning(f))
			clone_form(i, "repne", OPS(0xf2), 1);
		if (is16 && i % 2 == 0)
			clone_form(i, "66x2", OPS(0x66), 1);
		if (!f->mem && i % 4 == 2)
			clone_form(i, "segs", OPS(0x2e, 0x64, 0x65, 0x26), 4);
		if (!f->mem && i % 4 == 3)
			clone_form(i, "a16", OPS(0x67), 1);
		if (!f->mem && i % 5 == 0 && !rep_changes_meaning(f)) {
			if (is16)
				clone_form(i, "mixed", OPS(0x67, 0xf3, 0x2e, 0x66, 0xf2), 5);
			else
				clone_form(i, "mixed", OPS(0x67, 0xf3, 0x2e, 0xf2), 4);
		}
		if (f->mem && i % 4 == 0)
			clone_form(i, "ss", OPS(0x36), 1);
		if (f->mem && i % 4 == 1)
			clone_form(i, "fs_then_es", OPS(0x64, 0x26), 2); /* the last one wins */
		if (f->mem && i % 4 == 2)
			clone_form(i, "gs_then_ds", OPS(0x65, 0x3e), 2);
		if (f->gen == gen_modrm && (!f->mem || !lockable(f)) && i % 2 == 0)
			clone_form(i, "lock_ud", OPS(0xf0), 1)->fault_ok = 1;
	}
	/* The 15-byte limit: add eax, eax (01 c0) after 13 prefixes is 15
	 * bytes and runs; after 14 it is 16 bytes and raises #GP. */
	uint8_t px[15];
	memset(px, 0x3e, sizeof px);
	struct form *f = add_form(gen_plain, 4, "len15.add");
	f->w = 32, f->op[0] = 0x01, f->op[1] = 0xc0, f->oplen = 2;
	memcpy(f->xpfx, px, 13), f->nxpfx = 13;
	f = add_form(gen_plain, 4, "len16.add_gp");
	f->w = 32, f->op[0] = 0x01, f->op[1] = 0xc0, f->oplen = 2, f->fault_ok = 1;
	memcpy(f->xpfx, px, 14), f->nxpfx = 14;
	f = add_form(gen_plain, 4, "len16.mixed_gp");
	f->w = 16, f->pfx[0] = 0x66, f->npfx = 1, f->op[0] = 0x05, f->oplen = 1, f->imm = 2;
	f->fault_ok = 1;
	static const uint8_t mix[12] = { 0xf3, 0x66, 0x2e, 0x67, 0xf2, 0x3e, 0x26, 0x66,
					 0x36, 0xf3, 0x67, 0x3e };
	memcpy(f->xpfx, mix, sizeof mix), f->nxpfx = sizeof mix;
}

/* -------------------------------------------------------- native running */

static uint8_t *code_page, *data_page;
static sigjmp_buf fault_jb;
static volatile sig_atomic_t armed;
static uint32_t fault_regs[8], fault_eip, fault_efl;
static int fault_vec, fault_sig;

static void on_fault(int sig, siginfo_t *si, void *uctx)
{
	(void)si;
	if (!armed) {
		static const char msg[] = "diff_native: fault outside a case\n";
		if (write(2, msg, sizeof msg - 1) < 0) {
		}
		_exit(3);
	}
	ucontext_t *uc = uctx;
	greg_t *g = uc->uc_mcontext.gregs;
	fault_regs[EAX] = (uint32_t)g[REG_EAX];
	fault_regs[ECX] = (uint32_t)g[REG_ECX];
	fault_regs[EDX] = (uint32_t)g[REG_EDX];
	fault_regs[EBX] = (uint32_t)g[REG_EBX];
	fault_regs[ESP] = (uint32_t)g[REG_UESP];
	fault_regs[EBP] = (uint32_t)g[REG_EBP];
	fault_regs[ESI] = (uint32_t)g[REG_ESI];
	fault_regs[EDI] = (uint32_t)g[REG_EDI];
	fault_eip = (uint32_t)g[REG_EIP];
	fault_efl = (uint32_t)g[REG_EFL];
	fault_vec = (int)g[REG_TRAPNO];
	fault_sig = sig;
	armed = 0;
	siglongjmp(fault_jb, 1);
}

static void setup_native(void)
{
	code_page = mmap((void *)DIFF_CODE_ADDR, DIFF_CODE_SIZE, PROT_READ | PROT_WRITE | PROT_EXEC,
			 MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED_NOREPLACE, -1, 0);
	data_page = mmap((void *)DIFF_DATA_ADDR, DIFF_DATA_SIZE, PROT_READ | PROT_WRITE,
			 MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED_NOREPLACE, -1, 0);
	if (code_page != (void *)DIFF_CODE_ADDR || data_page != (void *)DIFF_DATA_ADDR) {
		fprintf(stderr, "diff_native: cannot map the guest pages: %s\n", strerror(errno));
		exit(2);
	}
	static uint8_t altstack[65536];
	stack_t ss = { .ss_sp = altstack, .ss_size = sizeof altstack, .ss_flags = 0 };
	if (sigaltstack(&ss, NULL)) {
		perror("sigaltstack");
		exit(2);
	}
	struct sigaction sa;
	memset(&sa, 0, sizeof sa);
	sa.sa_sigaction = on_fault;
	sa.sa_flags = SA_SIGINFO | SA_ONSTACK;
	sigemptyset(&sa.sa_mask);
	int sigs[] = { SIGFPE, SIGSEGV, SIGILL, SIGBUS, SIGTRAP };
	for (unsigned i = 0; i < sizeof sigs / sizeof sigs[0]; i++)
		sigaction(sigs[i], &sa, NULL);
	diff_entry = DIFF_CODE_ADDR;
}

static uint8_t before[DIFF_DATA_SIZE];

/* Runs cur natively and fills in its results.  Returns the signal, or 0. */
static int run_native(struct diff_case *c)
{
	memset(code_page, 0xcc, DIFF_CODE_SIZE);
	memcpy(code_page, c->code, c->code_len);
	uint32_t jmp_at = DIFF_CODE_ADDR + c->code_len;
	code_page[c->code_len] = 0xe9;
	uint32_t rel = (uint32_t)(uintptr_t)diff_capture - (jmp_at + 5);
	memcpy(code_page + c->code_len + 1, &rel, 4);
	diff_initial_data(c, data_page);
	memcpy(before, data_page, DIFF_DATA_SIZE);
	uint32_t in[9];
	memcpy(in, c->in_gpr, 32);
	in[8] = c->in_eflags;
	volatile int sig = 0;
	/* x87 registers as the emulator starts them: +0, tags empty (FNINIT
	 * leaves the register contents, which FNSAVE still stores) */
	__asm__ volatile("fninit; fldz; fldz; fldz; fldz; fldz; fldz; fldz; fldz; fninit");
	if (sigsetjmp(fault_jb, 1) == 0) {
		armed = 1;
		diff_run_native(in);
		armed = 0;
		c->vector = -1;
		memcpy(c->out_gpr, diff_cap, 32);
		c->out_eflags = diff_cap[8];
		c->out_eip = jmp_at;
	} else {
		sig = fault_sig;
		c->vector = fault_vec;
		memcpy(c->out_gpr, fault_regs, 32);
		c->out_eflags = fault_efl;
		c->out_eip = fault_eip;
	}
	c->nchg = 0;
	for (uint32_t i = 0; i < DIFF_DATA_SIZE; i++) {
		if (data_page[i] == before[i])
			continue;
		if (c->nchg >= DIFF_MAX_CHG) {
			fprintf(stderr, "diff_native: too many changed bytes\n");
			return -1;
		}
		c->chg[c->nchg].off = (uint16_t)i;
		c->chg[c->nchg].val = data_page[i];
		c->nchg++;
	}
	return sig;
}

/* ------------------------------------------------------------ self-test */

static void print_case(FILE *o, const struct diff_case *c)
{
	fprintf(o, "%s: code", forms[c->form].name);
	for (int i = 0; i < c->code_len; i++)
		fprintf(o, " %02x", c->code[i]);
	fprintf(o, "\n  in :");
	for (int r = 0; r < 8; r++)
		fprintf(o, " %08x", c->in_gpr[r]);
	fprintf(o, " fl %08x\n  out:", c->in_eflags);
	for (int r = 0; r < 8; r++)
		fprintf(o, " %08x", c->out_gpr[r]);
	fprintf(o, " fl %08x vec %d eip %08x undef %03x chg %d\n", c->out_eflags, c->vector,
		c->out_eip, c->flags_undef, c->nchg);
}

/* A few hand-checked cases: the native harness itself must get these right. */
static int selftest(void)
{
	struct {
		const char *name;
		uint8_t code[8];
		int len;
		uint32_t eax, ecx, efl_in;
		int vec;
		uint32_t eax_out, efl_out_mask, efl_out;
	} t[] = {
		/* add eax,ecx: 0x7fffffff + 1 = 0x80000000, OF SF AF set */
		{ "add_of", { 0x01, 0xc8 }, 2, 0x7fffffff, 1, 0x202, -1, 0x80000000,
		  F_ALL6, F_OF | F_SF | F_AF | F_PF },
		/* sub eax,ecx: 0 - 1 = 0xffffffff, CF SF AF PF */
		{ "sub_borrow", { 0x29, 0xc8 }, 2, 0, 1, 0x202, -1, 0xffffffff, F_ALL6,
		  F_CF | F_SF | F_AF | F_PF },
		/* xor eax,eax: ZF PF */
		{ "xor_zero", { 0x31, 0xc0 }, 2, 1234, 0, 0x202 | F_CF | F_OF, -1, 0,
		  F_ALL6 & ~F_AF, F_ZF | F_PF },
		/* div ecx with ecx = 0: #DE, eax unchanged */
		{ "div_zero", { 0xf7, 0xf1 }, 2, 77, 0, 0x202, 0, 77, 0, 0 },
		/* shl eax,cl with cl = 32: masked to 0, flags unchanged */
		{ "shl_mask", { 0xd3, 0xe0 }, 2, 5, 32, 0x202 | F_CF | F_ZF, -1, 5, F_ALL6,
		  F_CF | F_ZF },
		/* stc; cmc; lahf */
		{ "stc_cmc_lahf", { 0xf9, 0xf5, 0x9f }, 3, 0, 0, 0x202 | F_SF, -1, 0x8200,
		  F_ALL6, F_SF },
	};
	int bad = 0;
	for (unsigned i = 0; i < sizeof t / sizeof t[0]; i++) {
		struct diff_case *c = &cur;
		memset(c, 0, sizeof *c);
		memcpy(c->code, t[i].code, (size_t)t[i].len);
		c->code_len = (uint8_t)t[i].len;
		c->fill_seed = 1;
		c->in_gpr[EAX] = t[i].eax;
		c->in_gpr[ECX] = t[i].ecx;
		c->in_gpr[ESP] = DIFF_DATA_ADDR + 0x2000;
		c->in_eflags = t[i].efl_in;
		run_native(c);
		bool ok = c->vector == t[i].vec && c->out_gpr[EAX] == t[i].eax_out &&
			  (c->out_eflags & t[i].efl_out_mask) == t[i].efl_out &&
			  c->out_gpr[ECX] == t[i].ecx && c->out_gpr[ESP] == DIFF_DATA_ADDR + 0x2000 &&
			  (c->vector < 0 ? c->out_eip == DIFF_CODE_ADDR + (uint32_t)t[i].len
					 : c->out_eip == DIFF_CODE_ADDR);
		printf("%s native.%s\n", ok ? "PASS" : "FAIL", t[i].name);
		if (!ok) {
			bad++;
			printf("  vec %d eax %08x efl %08x eip %08x\n", c->vector, c->out_gpr[EAX],
			       c->out_eflags, c->out_eip);
		}
	}
	return bad ? 1 : 0;
}

/* ------------------------------------------------------------------ main */

int main(int argc, char **argv)
{
	uint32_t seed = 0x52564d31; /* "RVM1" */
	const char *out = NULL, *only = NULL;
	bool list = false, dump = false, self = false;
	for (int i = 1; i < argc; i++) {
		if (!strcmp(argv[i], "--seed") && i + 1 < argc)
			seed = (uint32_t)strtoul(argv[++i], NULL, 0);
		else if (!strcmp(argv[i], "--out") && i + 1 < argc)
			out = argv[++i];
		else if (!strcmp(argv[i], "--form") && i + 1 < argc)
			only = argv[++i];
		else if (!strcmp(argv[i], "--list-forms"))
			list = true;
		else if (!strcmp(argv[i], "--dump"))
			dump = true;
		else if (!strcmp(argv[i], "--selftest"))
			self = true;
		else {
			fprintf(stderr, "usage: %s [--seed N] [--out FILE|-] [--list-forms] [--dump] "
					"[--form SUBSTR] [--selftest]\n", argv[0]);
			return 2;
		}
	}
	build_forms();
	build_prefix_forms();
	if (list) {
		int total = 0;
		for (int i = 0; i < nforms; i++) {
			struct form *f = &forms[i];
			printf("%-28s op", f->name);
			for (int j = 0; j < f->npfx; j++)
				printf(" %02x", f->pfx[j]);
			for (int j = 0; j < f->oplen; j++)
				printf(" %02x", f->op[j]);
			if (f->gen == gen_modrm)
				printf(f->digit >= 0 ? " /%d" : " /r", f->digit);
			printf("  cases %d\n", f->n);
			total += f->n;
		}
		printf("%d forms, %d cases\n", nforms, total);
		return 0;
	}
	setup_native();
	if (self)
		return selftest();

	rng_state = seed;
	FILE *o = NULL;
	if (out)
		o = strcmp(out, "-") ? fopen(out, "wb") : stdout;
	if (out && !o) {
		perror(out);
		return 2;
	}
	uint32_t ncases = 0;
	int unexpected = 0;
	struct diff_case *all = NULL;
	size_t cap = 0;
	for (int i = 0; i < nforms; i++) {
		cur_form = i;
		const struct form *f = &forms[i];
		for (int k = 0; k < f->n; k++) {
			gen_error = false;
			f->gen(f);
			if (only && !strstr(f->name, only))
				continue;
			if (gen_error) {
				unexpected++;
				continue;
			}
			int sig = run_native(&cur);
			bool may_de = f->cls == C_DIV || f->sub == 2;
			bool may_fault = f->fault_ok && ((sig == SIGILL && cur.vector == 6) ||
							 (sig == SIGSEGV && cur.vector == 13));
			/* x87: #MF (an unmasked exception at FWAIT or the next
			 * waiting instruction) and #UD (reserved encodings) */
			bool x87_end = f->cls == C_X87 && ((sig == SIGFPE && cur.vector == 16) ||
							   (sig == SIGILL && cur.vector == 6) ||
							   (sig == SIGSEGV && cur.vector == 14 && f->lock));
			if (sig < 0 || (sig && !x87_end && !may_fault &&
					!(sig == SIGFPE && may_de && cur.vector == 0))) {
				fprintf(stderr, "diff_native: unexpected signal %d (vector %d) in:\n", sig,
					cur.vector);
				print_case(stderr, &cur);
				unexpected++;
				continue;
			}
			if (dump)
				print_case(stdout, &cur);
			if (ncases == cap) {
				cap = cap ? cap * 2 : 1024;
				all = realloc(all, cap * sizeof *all);
				if (!all) {
					perror("realloc");
					return 2;
				}
			}
			all[ncases++] = cur;
		}
	}
	if (o) {
		struct diff_header h = { DIFF_MAGIC, DIFF_VERSION, seed, (uint32_t)nforms, ncases,
					 sizeof(struct diff_case) };
		fwrite(&h, sizeof h, 1, o);
		for (int i = 0; i < nforms; i++) {
			char nm[DIFF_NAME_LEN] = { 0 };
			strncpy(nm, forms[i].name, DIFF_NAME_LEN - 1);
			fwrite(nm, DIFF_NAME_LEN, 1, o);
		}
		fwrite(all, sizeof *all, ncases, o);
		if (fflush(o) || (o != stdout && fclose(o))) {
			perror("write");
			return 2;
		}
	}
	fprintf(stderr, "diff_native: seed %#x, %d forms, %u cases, %d generator/native errors\n",
		seed, nforms, ncases, unexpected);
	return unexpected ? 1 : 0;
}
