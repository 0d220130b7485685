/*
 * The x87 state outside the differential test's reach: the exchange
 * formats (FSAVE image in struct cpu_state, FXSAVE areas for native
 * engines), a fault in the middle of a store leaving the FPU as it was,
 * and CR0.NE=0 without a VM. Runs guest code through emu_run_flat.
 */
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "cpu/cpu.h"
#include "cpu/emu_flat.h"

#define MEM_LEN 0x300000u
#define CODE 0x200000u
#define DATA 0x280000u

static uint8_t *mem;

/* Runs hex-encoded code at CODE from state st (FPU included). */
static int run(struct cpu_state *st, const uint8_t *code, size_t len)
{
	memcpy(mem + CODE, code, len);
	st->eip = CODE;
	st->gpr[R_ESP] = DATA + 0x8000;
	return emu_run_flat(st, mem, MEM_LEN, CODE + (uint32_t)len, 1000);
}

static struct cpu_state fresh(void)
{
	struct cpu_state st;
	memset(&st, 0, sizeof st);
	st.eflags = 2;
	cpu_state_fpu_init(&st);
	return st;
}

/* fninit; fldcw [DATA]; fldpi; fld1; fldl2e; fdiv st0, st1; fld tword [DATA+16] */
static const uint8_t setup[] = {
	0xdb, 0xe3, 0xd9, 0x2d, 0x00, 0x00, 0x28, 0x00, 0xd9, 0xeb, 0xd9, 0xe8, 0xd9, 0xea,
	0xd8, 0xf1, 0xdb, 0x2d, 0x10, 0x00, 0x28, 0x00,
};

static void put_operands(void)
{
	const uint16_t cw = 0x0b7f; /* round up */
	memcpy(mem + DATA, &cw, 2);
	const uint8_t den[10] = { 1, 2, 3, 4, 5, 6, 7, 0, 0, 0 }; /* a denormal */
	memcpy(mem + DATA + 16, den, 10);
}

int main(void)
{
	mem = calloc(1, MEM_LEN);
	if (!mem)
		return 1;
	put_operands();

	/* The state leaves through cpu_state and comes back: a guest FNSAVE
	 * after the trip stores what it would have stored without it. */
	struct cpu_state a = fresh();
	int r1 = run(&a, setup, sizeof setup);
	static const uint8_t save[] = { 0xdd, 0x35, 0x00, 0x01, 0x28, 0x00 }; /* fnsave [DATA+0x100] */
	struct cpu_state b = a;
	int r2 = run(&a, save, sizeof save);
	uint8_t direct[108];
	memcpy(direct, mem + DATA + 0x100, 108);
	memset(mem + DATA + 0x100, 0, 108);
	struct cpu_state c = fresh();
	memcpy(c.fpu, b.fpu, sizeof c.fpu); /* through a fresh vCPU */
	int r3 = run(&c, save, sizeof save);
	CHECK("fpu.state_roundtrip",
	      r1 == -1 && r2 == -1 && r3 == -1 && !memcmp(direct, mem + DATA + 0x100, 108) &&
		      !memcmp(direct, b.fpu, 108) && (direct[4 + 1] >> 3 & 7) == 4,
	      "runs %d %d %d; FNSAVE after the trip differs from FNSAVE before it or from the "
	      "exchanged image", r1, r2, r3);
	int r;

	/* FXSAVE area round trip (what a native engine hands over): same
	 * control/status/tags/registers and pointers. */
	static struct cpu x, y;
	uint8_t *ram = calloc(1, 0x1000);
	if (!ram || cpu_init(&x, ram, 0x1000, NULL) < 0 || cpu_init(&y, ram, 0x1000, NULL) < 0)
		return 1;
	cpu_fpu_from_fsave(&x, b.fpu);
	_Alignas(16) uint8_t fx[512];
	memset(fx, 0xee, sizeof fx);
	cpu_fpu_to_fxsave(&x, fx, true);
	uint32_t mxcsr;
	memcpy(&mxcsr, fx + 24, 4);
	cpu_fpu_from_fxsave(&y, fx, true);
	uint8_t ix[108], iy[108];
	cpu_fpu_to_fsave(&x, ix);
	cpu_fpu_to_fsave(&y, iy);
	/* 64-bit format: FCS and FDS are not in it (y keeps its own) */
	memset(ix + 16, 0, 2), memset(iy + 16, 0, 2);
	memset(ix + 24, 0, 2), memset(iy + 24, 0, 2);
	CHECK("fpu.fxsave_roundtrip", !memcmp(ix, iy, 108) && mxcsr == 0xeeeeeeeeu && fx[4] == 0xf0,
	      "images differ after to_fxsave/from_fxsave, or MXCSR touched (%08x), or abridged "
	      "tags %02x (want f0: physical 4-7)", mxcsr, fx[4]);
	/* the abridged tag of an all-empty stack */
	cpu_fpu_reset(&x);
	cpu_fpu_to_fxsave(&x, fx, false);
	uint16_t cw;
	memcpy(&cw, fx, 2);
	CHECK("fpu.fxsave_init", fx[4] == 0 && cw == 0x037f, "tags %02x cw %04x", fx[4], cw);
	cpu_fini(&x);
	cpu_fini(&y);
	free(ram);

	/* A store that faults leaves the FPU untouched: FSTP m64 and FNSAVE
	 * (which would reinitialize) across the end of memory (#PF). */
	static const struct {
		const char *name;
		uint8_t code[6];
		uint32_t at;
	} st_fault[] = {
		{ "fpu.fault_fstp_atomic", { 0xdd, 0x1d }, MEM_LEN - 4 },
		{ "fpu.fault_fnsave_atomic", { 0xdd, 0x35 }, MEM_LEN - 50 },
		{ "fpu.fault_fnstenv_atomic", { 0xd9, 0x35 }, MEM_LEN - 10 },
	};
	for (unsigned k = 0; k < sizeof st_fault / sizeof st_fault[0]; k++) {
		struct cpu_state s = fresh();
		run(&s, setup, sizeof setup);
		struct cpu_state before = s;
		uint8_t code[6];
		memcpy(code, st_fault[k].code, 2);
		memcpy(code + 2, &st_fault[k].at, 4);
		uint8_t tail[64];
		memcpy(tail, mem + MEM_LEN - 64, 64);
		r = run(&s, code, 6);
		CHECK(st_fault[k].name,
		      r == 14 && s.eip == CODE && !memcmp(before.fpu, s.fpu, 108) &&
			      !memcmp(tail, mem + MEM_LEN - 64, 64),
		      "vector %d eip %08x, state %s, memory %s", r, s.eip,
		      memcmp(before.fpu, s.fpu, 108) ? "changed" : "kept",
		      memcmp(tail, mem + MEM_LEN - 64, 64) ? "partly written" : "untouched");
	}

	/* Loads fault before anything changes too: FLD m80 past the end. */
	{
		struct cpu_state s = fresh();
		run(&s, setup, sizeof setup);
		struct cpu_state before = s;
		const uint32_t at = MEM_LEN - 6;
		uint8_t code[6] = { 0xdb, 0x2d };
		memcpy(code + 2, &at, 4);
		r = run(&s, code, 6);
		CHECK("fpu.fault_fld_atomic", r == 14 && !memcmp(before.fpu, s.fpu, 108),
		      "vector %d, state %s", r, memcmp(before.fpu, s.fpu, 108) ? "changed" : "kept");
	}

	/* A pending unmasked exception: the next waiting instruction raises
	 * #MF (CR0.NE=1 under emu_run_flat), the no-wait ones run.
	 * fninit; fldcw [DATA+0x20] (ZE unmasked); fld1; fldz; fdivp;
	 * fnstsw ax; fnstcw [DATA+0x30]; fadd st0, st0 */
	{
		const uint16_t ze_unmasked = 0x037b;
		memcpy(mem + DATA + 0x20, &ze_unmasked, 2);
		static const uint8_t code[] = { 0xdb, 0xe3, 0xd9, 0x2d, 0x20, 0x00, 0x28, 0x00,
						0xd9, 0xe8, 0xd9, 0xee, 0xde, 0xf9, 0xdf, 0xe0,
						0xd9, 0x3d, 0x30, 0x00, 0x28, 0x00, 0xd8, 0xc0 };
		struct cpu_state s = fresh();
		r = run(&s, code, sizeof code);
		uint16_t stored_cw;
		memcpy(&stored_cw, mem + DATA + 0x30, 2);
		CHECK("fpu.mf_at_next_waiting", r == 16 && s.eip == CODE + 22 &&
							(s.gpr[R_EAX] & 0x84) == 0x84 && stored_cw == 0x037b,
		      "vector %d at %08x (want 16 at %08x), ax %04x, cw %04x", r, s.eip, CODE + 22,
		      s.gpr[R_EAX] & 0xffff, stored_cw);
	}
	/* The integer sibling: a MOV that runs off the end of memory writes
	 * nothing before its #PF either. mov [MEM_LEN-2], eax */
	{
		struct cpu_state s = fresh();
		const uint32_t at = MEM_LEN - 2;
		uint8_t code[5] = { 0xa3 };
		memcpy(code + 1, &at, 4);
		s.gpr[R_EAX] = 0x11223344;
		uint8_t tail[2] = { mem[MEM_LEN - 2], mem[MEM_LEN - 1] };
		memcpy(mem + CODE, code, 5);
		s.eip = CODE;
		s.gpr[R_ESP] = DATA + 0x8000;
		r = emu_run_flat(&s, mem, MEM_LEN, CODE + 5, 10);
		CHECK("cpu.store_crossing_end_atomic",
		      r == 14 && mem[MEM_LEN - 2] == tail[0] && mem[MEM_LEN - 1] == tail[1],
		      "vector %d, last bytes %02x %02x (were %02x %02x)", r, mem[MEM_LEN - 2],
		      mem[MEM_LEN - 1], tail[0], tail[1]);
	}
	free(mem);
	CHECK_DONE();
}
