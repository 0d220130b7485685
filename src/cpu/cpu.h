/*
 * The shared x86 (IA-32, protected mode) CPU core: architectural state,
 * memory access through segmentation and paging, exception delivery and
 * the instruction emulator. Software engines (interp, and later trap and
 * bt as their fallback) own one struct cpu per vCPU.
 *
 * Exceptions unwind with longjmp to the run loop (cpu_run): a handler never
 * has to test for faults, it only has to do every access that can fault
 * before it changes any architectural state.
 */
#ifndef RINGVM_CPU_H
#define RINGVM_CPU_H

#include <setjmp.h>
#include <stdbool.h>
#include <stdint.h>
#include <string.h>

#include "vm/cpustate.h"
#include "vm/exit.h"

#define likely(x) __builtin_expect(!!(x), 1)
#define unlikely(x) __builtin_expect(!!(x), 0)

struct vcpu;
struct vm;
struct insn;
struct block;
struct decode_cache;
struct jc_entry;
struct cpu_model;

/* Exception vectors. */
enum {
	EXC_DE = 0, EXC_DB = 1, EXC_NMI = 2, EXC_BP = 3, EXC_OF = 4, EXC_BR = 5,
	EXC_UD = 6, EXC_NM = 7, EXC_DF = 8, EXC_TS = 10, EXC_NP = 11, EXC_SS = 12,
	EXC_GP = 13, EXC_PF = 14, EXC_MF = 16, EXC_AC = 17,
};

/* #PF error code bits. */
#define PF_P 1u
#define PF_W 2u
#define PF_U 4u

/* The software TLB: one per privilege class (supervisor/user), because
 * the same linear page can be accessible to one and not the other. */
#define TLB_BITS 10
#define TLB_SIZE (1u << TLB_BITS)
#define TLB_INVALID 1u /* never equals a page-aligned tag */

struct tlb_entry {
	uint32_t tag_r;	 /* linear page if readable through this entry */
	uint32_t tag_w;	 /* linear page if writable (D already set, no code) */
	uintptr_t addend; /* host pointer = addend + linear address */
};
/* 16 bytes: an index scales by an addressing mode. The physical page of
 * each entry (for code pages) is kept apart, in tlb_phys, where
 * tlb_drop_phys scans it as one dense array. */

/* Lazy EFLAGS: the arithmetic flags are computed from the last result
 * only when something reads them. */
enum lazy_op {
	LF_NONE,  /* eflags holds the arithmetic flags */
	LF_ADD, LF_SUB, LF_ADC, LF_SBB, LF_LOGIC, LF_INC, LF_DEC,
	LF_CO,    /* shifts, multiplies: SF ZF PF from lf_res, CF = lf_a bit 0,
		   * OF = lf_a bit 1, AF clear */
};

#define EFLAGS_ARITH (EFLAGS_CF | EFLAGS_PF | EFLAGS_AF | EFLAGS_ZF | EFLAGS_SF | EFLAGS_OF)

/* What a handler sees when it accesses memory as a segment:offset. */
#define SEGF_READ 1u  /* flat for reads: base 0, limit 4G, readable */
#define SEGF_WRITE 2u /* flat for writes */
/* Any base, limit 4 GiB, expand-up, usable for reads / writes: no limit
 * check can fail, so the linear address is base + offset (Linux's per-CPU
 * FS segment is one: a base, and the 4 GiB limit). */
#define SEGF_READ_ANY 4u
#define SEGF_WRITE_ANY 8u

/* How an event reaches idt_deliver. */
enum event_kind { EV_EXCEPTION, EV_SOFT_INT, EV_EXTERNAL };

/* The core implements the x87 FPU (exec_fpu.c): CPUID may report fpu. */
#define CPU_CORE_HAS_X87 1

/* The x87 state (exec_fpu.c). img is the 108-byte image the host's own
 * FNSAVE writes (32-bit protected-mode format): control, status (with TOP)
 * and full tag word, and ST0-ST7, always in the host's canonical form
 * because only the host's FNSAVE writes it. Its pointer fields are
 * scratch: the guest's last instruction and operand pointers are below. */
#define FPU_IMG_SIZE 108
struct fpu {
	uint8_t img[FPU_IMG_SIZE];
	uint32_t fip, fdp; /* offsets, as the guest's FSTENV stores them */
	uint16_t fcs, fds, fop;
	bool ferr; /* FERR# asserted on IRQ13 (CR0.NE=0) */
};

/* Registers are a union so that 8/16-bit views alias legally; r32[8] is
 * an always-zero slot so that an absent base/index costs no branch. */
union regs {
	uint32_t r32[9];
	uint16_t r16[18];
	uint8_t r8[36];
};

struct cpu {
	union regs r;
	uint32_t eip;
	uint32_t eflags;
	uint32_t lf_res, lf_a, lf_b;
	uint8_t lf_op, lf_size; /* size in bytes: 1, 2, 4 */

	uint8_t cpl;
	uint8_t seg_flat[SREG_COUNT];
	bool code16; /* CS.D == 0 */
	bool stack16; /* SS.B == 0 */
	bool shadow;  /* interrupt shadow after STI / MOV SS / POP SS */
	bool db_inhibit; /* no single-step trap after this instruction (MOV SS, POP SS, INT n) */
	bool step_pending; /* a single-step trap to deliver before the next instruction */
	bool irq_check; /* the PIC may have something: look at the next boundary */

	struct seg seg[SREG_COUNT];
	struct seg ldtr, tr;
	struct dtr gdtr, idtr;
	uint32_t cr0, cr2, cr3, cr4;
	/* MOV to CR3 executed, same value or not: each flushes the TLB, which
	 * the native engines' shadows must follow (Linux flushes by reloading
	 * the same CR3). */
	uint32_t cr3_loads;
	uint64_t efer;
	int64_t tsc_offset;
	uint32_t sysenter_cs, sysenter_esp, sysenter_eip;
	uint32_t dr[8];
	const struct cpu_model *model; /* what CPUID and the MSRs describe (cpumodel.c) */
	bool kvmclock;		       /* KVM's kvm-clock leaves and MSRs offered (--cpu M,-kvmclock) */
	uint32_t features;	       /* its CPUID leaf 1 EDX on this core */
	uint64_t misc_enable, bios_sign_id;
	struct fpu fpu;

	struct tlb_entry *tlb; /* tlb_all[cpl == 3] */
	struct tlb_entry tlb_all[2][TLB_SIZE];
	uint32_t tlb_phys[2][TLB_SIZE]; /* physical page of tlb_all[u][i] */

	/* Guest physical memory. */
	uint8_t *ram;
	uint64_t ram_size;
	uint8_t *code_page; /* per RAM page: decoded blocks exist */
	/* Called after a write hit a page flagged in code_page (the decode
	 * cache has dropped its blocks): an engine keeping translations of
	 * its own (bt) drops them too. NULL when unused. */
	void (*code_written)(struct cpu *c, uint32_t phys_page_no);
	struct vcpu *vcpu;  /* NULL when run without a VM (emu_flat, tests) */
	volatile int *kick;
	bool strict_mem; /* non-RAM physical access raises #PF instead of MMIO */

	/* Exceptions. */
	jmp_buf jb;
	int exc_vec;
	uint32_t exc_err;
	bool exc_has_err;
	int delivering; /* vector being delivered (for #DF), or -1 */
	bool exc_return; /* hand exceptions back to the caller (emu_flat, tests) */

	/* Run state. */
	struct decode_cache *dc;
	struct jc_entry *jc; /* the decode cache's jump cache (decode.h) */
	uint32_t jc_gen;     /* multiples of 8: the low bits of a tag are the mode */
	const struct insn *cur;	   /* instruction executing */
	const struct insn *blk_end; /* set to NULL to end the block early */
	uint32_t stop_eip;	   /* ends runs there (emu_flat), or ~0 */
	uint64_t insns;
	int exit;		   /* enum exit_reason, or -1 while running */
	bool halted;
	char errmsg[160];
	uint64_t unimplemented; /* count, for runs without a VM */
	const struct insn *blk_start;
	uint32_t blk_eip; /* EIP of blk_start: the threaded handlers' NEXT */
	uint64_t insn_limit; /* cpu_run stops when insns reaches it */
};

/* --- cpustate.c / cpu.c --- */
int cpu_init(struct cpu *c, uint8_t *ram, uint64_t ram_size, struct vcpu *vcpu);
void cpu_fini(struct cpu *c);
void cpu_get_state(struct cpu *c, struct cpu_state *s);
void cpu_set_state(struct cpu *c, const struct cpu_state *s);
/* Runs until an exit, at most budget instructions (EXIT_NONE then). */
int cpu_run(struct cpu *c, uint64_t budget);
void cpu_mode_changed(struct cpu *c);

/* --- exceptions (idt.c) --- */
_Noreturn void cpu_raise(struct cpu *c, int vec, uint32_t err);
_Noreturn void cpu_raise_noerr(struct cpu *c, int vec);
_Noreturn void cpu_exit_now(struct cpu *c, int reason, const char *msg);
void idt_deliver(struct cpu *c, int vec, uint32_t err, bool has_err, enum event_kind kind,
		 uint32_t ret_eip);
void cpu_handle_exception(struct cpu *c);
/* IRET of operand size n (2 or 4) and length len at the current EIP, as
 * the instruction does it (raises the guest's faults). For engines that
 * know the instruction without decoding it (bt's gate.c). */
void cpu_iret(struct cpu *c, unsigned n, unsigned len);
/* Raises the single-step #DB trap (DR6.BS) at the current EIP, after an
 * instruction that began with EFLAGS.TF set. Only inside cpu_run: an
 * engine that saw the host single-step guest code sets step_pending. */
_Noreturn void cpu_single_step_trap(struct cpu *c);
void cpu_unimplemented(struct cpu *c, const char *what);
bool exc_has_error_code(int vec);

/* --- segmentation (seg.c) --- */
void seg_update_cache(struct cpu *c, int s);
uint32_t seg_check_slow(struct cpu *c, int s, uint32_t off, unsigned size, bool write);
void seg_load(struct cpu *c, int s, uint16_t sel);
bool desc_read(struct cpu *c, uint16_t sel, uint32_t d[2]);
void desc_read_or_fault(struct cpu *c, uint16_t sel, uint32_t d[2], int vec, uint32_t err);
void desc_to_seg(const uint32_t d[2], uint16_t sel, struct seg *sg);
void desc_set_accessed(struct cpu *c, uint16_t sel, uint32_t d[2]);
void seg_load_cs(struct cpu *c, uint16_t sel, const uint32_t d[2], int cpl);
void seg_load_ss_checked(struct cpu *c, uint16_t sel, int cpl, int vec_on_fail);
void seg_load_data_checked(struct cpu *c, int s, uint16_t sel, int vec_on_fail);
void seg_null_if_unusable(struct cpu *c, int new_cpl);
void cpu_set_cpl(struct cpu *c, int cpl);

/* --- real-address and virtual-8086 mode (realmode.c) --- */
static inline bool cpu_real_mode(const struct cpu *c)
{
	return !(c->cr0 & CR0_PE);
}

/* EFLAGS.VM is never lazy: c->eflags always holds it. */
static inline bool cpu_v86_mode(const struct cpu *c)
{
	return (c->eflags & EFLAGS_VM) != 0;
}

static inline unsigned cpu_iopl(const struct cpu *c)
{
	return (c->eflags >> 12) & 3;
}

/* Segment loads where selector = paragraph (real mode and v8086). */
void seg_load_real(struct cpu *c, int s, uint16_t sel);
/* INT n, exceptions and IRQs in real mode, through the IVT at IDTR.base. */
void real_deliver(struct cpu *c, int vec, enum event_kind kind, uint32_t ret_eip);
/* Far JMP/CALL/RET and IRET in real mode and in v8086 (IRET there only at
 * IOPL 3); n is the operand size. */
void real_far_jump(struct cpu *c, uint16_t sel, uint32_t off);
void real_far_call(struct cpu *c, unsigned n, uint16_t sel, uint32_t off, uint32_t ret);
void real_far_ret(struct cpu *c, unsigned n, uint32_t imm);
void real_iret(struct cpu *c, unsigned n);
/* IRET at CPL 0 whose popped EFLAGS has VM set: enters v8086 (v86.c). */
void v86_enter_by_iret(struct cpu *c);

/* --- TSS: task switches and the I/O permission bitmap (task.c) --- */
enum task_reason { TASK_JMP, TASK_CALL, TASK_IRET, TASK_INT };
/* Switches to the task whose TSS selector is sel. ret_eip is the EIP the
 * outgoing task resumes at; an exception through a task gate pushes its
 * error code on the new task's stack. ext: the EXT bit for error codes. */
void task_switch(struct cpu *c, uint16_t sel, enum task_reason why, uint32_t ret_eip,
		 bool has_err, uint32_t err, uint32_t ext);
/* IN/OUT/INS/OUTS: #GP(0) unless IOPL allows it or the TSS I/O bitmap
 * clears every bit of the ports [port, port + size). */
void io_port_check(struct cpu *c, uint16_t port, unsigned size);
/* SS:ESP for privilege level dpl from the current TSS, checked (#TS). */
void tss_stack_for(struct cpu *c, int dpl, uint32_t ext, uint16_t *ss_sel, uint32_t *esp,
		   struct seg *ss);

/* --- far JMP/CALL to a system descriptor: TSS, task gate, call gate (gates.c) --- */
void far_to_system(struct cpu *c, uint16_t sel, const uint32_t d[2], bool is_call,
		   uint32_t ret_eip);

/* --- paging and TLB (paging.c) --- */
void tlb_flush(struct cpu *c);
void tlb_flush_page(struct cpu *c, uint32_t lin);
void tlb_drop_phys(struct cpu *c, uint32_t phys_page);
uintptr_t tlb_fill(struct cpu *c, uint32_t lin, bool write, bool user, uint32_t *phys_out);
uint32_t paging_translate(struct cpu *c, uint32_t lin, bool write, bool user, bool fetch,
			  bool *writable);
/* Is lin mapped by a global page now (paging on, CR4.PGE, non-PAE, and the
 * G bit of its present PTE or 4 MiB PDE)? Reads the tables, sets nothing,
 * never raises. A TLB keeps such translations across CR3 writes. */
bool paging_global(const struct cpu *c, uint32_t lin);

/* --- physical and linear memory (mem.c) --- */
uint32_t phys_read(struct cpu *c, uint32_t pa, unsigned size);
void phys_write(struct cpu *c, uint32_t pa, unsigned size, uint32_t v);
uint32_t lin_read_slow(struct cpu *c, uint32_t lin, unsigned size, bool user, bool for_write);
void lin_write_slow(struct cpu *c, uint32_t lin, unsigned size, uint32_t v, bool user);
uint32_t sys_read(struct cpu *c, uint32_t lin, unsigned size);
void sys_write(struct cpu *c, uint32_t lin, unsigned size, uint32_t v);
/* Drops the core's own decoded copies of a physical page, which changed
 * behind its back (written natively), without telling the engine (whose
 * own copies are its business) and leaving the page flagged as code (an
 * engine may rely on the core reporting writes to it). */
void cpu_forget_code(struct cpu *c, uint32_t page_no);
void code_page_written(struct cpu *c, uint32_t phys_page_no);

static inline uint32_t load_n(const uint8_t *p, unsigned size)
{
	if (size == 4) {
		uint32_t v;
		memcpy(&v, p, 4);
		return v;
	}
	if (size == 2) {
		uint16_t v;
		memcpy(&v, p, 2);
		return v;
	}
	return *p;
}

static inline void store_n(uint8_t *p, unsigned size, uint32_t v)
{
	if (size == 4)
		memcpy(p, &v, 4);
	else if (size == 2) {
		uint16_t w = (uint16_t)v;
		memcpy(p, &w, 2);
	} else
		*p = (uint8_t)v;
}

static inline uint32_t seg_lin(struct cpu *c, int s, uint32_t off, unsigned size, bool write)
{
	uint8_t f = c->seg_flat[s];
	if (likely(f & (write ? SEGF_WRITE : SEGF_READ)))
		return off;
	/* seg_check_slow also refuses an access whose last byte wraps past
	 * 4 GiB in the offset: the same here. */
	if ((f & (write ? SEGF_WRITE_ANY : SEGF_READ_ANY)) && off <= ~(uint32_t)(size - 1))
		return c->seg[s].base + off;
	return seg_check_slow(c, s, off, size, write);
}

/* The TLB entry that may map lin (the one of its page). The byte offset
 * of the entry is computed directly, (lin >> 8) & 0x3ff0, so that a lookup
 * is a shift, a mask and a load with an index (one ALU step less on the
 * path of every guest memory access than an index scaled afterwards). */
_Static_assert(sizeof(struct tlb_entry) == 16, "tlb_entry_of scales by 16");
static inline const struct tlb_entry *tlb_entry_of(const struct cpu *c, uint32_t lin)
{
	return (const struct tlb_entry *)((const char *)c->tlb +
					  ((lin >> (12 - 4)) & ((TLB_SIZE - 1) << 4)));
}

/*
 * Does the TLB map the whole access [lin, lin + size) (size 1..4096) for
 * reading or writing? One compare: the entry is chosen by lin's page P and
 * compared with the page of the last byte. An entry at P's index holds a
 * page congruent to P modulo TLB_SIZE, so it equals the last byte's page
 * only if that page is P itself: an access that crosses into P + 1 always
 * misses, as it must (the second page needs its own check).
 */
static inline bool tlb_hit(const struct cpu *c, uint32_t lin, unsigned size, bool write,
			   uint8_t **p)
{
	const struct tlb_entry *e = tlb_entry_of(c, lin);
	uint32_t tag = write ? e->tag_w : e->tag_r;
	if (likely(tag == ((lin + size - 1) & ~0xfffu))) {
		*p = (uint8_t *)(e->addend + lin);
		return true;
	}
	return false;
}

static inline uint8_t *tlb_ptr(struct cpu *c, uint32_t lin, unsigned size, bool write)
{
	struct tlb_entry *e = &c->tlb[(lin >> 12) & (TLB_SIZE - 1)];
	uint32_t tag = write ? e->tag_w : e->tag_r;
	if (likely(tag == (lin & ~0xfffu) && (lin & 0xfff) <= 0x1000 - size))
		return (uint8_t *)(e->addend + lin);
	return NULL;
}

static inline uint32_t lin_read(struct cpu *c, uint32_t lin, unsigned size)
{
	uint8_t *p;
	if (likely(tlb_hit(c, lin, size, false, &p)))
		return load_n(p, size);
	return lin_read_slow(c, lin, size, c->cpl == 3, false);
}

static inline void lin_write(struct cpu *c, uint32_t lin, unsigned size, uint32_t v)
{
	uint8_t *p;
	if (likely(tlb_hit(c, lin, size, true, &p)))
		store_n(p, size, v);
	else
		lin_write_slow(c, lin, size, v, c->cpl == 3);
}

static inline uint32_t mem_read(struct cpu *c, int s, uint32_t off, unsigned size)
{
	return lin_read(c, seg_lin(c, s, off, size, false), size);
}

static inline void mem_write(struct cpu *c, int s, uint32_t off, unsigned size, uint32_t v)
{
	lin_write(c, seg_lin(c, s, off, size, true), size, v);
}

/* Checks that a write would succeed (for read-modify-write and for
 * multi-part writes that must not fault halfway). */
void mem_probe_write(struct cpu *c, int s, uint32_t off, unsigned size);

/* --- stack (exec_stack.c) --- */
void push(struct cpu *c, unsigned size, uint32_t v);
uint32_t pop(struct cpu *c, unsigned size);
uint32_t stack_peek(struct cpu *c, unsigned size, uint32_t depth);

static inline uint32_t sp_get(struct cpu *c)
{
	return c->stack16 ? c->r.r16[R_ESP * 2] : c->r.r32[R_ESP];
}

static inline void sp_set(struct cpu *c, uint32_t v)
{
	if (c->stack16)
		c->r.r16[R_ESP * 2] = (uint16_t)v;
	else
		c->r.r32[R_ESP] = v;
}

/* --- flags (alu.c) --- */
uint32_t flags_arith(const struct cpu *c);
bool cond_eval(const struct cpu *c, unsigned cc);

static inline uint32_t flags_get(struct cpu *c)
{
	if (c->lf_op == LF_NONE)
		return c->eflags;
	return (c->eflags & ~EFLAGS_ARITH) | flags_arith(c);
}

/* Makes eflags hold every flag (before a handler edits flags directly). */
static inline void flags_materialize(struct cpu *c)
{
	if (c->lf_op != LF_NONE) {
		c->eflags = (c->eflags & ~EFLAGS_ARITH) | flags_arith(c);
		c->lf_op = LF_NONE;
	}
}

static inline void flags_lazy(struct cpu *c, unsigned op, unsigned size, uint32_t res,
			      uint32_t a, uint32_t b)
{
	c->lf_op = (uint8_t)op;
	c->lf_size = (uint8_t)size;
	c->lf_res = res;
	c->lf_a = a;
	c->lf_b = b;
}

/* Writes EFLAGS as POPF/IRET do: only the bits allowed at this CPL/IOPL. */
void eflags_write(struct cpu *c, uint32_t v, uint32_t mask);

/* --- system (sys.c) --- */
void cr0_write(struct cpu *c, uint32_t v);
void cr3_write(struct cpu *c, uint32_t v);
void cr4_write(struct cpu *c, uint32_t v);
uint64_t tsc_read(struct cpu *c);
void cpuid_query(struct cpu *c, uint32_t leaf, uint32_t sub, uint32_t out[4]);
/* Model-specific registers as the model has them (msr.c): false means
 * the MSR does not exist there or refuses the value (#GP). */
bool msr_read(struct cpu *c, uint32_t idx, uint64_t *v);
bool msr_write(struct cpu *c, uint32_t idx, uint64_t v);
/* Selects the CPU model by name (NULL: the default); -1 if unknown. */
int cpu_set_model(struct cpu *c, const char *name);

/* --- x87 state (exec_fpu.c) --- */
void cpu_fpu_reset(struct cpu *c); /* FNINIT state */
/* The guest's state as a 108-byte 32-bit FSAVE image, pointers included. */
void cpu_fpu_to_fsave(const struct cpu *c, uint8_t out[FPU_IMG_SIZE]);
void cpu_fpu_from_fsave(struct cpu *c, const uint8_t in[FPU_IMG_SIZE]);
/* The x87 part of a 512-byte FXSAVE area (MXCSR and XMM left alone); fx64:
 * the 64-bit format (64-bit FIP/FDP, no selectors), as a 64-bit kernel
 * saves a signal frame. */
void cpu_fpu_to_fxsave(const struct cpu *c, uint8_t *fx, bool fx64);
void cpu_fpu_from_fxsave(struct cpu *c, const uint8_t *fx, bool fx64);

/* --- devices, as seen from the core --- */
void cpu_fpu_irq(struct cpu *c, bool level); /* FERR# -> IRQ13 */
void cpu_pio(struct cpu *c, uint16_t port, uint8_t *data, unsigned size, bool is_write);
void cpu_stats_event(struct cpu *c, const char *group, const char *name);
bool cpu_irq_window_open(const struct cpu *c);

#endif
