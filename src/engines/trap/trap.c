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
#include "cpu/decode.h"
#include "cpu/exec.h"
#include "devices/devices.h"
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
	bool must_emulate;  /* the instruction at EIP runs in the core first (settle) */
	bool escaped;	    /* guest code ran under a host selector: stop the VM */
	char escape_msg[200];
	uint32_t last_pf_eip, last_pf_lin; /* a native #PF that mapping did not cure */
	unsigned pf_repeats;
	char msg[160];
	uint64_t counts[TR_N], flushed[TR_N];
	struct {
		uint32_t pa;
		uint8_t b[16];
	} ic[256];
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

/* --- emulation through the shared core --- */

static void count(struct trap *t, enum trap_reason r)
{
	t->counts[r]++;
}

/* The core caches decoded instructions by physical address; guest code
 * written natively does not invalidate them. Before emulating at EIP,
 * compare its bytes with those seen last time there. */
static void icache_check(struct trap *t)
{
	struct cpu *c = &t->cpu;
	uint32_t lin = c->seg[S_CS].base + c->eip;
	volatile uint32_t pa;
	if (_setjmp(c->jb))
		return; /* fetch faults: the core raises it itself */
	bool w;
	pa = paging_translate(c, lin, false, c->cpl == 3, true, &w);
	if ((uint64_t)pa + 16 > c->ram_size)
		return;
	unsigned n = 0x1000 - (pa & 0xfff);
	if (n > 16)
		n = 16;
	unsigned h = (pa ^ (pa >> 8)) & 255;
	if (t->ic[h].pa == pa && memcmp(t->ic[h].b, c->ram + pa, n) == 0)
		return;
	decode_invalidate_page(c, pa >> 12);
	if (n < 16 && (uint64_t)pa + 0x1000 < c->ram_size)
		decode_invalidate_page(c, (pa >> 12) + 1);
	t->ic[h].pa = pa;
	memcpy(t->ic[h].b, c->ram + pa, n);
}

/* The decoded instruction at EIP (a copy), if it decodes. */
static bool peek_insn(struct trap *t, struct insn *out)
{
	struct cpu *c = &t->cpu;
	volatile bool found = false;
	if (_setjmp(c->jb))
		return false;
	struct block *b = block_lookup(c);
	if (b->n) {
		*out = b->insns[0];
		found = true;
	}
	return found;
}

/*
 * CPUID runs natively here (one of the x86 holes: it does not trap, and
 * this host has no CPUID faulting), so a guest sees the host's CPU and
 * takes its vendor's paths. Linux's AMD path reads these MSRs with plain
 * RDMSR, before its console exists; the core does not model them and would
 * raise #GP, which ends that early boot in a silent panic. They read as 0
 * (no microcode patch level, no OS-visible workarounds, HWCR all clear) at
 * CPL 0, the only answer trap gives that the core does not.
 * Returns true if the instruction at EIP was such a read, now done.
 */
static bool host_model_rdmsr(struct trap *t)
{
	static const uint32_t msrs[] = {
		0x0000008bu, /* PATCH_LEVEL (microcode revision) */
		0xc0010015u, /* HWCR */
		0xc0010140u, /* OSVW_ID_LENGTH */
	};
	struct cpu *c = &t->cpu;
	if (c->cpl != 0 || _setjmp(c->jb))
		return false;
	struct block *b = block_lookup(c);
	if (!b->n || b->insns[0].fn != h_rdmsr)
		return false;
	for (unsigned k = 0; k < sizeof msrs / sizeof msrs[0]; k++) {
		if (c->r.r32[R_ECX] == msrs[k]) {
			c->r.r32[R_EAX] = c->r.r32[R_EDX] = 0;
			c->eip += b->insns[0].len;
			t->emulated++;
			return true;
		}
	}
	return false;
}

/* INVLPG's linear address. */
static uint32_t invlpg_lin(struct cpu *c, const struct insn *i)
{
	const struct opnd *o = &i->op[0];
	uint32_t ea = c->r.r32[o->base] + (c->r.r32[o->index] << o->scale) + o->disp;
	if (o->a16)
		ea &= 0xffff;
	return c->seg[o->seg].base + ea;
}

/* A REP string instruction with more than REP_CHUNK elements to go. The
 * core yields from a long REP only when the VMM's kick flag is set, and
 * the kick signal is blocked inside our signal handler: such an
 * instruction is run from the run loop instead (settle outside the
 * handler), where the kick interrupts it. */
#define REP_CHUNK 1024u

static bool long_rep(struct cpu *c, const struct insn *i)
{
	if (i->fn != h_string || !i->rep)
		return false;
	uint32_t cnt = i->asize == 2 ? c->r.r16[R_ECX * 2] : c->r.r32[R_ECX];
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
	icache_check(t);
	if (host_model_rdmsr(t))
		return EXIT_NONE; /* a pending interrupt is taken on the next step */
	struct insn ins;
	bool known = peek_insn(t, &ins);
	if (known && in_handler && long_rep(c, &ins))
		return EMULATE_DEFER;
	uint32_t inv = known && ins.fn == h_invlpg ? invlpg_lin(c, &ins) : 0;
	uint64_t before = c->insns;
	int r = cpu_run(c, 1);
	t->emulated += c->insns - before;
	shadow_track(&t->sh, c, known && ins.fn == h_invlpg ? &inv : NULL);
	return r;
}

/* Can the virtual CPU's state run natively? */
static bool native_ok(struct cpu *c)
{
	return (c->cr0 & CR0_PE) && !(c->eflags & (EFLAGS_VM | EFLAGS_TF)) && !c->shadow &&
	       !c->halted && native_sync_enterable(c);
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

/* Delivers a single-step #DB through the guest's IDT. Returns -1, or the
 * core's exit when the delivery itself failed fatally (triple fault). */
static int deliver_db(struct trap *t)
{
	struct cpu *c = &t->cpu;
	c->exit = -1;
	switch (_setjmp(c->jb)) {
	case 0:
		c->delivering = 1; /* a fault while delivering it is a #DF */
		idt_deliver(c, 1, 0, false, EV_EXCEPTION, c->eip);
		c->delivering = -1;
		break;
	case 1:
		cpu_handle_exception(c);
		break;
	default:
		break;
	}
	shadow_track(&t->sh, c, NULL);
	if (c->exit >= 0 && c->exit != EXIT_NONE)
		snprintf(t->msg, sizeof t->msg, "%s", c->errmsg);
	return c->exit >= 0 && c->exit != EXIT_NONE ? c->exit : -1;
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
		if (trapno == 1 && (r.eflags & EFLAGS_TF)) {
			/* The guest set TF natively (POPF at any CPL): the
			 * host single-stepped one instruction. Deliver that #DB
			 * (a trap: EIP is past the instruction) to the guest,
			 * with TF in the flags it pushes; the core then runs
			 * the guest while TF stays set. */
			c->eflags |= EFLAGS_TF;
			c->dr[6] |= 0x4000; /* BS */
			count(t, TR_EXC);
			int dr = deliver_db(t);
			if (dr >= 0) {
				fill_exit(t, dr);
				return NATIVE_EXIT;
			}
			done = true;
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
	/* Signals meant for the VMM (Ctrl-C, timeout's SIGTERM) must not
	 * arrive while guest code runs: their handlers would run on the
	 * guest's stack and the signal would be lost as a guest fault. They
	 * stay pending until the guest exits to the run loop (a kick away). */
	sigset_t vmm_only, saved;
	sigemptyset(&vmm_only);
	sigaddset(&vmm_only, SIGINT);
	sigaddset(&vmm_only, SIGTERM);
	sigaddset(&vmm_only, SIGHUP);
	sigaddset(&vmm_only, SIGQUIT);
	sigprocmask(SIG_BLOCK, &vmm_only, &saved);
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

static void trap_set_state(struct vcpu *vcpu, const struct cpu_state *s)
{
	struct trap *t = vcpu->priv;
	cpu_set_state(&t->cpu, s);
	shadow_reset(&t->sh, &t->cpu);
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
	.sandbox_needs = SANDBOX_NATIVE_CODE,
};
