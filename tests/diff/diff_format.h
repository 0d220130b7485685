/*
 * The file format shared by the native runner (tests/diff/native_runner.c,
 * a 32-bit program) and the differential test driver (tests/unit/test_diff.c,
 * 64-bit, links the emulator).  Every field is a fixed-width integer at a
 * 4-byte aligned offset, so the layout is the same for -m32 and x86-64.
 *
 * Stream: struct diff_header, then nforms x char[DIFF_NAME_LEN] form names,
 * then ncases x struct diff_case.
 */
#ifndef RINGVM_DIFF_FORMAT_H
#define RINGVM_DIFF_FORMAT_H

#include <stdint.h>
#include <string.h>

/* Guest (and native) addresses. */
#define DIFF_CODE_ADDR 0x00200000u
#define DIFF_CODE_SIZE 0x1000u
#define DIFF_DATA_ADDR 0x00300000u
#define DIFF_DATA_SIZE 0x4000u
#define DIFF_MEM_LEN (DIFF_DATA_ADDR + DIFF_DATA_SIZE)

#define DIFF_MAGIC 0x46464944u /* "DIFF" */
#define DIFF_VERSION 1u
#define DIFF_NAME_LEN 40
#define DIFF_MAX_CODE 48
#define DIFF_MAX_PATCH 96
#define DIFF_MAX_CHG 160

/* EFLAGS bits compared at all (before the per-case undefined mask):
 * bits 0-15 (arithmetic, TF IF DF IOPL NT, reserved), AC and ID. */
#define DIFF_EFLAGS_CMP 0x0024ffffu
#define DIFF_ARITH 0x000008d5u /* CF PF AF ZF SF OF */

struct diff_header {
	uint32_t magic;
	uint32_t version;
	uint32_t seed;
	uint32_t nforms;
	uint32_t ncases;
	uint32_t case_size; /* sizeof(struct diff_case), as a check */
};

struct diff_byte {
	uint16_t off; /* offset in the data area */
	uint8_t val;
	uint8_t pad;
};

struct diff_case {
	uint32_t form;	    /* index into the form names */
	uint32_t fill_seed; /* data area initial content: diff_fill() */
	uint8_t code_len;
	uint8_t npatch;	    /* bytes written over the fill, in order */
	uint8_t nchg;	    /* data bytes whose native final value differs */
	uint8_t pad;
	uint8_t code[DIFF_MAX_CODE];
	uint32_t in_gpr[8];
	uint32_t in_eflags;
	uint32_t flags_undef;  /* EFLAGS bits left undefined by this case */
	uint32_t gpr_mask[8];  /* GPR bits that are defined after the case */
	int32_t vector;	       /* native: -1 = reached the end, else vector */
	uint32_t out_gpr[8];
	uint32_t out_eflags;
	uint32_t out_eip;      /* end of code, or the faulting instruction */
	struct diff_byte patch[DIFF_MAX_PATCH];
	struct diff_byte chg[DIFF_MAX_CHG];
};

/* The data area's initial pattern, from a 32-bit seed (xorshift32). */
static inline void diff_fill(uint8_t *p, uint32_t len, uint32_t seed)
{
	uint32_t x = seed ? seed : 0x9e3779b9u;
	for (uint32_t i = 0; i + 4 <= len; i += 4) {
		x ^= x << 13;
		x ^= x >> 17;
		x ^= x << 5;
		memcpy(p + i, &x, 4);
	}
}

/* The data area as the case starts: fill, then the patches in order. */
static inline void diff_initial_data(const struct diff_case *c, uint8_t *p)
{
	diff_fill(p, DIFF_DATA_SIZE, c->fill_seed);
	for (unsigned i = 0; i < c->npatch; i++)
		p[c->patch[i].off] = c->patch[i].val;
}

#endif
