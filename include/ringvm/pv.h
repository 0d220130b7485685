/*
 * ringvm's paravirtual ABI, version 1: what a guest kernel calls instead of
 * executing a sensitive instruction. Shared by the VMM and PV guests, so it
 * is plain C with fixed-size types and nothing of the VMM's internals.
 * docs/08-paravirt.md explains it; this file is the contract.
 *
 * Detection: CPUID leaf 0x40000000 returns the signature "RingVMRingVM" in
 * EBX, ECX, EDX and the highest PV leaf in EAX. Leaf 0x40000001 returns
 * EAX = ABI version, EBX = the doorbell port, ECX = feature bits, EDX = the
 * longest page-table batch. Without the signature the guest is on a plain
 * PC (QEMU, real hardware) and must use the instructions themselves.
 *
 * A hypercall: EAX = call number, arguments in EBX, ECX, EDX, ESI, EDI,
 * then `out %eax, $RINGVM_PV_PORT` from CPL 0 (only a 32-bit OUT rings: IN
 * and 8/16-bit accesses are unclaimed port accesses). The result comes back in
 * EAX: >= 0 on success (0 unless the call says otherwise), or a negative
 * RINGVM_E* code. Other registers are preserved. The port doorbell is the
 * one instruction every engine turns into a VMM call: the emulator executes
 * OUT, trap-and-emulate faults on it (IOPL 0), KVM exits to user space on
 * it (it would answer VMCALL itself), and a translator rewrites it.
 * Pointers are guest-linear addresses in the current address space, except
 * page-table entries, which are named by guest-physical address.
 */
#ifndef RINGVM_PV_H
#define RINGVM_PV_H

#include <stdint.h>

#define RINGVM_PV_VERSION 1u
#define RINGVM_PV_CPUID_BASE 0x40000000u  /* EAX = highest leaf; signature */
#define RINGVM_PV_CPUID_INFO 0x40000001u  /* version, port, features, batch */
#define RINGVM_PV_SIG_EBX 0x676e6952u     /* "Ring" */
#define RINGVM_PV_SIG_ECX 0x69524d56u     /* "VMRi" */
#define RINGVM_PV_SIG_EDX 0x4d56676eu     /* "ngVM" */
#define RINGVM_PV_PORT 0xe4u              /* the doorbell: OUT imm8, EAX */

/* Feature bits (leaf 0x40000001 ECX). */
#define RINGVM_PV_F_SHARED 0x1u  /* shared page: virtual IF, pending events */
#define RINGVM_PV_F_CLOCK 0x2u   /* pvclock record in the shared page */
#define RINGVM_PV_F_MMU 0x4u     /* page tables, CR3, TLB through calls */

#define RINGVM_PV_MMU_BATCH_MAX 512u /* entries per RINGVM_HC_MMU_UPDATE */
#define RINGVM_PV_CONSOLE_MAX 4096u  /* bytes per RINGVM_HC_CONSOLE_WRITE */

/* Errors (negated in EAX). */
#define RINGVM_EPERM 1    /* not from CPL 0 */
#define RINGVM_EFAULT 14  /* a pointer or address outside what the guest owns */
#define RINGVM_EINVAL 22  /* a bad argument: descriptor, selector, flag */
#define RINGVM_E2BIG 7    /* a batch or buffer longer than the maximum */
#define RINGVM_ENOSYS 38  /* no such call, or not on this engine */

enum ringvm_hypercall {
	RINGVM_HC_VERSION = 0,	     /* -> RINGVM_PV_VERSION */
	RINGVM_HC_CONSOLE_WRITE = 1, /* EBX buf, ECX len -> len */
	RINGVM_HC_SHUTDOWN = 2,	     /* EBX status: ends the VM, exit (status << 1) | 1 */
	RINGVM_HC_HALT = 3,	     /* enable virtual IF and wait for an event (sti; hlt) */
	RINGVM_HC_SET_SHARED = 4,    /* EBX guest-physical page of struct ringvm_pv_shared */
	RINGVM_HC_EVENT = 5,	     /* virtual IF is back on and an event is pending: take it */
	RINGVM_HC_SET_IDT = 6,	     /* EBX base, ECX limit (LIDT) */
	RINGVM_HC_SET_GDT = 7,	     /* EBX base, ECX limit (LGDT): descriptors validated */
	RINGVM_HC_SET_LDT = 8,	     /* EBX selector of an LDT descriptor, or 0 (LLDT) */
	RINGVM_HC_LOAD_TR = 9,	     /* EBX selector of an available 32-bit TSS (LTR) */
	RINGVM_HC_SET_KSTACK = 10,   /* EBX SS0, ECX ESP0 of the current TSS */
	RINGVM_HC_SET_CR3 = 11,	     /* EBX page directory, guest-physical (MOV CR3) */
	RINGVM_HC_MMU_UPDATE = 12,   /* EBX list of struct ringvm_pv_mmu_op, ECX count -> count */
	RINGVM_HC_TLB_FLUSH = 13,    /* EBX linear address, or RINGVM_FLUSH_ALL (INVLPG) */
	RINGVM_HC_IRET = 14,	     /* EBX struct ringvm_pv_iret_frame: to CPL 3 only */
	RINGVM_HC_READ_STATE = 15,   /* EBX struct ringvm_pv_sysregs to fill (SGDT...) */
	RINGVM_HC_COUNT
};

#define RINGVM_FLUSH_ALL 0xffffffffu /* TLB_FLUSH EBX: every translation */

/* One entry of a RINGVM_HC_MMU_UPDATE batch (Xen's mmu_update): a
 * page-table write *pte_gpa = val, pte_gpa 4-byte aligned and in guest
 * RAM; or, with pte_gpa = RINGVM_MMU_INVLPG, a TLB flush of the linear
 * page val. Entries run in order; the whole batch is checked first and
 * nothing is done if one entry is bad. */
struct ringvm_pv_mmu_op {
	uint32_t pte_gpa;
	uint32_t val;
};
#define RINGVM_MMU_INVLPG 1u

/* What RINGVM_HC_IRET pops: a return to CPL 3 (Xen's iret). CS and SS must
 * be DPL 3 code and writable data selectors with RPL 3; EFLAGS.IOPL, VM
 * and NT are cleared, IF is set. */
struct ringvm_pv_iret_frame {
	uint32_t eip, cs, eflags, esp, ss;
};

/* RINGVM_HC_READ_STATE: the privileged state a kernel would read with
 * SGDT, SIDT, SLDT, STR, SMSW, MOV from CS/SS/CR0/CR3 and PUSHF. */
struct ringvm_pv_sysregs {
	uint32_t gdt_base, idt_base;
	uint16_t gdt_limit, idt_limit;
	uint16_t ldtr, tr, cs, ss;
	uint32_t cr0, cr3, eflags;
};

/*
 * The time record (KVM's pvclock): ns = system_ns +
 * (((tsc - tsc_timestamp) << tsc_shift) * tsc_to_system_mul >> 32), with a
 * negative shift meaning >>. The VMM makes version odd while it writes;
 * a reader retries while version is odd or changed across its read.
 */
struct ringvm_pv_clock {
	uint32_t version;
	uint32_t tsc_to_system_mul;
	uint64_t tsc_timestamp;
	uint64_t system_ns; /* ns since the VM started, at tsc_timestamp */
	int8_t tsc_shift;
	uint8_t pad[7];
};

/*
 * The shared page (Xen's shared info, lguest's lguest_data): one guest page
 * registered with RINGVM_HC_SET_SHARED. irq_masked is the virtual IF
 * (1 = interrupts off): the guest writes it with a plain store. While it is
 * 1 the VMM holds interrupts back and sets irq_pending; after clearing it
 * the guest checks irq_pending and calls RINGVM_HC_EVENT only if it is set.
 * EFLAGS.IF itself belongs to the VMM once the page is registered: it is 1
 * outside interrupt handlers (HALT, EVENT and IRET set it).
 */
struct ringvm_pv_shared {
	volatile uint8_t irq_masked;  /* guest writes */
	volatile uint8_t irq_pending; /* VMM writes */
	uint8_t pad[6];
	struct ringvm_pv_clock clock; /* VMM writes */
};

#endif
