/*
 * The trap engine: guest code runs natively (native.c); what faults comes
 * back through a signal and is handled here, inside the signal handler on
 * the alternate stack, with the shared CPU core:
 *   - a #PF on a page the guest's page tables allow: the shadow maps it
 *     (the virtual TLB) and the instruction restarts natively;
 *   - anything else (privileged instruction, MMIO, guest exception, INT n,
 *     int 0x80): the core executes that one instruction on the virtual CPU
 *     (struct cpu), delivering exceptions and interrupts through the guest
 *     IDT, and native execution resumes from the new state.
 * The run loop is left only for the host kick, HLT and fatal exits.
 */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

#include "cpu/cpu.h"
#include "cpu/insn.h"
#include "devices/devices.h"
#include "native/icache.h"
#include "native/native.h"
#include "native/shadow.h"
#include "native/sync.h"
#include "trap.h"
#include "vm/vm.h"

/* Guest linear addresses from here up are out of the guest's user-mode
 * segments (segment truncation: supervisor pages of a higher-half kernel
 * are then unreachable from guest user mode). Accesses above it from user
 * mode are emulated, so a guest with another split is slower, not wrong. */
#define USER_TOP 0xC0000000u

enum trap_reason { TR_INSN, TR_PF, TR_MMIO, TR_IRQ, TR_SYSCALL, TR_EXC, TR_KICK, TR_N };
static const char *const trap_names[TR_N] = {
	"instruction", "page fault", "MMIO", "interrupt", "system call", "exception", "host kick",
};

struct trap {
	struct cpu cpu;
	struct native_host nh;
	struct vcpu *vcpu;
	struct shadow sh;
	int exit;	    /* exit reason decided in the handler */
	uint8_t fx_last[160]; /* the x87 part of the FXSAVE area last handed to guest code */
	bool fx_valid;
	bool must_emulate;  /* the instruction at EIP runs in the core first (settle) */
	bool escaped;	    /* guest code ran under a host selector: stop the VM */
	char escape_msg[200];
	uint32_t last_pf_eip, last_pf_lin; /* a native #PF that mapping did not cure */
	unsigned pf_repeats;
	char msg[160];
	uint64_t counts[TR_N], flushed[TR_N];
	struct native_icache ic;
	uint64_t emulated;
};

static struct trap *the_trap;
static bool trap_debug; /* RINGVM_TRAP_DEBUG=1: one line per trap on stderr */ /* signals are per process: one vCPU */

static bool trap_available(char *why, size_t why_len)
{
	if (!native_probe(why, why_len))
		return false;
	snprintf(why, why_len,
		 "modify_ldt, FSGSBASE and seccomp available: guest code runs natively at host "
		 "CPL 3 (not an isolation boundary)");
	return true;
}

/* --- the guest's x87 state: the core's copy and native code's --- */

/* Native code comes back with its x87 state (the native layer took it from
 * the signal frame). The same bytes as were handed to it mean no x87
 * instruction ran: the core's copy is current, and loading it again (an
 * FRSTOR/FNSAVE round trip on the host, ~700 cycles here) is skipped. */
static void fpu_from_native(struct trap *t)
{
	const uint8_t *fx = native_guest_fpu();
	if (t->fx_valid && !memcmp(fx, t->fx_last, sizeof t->fx_last))
		return;
	cpu_fpu_from_fxsave(&t->cpu, fx, true);
}

static void fpu_to_native(struct trap *t)
{
	uint8_t *fx = native_guest_fpu();
	cpu_fpu_to_fxsave(&t->cpu, fx, true);
	memcpy(t->fx_last, fx, sizeof t->fx_last);
	t->fx_valid = true;
}

/* --- emulation through the shared core --- */

static void count(struct trap *t, enum trap_reason r)
{
	t->counts[r]++;
}

/*
 * CPUID runs natively here (one of the x86 holes: it does not trap, and
 * this host has no CPUID faulting), so a guest sees the host's CPU and
 * takes its vendor's paths. Linux's AMD path reads these MSRs with plain
 * RDMSR, before its console exists; the core does not model them and would
 * raise #GP, which ends that early boot in a silent panic. They read as 0
 * (no microcode patch level, no OS-visible workarounds, HWCR all clear) at
 * CPL 0, the only answer trap gives that the core does not.
 * Returns true if the instruction at EIP (in) was such a read, now done.
 */
static bool host_model_rdmsr(struct trap *t, const struct insn_info *in)
{
	static const uint32_t msrs[] = {
		0x0000008bu, /* PATCH_LEVEL (microcode revision) */
		0xc0010015u, /* HWCR */
		0xc0010140u, /* OSVW_ID_LENGTH */
	};
	struct cpu *c = &t->cpu;
	if (c->cpl != 0 || !in->is_rdmsr)
		return false;
	for (unsigned k = 0; k < sizeof msrs / sizeof msrs[0]; k++) {
		if (c->r.r32[R_ECX] == msrs[k]) {
			c->r.r32[R_EAX] = c->r.r32[R_EDX] = 0;
			c->eip += in->len;
			t->emulated++;
			return true;
		}
	}
	return false;
}

/* A REP string instruction with more than REP_CHUNK elements to go. The
 * core yields from a long REP only when the VMM's kick flag is set, and
 * the kick signal is blocked inside our signal handler: such an
 * instruction is run from the run loop instead (settle outside the
 * handler), where the kick interrupts it. */
#define REP_CHUNK 1024u

static bool long_rep(struct cpu *c, const struct insn_info *in)
{
	if (!in->rep_string)
		return false;
	uint32_t cnt = in->asize == 2 ? c->r.r16[R_ECX * 2] : c->r.r32[R_ECX];
	return cnt > REP_CHUNK;
}

#define EMULATE_DEFER (-2)

/* Executes one instruction (or delivers one pending interrupt and runs the
 * first instruction of its handler) on the virtual CPU, then brings the
 * shadow in line with what it changed. Returns the core's exit reason, or
 * EMULATE_DEFER (in_handler: the instruction must run from the run loop;
 * nothing was executed). */
static int emulate_one(struct trap *t, bool in_handler)
{
	struct cpu *c = &t->cpu;
	native_icache_check(&t->ic, c);
	struct insn_info in;
	bool known = insn_fetch(c, &in) == 0;
	if (known && host_model_rdmsr(t, &in))
		return EXIT_NONE; /* a pending interrupt is taken on the next step */
	if (known && in_handler && long_rep(c, &in))
		return EMULATE_DEFER;
	bool invlpg = known && in.is_invlpg;
	uint32_t inv = invlpg ? insn_lin(c, &in) : 0;
	uint64_t before = c->insns;
	int r = cpu_run(c, 1);
	t->emulated += c->insns - before;
	shadow_track(&t->sh, c, invlpg ? &inv : NULL);
	return r;
}

/* Can the virtual CPU's state run natively? Not in real mode or v8086 (the host cannot run either), and not with
 * EFLAGS.NT: the host keeps NT clear, so a native IRET would return in
 * the same task instead of switching back to the caller's. */
static bool native_ok(struct cpu *c)
{
	return (c->cr0 & CR0_PE) && !(c->eflags & (EFLAGS_VM | EFLAGS_TF | EFLAGS_NT)) &&
	       !c->shadow && !c->halted && native_sync_enterable(c);
}

/* Is a signal meant for the VMM waiting (blocked while guest code or the
 * signal handler runs)? sigpending is async-signal-safe. */
static bool vmm_signal_pending(struct trap *t)
{
	sigset_t p;
	if (sigpending(&p) < 0)
		return false;
	return sigismember(&p, SIGINT) == 1 || sigismember(&p, SIGTERM) == 1 ||
	       sigismember(&p, SIGHUP) == 1 || sigismember(&p, SIGQUIT) == 1 ||
	       sigismember(&p, t->nh.kick_sig) == 1;
}

/* Inside the signal handler the kick signal and the VMM's signals are
 * blocked: settle gives up after this many instructions (or as soon as
 * one of those signals is pending, checked every SETTLE_POLL), and the
 * rest runs from the run loop, where timers, input and SIGTERM work. */
#define SETTLE_BUDGET 4096u
#define SETTLE_POLL 128u

/*
 * Runs the virtual CPU in the core until its state can go native again
 * with no interrupt to take first. Returns -1 (go native) or the exit
 * (EXIT_NONE: back to the run loop, nothing lost).
 */
static int settle(struct trap *t, bool in_handler)
{
	struct cpu *c = &t->cpu;
	struct vm *vm = t->vcpu->vm;
	for (unsigned n = 1;; n++) {
		if (vm->stop || vm->kick)
			return EXIT_NONE;
		if (in_handler && n % SETTLE_POLL == 0 &&
		    (n >= SETTLE_BUDGET || vmm_signal_pending(t)))
			return EXIT_NONE;
		bool irq = (c->eflags & EFLAGS_IF) && !c->shadow && vcpu_irq_pending(t->vcpu);
		if (!irq && native_ok(c) && !t->must_emulate)
			return -1;
		if (irq)
			count(t, TR_IRQ);
		int r = emulate_one(t, in_handler);
		if (r == EMULATE_DEFER) {
			t->must_emulate = true;
			return EXIT_NONE;
		}
		if (!irq)
			t->must_emulate = false;
		switch (r) {
		case EXIT_NONE:
		case EXIT_IO:
		case EXIT_MMIO:
		case EXIT_IRQ_WINDOW:
			break;
		case EXIT_HLT:
			return EXIT_HLT;
		case EXIT_HYPERCALL:
			if (hypercall_handle(t->vcpu))
				return EXIT_HLT; /* the run loop waits as for HLT */
			break;
		default:
			snprintf(t->msg, sizeof t->msg, "%s", c->errmsg);
			return r;
		}
	}
}

static int to_native(struct trap *t, struct native_regs *r)
{
	return native_sync_to(&t->nh, &t->cpu, USER_TOP, r, t->msg, sizeof t->msg);
}

static void fill_exit(struct trap *t, int r)
{
	t->exit = r;
}

/* Guest code far-jumped to a selector of the host's GDT (0x23: flat 32-bit,
 * 0x33: 64-bit) and something trapped there (a fault, a system call the
 * seccomp filter refused, the kick). Such code runs outside the LDT
 * sandbox, in the VMM's address space: it cannot be virtualized, only
 * stopped. Its registers are not a guest state to keep. */
static void escape(struct trap *t, int sig, const ucontext_t *uc)
{
	uint16_t cs = native_uc_cs(uc);
	const char *what = sig == SIGSYS	      ? "made a host system call (refused by seccomp, never run)"
			   : sig == t->nh.kick_sig ? "kept running there"
			   : sig == SIGILL	      ? "raised #UD there"
			   : sig == SIGSEGV	      ? "faulted there"
						      : "trapped there";
	snprintf(t->escape_msg, sizeof t->escape_msg,
		 "guest code entered host selector %#x (%s code at %#llx) and %s: trap is not an "
		 "isolation boundary",
		 cs, cs == 0x33 ? "64-bit" : "32-bit",
		 (unsigned long long)uc->uc_mcontext.gregs[REG_RIP], what);
	t->escaped = true;
	count(t, sig == SIGSYS ? TR_SYSCALL : TR_EXC);
	fill_exit(t, EXIT_NONE);
}

/* The signal callback (alternate stack, VMM FS/GS restored). */
static enum native_verdict on_signal(int sig, siginfo_t *si, ucontext_t *uc, bool guest,
				     void *opaque)
{
	struct trap *t = opaque;
	struct cpu *c = &t->cpu;
	struct vm *vm = t->vcpu->vm;
	struct native_regs r;
	if (native_uc_host_selector(uc)) {
		escape(t, sig, uc);
		return NATIVE_EXIT;
	}
	native_regs_from_uc(uc, &r);
	/* The guest's x87 state (the native layer took it from the frame):
	 * what an emulated instruction sees and changes. */
	fpu_from_native(t);
	c->exit = -1;
	int fr = native_sync_from(&t->nh, c, &r);
	if (fr >= 0) {
		fill_exit(t, fr);
		return NATIVE_EXIT;
	}
	greg_t trapno = uc->uc_mcontext.gregs[REG_TRAPNO];
	if (trap_debug)
		fprintf(stderr, "trap: sig %d trapno %d eip %08x cpl %d eax %08x addr %p sel %x/%x/%x/%x/%x/%x\n",
			sig, (int)trapno, r.eip, c->cpl, r.gpr[0], si->si_addr, r.sel[0], r.sel[1],
			r.sel[2], r.sel[3], r.sel[4], r.sel[5]);
	if (sig == t->nh.kick_sig) {
		vm->kick = 1;
		count(t, TR_KICK);
		fill_exit(t, EXIT_NONE);
		return NATIVE_EXIT;
	}
	if (native_uc_compat_syscall(uc)) {
		count(t, TR_SYSCALL);
		snprintf(t->msg, sizeof t->msg,
			 "guest executed SYSCALL in compatibility mode: the host kernel's compat entry "
			 "discarded its return EIP (trapped by seccomp, never run)");
		fill_exit(t, EXIT_ERROR);
		return NATIVE_EXIT;
	}
	bool done = false;
	switch (sig) {
	case SIGSEGV:
		if (trapno == 14) {
			uint32_t lin = (uint32_t)((uintptr_t)si->si_addr - t->nh.base);
			bool write = uc->uc_mcontext.gregs[REG_ERR] & 2;
			bool fetch = uc->uc_mcontext.gregs[REG_ERR] & 0x10;
			/* A fault that mapping does not cure (an access the
			 * host cannot make natively, such as a fetch that wraps
			 * at 4 GiB) repeats forever: after a few, emulate the
			 * instruction instead, which raises the guest's fault. */
			if (c->eip == t->last_pf_eip && lin == t->last_pf_lin) {
				t->pf_repeats++;
			} else {
				t->last_pf_eip = c->eip;
				t->last_pf_lin = lin;
				t->pf_repeats = 0;
			}
			enum shadow_result sr = SHADOW_EMULATE;
			if (t->pf_repeats < 4)
				sr = shadow_fill(&t->sh, c, lin, write, fetch);
			if (sr == SHADOW_MAPPED) {
				count(t, TR_PF);
				done = true;
			} else {
				bool mmio = sr == SHADOW_MMIO;
				t->pf_repeats = 0;
				count(t, mmio ? TR_MMIO : TR_PF);
			}
		} else if (trapno == 4) {
			c->eip -= 1; /* INTO: a trap */
			count(t, TR_EXC);
		} else {
			count(t, TR_INSN);
		}
		break;
	case SIGSYS: /* int 0x80 (or sysenter/syscall): EIP is past the 2 bytes */
		c->eip -= 2;
		count(t, TR_SYSCALL);
		break;
	case SIGTRAP: {
		if (si->si_code == TRAP_TRACE) {
			/* The guest set TF natively (POPF, IRET) and the host
			 * single-stepped one instruction: the guest's #DB trap,
			 * delivered by the core before its next instruction. */
			c->step_pending = true;
			count(t, TR_EXC);
			break;
		}
		if (trapno == 1) {
			/* ICEBP (0xf1), a trap: back up to it and emulate it. */
			c->eip -= 1;
			count(t, TR_EXC);
			break;
		}
		/* INT3 / INT 3 are traps: back up to the instruction. */
		uint8_t b1 = 0;
		uint32_t lin = c->seg[S_CS].base + c->eip - 1;
		volatile uint8_t *p = native_host_addr(&t->nh, lin);
		if (shadow_mapped(&t->sh, lin))
			b1 = *p;
		c->eip -= b1 == 0xcc ? 1 : 2;
		count(t, TR_EXC);
		break;
	}
	default: /* SIGILL, SIGFPE, SIGBUS: faults, EIP at the instruction */
		count(t, TR_EXC);
		break;
	}
	if (!done) {
		int er = emulate_one(t, true);
		if (er == EMULATE_DEFER) {
			t->must_emulate = true;
			fill_exit(t, EXIT_NONE);
			return NATIVE_EXIT;
		}
		if (er == EXIT_HYPERCALL) {
			/* Dispatched right here: this handler runs only while
			 * guest code owned the CPU, so no VMM code was
			 * interrupted and the dispatcher (state, guest RAM, the
			 * console's write(2)) is as safe as the device code
			 * emulate_one already runs. A halt leaves for the run
			 * loop, which waits as for HLT. */
			if (hypercall_handle(t->vcpu) || vm->stop) {
				fill_exit(t, vm->stop ? EXIT_IO : EXIT_HLT);
				return NATIVE_EXIT;
			}
		}
		if (er == EXIT_HLT || er == EXIT_SHUTDOWN || er == EXIT_ERROR) {
			if (er != EXIT_HLT)
				snprintf(t->msg, sizeof t->msg, "%s", c->errmsg);
			fill_exit(t, er);
			return NATIVE_EXIT;
		}
	}
	int sr = settle(t, true);
	if (sr >= 0) {
		fill_exit(t, sr);
		return NATIVE_EXIT;
	}
	if (to_native(t, &r) < 0) {
		fill_exit(t, EXIT_ERROR);
		return NATIVE_EXIT;
	}
	native_regs_to_uc(uc, &r);
	fpu_to_native(t);
	return NATIVE_RESUME;
}

static int trap_create(struct vcpu *vcpu)
{
	char why[256];
	if (!trap_available(why, sizeof why)) {
		fprintf(stderr, "ringvm: trap: %s\n", why);
		return -1;
	}
	if (the_trap) {
		fprintf(stderr, "ringvm: trap: one vCPU per process\n");
		return -1;
	}
	struct trap *t = calloc(1, sizeof *t);
	if (!t || cpu_init(&t->cpu, vcpu->vm->ram, vcpu->vm->ram_size, vcpu) < 0) {
		fprintf(stderr, "ringvm: trap: out of memory\n");
		free(t);
		return -1;
	}
	t->vcpu = vcpu;
	native_icache_reset(&t->ic);
	trap_debug = getenv("RINGVM_TRAP_DEBUG") != NULL;
	t->nh.base = 0;
	t->nh.kick_sig = SIGRTMIN;
	t->nh.kick = &vcpu->vm->kick;
	t->nh.cb = on_signal;
	t->nh.opaque = t;
	t->nh.fatal_cleanup = devices_restore_terminal;
	if (shadow_init(&t->sh, &t->nh, vcpu->vm->memfd, vcpu->vm->ram_size, USER_TOP) < 0) {
		fprintf(stderr, "ringvm: trap: out of memory\n");
		goto fail;
	}
	if (native_reserve(&t->nh) < 0) {
		fprintf(stderr, "ringvm: trap: cannot reserve the low 4 GiB: %s\n", strerror(errno));
		goto fail;
	}
	if (native_seccomp_install(why, sizeof why) < 0) {
		fprintf(stderr, "ringvm: trap: %s\n", why);
		goto fail_res;
	}
	if (native_install(&t->nh) < 0) {
		fprintf(stderr, "ringvm: trap: signal handlers: %s\n", strerror(errno));
		goto fail_res;
	}
	native_fpu_reset(); /* MXCSR and XMM: the core keeps only the x87 */
	shadow_reset(&t->sh, &t->cpu);
	vcpu->priv = t;
	the_trap = t;
	return 0;
fail_res:
	native_release(&t->nh);
fail:
	cpu_fini(&t->cpu);
	shadow_fini(&t->sh);
	free(t);
	return -1;
}

static void trap_destroy(struct vcpu *vcpu)
{
	struct trap *t = vcpu->priv;
	if (!t)
		return;
	native_uninstall(&t->nh);
	native_release(&t->nh);
	cpu_fini(&t->cpu);
	shadow_fini(&t->sh);
	free(t);
	vcpu->priv = NULL;
	the_trap = NULL;
}

static void flush_stats(struct trap *t)
{
	struct stats *st = &t->vcpu->vm->stats;
	for (int k = 0; k < TR_N; k++) {
		uint64_t d = t->counts[k] - t->flushed[k];
		if (!d)
			continue;
		stats_event(st, "trap", trap_names[k]);
		char key[sizeof st->named[0].name];
		snprintf(key, sizeof key, "trap: %s", trap_names[k]);
		for (unsigned i = 0; i < st->n_named; i++)
			if (strcmp(st->named[i].name, key) == 0)
				st->named[i].count += d - 1;
		t->flushed[k] = t->counts[k];
	}
}

static int trap_run(struct vcpu *vcpu, struct vcpu_exit *exit)
{
	struct trap *t = vcpu->priv;
	struct cpu *c = &t->cpu;
	struct vm *vm = vcpu->vm;
	/* The run loop installs a plain SIGRTMIN handler that would run on
	 * the guest's stack: ours redirects the kick to the exit stub. */
	native_install_kick(&t->nh);
	sigset_t saved;
	native_block_vmm_signals(&saved);
	c->halted = vcpu->halted;
	t->msg[0] = 0;
	uint64_t e0 = t->emulated;
	c->exit = -1;
	int r = settle(t, false);
	if (r < 0) {
		struct native_regs nr;
		if (to_native(t, &nr) < 0) {
			r = EXIT_ERROR;
		} else {
			t->exit = -1;
			fpu_to_native(t);
			int rc = native_enter(&t->nh, &nr);
			r = rc == NATIVE_STOP_KICKED ? EXIT_NONE : t->exit;
			if (rc == NATIVE_STOP_ENTRY_FAULT) {
				r = EXIT_ERROR;
				snprintf(t->msg, sizeof t->msg,
					 "internal: the host refused to enter this guest state natively "
					 "(native_sync_enterable missed a case)");
			}
			if (r < 0) {
				r = EXIT_ERROR;
				snprintf(t->msg, sizeof t->msg, "internal: native run ended without an exit");
			}
			if (t->escaped) {
				vm_request_stop(vm, RINGVM_EXIT_GUEST_DEAD, t->escape_msg);
				r = EXIT_NONE;
			}
		}
	}
	sigprocmask(SIG_SETMASK, &saved, NULL);
	vm->stats.guest_insns += t->emulated - e0; /* emulated ones only */
	vcpu->halted = c->halted;
	flush_stats(t);
	exit->reason = (enum exit_reason)r;
	if (r == EXIT_ERROR || r == EXIT_SHUTDOWN)
		snprintf(exit->error.msg, sizeof exit->error.msg, "%s",
			 t->msg[0] ? t->msg : c->errmsg);
	return 0;
}

static void trap_get_state(struct vcpu *vcpu, struct cpu_state *s)
{
	struct trap *t = vcpu->priv;
	cpu_get_state(&t->cpu, s);
}

/* Only what changed is dropped: a hypercall sets the state after every
 * call, and flushing all mappings each time would cost every later access
 * a fault (shadow_track flushes on CR0/CR3/CR4 changes and follows the
 * CPL). */
static void trap_set_state(struct vcpu *vcpu, const struct cpu_state *s)
{
	struct trap *t = vcpu->priv;
	cpu_set_state(&t->cpu, s);
	shadow_track(&t->sh, &t->cpu, NULL);
}

static void trap_flush_tlb(struct vcpu *vcpu, uint32_t lin, bool all)
{
	struct trap *t = vcpu->priv;
	if (all) {
		tlb_flush(&t->cpu);
		shadow_flush(&t->sh, false);
	} else {
		tlb_flush_page(&t->cpu, lin);
		shadow_drop(&t->sh, lin);
	}
}

static bool trap_irq_window_open(struct vcpu *vcpu)
{
	struct trap *t = vcpu->priv;
	return cpu_irq_window_open(&t->cpu);
}

const struct engine engine_trap = {
	.name = "trap",
	.family = "trap-and-emulate",
	.caveat = "a teaching engine, NOT an isolation boundary: guest code runs natively in the "
		  "VMM's process and can reach its whole address space through the host's 64-bit "
		  "selector; run untrusted guests under another engine",
	.available = trap_available,
	.fast_here = NULL,
	.create = trap_create,
	.destroy = trap_destroy,
	.run = trap_run,
	.get_state = trap_get_state,
	.set_state = trap_set_state,
	.irq_window_open = trap_irq_window_open,
	.flush_tlb = trap_flush_tlb,
	.hypercalls = true,
	.sandbox_needs = SANDBOX_NATIVE_CODE,
};
