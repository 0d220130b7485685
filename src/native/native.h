/*
 * Host mechanics for running 32-bit guest code natively inside this 64-bit
 * process (reused by trap and bt):
 *   - LDT descriptors built from a guest segment cache, rotated by a base B
 *     (guest linear x is host address (B + x) mod 2^32);
 *   - entry into compatibility mode (iretq) and exit back to 64-bit mode
 *     (a signal handler rewrites the ucontext to land on an exit stub that
 *     reloads the VMM's RSP from memory: RSP does not survive 64->32->64);
 *   - signal handlers on an alternate stack whose assembly prologue restores
 *     the VMM's FS/GS bases (wrfsbase/wrgsbase) before any C runs;
 *   - a seccomp filter that turns into SIGSYS every system call made from
 *     below 4 GiB (guest code, in any code width) and every non-x86-64
 *     one (int 0x80, sysenter, syscall from compatibility mode);
 *   - the shadow: guest pages mapped from the RAM memfd at B + linear.
 * One native context per process (signals are per process): single vCPU.
 */
#ifndef RINGVM_NATIVE_NATIVE_H
#define RINGVM_NATIVE_NATIVE_H

#include <signal.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <ucontext.h>

#include "vm/cpustate.h"

/* Our LDT slots. Low LDT indices stay empty so that a guest's own LDT
 * selectors fault natively. An engine gives each guest selector a slot of
 * its own (native_slot_of), so that a segment register the guest saves
 * natively (PUSH DS pushes the host selector) and restores later (POP DS)
 * still names the same guest segment. */
#define NATIVE_LDT_FIRST 16
#define NATIVE_LDT_SLOTS 8192
#define NATIVE_SEL(idx) ((uint16_t)(((idx) << 3) | 4 | 3))
#define NATIVE_SLOT_OF_SEL(hsel) ((unsigned)(hsel) >> 3)

/* The slot for a (non-null) guest selector: its GDT and LDT halves. */
static inline unsigned native_slot_of(uint16_t guest_sel)
{
	unsigned i = (guest_sel >> 3) % (4096 - NATIVE_LDT_FIRST);
	return NATIVE_LDT_FIRST + i + ((guest_sel & 4) ? 4096 : 0);
}

/* Registers exchanged with native guest code (32-bit views). */
struct native_regs {
	uint32_t gpr[8];	/* ModRM order */
	uint32_t eip;
	uint32_t eflags;	/* only arithmetic flags, DF, AC and ID reach the host */
	uint16_t sel[6];	/* host selectors to load, Sreg order (0 = null) */
};

/* What a native run ended with (value returned by native_enter). */
enum native_stop {
	NATIVE_STOP_EXIT = 1,
	NATIVE_STOP_KICKED = 2,
	NATIVE_STOP_ENTRY_FAULT = 3, /* the host refused to enter the state given */
};

/*
 * The signal callback: called (on the alternate stack, FS/GS bases already
 * the VMM's) for every trap signal and for the kick signal. guest is true
 * when the signal interrupted native guest code. Returns:
 *   NATIVE_RESUME  resume what was interrupted (uc possibly edited, guest
 *                  data selectors reloaded from native_resume_sel[]);
 *   NATIVE_EXIT    leave native mode: native_enter returns exit_code;
 *   NATIVE_PASS    not ours (a VMM crash): default action.
 */
enum native_verdict { NATIVE_RESUME, NATIVE_EXIT, NATIVE_PASS };
typedef enum native_verdict (*native_cb)(int sig, siginfo_t *si, ucontext_t *uc, bool guest,
					 void *opaque);

struct native_host {
	uint32_t base;		/* B */
	int kick_sig;		/* SIGRTMIN usually */
	volatile sig_atomic_t *kick;
	native_cb cb;
	void *opaque;
	/* Called (async-signal-safe code only) before the VMM dies of a
	 * signal raised in its own code, e.g. to restore the terminal. */
	void (*fatal_cleanup)(void);
	void *altstack;
	size_t altstack_size;
	/* What each LDT slot holds (cache; allocated on first use). */
	struct native_ldt_entry {
		bool valid;
		uint32_t base, limit_raw;
		uint8_t contents, ro, db, pages, present;
		uint16_t guest_sel; /* for the engine: whose slot this is */
	} *ldt;
	uint64_t ldt_writes; /* modify_ldt calls, for stats */
	/* Slots of user (DPL 3) data segments written unclipped while the
	 * guest kernel ran (native_sync_to): clipped again before guest
	 * user code runs. More than NATIVE_WIDE_MAX: all slots are swept. */
#define NATIVE_WIDE_MAX 16
	struct seg wide_seg[NATIVE_WIDE_MAX];
	uint16_t wide_idx[NATIVE_WIDE_MAX];
	unsigned nwide;
	bool wide_overflow;
};

/* Can this host do it? why[] says why not. */
bool native_probe(char *why, size_t why_len);

/* Installs handlers (+ alternate stack) for SIGSEGV SIGBUS SIGILL SIGFPE
 * SIGTRAP SIGSYS and h->kick_sig. Returns 0 or -1 (errno). */
int native_install(struct native_host *h);
/* Re-installs the kick handler only (the run loop may have replaced it). */
int native_install_kick(struct native_host *h);
void native_uninstall(struct native_host *h);

/* Signals meant for the VMM (Ctrl-C, timeout's SIGTERM, SIGHUP, SIGQUIT)
 * must not arrive while guest code runs: their handlers would run on the
 * guest's stack and the signal would be lost as a guest fault. An engine
 * blocks them around its run (saved: the mask to restore); they stay
 * pending until the guest is back in the run loop, a kick away. */
void native_block_vmm_signals(sigset_t *saved);

/* Installs the seccomp filter (irrevocable for this thread and its future
 * children): system calls made from below 4 GiB, and non-x86-64 ones,
 * raise SIGSYS instead of running. A SIGSYS the VMM's own code receives
 * (this or another filter refused it) ends the process with one line on
 * stderr naming the call and status 6. */
int native_seccomp_install(char *why, size_t why_len);
bool native_seccomp_active(void);

/* Writes LDT slot idx from a guest segment cache, the limit clipped to
 * limit_max (segment truncation). Cheap when nothing changed. Returns 0 or
 * -1 (errno). */
int native_ldt_set(struct native_host *h, unsigned idx, const struct seg *g, uint32_t limit_max);

/* Enters compatibility mode with r; returns when the callback said
 * NATIVE_EXIT (its exit code) or the kick was already pending
 * (NATIVE_STOP_KICKED). */
int native_enter(struct native_host *h, const struct native_regs *r);

/* In the callback: set the exit code and rewrite uc to return to the exit
 * stub (done by the prologue when the callback says NATIVE_EXIT). */
extern int native_exit_code;
/* In the callback: selectors the epilogue loads into DS ES FS GS before
 * resuming guest code (CS and SS travel in uc). */
extern uint16_t native_resume_sel[6];

/* ucontext <-> registers. */
void native_regs_from_uc(const ucontext_t *uc, struct native_regs *r);
void native_regs_to_uc(ucontext_t *uc, const struct native_regs *r);
/* Is the interrupted context guest code? (an LDT code selector, or an
 * instruction pointer below 4 GiB in any code width, or a guest
 * compatibility-mode SYSCALL) */
bool native_uc_is_guest(const ucontext_t *uc);
/* The interrupted context's code selector. */
uint16_t native_uc_cs(const ucontext_t *uc);
/* Was guest code running under a selector of the host's GDT (it far
 * jumped to 0x23 or 0x33, escaping the LDT: not virtualizable)? */
bool native_uc_host_selector(const ucontext_t *uc);
/* Did a guest SYSCALL (compatibility mode) end here? The host kernel then
 * reports CS 0x23 and RIP in its vDSO, having stored the guest's EBP into
 * ECX, loaded EBP from the guest's [ESP] and thrown away the return EIP
 * (its compat entry assumes the 32-bit vDSO's calling convention): with
 * the stack mapped, seccomp still traps it (SIGSYS, EAX intact), else the
 * host answers -EFAULT. The system call never runs, but the guest's EIP
 * and ECX are lost: native_regs_from_uc() then gives EIP 0. */
bool native_uc_compat_syscall(const ucontext_t *uc);

/* The shadow: maps [lin, lin+4K) to memfd offset gpa_page with prot, or
 * back to an inaccessible reservation. Return 0 or -1. */
int native_map(struct native_host *h, uint32_t lin, int fd, uint64_t gpa_page, bool writable);
/* The same, choosing whether guest code may be fetched from the page. */
int native_map_prot(struct native_host *h, uint32_t lin, int fd, uint64_t gpa_page,
		    bool writable, bool exec);
/* Changes the protection of mapped guest pages [lin, lin + len). */
int native_protect(struct native_host *h, uint32_t lin, uint32_t len, bool writable, bool exec);
int native_unmap(struct native_host *h, uint32_t lin, uint32_t len);
/* Reserves the whole 32-bit window [B, B + 4 GiB) mod 2^32 (below 4 GiB on
 * the host), except the first page which the host never maps. */
int native_reserve(struct native_host *h);
void native_release(struct native_host *h);

/* The guest's x87/SSE state outside native runs (native_fpu.c): a 512-byte
 * FXSAVE area in the 64-bit format, which native_enter loads before guest
 * code runs. In the signal callback it holds the interrupted guest's state
 * (taken from the frame) and whatever the callback leaves there is what
 * the guest resumes with; the VMM's own state is never the guest's. */
uint8_t *native_guest_fpu(void);
void native_fpu_reset(void); /* FNINIT state, default MXCSR */
/* Snapshots the VMM's FPU state for the exit stub (engines without native_enter). */
void native_fpu_save_vmm(void);
bool native_fpu_probe(char *why, size_t why_len);
void native_fpu_from_uc(const ucontext_t *uc);
void native_fpu_to_uc(ucontext_t *uc);

static inline void *native_host_addr(const struct native_host *h, uint32_t lin)
{
	return (void *)(uintptr_t)(uint32_t)(h->base + lin);
}

#endif
