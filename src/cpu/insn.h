/*
 * The public decode/classify API of the CPU core: what an engine that runs
 * guest code natively needs to know about one guest instruction without
 * executing it (its length, whether it may run as it is, how it transfers
 * control, where it touches memory). Engines use this instead of the
 * emulator's private decode cache (decode.h/exec.h), so none of them
 * compares handler pointers or depends on how the emulator is organised.
 */
#ifndef RINGVM_CPU_INSN_H
#define RINGVM_CPU_INSN_H

#include <stdbool.h>
#include <stdint.h>

/* Longest x86 instruction. */
#define INSN_MAX_LEN 15

/* May the instruction run natively (in compatibility mode, on the guest's
 * registers and truncated guest segments) and give the guest exactly what
 * the emulator would? Classification is by allowlist: anything not known
 * to be innocuous is sensitive and goes to the emulator. */
enum insn_class {
	INSN_INNOCUOUS, /* copy it unchanged */
	INSN_BRANCH,	/* a near control transfer: see enum insn_branch */
	INSN_SENSITIVE, /* must not run as it is: see enum insn_sens */
	INSN_INVALID,	/* does not decode: the emulator raises #UD */
};

enum insn_branch {
	BR_NONE,
	BR_JMP,	     /* jmp rel */
	BR_JCC,	     /* jcc rel8/rel32 */
	BR_LOOP,     /* loop/loope/loopne/jcxz/jecxz rel8 (counter by address size) */
	BR_CALL,     /* call rel */
	BR_JMP_IND,  /* jmp r/m */
	BR_CALL_IND, /* call r/m */
	BR_RET,	     /* ret, ret imm16 (near) */
};

/* Why a sensitive instruction is: what the guest would see if it ran. */
enum insn_sens {
	SENS_NONE,
	SENS_CLI, SENS_STI, SENS_PUSHF, SENS_POPF,
	SENS_SREG_READ,	 /* mov r/m, sreg; push sreg: shows host selectors */
	SENS_SREG_LOAD,	 /* mov sreg, r/m; pop sreg; lds/les/lfs/lgs/lss */
	SENS_DESC_READ,	 /* sgdt sidt sldt str smsw lar lsl verr verw */
	SENS_CPUID, SENS_RDTSC,
	SENS_IO,	 /* in out ins outs */
	SENS_HLT,
	SENS_CTL,	 /* mov cr/dr, lgdt lidt lldt ltr lmsw clts invlpg rdmsr wrmsr invd wbinvd */
	SENS_FAR,	 /* far jmp/call/ret, iret */
	SENS_INT,	 /* int n, int3, into */
	SENS_SYSCALL,	 /* sysenter sysexit syscall sysret */
	SENS_CS_MEM,	 /* a memory operand through a CS override */
	SENS_16BIT,	 /* a near branch with a 16-bit operand size (IP wraps) */
	SENS_OTHER,	 /* not on the allowlist (x87/SSE, ud2, ...): emulate */
};

/* A memory operand: seg + (base + index << scale + disp), REG_NONE 8. */
struct insn_mem {
	uint8_t seg; /* Sreg order (S_ES ... S_GS) */
	uint8_t base, index, scale;
	bool a16;
	uint32_t disp;
};

struct insn_info {
	uint8_t len;
	uint8_t osize, asize; /* bytes */
	enum insn_class cls;
	enum insn_sens sens;
	enum insn_branch branch;
	uint32_t target;	/* BR_JMP/JCC/LOOP/CALL: the target EIP */
	uint8_t cc;		/* BR_JCC: condition code 0..15 */
	uint8_t modrm_off;	/* offset of the ModRM byte, or 0 */
	uint8_t prefix_len;	/* legacy prefix bytes before the opcode */
	bool has_mem;
	struct insn_mem mem;	/* the first explicit memory operand */
	bool is_invlpg;
	bool is_rdmsr;
	bool rep_string;	/* a string instruction with a REP/REPE/REPNE prefix */
	uint16_t ret_imm;	/* BR_RET: bytes released after the pop */
};

/* Decodes the instruction at code[0..avail) whose address is eip (code16:
 * 16-bit code segment). Returns 0, or -1 if it does not decode in avail
 * bytes (info->cls INSN_INVALID; avail < INSN_MAX_LEN may be the cause). */
int insn_decode(const uint8_t *code, unsigned avail, uint32_t eip, bool code16,
		struct insn_info *info);

/* The effective address (offset in the segment) of info->mem for the
 * registers gpr[0..7] (ModRM order). */
uint32_t insn_ea(const struct insn_info *info, const uint32_t gpr[8]);

const char *insn_sens_name(enum insn_sens s);

struct cpu;
/* Fetches (through the guest's page tables, as an instruction fetch at the
 * current CPL) and decodes the instruction at the virtual CPU's CS:EIP.
 * Returns 0, or -1 if the fetch would fault or is not RAM (nothing is
 * raised: the caller's emulation will do that). */
int insn_fetch(struct cpu *c, struct insn_info *info);
/* Is the instruction at CS:EIP an INVLPG? Then *lin is the linear address
 * it invalidates. Cheap for anything else (no full decode): engines ask
 * before every instruction they emulate. */
bool insn_invlpg_at(struct cpu *c, uint32_t *lin);
/* The linear address of info->mem for the virtual CPU's registers. */
uint32_t insn_lin(const struct cpu *c, const struct insn_info *info);

#endif
