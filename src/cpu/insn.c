/*
 * Decode and classify one guest instruction (insn.h). The innocuous set is
 * an allowlist of what both runs identically on the host in compatibility
 * mode and is implemented by the emulator (so a native engine and interp
 * agree on what exists): plain integer instructions. Everything else is
 * sensitive, including what merely might be (x87/SSE until the core has
 * them, ud2, unknown opcodes), so an unknown instruction costs speed, never
 * correctness or isolation.
 */
#include <string.h>

#include <Zydis/Zydis.h>

#include "cpu.h"
#include "insn.h"
#include "vm/cpustate.h"

#define NO_REG 8

static int gpr_of(ZydisRegister r)
{
	static const ZydisRegister r32[8] = {
		ZYDIS_REGISTER_EAX, ZYDIS_REGISTER_ECX, ZYDIS_REGISTER_EDX, ZYDIS_REGISTER_EBX,
		ZYDIS_REGISTER_ESP, ZYDIS_REGISTER_EBP, ZYDIS_REGISTER_ESI, ZYDIS_REGISTER_EDI,
	};
	static const ZydisRegister r16[8] = {
		ZYDIS_REGISTER_AX, ZYDIS_REGISTER_CX, ZYDIS_REGISTER_DX, ZYDIS_REGISTER_BX,
		ZYDIS_REGISTER_SP, ZYDIS_REGISTER_BP, ZYDIS_REGISTER_SI, ZYDIS_REGISTER_DI,
	};
	for (int k = 0; k < 8; k++)
		if (r == r32[k] || r == r16[k])
			return k;
	return NO_REG;
}

static int sreg_of(ZydisRegister r)
{
	switch (r) {
	case ZYDIS_REGISTER_ES: return S_ES;
	case ZYDIS_REGISTER_CS: return S_CS;
	case ZYDIS_REGISTER_SS: return S_SS;
	case ZYDIS_REGISTER_DS: return S_DS;
	case ZYDIS_REGISTER_FS: return S_FS;
	case ZYDIS_REGISTER_GS: return S_GS;
	default: return -1;
	}
}

/* Integer instructions that run natively exactly as the emulator runs
 * them, given guest registers and truncated guest data segments. */
static bool innocuous_mnemonic(ZydisMnemonic m)
{
	switch (m) {
	case ZYDIS_MNEMONIC_ADD: case ZYDIS_MNEMONIC_OR: case ZYDIS_MNEMONIC_ADC:
	case ZYDIS_MNEMONIC_SBB: case ZYDIS_MNEMONIC_AND: case ZYDIS_MNEMONIC_SUB:
	case ZYDIS_MNEMONIC_XOR: case ZYDIS_MNEMONIC_CMP: case ZYDIS_MNEMONIC_TEST:
	case ZYDIS_MNEMONIC_ROL: case ZYDIS_MNEMONIC_ROR: case ZYDIS_MNEMONIC_RCL:
	case ZYDIS_MNEMONIC_RCR: case ZYDIS_MNEMONIC_SHL: case ZYDIS_MNEMONIC_SHR:
	case ZYDIS_MNEMONIC_SAR:
	case ZYDIS_MNEMONIC_MOVSB: case ZYDIS_MNEMONIC_MOVSW: case ZYDIS_MNEMONIC_MOVSD:
	case ZYDIS_MNEMONIC_CMPSB: case ZYDIS_MNEMONIC_CMPSW: case ZYDIS_MNEMONIC_CMPSD:
	case ZYDIS_MNEMONIC_STOSB: case ZYDIS_MNEMONIC_STOSW: case ZYDIS_MNEMONIC_STOSD:
	case ZYDIS_MNEMONIC_LODSB: case ZYDIS_MNEMONIC_LODSW: case ZYDIS_MNEMONIC_LODSD:
	case ZYDIS_MNEMONIC_SCASB: case ZYDIS_MNEMONIC_SCASW: case ZYDIS_MNEMONIC_SCASD:
	case ZYDIS_MNEMONIC_SETO: case ZYDIS_MNEMONIC_SETNO: case ZYDIS_MNEMONIC_SETB:
	case ZYDIS_MNEMONIC_SETNB: case ZYDIS_MNEMONIC_SETZ: case ZYDIS_MNEMONIC_SETNZ:
	case ZYDIS_MNEMONIC_SETBE: case ZYDIS_MNEMONIC_SETNBE: case ZYDIS_MNEMONIC_SETS:
	case ZYDIS_MNEMONIC_SETNS: case ZYDIS_MNEMONIC_SETP: case ZYDIS_MNEMONIC_SETNP:
	case ZYDIS_MNEMONIC_SETL: case ZYDIS_MNEMONIC_SETNL: case ZYDIS_MNEMONIC_SETLE:
	case ZYDIS_MNEMONIC_SETNLE:
	case ZYDIS_MNEMONIC_CMOVO: case ZYDIS_MNEMONIC_CMOVNO: case ZYDIS_MNEMONIC_CMOVB:
	case ZYDIS_MNEMONIC_CMOVNB: case ZYDIS_MNEMONIC_CMOVZ: case ZYDIS_MNEMONIC_CMOVNZ:
	case ZYDIS_MNEMONIC_CMOVBE: case ZYDIS_MNEMONIC_CMOVNBE: case ZYDIS_MNEMONIC_CMOVS:
	case ZYDIS_MNEMONIC_CMOVNS: case ZYDIS_MNEMONIC_CMOVP: case ZYDIS_MNEMONIC_CMOVNP:
	case ZYDIS_MNEMONIC_CMOVL: case ZYDIS_MNEMONIC_CMOVNL: case ZYDIS_MNEMONIC_CMOVLE:
	case ZYDIS_MNEMONIC_CMOVNLE:
	case ZYDIS_MNEMONIC_MOV: case ZYDIS_MNEMONIC_PUSH: case ZYDIS_MNEMONIC_POP:
	case ZYDIS_MNEMONIC_IMUL: case ZYDIS_MNEMONIC_BT: case ZYDIS_MNEMONIC_BTS:
	case ZYDIS_MNEMONIC_BTR: case ZYDIS_MNEMONIC_BTC: case ZYDIS_MNEMONIC_XLAT:
	case ZYDIS_MNEMONIC_NOP: case ZYDIS_MNEMONIC_PAUSE: case ZYDIS_MNEMONIC_ENDBR32:
	case ZYDIS_MNEMONIC_INC: case ZYDIS_MNEMONIC_DEC: case ZYDIS_MNEMONIC_NEG:
	case ZYDIS_MNEMONIC_NOT: case ZYDIS_MNEMONIC_SHLD: case ZYDIS_MNEMONIC_SHRD:
	case ZYDIS_MNEMONIC_MUL: case ZYDIS_MNEMONIC_DIV: case ZYDIS_MNEMONIC_IDIV:
	case ZYDIS_MNEMONIC_BSF: case ZYDIS_MNEMONIC_BSR: case ZYDIS_MNEMONIC_XCHG:
	case ZYDIS_MNEMONIC_CMPXCHG: case ZYDIS_MNEMONIC_XADD: case ZYDIS_MNEMONIC_CMPXCHG8B:
	case ZYDIS_MNEMONIC_BSWAP: case ZYDIS_MNEMONIC_MOVZX: case ZYDIS_MNEMONIC_MOVSX:
	case ZYDIS_MNEMONIC_LEA: case ZYDIS_MNEMONIC_CBW: case ZYDIS_MNEMONIC_CWDE:
	case ZYDIS_MNEMONIC_CWD: case ZYDIS_MNEMONIC_CDQ: case ZYDIS_MNEMONIC_DAA:
	case ZYDIS_MNEMONIC_DAS: case ZYDIS_MNEMONIC_AAA: case ZYDIS_MNEMONIC_AAS:
	case ZYDIS_MNEMONIC_AAM: case ZYDIS_MNEMONIC_AAD: case ZYDIS_MNEMONIC_LAHF:
	case ZYDIS_MNEMONIC_SAHF: case ZYDIS_MNEMONIC_CLC: case ZYDIS_MNEMONIC_STC:
	case ZYDIS_MNEMONIC_CMC: case ZYDIS_MNEMONIC_CLD: case ZYDIS_MNEMONIC_STD:
	case ZYDIS_MNEMONIC_BOUND: case ZYDIS_MNEMONIC_PUSHA: case ZYDIS_MNEMONIC_PUSHAD:
	case ZYDIS_MNEMONIC_POPA: case ZYDIS_MNEMONIC_POPAD: case ZYDIS_MNEMONIC_ENTER:
	case ZYDIS_MNEMONIC_LEAVE:
		return true;
	default:
		return false;
	}
}

static enum insn_sens sensitive_kind(ZydisMnemonic m)
{
	switch (m) {
	case ZYDIS_MNEMONIC_CLI: return SENS_CLI;
	case ZYDIS_MNEMONIC_STI: return SENS_STI;
	case ZYDIS_MNEMONIC_PUSHF: case ZYDIS_MNEMONIC_PUSHFD: return SENS_PUSHF;
	case ZYDIS_MNEMONIC_POPF: case ZYDIS_MNEMONIC_POPFD: return SENS_POPF;
	case ZYDIS_MNEMONIC_LDS: case ZYDIS_MNEMONIC_LES: case ZYDIS_MNEMONIC_LFS:
	case ZYDIS_MNEMONIC_LGS: case ZYDIS_MNEMONIC_LSS: return SENS_SREG_LOAD;
	case ZYDIS_MNEMONIC_SGDT: case ZYDIS_MNEMONIC_SIDT: case ZYDIS_MNEMONIC_SLDT:
	case ZYDIS_MNEMONIC_STR: case ZYDIS_MNEMONIC_SMSW: case ZYDIS_MNEMONIC_LAR:
	case ZYDIS_MNEMONIC_LSL: case ZYDIS_MNEMONIC_VERR: case ZYDIS_MNEMONIC_VERW:
		return SENS_DESC_READ;
	case ZYDIS_MNEMONIC_CPUID: return SENS_CPUID;
	case ZYDIS_MNEMONIC_RDTSC: case ZYDIS_MNEMONIC_RDTSCP: case ZYDIS_MNEMONIC_RDPMC:
		return SENS_RDTSC;
	case ZYDIS_MNEMONIC_IN: case ZYDIS_MNEMONIC_OUT: case ZYDIS_MNEMONIC_INSB:
	case ZYDIS_MNEMONIC_INSW: case ZYDIS_MNEMONIC_INSD: case ZYDIS_MNEMONIC_OUTSB:
	case ZYDIS_MNEMONIC_OUTSW: case ZYDIS_MNEMONIC_OUTSD: return SENS_IO;
	case ZYDIS_MNEMONIC_HLT: return SENS_HLT;
	case ZYDIS_MNEMONIC_LGDT: case ZYDIS_MNEMONIC_LIDT: case ZYDIS_MNEMONIC_LLDT:
	case ZYDIS_MNEMONIC_LTR: case ZYDIS_MNEMONIC_LMSW: case ZYDIS_MNEMONIC_CLTS:
	case ZYDIS_MNEMONIC_INVLPG: case ZYDIS_MNEMONIC_RDMSR: case ZYDIS_MNEMONIC_WRMSR:
	case ZYDIS_MNEMONIC_INVD: case ZYDIS_MNEMONIC_WBINVD: return SENS_CTL;
	case ZYDIS_MNEMONIC_IRET: case ZYDIS_MNEMONIC_IRETD: return SENS_FAR;
	case ZYDIS_MNEMONIC_INT: case ZYDIS_MNEMONIC_INT3: case ZYDIS_MNEMONIC_INTO:
	case ZYDIS_MNEMONIC_INT1: return SENS_INT;
	case ZYDIS_MNEMONIC_SYSENTER: case ZYDIS_MNEMONIC_SYSEXIT: case ZYDIS_MNEMONIC_SYSCALL:
	case ZYDIS_MNEMONIC_SYSRET: return SENS_SYSCALL;
	default: return SENS_OTHER;
	}
}

static enum insn_sens sensitive_kind(ZydisMnemonic m);

static void classify_branch(const ZydisDecodedInstruction *zi, const ZydisDecodedOperand *zo,
			    uint32_t eip, struct insn_info *info)
{
	ZydisMnemonic m = zi->mnemonic;
	bool rel = zi->operand_count > 0 && zo[0].type == ZYDIS_OPERAND_TYPE_IMMEDIATE &&
		   zo[0].imm.is_relative;
	if (rel)
		info->target = eip + info->len + (uint32_t)zo[0].imm.value.s;
	info->cls = INSN_BRANCH;
	switch (m) {
	case ZYDIS_MNEMONIC_JMP:
		info->branch = rel ? BR_JMP : BR_JMP_IND;
		break;
	case ZYDIS_MNEMONIC_CALL:
		info->branch = rel ? BR_CALL : BR_CALL_IND;
		break;
	case ZYDIS_MNEMONIC_RET:
		info->branch = BR_RET;
		if (zi->operand_count > 0 && zo[0].type == ZYDIS_OPERAND_TYPE_IMMEDIATE)
			info->ret_imm = (uint16_t)zo[0].imm.value.u;
		break;
	case ZYDIS_MNEMONIC_LOOP: case ZYDIS_MNEMONIC_LOOPE: case ZYDIS_MNEMONIC_LOOPNE:
	case ZYDIS_MNEMONIC_JCXZ: case ZYDIS_MNEMONIC_JECXZ:
		info->branch = BR_LOOP;
		break;
	case ZYDIS_MNEMONIC_JO: case ZYDIS_MNEMONIC_JNO: case ZYDIS_MNEMONIC_JB:
	case ZYDIS_MNEMONIC_JNB: case ZYDIS_MNEMONIC_JZ: case ZYDIS_MNEMONIC_JNZ:
	case ZYDIS_MNEMONIC_JBE: case ZYDIS_MNEMONIC_JNBE: case ZYDIS_MNEMONIC_JS:
	case ZYDIS_MNEMONIC_JNS: case ZYDIS_MNEMONIC_JP: case ZYDIS_MNEMONIC_JNP:
	case ZYDIS_MNEMONIC_JL: case ZYDIS_MNEMONIC_JNL: case ZYDIS_MNEMONIC_JLE:
	case ZYDIS_MNEMONIC_JNLE:
		info->branch = BR_JCC;
		info->cc = zi->opcode & 0xf;
		break;
	default: /* iret and anything else that transfers control */
		info->cls = INSN_SENSITIVE;
		info->sens = sensitive_kind(m);
		info->branch = BR_NONE;
		return;
	}
	/* A 16-bit operand size wraps IP at 64 KiB: rare, left to the core. */
	if (info->osize != 4) {
		info->cls = INSN_SENSITIVE;
		info->sens = SENS_16BIT;
	}
}

int insn_decode(const uint8_t *code, unsigned avail, uint32_t eip, bool code16,
		struct insn_info *info)
{
	static ZydisDecoder dec32, dec16;
	static bool ready;
	if (!ready) {
		ZydisDecoderInit(&dec32, ZYDIS_MACHINE_MODE_LEGACY_32, ZYDIS_STACK_WIDTH_32);
		ZydisDecoderInit(&dec16, ZYDIS_MACHINE_MODE_LEGACY_16, ZYDIS_STACK_WIDTH_16);
		ready = true;
	}
	memset(info, 0, sizeof *info);
	info->cls = INSN_INVALID;
	ZydisDecodedInstruction zi;
	ZydisDecodedOperand zo[ZYDIS_MAX_OPERAND_COUNT];
	if (avail > INSN_MAX_LEN)
		avail = INSN_MAX_LEN;
	if (!ZYAN_SUCCESS(ZydisDecoderDecodeFull(code16 ? &dec16 : &dec32, code, avail, &zi, zo)))
		return -1;
	info->len = zi.length;
	info->osize = (uint8_t)(zi.operand_width / 8);
	info->asize = (uint8_t)(zi.address_width / 8);
	info->prefix_len = zi.raw.prefix_count;
	if (zi.attributes & ZYDIS_ATTRIB_HAS_MODRM)
		info->modrm_off = zi.raw.modrm.offset;
	info->is_invlpg = zi.mnemonic == ZYDIS_MNEMONIC_INVLPG;
	info->is_rdmsr = zi.mnemonic == ZYDIS_MNEMONIC_RDMSR;
	/* Zydis reports these only for instructions that accept REP. */
	info->rep_string = zi.attributes & (ZYDIS_ATTRIB_HAS_REP | ZYDIS_ATTRIB_HAS_REPE |
					    ZYDIS_ATTRIB_HAS_REPNE);
	bool cs_mem = false, sreg = false, sreg_written = false;
	for (unsigned k = 0; k < zi.operand_count; k++) {
		const ZydisDecodedOperand *o = &zo[k];
		if (o->type == ZYDIS_OPERAND_TYPE_MEMORY && o->mem.type == ZYDIS_MEMOP_TYPE_MEM) {
			if (!info->has_mem && o->visibility != ZYDIS_OPERAND_VISIBILITY_HIDDEN) {
				int s = sreg_of(o->mem.segment);
				info->has_mem = true;
				info->mem.seg = (uint8_t)(s < 0 ? S_DS : s);
				info->mem.base = (uint8_t)gpr_of(o->mem.base);
				info->mem.index = (uint8_t)gpr_of(o->mem.index);
				info->mem.scale = (uint8_t)(o->mem.scale == 8 ? 3 : o->mem.scale == 4 ? 2
							    : o->mem.scale == 2 ? 1 : 0);
				info->mem.a16 = zi.address_width == 16;
				info->mem.disp = (uint32_t)o->mem.disp.value;
			}
			if (o->mem.segment == ZYDIS_REGISTER_CS)
				cs_mem = true;
		}
		if (o->type == ZYDIS_OPERAND_TYPE_MEMORY && o->mem.type == ZYDIS_MEMOP_TYPE_AGEN &&
		    o->mem.segment == ZYDIS_REGISTER_CS && zi.mnemonic != ZYDIS_MNEMONIC_LEA)
			cs_mem = true;
		if (o->type == ZYDIS_OPERAND_TYPE_REGISTER && sreg_of(o->reg.value) >= 0) {
			sreg = true;
			if (o->actions & ZYDIS_OPERAND_ACTION_MASK_WRITE)
				sreg_written = true;
		}
		if (o->type == ZYDIS_OPERAND_TYPE_REGISTER &&
		    (ZydisRegisterGetClass(o->reg.value) == ZYDIS_REGCLASS_CONTROL ||
		     ZydisRegisterGetClass(o->reg.value) == ZYDIS_REGCLASS_DEBUG)) {
			info->cls = INSN_SENSITIVE;
			info->sens = SENS_CTL;
			return 0;
		}
	}
	if (zi.meta.branch_type == ZYDIS_BRANCH_TYPE_FAR ||
	    ((zi.mnemonic == ZYDIS_MNEMONIC_RET) && (zi.opcode == 0xca || zi.opcode == 0xcb))) {
		info->cls = INSN_SENSITIVE;
		info->sens = SENS_FAR;
		return 0;
	}
	if (zi.meta.category == ZYDIS_CATEGORY_COND_BR ||
	    zi.meta.category == ZYDIS_CATEGORY_UNCOND_BR || zi.meta.category == ZYDIS_CATEGORY_CALL ||
	    zi.meta.category == ZYDIS_CATEGORY_RET) {
		classify_branch(&zi, zo, eip, info);
		if (info->cls == INSN_BRANCH && cs_mem) {
			info->cls = INSN_SENSITIVE;
			info->sens = SENS_CS_MEM;
		}
		return 0;
	}
	if (sreg) {
		info->cls = INSN_SENSITIVE;
		info->sens = sreg_written ? SENS_SREG_LOAD : SENS_SREG_READ;
		return 0;
	}
	if (innocuous_mnemonic(zi.mnemonic)) {
		info->cls = cs_mem ? INSN_SENSITIVE : INSN_INNOCUOUS;
		info->sens = cs_mem ? SENS_CS_MEM : SENS_NONE;
		return 0;
	}
	info->cls = INSN_SENSITIVE;
	info->sens = sensitive_kind(zi.mnemonic);
	return 0;
}

uint32_t insn_ea(const struct insn_info *info, const uint32_t gpr[8])
{
	const struct insn_mem *m = &info->mem;
	uint32_t ea = m->disp;
	if (m->base != NO_REG)
		ea += gpr[m->base];
	if (m->index != NO_REG)
		ea += gpr[m->index] << m->scale;
	return m->a16 ? ea & 0xffff : ea;
}

const char *insn_sens_name(enum insn_sens s)
{
	static const char *const names[] = {
		"none", "cli", "sti", "pushf", "popf", "segment read", "segment load",
		"descriptor read", "cpuid", "rdtsc", "port io", "hlt", "control", "far transfer",
		"int", "syscall", "cs memory", "16-bit branch", "other",
	};
	return (unsigned)s < sizeof names / sizeof names[0] ? names[s] : "?";
}

static unsigned fetch_bytes(struct cpu *c, uint8_t buf[INSN_MAX_LEN]);

int insn_fetch(struct cpu *c, struct insn_info *info)
{
	uint8_t buf[INSN_MAX_LEN];
	info->cls = INSN_INVALID;
	unsigned got = fetch_bytes(c, buf);
	if (!got)
		return -1;
	return insn_decode(buf, got, c->eip, c->code16, info);
}

bool insn_invlpg_at(struct cpu *c, uint32_t *lin)
{
	uint8_t buf[INSN_MAX_LEN];
	unsigned got = fetch_bytes(c, buf), k = 0;
	while (k < got && (buf[k] == 0x26 || buf[k] == 0x2e || buf[k] == 0x36 || buf[k] == 0x3e ||
			   buf[k] == 0x64 || buf[k] == 0x65 || buf[k] == 0x66 || buf[k] == 0x67 ||
			   buf[k] == 0xf0 || buf[k] == 0xf2 || buf[k] == 0xf3))
		k++;
	/* INVLPG is 0F 01 /7 with a memory operand */
	if (k + 2 >= got || buf[k] != 0x0f || buf[k + 1] != 0x01 || ((buf[k + 2] >> 3) & 7) != 7 ||
	    (buf[k + 2] >> 6) == 3)
		return false;
	struct insn_info in;
	if (insn_decode(buf, got, c->eip, c->code16, &in) < 0 || !in.is_invlpg)
		return false;
	*lin = insn_lin(c, &in);
	return true;
}

/* Up to INSN_MAX_LEN bytes at CS:EIP through the guest's page tables, as
 * an instruction fetch at the current CPL; 0 if the first byte faults or
 * is not RAM. */
static unsigned fetch_bytes(struct cpu *c, uint8_t buf[INSN_MAX_LEN])
{
	volatile unsigned got = 0;
	uint32_t at = c->seg[S_CS].base + c->eip;
	if (_setjmp(c->jb) == 0) {
		/* Byte by byte only across a page end: at most two walks. */
		while (got < INSN_MAX_LEN) {
			bool w;
			uint32_t lin = at + got;
			uint32_t pa = paging_translate(c, lin, false, c->cpl == 3, true, &w);
			unsigned n = 0x1000 - (lin & 0xfff);
			if (n > INSN_MAX_LEN - got)
				n = INSN_MAX_LEN - got;
			if ((uint64_t)pa + n > c->ram_size)
				break;
			memcpy(buf + got, c->ram + pa, n);
			got += n;
		}
	}
	return got;
}

uint32_t insn_lin(const struct cpu *c, const struct insn_info *info)
{
	return c->seg[info->mem.seg].base + insn_ea(info, c->r.r32);
}
