/*
 * The x87 FPU: every D8-DF escape and FWAIT.
 *
 * The guest's x87 state is kept as the image the host's own FNSAVE writes
 * (struct fpu), and the arithmetic is done by the host's x87 itself
 * (fpu_host.S: FRSTOR the guest's image, run the very same instruction,
 * FNSAVE), so results, C0-C3, the tag word, stack faults, precision and
 * rounding control and the NaN/indefinite rules are the hardware's, bit
 * for bit (the VMM runs on x86-64, whose x87 is the same unit). What is
 * done here in C is what the host cannot do for us: guest memory operands
 * (read into or written from a host buffer), the instruction and data
 * pointers (the guest's CS:EIP and DS:offset, not the host's), the
 * environment formats, and the system side: CR0.EM/MP/TS (#NM), pending
 * unmasked exceptions (#MF with CR0.NE=1, FERR#/IRQ13 with NE=0).
 *
 * Order inside a handler: every guest memory access that can fault comes
 * before the state changes (reads first; a store is probed first), so a
 * #PF or #GP leaves the FPU as it was.
 */
#include "exec.h"

/* FSAVE image offsets (32-bit protected-mode format). */
#define IMG_CW 0
#define IMG_SW 4
#define IMG_TW 8
#define IMG_ST 28

#define FSW_ES 0x0080u
#define FSW_B 0x8000u
#define FCW_EXC_MASKS 0x003fu

/* Host side (fpu_host.S). */
uint64_t fpu_host_run(uint8_t *img, uint8_t *mem, unsigned idx, uint64_t flags);
void fpu_host_normalize(uint8_t *img);
#define HOST_NOWAIT (1u << 31)
#define HOST_PENDING (1ull << 63)
#define HOST_MEM(op, reg) (512u + ((op) << 3) + (reg))
#define HOST_REG(op, modrm) (((op) << 6) | ((modrm) & 63u))

static uint16_t img16(const struct fpu *f, unsigned off)
{
	return (uint16_t)(f->img[off] | f->img[off + 1] << 8);
}

static void put16(uint8_t *p, uint32_t v)
{
	p[0] = (uint8_t)v;
	p[1] = (uint8_t)(v >> 8);
}

static void put32(uint8_t *p, uint32_t v)
{
	memcpy(p, &v, 4);
}

static uint32_t get32(const uint8_t *p)
{
	uint32_t v;
	memcpy(&v, p, 4);
	return v;
}

static uint16_t get16(const uint8_t *p)
{
	return (uint16_t)(p[0] | p[1] << 8);
}

/* FERR# follows the pending-exception state; with CR0.NE=0 it is wired to
 * IRQ13 (the PC's legacy path). Only lowered here: raised by fpu_blocked. */
static void fpu_ferr_update(struct cpu *c)
{
	if (c->fpu.ferr && !(img16(&c->fpu, IMG_SW) & FSW_ES)) {
		c->fpu.ferr = false;
		cpu_fpu_irq(c, false);
	}
}

/*
 * Before a waiting instruction: an unmasked exception is pending (ES). With
 * CR0.NE=1 that is #MF now, at this instruction. With NE=0 (MS-DOS
 * compatible mode) the CPU asserts FERR#, which the PC routes to IRQ13,
 * and waits for an interrupt before this instruction: modelled as a HLT
 * at this instruction. Returns true when the instruction must not run.
 */
static bool fpu_blocked(struct cpu *c)
{
	if (!(img16(&c->fpu, IMG_SW) & FSW_ES))
		return false;
	if (c->cr0 & CR0_NE)
		cpu_raise(c, EXC_MF, 0);
	if (!c->fpu.ferr) {
		c->fpu.ferr = true;
		cpu_fpu_irq(c, true);
	}
	c->halted = true;
	c->exit = EXIT_HLT;
	c->blk_end = NULL;
	return true;
}

static uint64_t host_run(struct cpu *c, uint8_t *mem, unsigned idx, bool nowait)
{
	uint64_t fl = flags_get(c) & EFLAGS_ARITH;
	uint64_t r = fpu_host_run(c->fpu.img, mem, idx | (nowait ? HOST_NOWAIT : 0), fl | 2);
	/* fpu_blocked() ran first: the host can only find ES set if the two
	 * disagree about it, and then the instruction did not run. */
	if (unlikely(r & HOST_PENDING))
		cpu_raise(c, EXC_MF, 0);
	return r;
}

/* The last non-control instruction: what FSTENV/FSAVE report. */
static void note_insn(struct cpu *c, unsigned op, unsigned modrm)
{
	c->fpu.fip = c->eip;
	c->fpu.fcs = c->seg[S_CS].sel;
	c->fpu.fop = (uint16_t)((op & 7) << 8 | modrm);
}

static void note_data(struct cpu *c, const struct opnd *o, uint32_t off)
{
	c->fpu.fdp = off;
	c->fpu.fds = c->seg[o->seg].sel;
}

/* ---- guest memory, in 4- and 2-byte pieces (every x87 size is even) ---- */

static void mem_get(struct cpu *c, const struct opnd *o, uint32_t off, uint8_t *buf, unsigned n)
{
	for (unsigned k = 0; k < n;) {
		unsigned s = n - k >= 4 ? 4 : 2;
		uint32_t v = mem_read(c, o->seg, off + k, s);
		memcpy(buf + k, &v, s);
		k += s;
	}
}

static void mem_put(struct cpu *c, const struct opnd *o, uint32_t off, const uint8_t *buf,
		    unsigned n)
{
	for (unsigned k = 0; k < n;) {
		unsigned s = n - k >= 4 ? 4 : 2;
		uint32_t v = 0;
		memcpy(&v, buf + k, s);
		mem_write(c, o->seg, off + k, s, v);
		k += s;
	}
}

/* ---- environment images (FSTENV/FLDENV, FSAVE/FRSTOR) ---- */

/* The 14- (16-bit) or 28-byte (32-bit) protected-mode environment, with
 * the reserved halves as this hardware stores them (all ones). */
static unsigned env_store(const struct cpu *c, bool o16, uint8_t *out)
{
	const struct fpu *f = &c->fpu;
	if (o16) {
		put16(out + 0, img16(f, IMG_CW));
		put16(out + 2, img16(f, IMG_SW));
		put16(out + 4, img16(f, IMG_TW));
		put16(out + 6, f->fip);
		put16(out + 8, f->fcs);
		put16(out + 10, f->fdp);
		put16(out + 12, f->fds);
		return 14;
	}
	put32(out + 0, 0xffff0000u | img16(f, IMG_CW));
	put32(out + 4, 0xffff0000u | img16(f, IMG_SW));
	put32(out + 8, 0xffff0000u | img16(f, IMG_TW));
	put32(out + 12, f->fip);
	put32(out + 16, f->fcs | (uint32_t)(f->fop & 0x7ff) << 16);
	put32(out + 20, f->fdp);
	put32(out + 24, 0xffff0000u | f->fds);
	return 28;
}

/* The image holds the registers in stack order (ST0 first): a new TOP
 * (FLDENV) moves every physical register to another slot. */
static void img_retop(struct fpu *f, unsigned old_top, unsigned new_top)
{
	uint8_t st[80];
	for (unsigned k = 0; k < 8; k++) {
		unsigned phys = (old_top + k) & 7;
		memcpy(st + 10 * ((phys - new_top) & 7), f->img + IMG_ST + 10 * k, 10);
	}
	memcpy(f->img + IMG_ST, st, sizeof st);
}

static unsigned sw_top(uint16_t sw)
{
	return (sw >> 11) & 7;
}

/* Loads an environment into the image (FLDENV: the physical registers
 * stay where they are), then lets the host canonicalize it (tags
 * recomputed from the registers). */
static void env_load(struct cpu *c, bool o16, const uint8_t *in)
{
	struct fpu *f = &c->fpu;
	img_retop(f, sw_top(img16(f, IMG_SW)), sw_top(get16(in + (o16 ? 2 : 4))));
	if (o16) {
		put16(f->img + IMG_CW, get16(in + 0));
		put16(f->img + IMG_SW, get16(in + 2));
		put16(f->img + IMG_TW, get16(in + 4));
		f->fip = get16(in + 6);
		f->fcs = get16(in + 8);
		f->fop = 0;
		f->fdp = get16(in + 10);
		f->fds = get16(in + 12);
	} else {
		put16(f->img + IMG_CW, get16(in + 0));
		put16(f->img + IMG_SW, get16(in + 4));
		put16(f->img + IMG_TW, get16(in + 8));
		f->fip = get32(in + 12);
		f->fcs = get16(in + 16);
		f->fop = (uint16_t)(get32(in + 16) >> 16) & 0x7ff;
		f->fdp = get32(in + 20);
		f->fds = get16(in + 24);
	}
	fpu_host_normalize(f->img);
}

static void fpu_init_state(struct cpu *c)
{
	struct fpu *f = &c->fpu;
	fpu_host_run(f->img, NULL, HOST_REG(3, 0xe3) | HOST_NOWAIT, 2); /* FNINIT */
	f->fip = f->fdp = 0;
	f->fcs = f->fds = f->fop = 0;
	fpu_ferr_update(c);
}

void cpu_fpu_reset(struct cpu *c)
{
	memset(&c->fpu, 0, sizeof c->fpu);
	fpu_init_state(c);
}

void cpu_fpu_to_fsave(const struct cpu *c, uint8_t out[FPU_IMG_SIZE])
{
	env_store(c, false, out);
	memcpy(out + 28, c->fpu.img + IMG_ST, 80);
}

void cpu_fpu_from_fsave(struct cpu *c, const uint8_t in[FPU_IMG_SIZE])
{
	memcpy(c->fpu.img + IMG_SW, in + 4, 2);
	memcpy(c->fpu.img + IMG_ST, in + 28, 80);
	env_load(c, false, in);
	fpu_ferr_update(c);
}

/*
 * FXSAVE's legacy area: FCW FSW, the abridged tag (one bit per physical
 * register, 1 = not empty), FOP, then either FIP FCS FDP FDS (32-bit
 * format) or 64-bit FIP and FDP (the format a 64-bit kernel writes into a
 * signal frame), and ST0-ST7 in 16-byte slots. MXCSR and XMM are not the
 * core's: left as they are.
 */
void cpu_fpu_to_fxsave(const struct cpu *c, uint8_t *fx, bool fx64)
{
	const struct fpu *f = &c->fpu;
	uint16_t tw = img16(f, IMG_TW);
	uint8_t abridged = 0;
	for (unsigned p = 0; p < 8; p++)
		if (((tw >> (2 * p)) & 3) != 3)
			abridged |= (uint8_t)(1u << p);
	put16(fx + 0, img16(f, IMG_CW));
	put16(fx + 2, img16(f, IMG_SW));
	fx[4] = abridged;
	fx[5] = 0;
	put16(fx + 6, f->fop & 0x7ff);
	if (fx64) {
		uint64_t ip = f->fip, dp = f->fdp;
		memcpy(fx + 8, &ip, 8);
		memcpy(fx + 16, &dp, 8);
	} else {
		put32(fx + 8, f->fip);
		put32(fx + 12, f->fcs);
		put32(fx + 16, f->fdp);
		put32(fx + 20, f->fds);
	}
	for (unsigned k = 0; k < 8; k++) {
		memcpy(fx + 32 + 16 * k, f->img + IMG_ST + 10 * k, 10);
		memset(fx + 42 + 16 * k, 0, 6);
	}
}

void cpu_fpu_from_fxsave(struct cpu *c, const uint8_t *fx, bool fx64)
{
	struct fpu *f = &c->fpu;
	uint16_t tw = 0;
	for (unsigned p = 0; p < 8; p++)
		if (!(fx[4] & (1u << p)))
			tw |= (uint16_t)(3u << (2 * p)); /* else "valid": the host recomputes */
	put16(f->img + IMG_CW, get16(fx + 0));
	put16(f->img + IMG_SW, get16(fx + 2));
	put16(f->img + IMG_TW, tw);
	f->fop = get16(fx + 6) & 0x7ff;
	f->fip = get32(fx + 8);
	f->fdp = get32(fx + 16);
	if (!fx64) {
		f->fcs = get16(fx + 12);
		f->fds = get16(fx + 20);
	}
	for (unsigned k = 0; k < 8; k++)
		memcpy(f->img + IMG_ST + 10 * k, fx + 32 + 16 * k, 10);
	fpu_host_normalize(f->img);
	fpu_ferr_update(c);
}

/* ---- memory forms ---- */

enum mkind { M_UD, M_LOAD, M_STORE, M_LDCW, M_STCW, M_STSW, M_LDENV, M_STENV, M_RSTOR, M_SAVE };

struct mform {
	uint8_t kind, size;
};

/* [opcode & 7][reg]: FISTTP (SSE3) is #UD on this model. */
static const struct mform mforms[8][8] = {
	/* D8: FADD FMUL FCOM FCOMP FSUB FSUBR FDIV FDIVR m32real */
	{ { M_LOAD, 4 }, { M_LOAD, 4 }, { M_LOAD, 4 }, { M_LOAD, 4 },
	  { M_LOAD, 4 }, { M_LOAD, 4 }, { M_LOAD, 4 }, { M_LOAD, 4 } },
	/* D9: FLD m32, -, FST m32, FSTP m32, FLDENV, FLDCW, FNSTENV, FNSTCW */
	{ { M_LOAD, 4 }, { M_UD, 0 }, { M_STORE, 4 }, { M_STORE, 4 },
	  { M_LDENV, 0 }, { M_LDCW, 2 }, { M_STENV, 0 }, { M_STCW, 2 } },
	/* DA: FIADD .. FIDIVR m32int */
	{ { M_LOAD, 4 }, { M_LOAD, 4 }, { M_LOAD, 4 }, { M_LOAD, 4 },
	  { M_LOAD, 4 }, { M_LOAD, 4 }, { M_LOAD, 4 }, { M_LOAD, 4 } },
	/* DB: FILD m32, FISTTP, FIST m32, FISTP m32, -, FLD m80, -, FSTP m80 */
	{ { M_LOAD, 4 }, { M_UD, 0 }, { M_STORE, 4 }, { M_STORE, 4 },
	  { M_UD, 0 }, { M_LOAD, 10 }, { M_UD, 0 }, { M_STORE, 10 } },
	/* DC: arithmetic m64real */
	{ { M_LOAD, 8 }, { M_LOAD, 8 }, { M_LOAD, 8 }, { M_LOAD, 8 },
	  { M_LOAD, 8 }, { M_LOAD, 8 }, { M_LOAD, 8 }, { M_LOAD, 8 } },
	/* DD: FLD m64, FISTTP, FST m64, FSTP m64, FRSTOR, -, FNSAVE, FNSTSW */
	{ { M_LOAD, 8 }, { M_UD, 0 }, { M_STORE, 8 }, { M_STORE, 8 },
	  { M_RSTOR, 0 }, { M_UD, 0 }, { M_SAVE, 0 }, { M_STSW, 2 } },
	/* DE: arithmetic m16int */
	{ { M_LOAD, 2 }, { M_LOAD, 2 }, { M_LOAD, 2 }, { M_LOAD, 2 },
	  { M_LOAD, 2 }, { M_LOAD, 2 }, { M_LOAD, 2 }, { M_LOAD, 2 } },
	/* DF: FILD m16, FISTTP, FIST m16, FISTP m16, FBLD, FILD m64, FBSTP, FISTP m64 */
	{ { M_LOAD, 2 }, { M_UD, 0 }, { M_STORE, 2 }, { M_STORE, 2 },
	  { M_LOAD, 10 }, { M_LOAD, 8 }, { M_STORE, 10 }, { M_STORE, 8 } },
};

static bool all_bytes(const uint8_t *p, unsigned n, uint8_t v)
{
	for (unsigned k = 0; k < n; k++)
		if (p[k] != v)
			return false;
	return true;
}

/*
 * A store to memory. Whether the host stored at all (an unmasked invalid
 * operation, say, stores nothing) shows in the buffer: prefilled with
 * zeros, any non-zero byte means stored; all zeros is ambiguous (a stored
 * +0), so the same instruction runs again on the same input over ones.
 */
static void mem_store_form(struct cpu *c, const struct insn *i, unsigned op, unsigned reg,
			   unsigned n, uint32_t off)
{
	const struct opnd *o = &i->op[0];
	mem_probe_write(c, o->seg, off, n);
	uint8_t before[FPU_IMG_SIZE], buf[16] = { 0 };
	memcpy(before, c->fpu.img, sizeof before);
	host_run(c, buf, HOST_MEM(op, reg), false);
	bool stored = !all_bytes(buf, n, 0);
	if (!stored) {
		uint8_t again[FPU_IMG_SIZE], ones[16];
		memcpy(again, before, sizeof again);
		memset(ones, 0xff, sizeof ones);
		fpu_host_run(again, ones, HOST_MEM(op, reg), 2);
		stored = !all_bytes(ones, n, 0xff);
	}
	if (stored)
		mem_put(c, o, off, buf, n);
}

static void fpu_mem_form(struct cpu *c, const struct insn *i, unsigned op, unsigned modrm)
{
	unsigned reg = (modrm >> 3) & 7;
	const struct mform *m = &mforms[op][reg];
	const struct opnd *o = &i->op[0];
	bool o16 = i->osize == 2;
	uint32_t off = ea_of(c, o);
	uint8_t buf[FPU_IMG_SIZE];

	switch (m->kind) {
	case M_UD:
		cpu_raise(c, EXC_UD, 0);
	/* No-wait control instructions: no pending check, no pointer update. */
	case M_STCW:
		mem_write(c, o->seg, off, 2, img16(&c->fpu, IMG_CW));
		break;
	case M_STSW:
		mem_write(c, o->seg, off, 2, img16(&c->fpu, IMG_SW));
		break;
	case M_STENV: {
		unsigned n = env_store(c, o16, buf);
		mem_probe_write(c, o->seg, off, n);
		mem_put(c, o, off, buf, n);
		/* FNSTENV then masks every exception, and with nothing
		 * unmasked nothing is pending: the hardware clears ES and B
		 * (bit 15, its copy), whatever the flags. */
		c->fpu.img[IMG_CW] |= FCW_EXC_MASKS;
		put16(c->fpu.img + IMG_SW, img16(&c->fpu, IMG_SW) & ~(FSW_ES | FSW_B));
		break;
	}
	case M_SAVE: {
		unsigned n = env_store(c, o16, buf);
		memcpy(buf + n, c->fpu.img + IMG_ST, 80);
		mem_probe_write(c, o->seg, off, n + 80);
		mem_put(c, o, off, buf, n + 80);
		fpu_init_state(c);
		break;
	}
	/* Waiting control instructions. */
	case M_LDCW:
		if (fpu_blocked(c))
			return;
		mem_get(c, o, off, buf, 2);
		host_run(c, buf, HOST_MEM(op, reg), false);
		break;
	case M_LDENV:
	case M_RSTOR: {
		if (fpu_blocked(c))
			return;
		unsigned n = o16 ? 14 : 28;
		mem_get(c, o, off, buf, n + (m->kind == M_RSTOR ? 80 : 0));
		if (m->kind == M_RSTOR) {
			/* the image's registers are in the new stack order already */
			memcpy(c->fpu.img + IMG_SW, buf + (o16 ? 2 : 4), 2);
			memcpy(c->fpu.img + IMG_ST, buf + n, 80);
		}
		env_load(c, o16, buf);
		break;
	}
	/* Arithmetic, loads and stores. */
	case M_LOAD:
		if (fpu_blocked(c))
			return;
		memset(buf, 0, 16);
		mem_get(c, o, off, buf, m->size);
		host_run(c, buf, HOST_MEM(op, reg), false);
		note_insn(c, op, modrm);
		note_data(c, o, off);
		break;
	case M_STORE:
		if (fpu_blocked(c))
			return;
		mem_store_form(c, i, op, reg, m->size, off);
		note_insn(c, op, modrm);
		note_data(c, o, off);
		break;
	}
	fpu_ferr_update(c);
	NEXT(c, i);
}

/* ---- register forms ---- */

enum rkind {
	R_UD,
	R_RUN,	  /* a waiting instruction, run on the host */
	R_FLAGS,  /* FCOMI FUCOMI FCOMIP FUCOMIP: also set ZF PF CF */
	R_NOWAIT, /* FNCLEX FNINIT, and the 8087/287 FNENI FNDISI FNSETPM (no-ops) */
	R_STSW_AX,
};

/* The kind of D8+op, modrm (>= 0xc0). Aliases that real CPUs execute (FSTP1,
 * FXCH4, FCOM2, FCOMP3, FCOMP5, FXCH7, FSTP8, FSTP9, FFREEP) are valid. */
static enum rkind rform(unsigned op, unsigned modrm)
{
	unsigned hi = (modrm >> 3) & 7, rm = modrm & 7;
	switch (op) {
	case 1:
		if (hi == 2)
			return rm == 0 ? R_RUN : R_UD; /* FNOP */
		if (hi == 4)
			return (rm == 2 || rm == 3 || rm >= 6) ? R_UD : R_RUN;
		if (hi == 5)
			return rm == 7 ? R_UD : R_RUN; /* constants */
		return R_RUN;
	case 2:
		if (hi < 4)
			return R_RUN; /* FCMOVB/E/BE/U */
		return modrm == 0xe9 ? R_RUN : R_UD; /* FUCOMPP */
	case 3:
		if (hi < 4)
			return R_RUN; /* FCMOVNB/NE/NBE/NU */
		if (hi == 4)
			return rm <= 4 ? R_NOWAIT : R_UD;
		return hi == 7 ? R_UD : R_FLAGS;
	case 5:
		return hi >= 6 ? R_UD : R_RUN;
	case 6:
		return hi == 3 && rm != 1 ? R_UD : R_RUN;
	case 7:
		if (hi == 4)
			return rm == 0 ? R_STSW_AX : R_UD;
		if (hi == 5 || hi == 6)
			return R_FLAGS;
		return hi == 7 ? R_UD : R_RUN;
	default:
		return R_RUN;
	}
}

static void fpu_reg_form(struct cpu *c, const struct insn *i, unsigned op, unsigned modrm)
{
	switch (rform(op, modrm)) {
	case R_UD:
		cpu_raise(c, EXC_UD, 0);
	case R_STSW_AX:
		c->r.r16[R_EAX * 2] = img16(&c->fpu, IMG_SW);
		break;
	case R_NOWAIT:
		if (modrm == 0xe3) {
			fpu_init_state(c);
			break;
		}
		host_run(c, NULL, HOST_REG(op, modrm), true);
		break;
	case R_RUN:
		if (fpu_blocked(c))
			return;
		host_run(c, NULL, HOST_REG(op, modrm), false);
		note_insn(c, op, modrm);
		break;
	case R_FLAGS: {
		if (fpu_blocked(c))
			return;
		uint64_t fl = host_run(c, NULL, HOST_REG(op, modrm), false);
		flags_set_arith(c, (uint32_t)fl);
		note_insn(c, op, modrm);
		break;
	}
	}
	fpu_ferr_update(c);
	NEXT(c, i);
}

/* D8-DF: i->sub = opcode & 7, i->imm2 = the ModRM byte, i->op[0] the
 * memory operand of a memory form, i->osize 2 for the 16-bit formats. */
H(h_fpu)
{
	if (c->cr0 & (CR0_EM | CR0_TS))
		cpu_raise(c, EXC_NM, 0);
	unsigned modrm = i->imm2 & 0xff;
	if (modrm >= 0xc0)
		fpu_reg_form(c, i, i->sub, modrm);
	else
		fpu_mem_form(c, i, i->sub, modrm);
}

/* WAIT/FWAIT: #NM only when both TS and MP are set; then pending exceptions. */
H(h_fwait)
{
	if ((c->cr0 & (CR0_TS | CR0_MP)) == (CR0_TS | CR0_MP))
		cpu_raise(c, EXC_NM, 0);
	if (fpu_blocked(c))
		return;
	NEXT(c, i);
}
