/*
 * Zydis decoding into pre-decoded blocks, the block hash (keyed by
 * guest-physical address and code size), and invalidation of a page's
 * blocks when the guest writes to it.
 */
#include <stdio.h>
#include <stdlib.h>

#include <Zydis/Zydis.h>

#include "decode.h"
#include "exec.h"

#define HASH_BITS 16
#define ARENA_SIZE (48u << 20)
#define BLOCK_BYTES_MAX (sizeof(struct block) + BLOCK_MAX_INSNS * sizeof(struct insn))
#define PHYS_NONE 0xffffffffu

struct decode_cache {
	struct jc_entry jc[1u << JC_BITS];
	uint8_t *arena;
	size_t arena_size;
	size_t used;
	struct block *hash[1u << HASH_BITS];
	struct block **page_head; /* per RAM page */
	size_t n_pages;
	ZydisDecoder dec32, dec16;
	_Alignas(16) uint8_t scratch[sizeof(struct block) + sizeof(struct insn)];
};

/* Encodings whose meaning depends on the CPU: no model has BMI1 or
 * LZCNT, and such a CPU executes TZCNT (f3 0f bc) as REP BSF and LZCNT
 * (f3 0f bd) as REP BSR, which is what Linux counts on. */
static void decode_for_model(struct decode_cache *dc)
{
	ZydisDecoderEnableMode(&dc->dec32, ZYDIS_DECODER_MODE_TZCNT, ZYAN_FALSE);
	ZydisDecoderEnableMode(&dc->dec32, ZYDIS_DECODER_MODE_LZCNT, ZYAN_FALSE);
	ZydisDecoderEnableMode(&dc->dec16, ZYDIS_DECODER_MODE_TZCNT, ZYAN_FALSE);
	ZydisDecoderEnableMode(&dc->dec16, ZYDIS_DECODER_MODE_LZCNT, ZYAN_FALSE);
}

int decode_init(struct cpu *c)
{
	struct decode_cache *dc = calloc(1, sizeof *dc);
	if (!dc)
		return -1;
	dc->n_pages = (size_t)((c->ram_size + 0xfff) >> 12);
	/* A small machine has little code: size the arena to RAM (up to 48
	 * MiB), which keeps tiny VMs (the differential test makes thousands)
	 * cheap to create. */
	dc->arena_size = c->ram_size < ARENA_SIZE ? (size_t)c->ram_size : ARENA_SIZE;
	if (dc->arena_size < (1u << 20))
		dc->arena_size = 1u << 20;
	dc->arena = malloc(dc->arena_size);
	dc->page_head = calloc(dc->n_pages ? dc->n_pages : 1, sizeof *dc->page_head);
	c->code_page = calloc(dc->n_pages ? dc->n_pages : 1, 1);
	if (!dc->arena || !dc->page_head || !c->code_page) {
		free(dc->arena);
		free(dc->page_head);
		free(c->code_page);
		free(dc);
		return -1;
	}
	c->jc = dc->jc;
	c->jc_gen = 1 << 3; /* entries start with tag 0: all invalid */
	ZydisDecoderInit(&dc->dec32, ZYDIS_MACHINE_MODE_LEGACY_32, ZYDIS_STACK_WIDTH_32);
	ZydisDecoderInit(&dc->dec16, ZYDIS_MACHINE_MODE_LEGACY_16, ZYDIS_STACK_WIDTH_16);
	decode_for_model(dc);
	c->dc = dc;
	return 0;
}

void decode_fini(struct cpu *c)
{
	if (!c->dc)
		return;
	free(c->dc->arena);
	free(c->dc->page_head);
	free(c->dc);
	free(c->code_page);
	c->dc = NULL;
	c->code_page = NULL;
}

void decode_jc_flush(struct cpu *c)
{
	c->jc_gen += 1 << 3;
	if (unlikely(c->jc_gen == 0)) {
		/* Wrapped (2^29 flushes): old tags could match again. */
		if (c->dc)
			memset(c->dc->jc, 0, sizeof c->dc->jc);
		c->jc_gen = 1 << 3;
	}
}

void decode_flush_all(struct cpu *c)
{
	struct decode_cache *dc = c->dc;
	decode_jc_flush(c); /* the arena is reused: no entry may point into it */
	dc->used = 0;
	memset(dc->hash, 0, sizeof dc->hash);
	memset(dc->page_head, 0, dc->n_pages * sizeof *dc->page_head);
	memset(c->code_page, 0, dc->n_pages);
}

static inline unsigned hash_of(uint32_t pa)
{
	return (pa * 2654435761u) >> (32 - HASH_BITS);
}

static void hash_remove(struct decode_cache *dc, struct block *b)
{
	struct block **pp = &dc->hash[hash_of(b->phys)];
	for (; *pp; pp = &(*pp)->hnext)
		if (*pp == b) {
			*pp = b->hnext;
			return;
		}
}

/* Blocks are only unlinked here, never freed, because one of them may be
 * executing right now; their memory is reused at the next full flush. */
void decode_invalidate_page(struct cpu *c, uint32_t page_no)
{
	struct decode_cache *dc = c->dc;
	if (page_no >= dc->n_pages)
		return;
	struct block *b = dc->page_head[page_no];
	while (b) {
		struct block *next = (b->phys >> 12) == page_no ? b->pnext : b->pnext2;
		if (b->valid) {
			b->valid = 0;
			hash_remove(dc, b);
		}
		b = next;
	}
	dc->page_head[page_no] = NULL;
	c->code_page[page_no] = 0;
}

static void page_mark_code(struct cpu *c, uint32_t pa)
{
	uint32_t pno = pa >> 12;
	if (!c->code_page[pno]) {
		c->code_page[pno] = 1;
		tlb_drop_phys(c, pa & ~0xfffu);
	}
}

/* ---- Zydis operands to operand descriptors ---- */

static int gpr_index(ZydisRegister r, unsigned *size)
{
	if (r >= ZYDIS_REGISTER_EAX && r <= ZYDIS_REGISTER_EDI) {
		*size = 4;
		return r - ZYDIS_REGISTER_EAX;
	}
	if (r >= ZYDIS_REGISTER_AX && r <= ZYDIS_REGISTER_DI) {
		*size = 2;
		return r - ZYDIS_REGISTER_AX;
	}
	if (r >= ZYDIS_REGISTER_AL && r <= ZYDIS_REGISTER_BH) {
		*size = 1;
		return r - ZYDIS_REGISTER_AL;
	}
	return -1;
}

static int sreg_index(ZydisRegister r)
{
	if (r >= ZYDIS_REGISTER_ES && r <= ZYDIS_REGISTER_GS)
		return r - ZYDIS_REGISTER_ES;
	return -1;
}

static uint32_t mask_bits(unsigned bits)
{
	return bits >= 32 ? 0xffffffffu : (1u << bits) - 1;
}

/* Returns false for operands the descriptors cannot express. */
static bool conv_op(const ZydisDecodedInstruction *zi, const ZydisDecodedOperand *zo,
		    struct opnd *o)
{
	memset(o, 0, sizeof *o);
	o->size = (uint8_t)(zo->size / 8);
	switch (zo->type) {
	case ZYDIS_OPERAND_TYPE_REGISTER: {
		unsigned sz;
		int g = gpr_index(zo->reg.value, &sz);
		o->kind = OK_REG;
		if (g < 0) {
			o->kind = OK_NONE; /* sreg/CR/DR: the handler uses i->sub */
			return true;
		}
		o->size = (uint8_t)sz;
		o->reg = (uint8_t)(sz == 1 ? (g & 3) * 4 + (g >> 2) : g * 4);
		return true;
	}
	case ZYDIS_OPERAND_TYPE_MEMORY: {
		unsigned sz;
		o->kind = OK_MEM;
		int s = sreg_index(zo->mem.segment);
		o->seg = (uint8_t)(s < 0 ? S_DS : s);
		o->base = o->index = REG_NONE;
		if (zo->mem.base != ZYDIS_REGISTER_NONE) {
			int g = gpr_index(zo->mem.base, &sz);
			if (g < 0 || sz == 1)
				return false;
			o->base = (uint8_t)g;
		}
		if (zo->mem.index != ZYDIS_REGISTER_NONE) {
			int g = gpr_index(zo->mem.index, &sz);
			if (g < 0 || sz == 1)
				return false;
			o->index = (uint8_t)g;
			o->scale = (uint8_t)(zo->mem.scale == 8 ? 3 : zo->mem.scale == 4 ? 2 : zo->mem.scale == 2 ? 1 : 0);
		}
		o->disp = (uint32_t)zo->mem.disp.value;
		o->a16 = zi->address_width == 16;
		return true;
	}
	case ZYDIS_OPERAND_TYPE_IMMEDIATE:
		o->kind = OK_IMM;
		if (zo->imm.is_relative)
			o->disp = (uint32_t)zo->imm.value.s;
		else if (zo->imm.is_signed)
			/* imm8 sign-extended to the operand size (83 /n ib, 6A ib). */
			o->disp = (uint32_t)zo->imm.value.u & mask_bits(zi->operand_width);
		else
			o->disp = (uint32_t)zo->imm.value.u & mask_bits(zo->size ? zo->size : 32);
		return true;
	case ZYDIS_OPERAND_TYPE_POINTER:
		o->kind = OK_IMM;
		o->disp = zo->ptr.offset;
		return true;
	default:
		return false;
	}
}

/* ---- mnemonic to handler ---- */

#define TERM 1 /* ends the block */

static bool is_reg32(const struct opnd *o)
{
	return o->kind == OK_REG && o->size == 4;
}

static int alu_op(ZydisMnemonic m)
{
	switch (m) {
	case ZYDIS_MNEMONIC_ADD: return ALU_ADD;
	case ZYDIS_MNEMONIC_OR: return ALU_OR;
	case ZYDIS_MNEMONIC_ADC: return ALU_ADC;
	case ZYDIS_MNEMONIC_SBB: return ALU_SBB;
	case ZYDIS_MNEMONIC_AND: return ALU_AND;
	case ZYDIS_MNEMONIC_SUB: return ALU_SUB;
	case ZYDIS_MNEMONIC_XOR: return ALU_XOR;
	case ZYDIS_MNEMONIC_CMP: return ALU_CMP;
	case ZYDIS_MNEMONIC_TEST: return ALU_TEST;
	default: return -1;
	}
}

static insn_fn alu_handler(struct insn *i, int op)
{
	i->sub = (uint8_t)op;
	const struct opnd *a = &i->op[0], *b = &i->op[1];
	if (a->size != 4 || (b->kind != OK_IMM && b->size != 4))
		return h_alu;
	if (is_reg32(a) && is_reg32(b))
		return alu32_rr_fns[op];
	if (is_reg32(a) && b->kind == OK_IMM)
		return alu32_ri_fns[op];
	/* The memory forms are fast paths (exec.h: fast_mem): 32-bit
	 * addressing only. */
	if ((a->kind == OK_MEM && a->a16) || (b->kind == OK_MEM && b->a16))
		return h_alu;
	if (is_reg32(a) && b->kind == OK_MEM)
		return alu32_rm_fns[op];
	if (a->kind == OK_MEM && is_reg32(b))
		return alu32_mr_fns[op];
	if (a->kind == OK_MEM && b->kind == OK_IMM)
		return alu32_mi_fns[op];
	return h_alu;
}

static int shift_op(ZydisMnemonic m)
{
	switch (m) {
	case ZYDIS_MNEMONIC_ROL: return 0;
	case ZYDIS_MNEMONIC_ROR: return 1;
	case ZYDIS_MNEMONIC_RCL: return 2;
	case ZYDIS_MNEMONIC_RCR: return 3;
	case ZYDIS_MNEMONIC_SHL: return 4;
	case ZYDIS_MNEMONIC_SHR: return 5;
	case ZYDIS_MNEMONIC_SAR: return 7;
	default: return -1;
	}
}

/* String instructions, by opcode (Zydis names MOVSD/CMPSD after SSE too). */
static int string_op(const ZydisDecodedInstruction *zi)
{
	if (zi->opcode_map != ZYDIS_OPCODE_MAP_DEFAULT)
		return -1;
	switch (zi->opcode & 0xfe) {
	case 0xa4: return 0; /* MOVS */
	case 0xa6: return 1; /* CMPS */
	case 0xaa: return 2; /* STOS */
	case 0xac: return 3; /* LODS */
	case 0xae: return 4; /* SCAS */
	case 0x6c: return 5; /* INS */
	case 0x6e: return 6; /* OUTS */
	default: return -1;
	}
}

static int first_mem_seg(const ZydisDecodedInstruction *zi, const ZydisDecodedOperand *zo,
			 bool want_esi)
{
	for (unsigned k = 0; k < zi->operand_count; k++) {
		if (zo[k].type != ZYDIS_OPERAND_TYPE_MEMORY)
			continue;
		ZydisRegister b = zo[k].mem.base;
		if (want_esi && b != ZYDIS_REGISTER_ESI && b != ZYDIS_REGISTER_SI)
			continue;
		int s = sreg_index(zo[k].mem.segment);
		return s < 0 ? S_DS : s;
	}
	return S_DS;
}

static int sreg_of(const ZydisDecodedOperand *zo)
{
	return zo->type == ZYDIS_OPERAND_TYPE_REGISTER ? sreg_index(zo->reg.value) : -1;
}

static int ctl_of(const ZydisDecodedOperand *zo, ZydisRegister first, ZydisRegister last)
{
	if (zo->type == ZYDIS_OPERAND_TYPE_REGISTER && zo->reg.value >= first &&
	    zo->reg.value <= last)
		return zo->reg.value - first;
	return -1;
}

static bool is_far(const ZydisDecodedInstruction *zi)
{
	return zi->meta.branch_type == ZYDIS_BRANCH_TYPE_FAR;
}

/* Picks the handler for one decoded instruction; returns TERM if the
 * instruction must end its block. */
static int select_handler(const ZydisDecodedInstruction *zi, const ZydisDecodedOperand *zo,
			  struct insn *i)
{
	ZydisMnemonic m = zi->mnemonic;
	const struct opnd *o0 = &i->op[0], *o1 = &i->op[1];
	int op = alu_op(m);
	if (op >= 0) {
		i->fn = alu_handler(i, op);
		return 0;
	}
	if ((op = shift_op(m)) >= 0) {
		i->fn = h_shift;
		i->sub = (uint8_t)op;
		return 0;
	}
	if ((op = string_op(zi)) >= 0) {
		i->fn = h_string;
		i->sub = (uint8_t)op;
		i->imm2 = (zi->opcode & 1) ? i->osize : 1;
		if (zi->attributes & ZYDIS_ATTRIB_HAS_REPNE)
			i->rep = (op == 1 || op == 4) ? REP_NE : REP_E;
		else if (zi->attributes & (ZYDIS_ATTRIB_HAS_REP | ZYDIS_ATTRIB_HAS_REPE))
			i->rep = REP_E;
		memset(i->op, 0, sizeof i->op);
		i->op[0].seg = (uint8_t)first_mem_seg(zi, zo, true);
		return op >= 5 ? TERM : 0;
	}
	switch (m) {
	case ZYDIS_MNEMONIC_JO: case ZYDIS_MNEMONIC_JNO: case ZYDIS_MNEMONIC_JB:
	case ZYDIS_MNEMONIC_JNB: case ZYDIS_MNEMONIC_JZ: case ZYDIS_MNEMONIC_JNZ:
	case ZYDIS_MNEMONIC_JBE: case ZYDIS_MNEMONIC_JNBE: case ZYDIS_MNEMONIC_JS:
	case ZYDIS_MNEMONIC_JNS: case ZYDIS_MNEMONIC_JP: case ZYDIS_MNEMONIC_JNP:
	case ZYDIS_MNEMONIC_JL: case ZYDIS_MNEMONIC_JNL: case ZYDIS_MNEMONIC_JLE:
	case ZYDIS_MNEMONIC_JNLE:
		/* Not TERM: a block runs on past a Jcc that is not taken (the
		 * fall-through is the next entry); a taken one ends the block
		 * (its handler clears blk_end). */
		i->fn = h_jcc;
		i->sub = zi->opcode & 0xf;
		return 0;
	case ZYDIS_MNEMONIC_SETO: case ZYDIS_MNEMONIC_SETNO: case ZYDIS_MNEMONIC_SETB:
	case ZYDIS_MNEMONIC_SETNB: case ZYDIS_MNEMONIC_SETZ: case ZYDIS_MNEMONIC_SETNZ:
	case ZYDIS_MNEMONIC_SETBE: case ZYDIS_MNEMONIC_SETNBE: case ZYDIS_MNEMONIC_SETS:
	case ZYDIS_MNEMONIC_SETNS: case ZYDIS_MNEMONIC_SETP: case ZYDIS_MNEMONIC_SETNP:
	case ZYDIS_MNEMONIC_SETL: case ZYDIS_MNEMONIC_SETNL: case ZYDIS_MNEMONIC_SETLE:
	case ZYDIS_MNEMONIC_SETNLE:
		i->fn = h_setcc;
		i->sub = zi->opcode & 0xf;
		return 0;
	case ZYDIS_MNEMONIC_CMOVO: case ZYDIS_MNEMONIC_CMOVNO: case ZYDIS_MNEMONIC_CMOVB:
	case ZYDIS_MNEMONIC_CMOVNB: case ZYDIS_MNEMONIC_CMOVZ: case ZYDIS_MNEMONIC_CMOVNZ:
	case ZYDIS_MNEMONIC_CMOVBE: case ZYDIS_MNEMONIC_CMOVNBE: case ZYDIS_MNEMONIC_CMOVS:
	case ZYDIS_MNEMONIC_CMOVNS: case ZYDIS_MNEMONIC_CMOVP: case ZYDIS_MNEMONIC_CMOVNP:
	case ZYDIS_MNEMONIC_CMOVL: case ZYDIS_MNEMONIC_CMOVNL: case ZYDIS_MNEMONIC_CMOVLE:
	case ZYDIS_MNEMONIC_CMOVNLE:
		i->fn = h_cmovcc;
		i->sub = zi->opcode & 0xf;
		return 0;
	case ZYDIS_MNEMONIC_MOV: {
		int s;
		if ((s = sreg_of(&zo[0])) >= 0) {
			i->fn = h_mov_to_sreg;
			i->sub = (uint8_t)s;
			return TERM;
		}
		if ((s = sreg_of(&zo[1])) >= 0) {
			i->fn = h_mov_from_sreg;
			i->sub = (uint8_t)s;
			if (i->op[0].kind == OK_MEM)
				i->op[0].size = 2;
			return 0;
		}
		if ((s = ctl_of(&zo[0], ZYDIS_REGISTER_CR0, ZYDIS_REGISTER_CR15)) >= 0) {
			i->fn = h_mov_to_cr;
			i->sub = (uint8_t)s;
			return TERM;
		}
		if ((s = ctl_of(&zo[1], ZYDIS_REGISTER_CR0, ZYDIS_REGISTER_CR15)) >= 0) {
			i->fn = h_mov_from_cr;
			i->sub = (uint8_t)s;
			return 0;
		}
		if ((s = ctl_of(&zo[0], ZYDIS_REGISTER_DR0, ZYDIS_REGISTER_DR15)) >= 0) {
			i->fn = h_mov_to_dr;
			i->sub = (uint8_t)s;
			return 0;
		}
		if ((s = ctl_of(&zo[1], ZYDIS_REGISTER_DR0, ZYDIS_REGISTER_DR15)) >= 0) {
			i->fn = h_mov_from_dr;
			i->sub = (uint8_t)s;
			return 0;
		}
		if (o0->kind == OK_NONE || o1->kind == OK_NONE)
			return -1;
		if (is_reg32(o0) && is_reg32(o1))
			i->fn = h_mov32_rr;
		else if (is_reg32(o0) && o1->kind == OK_IMM)
			i->fn = h_mov32_ri;
		else if (is_reg32(o0) && o1->kind == OK_MEM)
			i->fn = h_mov32_rm;
		else if (o0->kind == OK_MEM && o0->size == 4)
			i->fn = h_mov32_mr;
		else
			i->fn = h_mov;
		return 0;
	}
	case ZYDIS_MNEMONIC_JMP:
		if (is_far(zi)) {
			i->fn = h_jmp_far;
			i->imm2 = zo[0].type == ZYDIS_OPERAND_TYPE_POINTER ? zo[0].ptr.segment : 0;
			return TERM;
		}
		if (o0->kind != OK_IMM) {
			i->fn = h_jmp_ind;
			return TERM;
		}
		/* Not TERM: decoding runs on after a direct JMP, so that an
		 * earlier Jcc of the block may land on what follows (an if-else)
		 * and a JMP may land later in the block (exec_fast.c). The JMP
		 * itself ends the block unless its target is such a later
		 * instruction. What follows a JMP is decoded only from the same
		 * page (block_build stops before an instruction that crosses). */
		i->fn = h_jmp;
		return 0;
	case ZYDIS_MNEMONIC_CALL:
		if (is_far(zi)) {
			i->fn = h_call_far;
			i->imm2 = zo[0].type == ZYDIS_OPERAND_TYPE_POINTER ? zo[0].ptr.segment : 0;
		} else {
			i->fn = o0->kind == OK_IMM ? h_call : h_call_ind;
		}
		return TERM;
	case ZYDIS_MNEMONIC_RET:
		i->fn = (zi->opcode == 0xca || zi->opcode == 0xcb) ? h_ret_far : h_ret;
		return TERM;
	case ZYDIS_MNEMONIC_IRET: case ZYDIS_MNEMONIC_IRETD:
		i->fn = h_iret;
		return TERM;
	case ZYDIS_MNEMONIC_INT: i->fn = h_int; return TERM;
	case ZYDIS_MNEMONIC_INT3: i->fn = h_int3; return TERM;
	case ZYDIS_MNEMONIC_INTO: i->fn = h_into; return TERM;
	case ZYDIS_MNEMONIC_LOOP: i->fn = h_loop; i->sub = 0; return TERM;
	case ZYDIS_MNEMONIC_LOOPE: i->fn = h_loop; i->sub = 1; return TERM;
	case ZYDIS_MNEMONIC_LOOPNE: i->fn = h_loop; i->sub = 2; return TERM;
	case ZYDIS_MNEMONIC_JCXZ: case ZYDIS_MNEMONIC_JECXZ: i->fn = h_jcxz; return TERM;
	case ZYDIS_MNEMONIC_PUSH: {
		int s = sreg_of(&zo[0]);
		if (s >= 0) {
			i->fn = h_push_sreg;
			i->sub = (uint8_t)s;
		} else if (is_reg32(o0) && i->osize == 4) {
			i->fn = h_push32_r;
		} else {
			i->fn = h_push;
			if (o0->kind == OK_IMM)
				i->op[0].disp = (uint32_t)zo[0].imm.value.u & mask_bits(i->osize * 8u);
		}
		return 0;
	}
	case ZYDIS_MNEMONIC_POP: {
		int s = sreg_of(&zo[0]);
		if (s >= 0) {
			if (s == S_CS)
				return -1;
			i->fn = h_pop_sreg;
			i->sub = (uint8_t)s;
			return TERM;
		}
		i->fn = is_reg32(o0) && i->osize == 4 ? h_pop32_r : h_pop;
		return 0;
	}
	case ZYDIS_MNEMONIC_LDS: i->fn = h_lxs; i->sub = S_DS; return 0;
	case ZYDIS_MNEMONIC_LES: i->fn = h_lxs; i->sub = S_ES; return 0;
	case ZYDIS_MNEMONIC_LFS: i->fn = h_lxs; i->sub = S_FS; return 0;
	case ZYDIS_MNEMONIC_LGS: i->fn = h_lxs; i->sub = S_GS; return 0;
	case ZYDIS_MNEMONIC_LSS: i->fn = h_lxs; i->sub = S_SS; return TERM;
	case ZYDIS_MNEMONIC_IMUL:
		i->fn = i->nops == 1 ? h_imul1 : h_imul2;
		return 0;
	case ZYDIS_MNEMONIC_BT: i->fn = h_bt; i->sub = 0; return 0;
	case ZYDIS_MNEMONIC_BTS: i->fn = h_bt; i->sub = 1; return 0;
	case ZYDIS_MNEMONIC_BTR: i->fn = h_bt; i->sub = 2; return 0;
	case ZYDIS_MNEMONIC_BTC: i->fn = h_bt; i->sub = 3; return 0;
	case ZYDIS_MNEMONIC_XLAT:
		i->fn = h_xlat;
		i->op[0].seg = (uint8_t)first_mem_seg(zi, zo, false);
		return 0;
	default:
		break;
	}
	static const struct {
		ZydisMnemonic m;
		insn_fn fn;
		int term;
	} simple[] = {
		{ ZYDIS_MNEMONIC_NOP, h_nop, 0 }, { ZYDIS_MNEMONIC_PAUSE, h_nop, 0 },
		{ ZYDIS_MNEMONIC_ENDBR32, h_nop, 0 }, { ZYDIS_MNEMONIC_PREFETCHNTA, h_nop, 0 },
		{ ZYDIS_MNEMONIC_PREFETCHT0, h_nop, 0 }, { ZYDIS_MNEMONIC_PREFETCHT1, h_nop, 0 },
		{ ZYDIS_MNEMONIC_PREFETCHT2, h_nop, 0 },
		{ ZYDIS_MNEMONIC_INC, h_inc, 0 }, { ZYDIS_MNEMONIC_DEC, h_dec, 0 },
		{ ZYDIS_MNEMONIC_NEG, h_neg, 0 }, { ZYDIS_MNEMONIC_NOT, h_not, 0 },
		{ ZYDIS_MNEMONIC_SHLD, h_shld, 0 }, { ZYDIS_MNEMONIC_SHRD, h_shrd, 0 },
		{ ZYDIS_MNEMONIC_MUL, h_mul1, 0 }, { ZYDIS_MNEMONIC_DIV, h_div, 0 },
		{ ZYDIS_MNEMONIC_IDIV, h_idiv, 0 }, { ZYDIS_MNEMONIC_BSF, h_bsf, 0 },
		{ ZYDIS_MNEMONIC_BSR, h_bsr, 0 }, { ZYDIS_MNEMONIC_XCHG, h_xchg, 0 },
		{ ZYDIS_MNEMONIC_CMPXCHG, h_cmpxchg, 0 }, { ZYDIS_MNEMONIC_XADD, h_xadd, 0 },
		{ ZYDIS_MNEMONIC_CMPXCHG8B, h_cmpxchg8b, 0 }, { ZYDIS_MNEMONIC_BSWAP, h_bswap, 0 },
		{ ZYDIS_MNEMONIC_MOVZX, h_movzx, 0 }, { ZYDIS_MNEMONIC_MOVSX, h_movsx, 0 },
		{ ZYDIS_MNEMONIC_LEA, h_lea, 0 }, { ZYDIS_MNEMONIC_CBW, h_cbw, 0 },
		{ ZYDIS_MNEMONIC_CWDE, h_cbw, 0 }, { ZYDIS_MNEMONIC_CWD, h_cwd, 0 },
		{ ZYDIS_MNEMONIC_CDQ, h_cwd, 0 }, { ZYDIS_MNEMONIC_DAA, h_daa, 0 },
		{ ZYDIS_MNEMONIC_DAS, h_das, 0 }, { ZYDIS_MNEMONIC_AAA, h_aaa, 0 },
		{ ZYDIS_MNEMONIC_AAS, h_aas, 0 }, { ZYDIS_MNEMONIC_AAM, h_aam, 0 },
		{ ZYDIS_MNEMONIC_AAD, h_aad, 0 }, { ZYDIS_MNEMONIC_LAHF, h_lahf, 0 },
		{ ZYDIS_MNEMONIC_SAHF, h_sahf, 0 }, { ZYDIS_MNEMONIC_CLC, h_clc, 0 },
		{ ZYDIS_MNEMONIC_STC, h_stc, 0 }, { ZYDIS_MNEMONIC_CMC, h_cmc, 0 },
		{ ZYDIS_MNEMONIC_CLD, h_cld, 0 }, { ZYDIS_MNEMONIC_STD, h_std, 0 },
		{ ZYDIS_MNEMONIC_SALC, h_salc, 0 }, { ZYDIS_MNEMONIC_BOUND, h_bound, 0 },
		{ ZYDIS_MNEMONIC_PUSHA, h_pusha, 0 }, { ZYDIS_MNEMONIC_PUSHAD, h_pusha, 0 },
		{ ZYDIS_MNEMONIC_POPA, h_popa, 0 }, { ZYDIS_MNEMONIC_POPAD, h_popa, 0 },
		{ ZYDIS_MNEMONIC_PUSHF, h_pushf, 0 }, { ZYDIS_MNEMONIC_PUSHFD, h_pushf, 0 },
		{ ZYDIS_MNEMONIC_POPF, h_popf, TERM }, { ZYDIS_MNEMONIC_POPFD, h_popf, TERM },
		{ ZYDIS_MNEMONIC_ENTER, h_enter, 0 }, { ZYDIS_MNEMONIC_LEAVE, h_leave, 0 },
		{ ZYDIS_MNEMONIC_HLT, h_hlt, TERM }, { ZYDIS_MNEMONIC_CLI, h_cli, 0 },
		{ ZYDIS_MNEMONIC_STI, h_sti, TERM }, { ZYDIS_MNEMONIC_IN, h_in, TERM },
		{ ZYDIS_MNEMONIC_OUT, h_out, TERM }, { ZYDIS_MNEMONIC_LGDT, h_lgdt, 0 },
		{ ZYDIS_MNEMONIC_LIDT, h_lidt, 0 }, { ZYDIS_MNEMONIC_SGDT, h_sgdt, 0 },
		{ ZYDIS_MNEMONIC_SIDT, h_sidt, 0 }, { ZYDIS_MNEMONIC_LLDT, h_lldt, 0 },
		{ ZYDIS_MNEMONIC_LTR, h_ltr, 0 }, { ZYDIS_MNEMONIC_SLDT, h_sldt, 0 },
		{ ZYDIS_MNEMONIC_STR, h_str, 0 }, { ZYDIS_MNEMONIC_SMSW, h_smsw, 0 },
		{ ZYDIS_MNEMONIC_LMSW, h_lmsw, TERM }, { ZYDIS_MNEMONIC_CLTS, h_clts, 0 },
		{ ZYDIS_MNEMONIC_INVLPG, h_invlpg, TERM }, { ZYDIS_MNEMONIC_RDMSR, h_rdmsr, 0 },
		{ ZYDIS_MNEMONIC_WRMSR, h_wrmsr, TERM }, { ZYDIS_MNEMONIC_CPUID, h_cpuid, 0 },
		{ ZYDIS_MNEMONIC_RDTSC, h_rdtsc, 0 }, { ZYDIS_MNEMONIC_SYSENTER, h_sysenter, TERM },
		{ ZYDIS_MNEMONIC_SYSEXIT, h_sysexit, TERM }, { ZYDIS_MNEMONIC_LAR, h_lar, 0 },
		{ ZYDIS_MNEMONIC_LSL, h_lsl, 0 }, { ZYDIS_MNEMONIC_VERR, h_verr, 0 },
		{ ZYDIS_MNEMONIC_VERW, h_verw, 0 }, { ZYDIS_MNEMONIC_ARPL, h_arpl, 0 },
		{ ZYDIS_MNEMONIC_WBINVD, h_wbinvd, 0 }, { ZYDIS_MNEMONIC_INVD, h_wbinvd, 0 },
		{ ZYDIS_MNEMONIC_UD2, h_ud, TERM }, { ZYDIS_MNEMONIC_UD0, h_ud, TERM },
		{ ZYDIS_MNEMONIC_UD1, h_ud, TERM }, { ZYDIS_MNEMONIC_FWAIT, h_fwait, 0 },
		/* No CPU model reports RDTSCP (CPUID 0x80000001 EDX bit 27): #UD,
		 * as on such a CPU, and not counted as unimplemented. */
		{ ZYDIS_MNEMONIC_RDTSCP, h_ud, TERM },
	};
	for (size_t k = 0; k < sizeof simple / sizeof simple[0]; k++)
		if (simple[k].m == m) {
			i->fn = simple[k].fn;
			return simple[k].term;
		}
	return -1;
}

/*
 * The x87 escapes D8-DF: one handler (exec_fpu.c) that works from the
 * opcode and ModRM bytes as the hardware does. i->sub = opcode & 7,
 * i->imm2 = ModRM, i->op[0] = the memory operand if any, i->osize = 2
 * when FSTENV/FLDENV/FSAVE/FRSTOR use their 16-bit formats.
 */
static int fpu_insn(const ZydisDecodedInstruction *zi, const ZydisDecodedOperand *zo,
		    struct insn *i)
{
	i->fn = h_fpu;
	i->sub = zi->opcode & 7;
	i->imm2 = (uint32_t)(zi->raw.modrm.mod << 6 | zi->raw.modrm.reg << 3 | zi->raw.modrm.rm);
	bool mode16 = zi->machine_mode == ZYDIS_MACHINE_MODE_LEGACY_16;
	bool p66 = (zi->attributes & ZYDIS_ATTRIB_HAS_OPERANDSIZE) != 0;
	i->osize = mode16 != p66 ? 2 : 4;
	memset(i->op, 0, sizeof i->op);
	for (unsigned k = 0; k < zi->operand_count; k++)
		if (zo[k].type == ZYDIS_OPERAND_TYPE_MEMORY) {
			if (!conv_op(zi, &zo[k], &i->op[0])) {
				i->fn = h_unimpl;
				return TERM;
			}
			break;
		}
	return 0;
}

/* Fills *i from Zydis' output; returns TERM if the block must end. */
static int insn_from_zydis(const ZydisDecodedInstruction *zi, const ZydisDecodedOperand *zo,
			   struct insn *i)
{
	memset(i, 0, sizeof *i);
	i->len = zi->length;
	i->osize = (uint8_t)(zi->operand_width / 8);
	i->asize = (uint8_t)(zi->address_width / 8);
	i->mnem = (uint16_t)zi->mnemonic;
	unsigned n = zi->operand_count_visible;
	if (n > 3)
		n = 3;
	i->nops = (uint8_t)n;
	bool ok = true;
	for (unsigned k = 0; k < n; k++)
		ok = conv_op(zi, &zo[k], &i->op[k]) && ok;
	if (zi->opcode_map == ZYDIS_OPCODE_MAP_DEFAULT && (zi->opcode & 0xf8) == 0xd8) {
		int t = fpu_insn(zi, zo, i);
		fast_form(i); /* a general handler: its entry sets EIP */
		return t;
	}
	/* MMX and SSE mnemonics have no handler here: they fall through to
	 * h_unimpl (#UD, counted), as CPUID promises. */
	int r = -1;
	if (ok)
		r = select_handler(zi, zo, i);
	if (r < 0) {
		i->fn = h_unimpl;
		fast_form(i);
		return TERM;
	}
	fast_form(i);
	return r;
}

/* Bytes that are no instruction: #UD, or #GP(0) past the 15-byte limit
 * (a run of redundant prefixes), as the CPU raises them. */
static void undecodable(struct insn *i, ZyanStatus st)
{
	memset(i, 0, sizeof *i);
	i->fn = st == ZYDIS_STATUS_INSTRUCTION_TOO_LONG ? h_too_long : h_ud;
	i->len = 1;
	fast_form(i);
}

static void block_link(struct cpu *c, struct block *b)
{
	struct decode_cache *dc = c->dc;
	unsigned h = hash_of(b->phys);
	b->hnext = dc->hash[h];
	dc->hash[h] = b;
	uint32_t p1 = b->phys >> 12;
	b->pnext = dc->page_head[p1];
	dc->page_head[p1] = b;
	page_mark_code(c, b->phys);
	if (b->phys2 != PHYS_NONE) {
		uint32_t p2 = b->phys2 >> 12;
		b->pnext2 = dc->page_head[p2];
		dc->page_head[p2] = b;
		page_mark_code(c, b->phys2);
	}
}

/* Physical address of a code byte, translating for execution; *ram says
 * whether the whole page is RAM (else it is fetched through the MMIO bus). */
static uint32_t code_phys(struct cpu *c, uint32_t lin, bool *ram)
{
	unsigned idx = (lin >> 12) & (TLB_SIZE - 1);
	*ram = true;
	if (likely(c->tlb[idx].tag_r == (lin & ~0xfffu)))
		return c->tlb_phys[c->cpl == 3][idx] | (lin & 0xfff);
	uint32_t pa;
	if (!tlb_fill(c, lin, false, c->cpl == 3, &pa)) {
		if (c->strict_mem) {
			c->cr2 = lin;
			cpu_raise(c, EXC_PF, c->cpl == 3 ? PF_U : 0);
		}
		*ram = false;
	}
	return pa;
}

static uint32_t code_phys_ram(struct cpu *c, uint32_t lin)
{
	bool ram;
	uint32_t pa = code_phys(c, lin, &ram);
	if (!ram)
		cpu_exit_now(c, EXIT_ERROR, "instruction crosses from RAM into non-RAM");
	return pa;
}

/*
 * Code outside RAM (ROM, a wild jump): fetch one instruction's bytes
 * through the MMIO bus, as the hardware would (unclaimed addresses read
 * as 0xff), and run it from a scratch block that is never cached.
 */
static struct block *block_from_mmio(struct cpu *c, uint32_t pa)
{
	struct decode_cache *dc = c->dc;
	struct block *b = (struct block *)dc->scratch;
	uint8_t buf[16];
	for (unsigned k = 0; k < sizeof buf; k++)
		buf[k] = (uint8_t)phys_read(c, pa + k, 1);
	memset(b, 0, sizeof *b);
	b->phys = pa;
	b->phys2 = PHYS_NONE;
	b->n = 1;
	ZydisDecodedInstruction zi;
	ZydisDecodedOperand zo[ZYDIS_MAX_OPERAND_COUNT];
	const ZydisDecoder *dec = c->code16 ? &dc->dec16 : &dc->dec32;
	ZyanStatus st = ZydisDecoderDecodeFull(dec, buf, 15, &zi, zo);
	if (ZYAN_SUCCESS(st)) {
		insn_from_zydis(&zi, zo, &b->insns[0]);
	} else {
		undecodable(&b->insns[0], st);
	}
	b->bytes = b->insns[0].len;
	b->insns[0].next_off = b->bytes;
	return b;
}

/* For each Jcc or JMP fast form whose target is a later instruction of
 * the same block, that instruction's index in imm2 (exec_fast.c's f_jcc_*,
 * f_jmp). Offsets are from the block's start, so this holds at whatever
 * EIP the block runs; the target is on the block's own pages. 32-bit code
 * only (16-bit code wraps EIP at 64 KiB). */
static void block_link_local_jumps(struct block *b)
{
	if (b->code16)
		return;
	for (unsigned j = 0; j < b->n; j++) {
		struct insn *i = &b->insns[j];
		if (!fast_jcc(i->fn) && !fast_jmp(i->fn))
			continue;
		uint32_t target = (uint32_t)i->next_off + i->op[0].disp;
		for (unsigned k = j + 1; k < b->n; k++)
			if (b->insns[k - 1].next_off == target) {
				i->imm2 = k;
				break;
			}
	}
}

static struct block *block_build(struct cpu *c, uint32_t lin, uint32_t pa)
{
	struct decode_cache *dc = c->dc;
	if (dc->used + BLOCK_BYTES_MAX > dc->arena_size)
		decode_flush_all(c);
	struct block *b = (struct block *)(dc->arena + dc->used);
	memset(b, 0, sizeof *b);
	b->phys = pa;
	b->phys2 = PHYS_NONE;
	b->code16 = c->code16;
	b->valid = 1;
	const ZydisDecoder *dec = c->code16 ? &dc->dec16 : &dc->dec32;
	uint32_t off = 0;
	while (b->n < BLOCK_MAX_INSNS) {
		uint32_t page_off = (pa + off) & 0xfff;
		if (off && page_off == 0)
			break; /* the next instruction is on another page */
		ZydisDecodedInstruction zi;
		ZydisDecodedOperand zo[ZYDIS_MAX_OPERAND_COUNT];
		uint32_t avail = 0x1000 - page_off;
		ZyanStatus st = ZydisDecoderDecodeFull(dec, c->ram + pa + off, avail, &zi, zo);
		if (st == ZYDIS_STATUS_NO_MORE_DATA) {
			if (b->n)
				break; /* decoded alone next time, as its own block */
			uint8_t buf[16];
			uint32_t pa2 = code_phys_ram(c, (lin & ~0xfffu) + 0x1000) & ~0xfffu;
			memcpy(buf, c->ram + pa, avail);
			memcpy(buf + avail, c->ram + pa2, sizeof buf - avail);
			st = ZydisDecoderDecodeFull(dec, buf, sizeof buf - 1, &zi, zo);
			b->phys2 = pa2;
		}
		struct insn *i = &b->insns[b->n++];
		int term;
		if (!ZYAN_SUCCESS(st)) {
			undecodable(i, st);
			term = TERM;
		} else {
			term = insn_from_zydis(&zi, zo, i);
		}
		off += i->len;
		i->next_off = (uint16_t)off;
		if (term || lin + off == c->stop_eip + c->seg[S_CS].base || b->phys2 != PHYS_NONE)
			break;
	}
	b->bytes = (uint16_t)off;
	block_link_local_jumps(b);
	for (unsigned k = 0; k + 1 < b->n; k++)
		fuse_cmp_jcc(&b->insns[k], &b->insns[k + 1]);
	dc->used += (sizeof *b + b->n * sizeof(struct insn) + 15) & ~(size_t)15;
	block_link(c, b);
	return b;
}

static struct block *block_lookup_slow(struct cpu *c);

/* The jump cache's slow path (decode.h's block_find takes the hits): find
 * the block through the translation and the hash, and remember it. */
struct block *block_lookup(struct cpu *c)
{
	struct block *b = block_lookup_slow(c);
	if (b->valid) {
		struct jc_entry *e = jc_slot(c, c->eip);
		e->eip = c->eip;
		e->cs_base = c->seg[S_CS].base;
		e->tag = jc_tag(c);
		e->b = b;
	}
	return b;
}

static struct block *block_lookup_slow(struct cpu *c)
{
	if (unlikely(c->eip > c->seg[S_CS].limit))
		cpu_raise(c, EXC_GP, 0);
	uint32_t lin = c->seg[S_CS].base + c->eip;
	bool ram;
	uint32_t pa = code_phys(c, lin, &ram);
	if (!ram)
		return block_from_mmio(c, pa);
	struct block *b = c->dc->hash[hash_of(pa)];
	for (; b; b = b->hnext) {
		if (b->phys != pa || b->code16 != c->code16)
			continue;
		if (b->phys2 != PHYS_NONE &&
		    (code_phys_ram(c, (lin & ~0xfffu) + 0x1000) & ~0xfffu) != b->phys2)
			continue;
		break;
	}
	if (!b)
		b = block_build(c, lin, pa);
	if (unlikely(c->eip + b->bytes - 1 > c->seg[S_CS].limit && c->seg[S_CS].limit != 0xffffffffu))
		cpu_raise(c, EXC_GP, 0);
	return b;
}
