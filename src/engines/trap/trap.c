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
#include "native.h"
#include "trap.h"
#include "vm/vm.h"

/* Guest linear addresses from here up are out of the guest's user-mode
 * segments (segment truncation: supervisor pages of a higher-half kernel
 * are then unreachable from guest user mode). Accesses above it from user
 * mode are emulated, so a guest with another split is slower, not wrong. */
#define USER_TOP 0xC0000000u

#define PS_MAPPED 1u
#define PS_WRITE 2u
#define PS_GLOBAL 4u
#define PS_EXEC 8u /* kernel-half page the guest kernel executes from */

enum trap_reason { TR_INSN, TR_PF, TR_MMIO, TR_IRQ, TR_SYSCALL, TR_EXC, TR_KICK, TR_N };
static const char *const trap_names[TR_N] = {
	"instruction", "page fault", "MMIO", "interrupt", "system call", "exception", "host kick",
};

struct trap {
	struct cpu cpu;
	struct native_host nh;
	struct vcpu *vcpu;
	uint8_t *pst;	    /* per guest-linear page: PS_* */
	uint32_t *mapped;   /* pages with PS_MAPPED (may hold stale entries) */
	size_t nmapped, capmapped;
	uint32_t *priv;	    /* pages below USER_TOP mapped for the guest kernel */
	size_t npriv, cappriv;
	uint32_t *kexec;    /* pages with PS_EXEC (may hold stale entries) */
	size_t nkexec, capkexec;
	uint32_t cr0, cr3, cr4;
	uint8_t cpl;
	int exit;	    /* exit reason decided in the handler */
	uint32_t last_pf_eip, last_pf_lin; /* a native #PF that mapping did not cure */
	unsigned pf_repeats;
	char msg[160];
	uint64_t counts[TR_N], flushed[TR_N];
	struct {
		uint32_t pa;
		uint8_t b[16];
	} ic[256];
	uint64_t emulated;
	uint8_t fx_last[160]; /* the x87 part of the FXSAVE area last handed to guest code */
	bool fx_valid;
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

/* --- the shadow (virtual TLB) --- */

static void list_add(uint32_t **v, size_t *n, size_t *cap, uint32_t x)
{
	if (*n == *cap) {
		size_t nc = *cap ? *cap * 2 : 1024;
		uint32_t *p = realloc(*v, nc * sizeof *p);
		if (!p)
			return; /* the page stays mapped until the next full flush */
		*v = p;
		*cap = nc;
	}
	(*v)[(*n)++] = x;
}

static void shadow_drop(struct trap *t, uint32_t page)
{
	if (!(t->pst[page] & PS_MAPPED))
		return;
	native_unmap(&t->nh, page << 12, 0x1000);
	t->pst[page] = 0;
}

/* Drops every mapping (keep_global: those of global pages survive). */
static void shadow_flush(struct trap *t, bool keep_global)
{
	size_t kept = 0;
	uint32_t run_start = 0, run_len = 0;
	for (size_t k = 0; k < t->nmapped; k++) {
		uint32_t p = t->mapped[k];
		uint8_t st = t->pst[p];
		if (!(st & PS_MAPPED))
			continue;
		if (keep_global && (st & PS_GLOBAL)) {
			t->mapped[kept++] = p;
			continue;
		}
		t->pst[p] = 0;
		if (run_len && p == run_start + run_len) {
			run_len++;
			continue;
		}
		if (run_len)
			native_unmap(&t->nh, run_start << 12, run_len << 12);
		run_start = p;
		run_len = 1;
	}
	if (run_len)
		native_unmap(&t->nh, run_start << 12, run_len << 12);
	t->nmapped = kept;
	t->npriv = 0;
}

static bool pte_global(struct cpu *c, uint32_t lin)
{
	if (!(c->cr4 & CR4_PGE) || !(c->cr0 & CR0_PG))
		return false;
	uint64_t pde_pa = (c->cr3 & ~0xfffu) + ((lin >> 22) << 2);
	if (pde_pa + 4 > c->ram_size)
		return false;
	uint32_t pde = load_n(c->ram + pde_pa, 4);
	if ((pde & 0x80) && (c->cr4 & CR4_PSE))
		return pde & 0x100;
	uint64_t pte_pa = (pde & ~0xfffu) + (((lin >> 12) & 0x3ff) << 2);
	if (pte_pa + 4 > c->ram_size)
		return false;
	return load_n(c->ram + pte_pa, 4) & 0x100;
}

/* A native #PF at lin: walk the guest's tables like the hardware (A, and D
 * on a write) and map the page if the guest may access it. False: the
 * access must be emulated (guest #PF, MMIO, page 0, above USER_TOP). */
static bool shadow_fault(struct trap *t, uint32_t lin, bool write, bool fetch, bool *mmio)
{
	struct cpu *c = &t->cpu;
	bool user = c->cpl == 3;
	*mmio = false;
	if ((uint32_t)(t->nh.base + lin) < 0x1000 || (user && lin >= USER_TOP))
		return false;
	volatile bool wok = false;
	volatile uint32_t pa = 0;
	if (_setjmp(c->jb))
		return false; /* not present / no permission: the core delivers #PF */
	bool w;
	pa = paging_translate(c, lin, write, user, false, &w);
	wok = w;
	uint64_t ppage = pa & ~0xfffu;
	if (ppage + 0x1000 > c->ram_size) {
		*mmio = true;
		return false;
	}
	uint32_t page = lin >> 12;
	/* Guest user mode runs on a flat code segment (see to_native), so a
	 * page of the kernel half is executable only while the guest kernel
	 * runs, and only once the kernel fetched from it. */
	bool kexec = lin >= USER_TOP && (fetch || (t->pst[page] & PS_EXEC));
	if (native_map_prot(&t->nh, lin, t->vcpu->vm->memfd, ppage, wok, lin < USER_TOP || kexec) < 0)
		return false;
	uint8_t st = PS_MAPPED | (wok ? PS_WRITE : 0) | (pte_global(c, lin) ? PS_GLOBAL : 0) |
		     (kexec ? PS_EXEC : 0);
	if (kexec && !(t->pst[page] & PS_EXEC))
		list_add(&t->kexec, &t->nkexec, &t->capkexec, page);
	if (!(t->pst[page] & PS_MAPPED))
		list_add(&t->mapped, &t->nmapped, &t->capmapped, page);
	t->pst[page] = st;
	if (!user && lin < USER_TOP)
		list_add(&t->priv, &t->npriv, &t->cappriv, page);
	return true;
}

/* Makes the kernel-half pages the guest kernel executes from executable
 * (guest kernel mode) or not (guest user mode), one mprotect per run of
 * contiguous pages. This, not a code-segment limit, keeps user code from
 * running supervisor code: on this host a 32-bit CS whose limit is not
 * 4 GiB slows all fetches by ~16% (docs/06-trap.md). */
static void kexec_set(struct trap *t, bool exec)
{
	size_t kept = 0;
	uint32_t start = 0, len = 0;
	bool wr = false;
	for (size_t k = 0; k < t->nkexec; k++) {
		uint32_t p = t->kexec[k];
		uint8_t st = t->pst[p];
		if (!(st & PS_MAPPED) || !(st & PS_EXEC))
			continue; /* dropped since: forget it */
		t->kexec[kept++] = p;
		bool pw = st & PS_WRITE;
		if (len && p == start + len && pw == wr) {
			len++;
			continue;
		}
		if (len)
			native_protect(&t->nh, start << 12, len << 12, wr, exec);
		start = p;
		len = 1;
		wr = pw;
	}
	if (len)
		native_protect(&t->nh, start << 12, len << 12, wr, exec);
	t->nkexec = kept;
}

/* The guest went to user mode: whatever its kernel had mapped below
 * USER_TOP may be a supervisor page (or writable only to the kernel), and
 * the kernel's code must not be executable. */
static void shadow_enter_user(struct trap *t)
{
	for (size_t k = 0; k < t->npriv; k++)
		shadow_drop(t, t->priv[k]);
	t->npriv = 0;
	kexec_set(t, false);
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

/* INVLPG's linear address, if the instruction at EIP is one. */
static bool peek_invlpg(struct trap *t, uint32_t *lin_out)
{
	struct cpu *c = &t->cpu;
	volatile bool found = false;
	if (_setjmp(c->jb))
		return false;
	struct block *b = block_lookup(c);
	const struct insn *i = &b->insns[0];
	if (b->n && i->fn == h_invlpg) {
		const struct opnd *o = &i->op[0];
		uint32_t ea = c->r.r32[o->base] + (c->r.r32[o->index] << o->scale) + o->disp;
		if (o->a16)
			ea &= 0xffff;
		*lin_out = c->seg[o->seg].base + ea;
		found = true;
	}
	return found;
}

/* Executes one instruction (or delivers one pending interrupt and runs the
 * first instruction of its handler) on the virtual CPU, then brings the
 * shadow in line with what it changed. Returns the core's exit reason. */
static int emulate_one(struct trap *t)
{
	struct cpu *c = &t->cpu;
	icache_check(t);
	uint32_t inv = 0;
	bool is_invlpg = peek_invlpg(t, &inv);
	uint64_t before = c->insns;
	int r = cpu_run(c, 1);
	t->emulated += c->insns - before;
	const uint32_t pgbits = CR0_PG | CR0_WP | CR0_PE;
	const uint32_t cr4bits = CR4_PSE | CR4_PGE | CR4_PAE;
	if (((c->cr0 ^ t->cr0) & pgbits) || ((c->cr4 ^ t->cr4) & cr4bits)) {
		shadow_flush(t, false);
	} else if (c->cr3 != t->cr3) {
		shadow_flush(t, true);
	} else if (is_invlpg) {
		shadow_drop(t, inv >> 12);
	}
	t->cr0 = c->cr0;
	t->cr3 = c->cr3;
	t->cr4 = c->cr4;
	if (c->cpl == 3 && t->cpl != 3)
		shadow_enter_user(t);
	else if (c->cpl != 3 && t->cpl == 3)
		kexec_set(t, true);
	t->cpl = c->cpl;
	return r;
}

/* Can the virtual CPU's state run natively? */
/* Not in real mode or v8086 (the host cannot run either), and not with
 * EFLAGS.NT: the host keeps NT clear, so a native IRET would return in
 * the same task instead of switching back to the caller's. */
static bool native_ok(struct cpu *c)
{
	return (c->cr0 & CR0_PE) && !(c->eflags & (EFLAGS_VM | EFLAGS_TF | EFLAGS_NT)) &&
	       !c->shadow &&
	       !c->halted && c->seg[S_CS].present && c->seg[S_CS].s && (c->seg[S_CS].type & 8) &&
	       !c->seg[S_SS].unusable;
}

/*
 * Runs the virtual CPU in the core until its state can go native again
 * with no interrupt to take first. Returns -1 (go native) or the exit.
 * At most SETTLE_MAX instructions at a time: real-mode, v8086 or NT code
 * can stay in the core for good, and this runs inside the signal handler,
 * where the kick and SIGTERM wait; the run loop then polls the devices
 * (timer interrupts), lets the VMM's signals in, and comes back.
 */
#define SETTLE_MAX 20000
static int settle(struct trap *t)
{
	struct cpu *c = &t->cpu;
	struct vm *vm = t->vcpu->vm;
	for (unsigned n = 0;; n++) {
		if (vm->stop || vm->kick || n == SETTLE_MAX)
			return EXIT_NONE;
		bool irq = (c->eflags & EFLAGS_IF) && !c->shadow && vcpu_irq_pending(t->vcpu);
		if (!irq && native_ok(c))
			return -1;
		if (irq)
			count(t, TR_IRQ);
		int r = emulate_one(t);
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

/* Virtual CPU -> native registers (and the LDT). Returns -1 if the LDT
 * cannot be written. */
static int to_native(struct trap *t, struct native_regs *r)
{
	struct cpu *c = &t->cpu;
	flags_materialize(c);
	memcpy(r->gpr, c->r.r32, sizeof r->gpr);
	r->eip = c->eip;
	r->eflags = c->eflags;
	for (int s = 0; s < SREG_COUNT; s++) {
		const struct seg *g = &c->seg[s];
		if (g->unusable || (!g->present && s != S_CS && s != S_SS) || !(g->sel & ~3u)) {
			r->sel[s] = 0;
			continue;
		}
		/* Clip user segments (DPL 3) below USER_TOP, whatever the CPL:
		 * a slot must describe its guest selector the same way in both
		 * modes, since the guest may save and restore it natively. */
		uint32_t limit_max = 0xffffffffu;
		struct seg flat_cs;
		if (s == S_CS && (g->dpl == 3 || c->cpl == 3)) {
			/* User code: the guest's own limit, execute-only (a CS
			 * override read faults and is emulated), so nothing of
			 * the kernel half is readable through it; the kernel's
			 * pages are not executable then (kexec_set). */
			flat_cs = *g;
			flat_cs.type &= ~2u;
			g = &flat_cs;
		} else if (g->dpl == 3 || c->cpl == 3) {
			limit_max = g->base >= USER_TOP ? 0 : USER_TOP - 1 - g->base;
		}
		unsigned idx = native_slot_of(g->sel);
		if (native_ldt_set(&t->nh, idx, g, limit_max) < 0) {
			snprintf(t->msg, sizeof t->msg, "modify_ldt: %s", strerror(errno));
			return -1;
		}
		r->sel[s] = NATIVE_SEL(idx);
	}
	return 0;
}

/* Native registers -> virtual CPU. A data segment register that no longer
 * holds our selector was loaded natively by the guest with a selector the
 * host's GDT accepted (e.g. 0x23): redo that load on the guest's tables. */
static int from_native(struct trap *t, const struct native_regs *r)
{
	struct cpu *c = &t->cpu;
	memcpy(c->r.r32, r->gpr, sizeof r->gpr);
	c->eip = r->eip;
	flags_materialize(c);
	/* TF too: a native POPF or IRET sets it at any CPL (the host then
	 * single-steps the guest, and the #DB handler must see TF pushed). */
	const uint32_t host_bits = EFLAGS_ARITH | EFLAGS_DF | EFLAGS_TF | EFLAGS_AC | EFLAGS_ID;
	c->eflags = (c->eflags & ~host_bits) | (r->eflags & host_bits);
	static const int data_segs[] = { S_ES, S_SS, S_DS, S_FS, S_GS };
	for (unsigned k = 0; k < 5; k++) {
		int s = data_segs[k];
		const struct seg *g = &c->seg[s];
		uint16_t hs = r->sel[s];
		uint16_t want = 0;
		if (!g->unusable && (g->present || s == S_SS) && (g->sel & ~3u))
			want = NATIVE_SEL(native_slot_of(g->sel));
		if (hs == want)
			continue;
		/* Which guest selector the guest loaded: one of our slots (it
		 * restored a saved register), or a selector of the host's GDT
		 * that loaded without faulting, taken as the guest's own. */
		uint16_t gs = hs;
		if (!hs)
			gs = 0;
		else if ((hs & 4) && t->nh.ldt && NATIVE_SLOT_OF_SEL(hs) < NATIVE_LDT_SLOTS &&
			 t->nh.ldt[NATIVE_SLOT_OF_SEL(hs)].valid)
			gs = t->nh.ldt[NATIVE_SLOT_OF_SEL(hs)].guest_sel;
		if (gs == g->sel && !(gs & ~3u))
			continue;
		volatile int vs = s;
		volatile uint16_t vgs = gs;
		switch (_setjmp(c->jb)) {
		case 0:
			seg_load(c, vs, vgs);
			break;
		case 1:
			cpu_handle_exception(c);
			if (c->exit >= 0)
				return c->exit;
			break;
		default:
			return c->exit;
		}
	}
	return -1;
}

static void fill_exit(struct trap *t, int r)
{
	t->exit = r;
}

/* The signal callback (alternate stack, VMM FS/GS restored). */
static enum native_verdict on_signal(int sig, siginfo_t *si, ucontext_t *uc, bool guest,
				     void *opaque)
{
	struct trap *t = opaque;
	struct cpu *c = &t->cpu;
	struct vm *vm = t->vcpu->vm;
	struct native_regs r;
	native_regs_from_uc(uc, &r);
	/* The guest's x87 state (the native layer took it from the frame):
	 * what an emulated instruction sees and changes. */
	fpu_from_native(t);
	c->exit = -1;
	int fr = from_native(t, &r);
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
			bool mmio = false;
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
			if (t->pf_repeats < 4 && shadow_fault(t, lin, write, fetch, &mmio)) {
				count(t, TR_PF);
				done = true;
			} else {
				mmio = mmio && t->pf_repeats < 4;
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
		/* INT3 / INT 3 are traps: back up to the instruction. */
		uint8_t b1 = 0;
		uint32_t lin = c->seg[S_CS].base + c->eip - 1;
		volatile uint8_t *p = native_host_addr(&t->nh, lin);
		if (t->pst[lin >> 12] & PS_MAPPED)
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
		int er = emulate_one(t);
		if (er == EXIT_HLT || er == EXIT_SHUTDOWN || er == EXIT_ERROR) {
			if (er != EXIT_HLT)
				snprintf(t->msg, sizeof t->msg, "%s", c->errmsg);
			fill_exit(t, er);
			return NATIVE_EXIT;
		}
	}
	int sr = settle(t);
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
	trap_debug = getenv("RINGVM_TRAP_DEBUG") != NULL;
	t->pst = calloc(1u << 20, 1);
	t->nh.base = 0;
	t->nh.kick_sig = SIGRTMIN;
	t->nh.kick = &vcpu->vm->kick;
	t->nh.cb = on_signal;
	t->nh.opaque = t;
	if (!t->pst || native_reserve(&t->nh) < 0) {
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
	t->cr0 = t->cpu.cr0;
	t->cr3 = t->cpu.cr3;
	t->cr4 = t->cpu.cr4;
	t->cpl = t->cpu.cpl;
	vcpu->priv = t;
	the_trap = t;
	return 0;
fail_res:
	native_release(&t->nh);
fail:
	cpu_fini(&t->cpu);
	free(t->pst);
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
	free(t->pst);
	free(t->mapped);
	free(t->priv);
	free(t->kexec);
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
	int r = settle(t);
	if (r < 0) {
		struct native_regs nr;
		if (to_native(t, &nr) < 0) {
			r = EXIT_ERROR;
		} else {
			t->exit = -1;
			fpu_to_native(t);
			int rc = native_enter(&t->nh, &nr);
			r = rc == NATIVE_STOP_KICKED ? EXIT_NONE : t->exit;
			if (r < 0) {
				r = EXIT_ERROR;
				snprintf(t->msg, sizeof t->msg, "internal: native run ended without an exit");
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
	shadow_flush(t, false);
	t->cr0 = t->cpu.cr0;
	t->cr3 = t->cpu.cr3;
	t->cr4 = t->cpu.cr4;
	t->cpl = t->cpu.cpl;
}

static bool trap_irq_window_open(struct vcpu *vcpu)
{
	struct trap *t = vcpu->priv;
	return cpu_irq_window_open(&t->cpu);
}

const struct engine engine_trap = {
	.name = "trap",
	.family = "trap-and-emulate",
	.available = trap_available,
	.fast_here = NULL,
	.create = trap_create,
	.destroy = trap_destroy,
	.run = trap_run,
	.get_state = trap_get_state,
	.set_state = trap_set_state,
	.irq_window_open = trap_irq_window_open,
};
