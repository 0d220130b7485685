/*
 * The architectural state of one 32-bit x86 vCPU, as the VMM exchanges it
 * with an engine (loader entry state, register dumps, engine switches).
 * Field layout follows the hardware's own encodings so that engines can
 * index it directly: gpr[] in ModRM order, seg[] in Sreg order.
 */
#ifndef RINGVM_CPUSTATE_H
#define RINGVM_CPUSTATE_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

enum gpr { R_EAX, R_ECX, R_EDX, R_EBX, R_ESP, R_EBP, R_ESI, R_EDI, GPR_COUNT };
enum sreg { S_ES, S_CS, S_SS, S_DS, S_FS, S_GS, SREG_COUNT };

/* A segment register's hidden part, the same fields as struct kvm_segment. */
struct seg {
	uint16_t sel;
	uint32_t base;
	uint32_t limit;	/* byte granular: already scaled when G=1 */
	uint8_t type;	/* descriptor type field (4 bits) */
	uint8_t s;	/* 1 = code/data, 0 = system */
	uint8_t dpl;
	uint8_t present;
	uint8_t db;	/* default operand size / big */
	uint8_t g;
	uint8_t avl;
	uint8_t unusable; /* loaded with a null selector */
};

struct dtr {
	uint32_t base;
	uint16_t limit;
};

#define EFLAGS_CF 0x00000001u
#define EFLAGS_FIXED 0x00000002u /* bit 1 always reads as 1 */
#define EFLAGS_PF 0x00000004u
#define EFLAGS_AF 0x00000010u
#define EFLAGS_ZF 0x00000040u
#define EFLAGS_SF 0x00000080u
#define EFLAGS_TF 0x00000100u
#define EFLAGS_IF 0x00000200u
#define EFLAGS_DF 0x00000400u
#define EFLAGS_OF 0x00000800u
#define EFLAGS_IOPL 0x00003000u
#define EFLAGS_NT 0x00004000u
#define EFLAGS_RF 0x00010000u
#define EFLAGS_VM 0x00020000u
#define EFLAGS_AC 0x00040000u
#define EFLAGS_ID 0x00200000u

#define CR0_PE 0x00000001u
#define CR0_MP 0x00000002u
#define CR0_EM 0x00000004u
#define CR0_TS 0x00000008u
#define CR0_ET 0x00000010u
#define CR0_NE 0x00000020u
#define CR0_WP 0x00010000u
#define CR0_AM 0x00040000u
#define CR0_NW 0x20000000u
#define CR0_CD 0x40000000u
#define CR0_PG 0x80000000u

#define CR4_VME 0x00000001u
#define CR4_PVI 0x00000002u
#define CR4_TSD 0x00000004u
#define CR4_DE 0x00000008u
#define CR4_PSE 0x00000010u
#define CR4_PAE 0x00000020u
#define CR4_PGE 0x00000080u
#define CR4_OSFXSR 0x00000200u

struct cpu_state {
	uint32_t gpr[GPR_COUNT];
	uint32_t eip;
	uint32_t eflags;
	struct seg seg[SREG_COUNT];
	struct seg ldtr, tr;
	struct dtr gdtr, idtr;
	uint32_t cr0, cr2, cr3, cr4;
	uint64_t efer;
	uint64_t tsc;
	uint32_t sysenter_cs, sysenter_esp, sysenter_eip;
	/* The x87 state as a 32-bit protected-mode FSAVE image (FCW FSW FTW
	 * FIP FCS/FOP FDP FDS, ST0-ST7); see cpu_state_fpu_init. */
	uint8_t fpu[108];
};

/* A flat 4 GiB code/data segment (base 0, G=1, 32-bit), as loaded from a
 * descriptor with the accessed bit set: type 0xb code, 0x3 data. */
void cpu_state_flat_seg(struct seg *s, uint16_t sel, uint8_t type, uint8_t dpl);

/* The state a Multiboot v1 loader hands over: 32-bit flat protected mode. */
void cpu_state_multiboot_entry(struct cpu_state *s, uint32_t entry, uint32_t mbi);

/* The x87 state after FNINIT (control word 0x37f, all registers empty). */
void cpu_state_fpu_init(struct cpu_state *s);

/* Prints every register, one block, for triple faults and fatal errors. */
void cpu_state_dump(const struct cpu_state *s, FILE *out);

#endif
