/*
 * The bt engine: the run loop, VMM calls from translated code, and the
 * signal callback. See bt.h for the idea and translate.c for the code.
 *
 * Where things run:
 *   - the run loop (bt_run) translates, chains, invalidates and emulates;
 *   - translated code runs natively until an exit stub far-jumps to
 *     bt_exit64 (a VMM call, no signal) or a host signal arrives;
 *   - the signal callback (on_signal, alternate stack, VMM FS/GS bases
 *     restored by the shared prologue) only ever interrupts translated
 *     code or an exit snippet, never the VMM itself. It does as little as
 *     it can: a hidden page fault is filled (mmap) and the guest resumes;
 *     anything else records the precise guest state (cache address ->
 *     guest EIP) and ends the native run, so that the emulation happens
 *     in the run loop. Everything it touches (the cpu, the shadow, the
 *     cache-address map) is not in use by the interrupted code.
 */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

#include "bt.h"
#include "bt_priv.h"
#include "cpu/insn.h"
#include "vm/hypercall.h"
#include "vm/sandbox.h"
#include "vm/vm.h"

static struct bt *the_bt; /* signals are per process: one vCPU */
static bool bt_debug;	  /* RINGVM_BT_DEBUG=1: one line per VMM call on stderr */

static const char *const why_names[BT_WHY_N] = {
	[SENS_CLI] = "cli", [SENS_STI] = "sti", [SENS_PUSHF] = "pushf", [SENS_POPF] = "popf",
	[SENS_SREG_READ] = "segment read", [SENS_SREG_LOAD] = "segment load",
	[SENS_DESC_READ] = "descriptor read", [SENS_CPUID] = "cpuid", [SENS_RDTSC] = "rdtsc",
	[SENS_IO] = "port io", [SENS_HLT] = "hlt", [SENS_CTL] = "control register/table",
	[SENS_FAR] = "far transfer/iret", [SENS_INT] = "int n", [SENS_SYSCALL] = "sysenter/syscall",
	[SENS_CS_MEM] = "cs memory operand", [SENS_16BIT] = "16-bit branch",
	[SENS_OTHER] = "other instruction", [BT_WHY_INDIRECT] = "indirect branch",
	[BT_WHY_INVALID] = "invalid opcode", [BT_WHY_GS] = "gs override",
	[BT_WHY_ADAPT] = "kept faulting (adaptive)",
};

static bool bt_available(char *why, size_t why_len)
{
	if (!native_probe(why, why_len))
		return false;
	snprintf(why, why_len,
		 "modify_ldt, FSGSBASE and seccomp available: all guest code is translated, "
		 "sensitive instructions become VMM calls");
	return true;
}

/* --- state between the virtual CPU and native code --- */

/* Can the virtual CPU's state run as translated code? (32-bit protected
 * mode, no single-step, no interrupt shadow, a usable flat-enough stack) */
static bool native_ok(const struct cpu *c)
{
	const struct seg *cs = &c->seg[S_CS], *ss = &c->seg[S_SS];
	/* NT: the IRET that ends a nested task switches back in the core. */
	return (c->cr0 & CR0_PE) && !(c->eflags & (EFLAGS_VM | EFLAGS_TF | EFLAGS_NT)) &&
	       !c->shadow && (c->cpl == 0 || c->cpl == 3) &&
	       !c->halted && cs->present && cs->s && (cs->type & 8) && cs->db && !ss->unusable &&
	       ss->present && ss->db && !(ss->type & 4) && ss->base < BT_USER_TOP;
}

/* The host selector for one guest data segment: an LDT slot that
 * describes it clipped below the VMM window, and below BT_USER_TOP for a
 * DPL-3 segment while guest user code runs (so a higher-half kernel's
 * pages stay out of user reach); 0 (null: every access faults and is
 * emulated) when nothing of it can be native. A DPL-3 segment at CPL 0
 * (Linux runs its kernel on __USER_DS) reaches the kernel's half like a
 * kernel segment. The two views are two slots (slots.c), both kept
 * written: a guest user/kernel switch only picks the other selector. */
int bt_data_sel(struct bt *t, const struct seg *g, uint16_t *out)
{
	if (g->unusable || !g->present || !(g->sel & ~3u) || !g->s || (g->type & 8) ||
	    (g->type & 4)) {
		*out = 0; /* expand-down: its reach would include the window */
		return 0;
	}
	uint32_t top = g->dpl == 3 && t->cpu.cpl == 3 ? BT_USER_TOP : BT_WIN_BASE;
	if (g->base >= top) {
		*out = 0;
		return 0;
	}
	if (bt_slot_get(t, g, top - 1 - g->base, t->seg_sel, out) < 0) {
		snprintf(t->msg, sizeof t->msg, "modify_ldt: %s", strerror(errno));
		return -1;
	}
	return 0;
}

/* Guest user mode's GS, rebased (BT_GS_REBASE): a 4 GiB DPL-3 segment
 * (glibc's TLS) whose base lies above BT_GS_REBASE is described that much
 * lower, and otherwise as any user data segment (clipped below
 * BT_USER_TOP, its slot chosen by content); any other GS is null, so the
 * VMM calls that translated GS instructions make do its accesses. */
static int tls_sel(struct bt *t, const struct seg *g, uint16_t *out)
{
	if (g->dpl != 3 || g->limit != 0xffffffffu || g->base < BT_GS_REBASE) {
		*out = 0;
		return 0;
	}
	struct seg r = *g;
	r.base = g->base - BT_GS_REBASE;
	return bt_data_sel(t, &r, out);
}

/* The host selector for segment register sr (into t->seg_sel[sr]). A
 * segment register only changes through the core, so the answer is most
 * often one of the last few. */
static int seg_choose(struct bt *t, int sr)
{
	const struct seg *g = &t->cpu.seg[sr];
	struct bt_segmemo *m = t->seg_memo[sr];
	uint8_t cpl = (uint8_t)t->cpu.cpl;
	int w = 0;
	while (w < BT_SEG_MEMO &&
	       !(m[w].ok && m[w].cpl == cpl && memcmp(&m[w].seg, g, sizeof *g) == 0))
		w++;
	struct bt_segmemo hit;
	if (w < BT_SEG_MEMO) {
		hit = m[w];
	} else {
		hit = (struct bt_segmemo){ .seg = *g, .cpl = cpl, .ok = true };
		int rc = sr == S_GS && cpl == 3 ? tls_sel(t, g, &hit.sel) : bt_data_sel(t, g, &hit.sel);
		if (rc < 0)
			return -1;
		w = BT_SEG_MEMO - 1;
	}
	for (; w > 0; w--) /* most recent first; w is 0 almost always */
		m[w] = m[w - 1];
	m[0] = hit;
	t->seg_sel[sr] = hit.sel;
	return 0;
}

/* Virtual CPU -> what bt_enter_asm and the trampoline load. Returns 0,
 * 1 if the stack cannot be native, -1 on a host error. */
static int to_native(struct bt *t, uint32_t host_eip, struct bt_entry *en)
{
	struct cpu *c = &t->cpu;
	struct bt_vpage *vp = BT_VPAGE_PTR;
	flags_materialize(c);
	memcpy(vp->entry_gpr, c->r.r32, sizeof vp->entry_gpr);
	vp->entry_eip = host_eip;
	en->eflags = (c->eflags & BT_HOST_FLAGS) | 0x202;
	vp->entry_sahf = !(c->eflags & (EFLAGS_DF | EFLAGS_AC));
	vp->entry_ahal = ((c->eflags & 0xd5) << 8) | ((c->eflags & EFLAGS_OF) ? 1 : 0);
	bt_segsites_check_tables(t);
	/* At CPL 0 GS holds the VMM data segment. */
	static const int data_segs[] = { S_ES, S_SS, S_DS, S_FS, S_GS };
	for (unsigned k = 0; k < 5; k++) {
		int sr = data_segs[k];
		if (sr == S_GS && c->cpl == 0)
			continue; /* the VMM data segment (vp->data_sel) */
		if (seg_choose(t, sr) < 0)
			return -1;
	}
	memcpy(en->sel, t->seg_sel, sizeof en->sel);
	en->reload = t->seg_reload; /* cleared when entered (run loop) */
	en->sel[S_CS] = t->code_sel;
	if (c->cpl == 0)
		en->sel[S_GS] = vp->data_sel;
	en->fs_base = t->nh.base + c->seg[S_FS].base;
	en->gs_base = c->cpl == 0 ? BT_VPAGE : t->nh.base + c->seg[S_GS].base;
	en->esp = c->r.r32[R_ESP];
	vp->vif = c->eflags & EFLAGS_IF;
	vp->vflags = c->eflags & ~(BT_HOST_FLAGS | EFLAGS_IF);
	vp->irq_pending = vcpu_irq_pending(t->vcpu);
	vp->tsc_offset = (uint64_t)c->tsc_offset;
	for (int s = 0; s < SREG_COUNT; s++)
		vp->gsel[s] = c->seg[s].sel;
	vp->cr[0] = c->cr0;
	vp->cr[2] = c->cr2;
	vp->cr[3] = c->cr3;
	vp->cr[4] = c->cr4;
	return en->sel[S_SS] ? 0 : 1;
}

/* Registers of translated code -> virtual CPU: GPRs, the host-held flags,
 * the virtual ones in the vCPU page (cli/sti/popf) and the data segments
 * that inline segment loads changed (bt_segsite_apply). */
static void regs_in(struct bt *t, const uint32_t gpr[8], uint32_t eflags, uint32_t eip)
{
	struct cpu *c = &t->cpu;
	const struct bt_vpage *vp = BT_VPAGE_PTR;
	bt_segsite_apply(t);
	memcpy(c->r.r32, gpr, 8 * sizeof(uint32_t));
	flags_materialize(c);
	c->eflags = (eflags & BT_HOST_FLAGS) | (vp->vflags & ~(BT_HOST_FLAGS | EFLAGS_IF)) |
		    (vp->vif & EFLAGS_IF);
	c->eip = eip;
}

/* --- emulation through the shared core --- */

/* INVLPG's linear address, if the instruction at CS:EIP is one. */
static bool peek_invlpg(struct bt *t, uint32_t *lin)
{
	return insn_invlpg_at(&t->cpu, lin);
}

/* Executes one instruction (or delivers one pending interrupt) in the
 * core, then brings the shadow and the translations in line with what it
 * changed. Returns the core's exit reason. */
/* The virtual CPU's paging registers were cr0/cr3/cr4 before it ran
 * something (an emulated instruction, a hypercall's set_state); invlpg: the
 * linear address of an INVLPG it executed, or NULL. Translations are keyed
 * by linear address (and checked against the physical page in each address
 * space): a paging mode change drops them all, a CR3 write (even of the
 * same value: a TLB flush, as Linux does after changing PTEs) starts a new
 * address space, INVLPG drops one linear page's. */
static void paging_changed(struct bt *t, uint32_t cr0, uint32_t cr3, uint32_t cr4,
			   const uint32_t *invlpg)
{
	struct cpu *c = &t->cpu;
	const uint32_t pgbits = CR0_PG | CR0_WP | CR0_PE;
	/* TSD too: whether rdtsc may be inline depends on it (emit_rdtsc) */
	const uint32_t cr4bits = CR4_PSE | CR4_PGE | CR4_PAE | CR4_TSD;
	if (((c->cr0 ^ cr0) & pgbits) || ((c->cr4 ^ cr4) & cr4bits))
		bt_flush(t);
	else if ((c->cr0 & CR0_PG) && (c->cr3 != cr3 || c->cr3_loads != t->sh.cr3_loads))
		bt_new_address_space(t, cr3, true);
	else if (invlpg)
		bt_invalidate_lin(t, *invlpg);
	shadow_track(&t->sh, c, invlpg);
}

/* emulate_n's answer when an exception was raised inside a batch: state
 * at the faulting instruction, nothing delivered. */
#define BT_BATCH_FAULT (-3)
#define BT_BATCH_FAULT_GO_ON (-4) /* settle_n: go on (as -1), after a BT_BATCH_FAULT */

/* n instructions in the core (more than one: none of them an INVLPG, whose
 * flush paging_changed must follow one by one; a CR3 or paging change
 * anywhere in them is seen at the end). */
static int emulate_n(struct bt *t, bool may_invlpg, unsigned n)
{
	struct cpu *c = &t->cpu;
	uint32_t inv = 0;
	bool is_invlpg = n == 1 && may_invlpg && peek_invlpg(t, &inv);
	uint32_t cr0 = c->cr0, cr3 = c->cr3, cr4 = c->cr4;
	uint64_t before = c->insns;
	/* Guest code may have been written natively since the core decoded
	 * it: pages without translations (volatile ones, ones only ever
	 * interpreted) and pages whose translations a flush dropped are not
	 * write-protected. Only CS:EIP is checked: the rest of a batch is on
	 * the same translated (write-protected) page, and a fault inside a
	 * batch is handed back (exc_return) rather than delivered, so that
	 * the core never runs on into a handler it has not checked; the
	 * instruction is then redone alone (settle_n). */
	native_icache_check(&t->ic, c);
	bool handed = c->exc_return;
	if (n > 1)
		c->exc_return = true;
	int r = cpu_run(c, n);
	c->exc_return = handed;
	if (r == -2 && n > 1 && !handed)
		r = BT_BATCH_FAULT;
	t->emulated += c->insns - before;
	paging_changed(t, cr0, cr3, cr4, is_invlpg ? &inv : NULL);
	return r;
}

/* The core wrote to a physical page flagged in code_page. */
static void on_core_code_write(struct cpu *c, uint32_t ppn)
{
	struct bt *t = the_bt;
	if (t && c == &t->cpu && ppn < (c->ram_size >> 12))
		bt_invalidate_page(t, ppn, true);
}

/* The shadow asks before a native write reaches a page holding code: no,
 * the write is emulated in the run loop (so that a store into the running
 * block ends it), which then invalidates the page (on_core_code_write). */
static bool on_native_code_write(struct shadow *s, uint64_t gpa_page, void *opaque)
{
	(void)s;
	(void)gpa_page;
	(void)opaque;
	return false;
}

/* --- exact guest state from a cache address --- */

/* The registers of translated code are in the cpu, XMM0/XMM1's low
 * dwords in xmm[]: make them the guest's exact state at position at. */
static void pc_recover(struct cpu *c, const struct bt_pc *at, const uint32_t xmm[2])
{
	c->eip = at->fix == PC_MISS ? c->r.r32[R_ECX] : at->eip;
	if (at->ecx_xmm)
		c->r.r32[R_ECX] = xmm[0];
	if (at->edx_xmm)
		c->r.r32[R_EDX] = xmm[1];
}

/* --- the signal callback --- */

static enum native_verdict resume_live(const ucontext_t *uc)
{
	struct native_regs r;
	native_regs_from_uc(uc, &r);
	memcpy(native_resume_sel, r.sel, sizeof native_resume_sel);
	return NATIVE_RESUME;
}

static enum native_verdict internal_error(struct bt *t, int sig, uint32_t pc)
{
	struct vm *vm = t->vcpu->vm;
	snprintf(t->msg, sizeof t->msg,
		 "internal: signal %d at cache address %08x that maps to no guest state", sig, pc);
	native_exit_code = BT_STOP_SIGNAL;
	t->sig_emulate = false;
	t->stepping = false;
	vm->stop = true;
	vm->exit_status = RINGVM_EXIT_HOST;
	vm->stop_why = "bt: internal error";
	return NATIVE_EXIT;
}

/* A signal in the entry trampoline: no guest instruction has run yet and
 * the virtual CPU still holds the whole state. */
static enum native_verdict on_tramp_signal(struct bt *t, int sig, siginfo_t *si, ucontext_t *uc)
{
	uint32_t lin = (uint32_t)((uintptr_t)si->si_addr - t->nh.base);
	if (sig == SIGSEGV && uc->uc_mcontext.gregs[REG_TRAPNO] == 14 && lin < BT_WIN_BASE &&
	    shadow_fill(&t->sh, &t->cpu, lin, true, false) == SHADOW_MAPPED) {
		return resume_live(uc); /* pushing the flags touched an unmapped stack page */
	} else if (sig == t->nh.kick_sig) {
		t->vcpu->vm->kick = 1;
		t->sig_emulate = false;
	} else {
		/* The flags push faulted (ESP in no usable page, or at the
		 * segment limit): the core runs the first instruction. */
		t->sig_emulate = true;
	}
	native_exit_code = BT_STOP_SIGNAL;
	return NATIVE_EXIT;
}

static enum native_verdict on_signal(int sig, siginfo_t *si, ucontext_t *uc, bool guest,
				     void *opaque)
{
	struct bt *t = opaque;
	struct cpu *c = &t->cpu;
	struct vm *vm = t->vcpu->vm;
	(void)guest;
	uint32_t pc = (uint32_t)uc->uc_mcontext.gregs[REG_RIP];
	if ((uint16_t)uc->uc_mcontext.gregs[REG_CSGSFS] != t->code_sel) {
		/* An exit snippet (64-bit, in the window) on its way to the
		 * VMM: a kick just waits for it to arrive. Anything else
		 * there is a VMM bug: let it crash visibly. */
		if (sig == t->nh.kick_sig && pc >= BT_WIN_BASE) {
			vm->kick = 1;
			return resume_live(uc);
		}
		return NATIVE_PASS;
	}
	if (pc >= BT_TRAMP && pc < BT_TRAMP + 0x100)
		return on_tramp_signal(t, sig, si, uc);
	const struct bt_pc *at = bt_pc_find(t, pc);
	if (!at)
		return internal_error(t, sig, pc);
	if (sig == SIGSEGV && uc->uc_mcontext.gregs[REG_TRAPNO] == 14) {
		/* A hidden fault needs no guest state: fill and resume. */
		uint32_t lin = (uint32_t)((uintptr_t)si->si_addr - t->nh.base);
		bool write = uc->uc_mcontext.gregs[REG_ERR] & 2;
		if (lin < BT_WIN_BASE && shadow_fill(&t->sh, c, lin, write, false) == SHADOW_MAPPED) {
			t->n.hidden_faults++;
			return resume_live(uc);
		}
	}
	if (at->fix == PC_STEP && sig != t->nh.kick_sig && sig != SIGTRAP)
		return internal_error(t, sig, pc); /* step positions cannot fault */
	/* A single-step trap that bt did not ask for: a copied POPF set the
	 * guest's TF, and the host stepped one host instruction past it. No
	 * guest instruction has run since, so nothing is delivered here: the
	 * virtual CPU goes on in the core with TF set (native_ok refuses TF),
	 * which steps the guest's next instruction and raises its #DB, as the
	 * core does for interp. */
	if (sig == SIGTRAP && si->si_code == TRAP_TRACE && !t->stepping)
		t->guest_step = true;
	if (sig == t->nh.kick_sig) {
		vm->kick = 1;
		t->n.kicks++;
	}
	if (sig == SIGSYS)
		t->n.sigsys++; /* never expected: no system call instruction is copied */
	if (at->fix == PC_STEP) {
		/* Two instructions of an indirect-branch sequence have no
		 * exact guest state: single-step to the next that has. */
		t->stepping = true;
		uc->uc_mcontext.gregs[REG_EFL] |= EFLAGS_TF;
		return resume_live(uc);
	}
	if (t->stepping)
		uc->uc_mcontext.gregs[REG_EFL] &= ~(greg_t)EFLAGS_TF;
	uint32_t gpr[8];
	static const int greg_of[8] = { REG_RAX, REG_RCX, REG_RDX, REG_RBX,
					REG_RSP, REG_RBP, REG_RSI, REG_RDI };
	for (int k = 0; k < 8; k++)
		gpr[k] = (uint32_t)uc->uc_mcontext.gregs[greg_of[k]];
	regs_in(t, gpr, (uint32_t)uc->uc_mcontext.gregs[REG_EFL], at->eip);
	uint32_t xmm[2] = { 0, 0 };
	if (uc->uc_mcontext.fpregs) {
		xmm[0] = uc->uc_mcontext.fpregs->_xmm[0].element[0];
		xmm[1] = uc->uc_mcontext.fpregs->_xmm[1].element[0];
	}
	pc_recover(c, at, xmm);
	if (t->guest_step) {
		c->eflags |= EFLAGS_TF;
		uc->uc_mcontext.gregs[REG_EFL] &= ~(greg_t)EFLAGS_TF;
	}
	if (sig == t->nh.kick_sig || (sig == SIGTRAP && (t->stepping || t->guest_step))) {
		t->sig_emulate = false;
	} else {
		/* A fault of a copied instruction (guest #PF, #GP on the
		 * truncated segments, MMIO, #DE, a write to a code page) or
		 * of a spill: the core redoes that guest instruction. */
		t->n.emulated_faults++;
		t->sig_emulate = true;
	}
	t->stepping = false;
	t->guest_step = false;
	native_exit_code = BT_STOP_SIGNAL;
	return NATIVE_EXIT;
}

/* --- the run loop --- */

static void count_call(struct bt *t, unsigned why)
{
	if (why < BT_WHY_N)
		t->n.calls[why]++;
}

/* Runs one exit's consequences (the VMM call proper). Returns -1 to go on,
 * or an exit reason for the run loop. */
static int settle_code(struct bt *t, int r);

static int settle_n(struct bt *t, bool may_invlpg, unsigned n)
{
	return settle_code(t, emulate_n(t, may_invlpg, n));
}

/* What the run loop does with emulate_n's answer r. */
static int settle_code(struct bt *t, int r)
{
	switch (r) {
	case BT_BATCH_FAULT: /* the run loop goes on there: the faulting
			      * instruction is redone alone, and delivers */
		return BT_BATCH_FAULT_GO_ON;
	case EXIT_NONE:
	case EXIT_IO:
	case EXIT_MMIO:
	case EXIT_IRQ_WINDOW:
		return -1;
	case EXIT_HLT:
		return EXIT_HLT;
	case EXIT_HYPERCALL:
		/* Handled right here, as interp does: a hypercall is a VMM
		 * call like any other. HALT waits in the run loop as HLT. */
		return hypercall_handle(t->vcpu) ? EXIT_HLT : -1;
	case -2: /* an exception handed back (exc_return: bt_run_flat only) */
		return BT_FLAT_EXC;
	default:
		snprintf(t->msg, sizeof t->msg, "%s", t->cpu.errmsg);
		return r;
	}
}

static int settle_one(struct bt *t, bool may_invlpg)
{
	return settle_n(t, may_invlpg, 1);
}

/* An adapted instruction of guest user code (a demand-paging site, an
 * access that faults natively): the core runs it with its exception
 * handed back, and gate.c delivers the fault into the ring-0 handler
 * (the core's kept answer, or its idt_deliver directly). One gate.c does
 * not deliver is redone the ordinary way: x86 faults restart, so the
 * instruction faults again, and the core delivers (a double fault
 * included). */
static int settle_user_adapted(struct bt *t)
{
	struct cpu *c = &t->cpu;
	c->exc_return = true;
	int r = emulate_n(t, false, 1);
	c->exc_return = false;
	if (r != -2)
		return settle_code(t, r);
	if (!bt_gate_exception(t))
		return settle_one(t, false);
	t->n.fast_gates++;
	paging_changed(t, c->cr0, c->cr3, c->cr4, NULL); /* the shadow follows the CPL */
	return -1;
}

/* The sensitive instructions after a VMM call's own (bt_exit.batch, by
 * length), emulated in the same call while the guest goes straight on
 * from one to the next and nothing else needs the run loop. */
/* Must the batch stop here (the run loop has something to do first)? */
static bool emulate_batch_stops(struct bt *t)
{
	struct cpu *c = &t->cpu;
	struct vm *vm = t->vcpu->vm;
	return vm->stop || vm->kick || BT_VPAGE_PTR->kick || c->shadow ||
	       ((c->eflags & EFLAGS_IF) && vcpu_irq_pending(t->vcpu));
}

static int emulate_batch(struct bt *t, const uint8_t batch[BT_BATCH])
{
	struct cpu *c = &t->cpu;
	for (unsigned k = 0; k < BT_BATCH && batch[k]; k++) {
		if (emulate_batch_stops(t))
			return -1;
		uint32_t eip = c->eip;
		int r = settle_one(t, (batch[k] & BT_BATCH_INVLPG) != 0);
		if (r >= 0)
			return r;
		if (c->eip - eip != (batch[k] & ~BT_BATCH_INVLPG))
			return -1; /* it went elsewhere (fault, transfer) */
		t->n.batched++;
	}
	return -1;
}

/* INVLPG of the guest kernel (CPL 0 may always), without the core: what
 * h_invlpg does, then what emulate_one would do after it. */
static void fast_invlpg(struct bt *t, const struct bt_exit *x)
{
	struct cpu *c = &t->cpu;
	struct insn_info in = { .mem = x->inv };
	uint32_t lin = c->seg[x->inv.seg].base + insn_ea(&in, c->r.r32);
	tlb_flush_page(c, lin);
	if (c->cr0 & CR0_PG)
		bt_invalidate_lin(t, lin);
	shadow_track(&t->sh, c, &lin);
	c->eip += x->len;
	t->emulated++;
	t->n.fast_invlpg++;
}

/* A plain in/out of the guest kernel, without the core's decode and
 * checks (CPL 0 may always do port IO): what h_in/h_out do. */
static void fast_io(struct bt *t, const struct bt_exit *x)
{
	struct cpu *c = &t->cpu;
	uint16_t port = x->io_dx ? c->r.r16[R_EDX * 2] : x->io_port;
	uint8_t buf[4] = { 0 };
	if (x->io_out)
		store_n(buf, x->io_size, load_n(c->r.r8, x->io_size));
	cpu_pio(c, port, buf, x->io_size, x->io_out);
	if (!x->io_out)
		store_n(c->r.r8, x->io_size, load_n(buf, x->io_size));
	c->eip += x->len;
	t->emulated++;
	t->n.fast_io++;
}

/* A plain INT imm8 or IRET through the core's delivery or return without
 * its pipeline (gate.c); false: nothing changed, emulate it as usual. */
static bool gate(struct bt *t, const struct bt_exit *x)
{
	struct cpu *c = &t->cpu;
	uint32_t cr0 = c->cr0, cr3 = c->cr3, cr4 = c->cr4;
	bool done = x->gate == BT_GATE_INT    ? bt_gate_int(t, x->gate_vec, x->len)
		    : x->gate == BT_GATE_IRET ? bt_gate_iret(t, x->len)
					      : bt_gate_divzero(t, x->gate_vec);
	if (!done)
		return false;
	t->emulated++;
	t->n.fast_gates++;
	paging_changed(t, cr0, cr3, cr4, NULL); /* the shadow follows the CPL */
	return true;
}

/* After fast_io: the OUT may have rung the PV doorbell (cpu_pio saw it). */
static int fast_io_hypercall(struct bt *t)
{
	if (!t->vcpu->hypercall)
		return -1;
	t->cpu.exit = -1;
	return hypercall_handle(t->vcpu) ? EXIT_HLT : -1;
}

int bt_run_loop(struct bt *t)
{
	struct cpu *c = &t->cpu;
	struct vm *vm = t->vcpu->vm;
	struct bt_vpage *vp = BT_VPAGE_PTR;
	for (;;) {
		if (vp->kick) {
			vp->kick = 0;
			vm->kick = 1;
		}
		if (vm->stop || vm->kick)
			return EXIT_NONE;
		if (c->stop_eip != ~0u && c->eip == c->stop_eip)
			return BT_FLAT_STOP; /* bt_run_flat only: a guest may run at ~0 */
		bool irq = (c->eflags & EFLAGS_IF) && !c->shadow && vcpu_irq_pending(t->vcpu);
		struct bt_block *b = NULL;
		if (t->interp_budget)
			t->interp_budget--;
		else if (!irq && native_ok(c)) {
			uint32_t lin = c->seg[S_CS].base + c->eip;
			b = bt_lookup(t, lin, c->seg[S_CS].base, c->cpl == 3);
			if (!b)
				b = bt_translate(t);
		}
		struct bt_entry en;
		int tn = b ? to_native(t, b->host, &en) : 1;
		if (tn < 0)
			return EXIT_ERROR;
		if (tn > 0) {
			t->chain_from = -1;
			t->fill_lookup = false;
			if (!b && !irq)
				t->n.interpreted++;
			int r = settle_one(t, true);
			if (r >= 0)
				return r;
			continue;
		}
		if (t->chain_from >= 0)
			bt_chain(t, t->chain_from, b);
		t->chain_from = -1;
		if (c->seg[S_CS].base != t->table_cs_base) {
			/* The lookup tables hold guest EIPs of one CS base. */
			bt_tables_reset(t);
			t->table_cs_base = c->seg[S_CS].base;
		}
		if (t->fill_lookup)
			bt_lookup_fill(t, b);
		t->fill_lookup = false;
		t->sig_emulate = false;
		native_exit_code = 0;
		t->seg_reload = 0;
		int rc = bt_enter_asm(&en);
		if (rc == BT_STOP_CALL) {
			t->fault_streak = 0;
			t->interp_burst = BT_INTERP_BURST;
			uint32_t id = vp->exit_id;
			if (id == BT_EXIT_BAIL)
				continue; /* kicked before any guest code ran */
			if (id >= t->nexits) {
				snprintf(t->msg, sizeof t->msg, "internal: exit id %u out of range", id);
				return EXIT_ERROR;
			}
			const struct bt_exit *x = &t->exits[id];
			regs_in(t, bt_gregs, bt_gflags, x->eip);
			if (bt_debug)
				fprintf(stderr, "bt: exit %u kind %u why %u eip %08x eax %08x esp %08x\n",
					id, x->kind, x->why, x->eip, c->r.r32[0], c->r.r32[4]);
			if (x->kind == EX_IRQ)
				continue;
			if (x->kind == EX_BRANCH) {
				t->chain_from = (int)id;
				continue;
			}
			if (x->kind == EX_MISS) {
				static const struct bt_pc miss = { 0, 0, PC_MISS, 1, 1 };
				pc_recover(c, &miss, bt_xmm);
				t->n.misses++;
				t->fill_lookup = true;
				continue;
			}
			count_call(t, x->why);
			if (x->io_size && c->cpl == 0) {
				fast_io(t, x);
				int hr = fast_io_hypercall(t);
				if (hr >= 0)
					return hr;
				continue;
			}
			if (x->invlpg && c->cpl == 0) {
				fast_invlpg(t, x);
				continue;
			}
			if (x->gate && gate(t, x))
				continue;
			uint32_t at = c->seg[S_CS].base + c->eip, cpl = c->cpl;
			uint8_t why = x->why; /* the emulation may grow (move) t->exits */
			uint32_t site = x->site;
			uint8_t batch[BT_BATCH];
			memcpy(batch, x->batch, sizeof batch);
			uint32_t straight_on = c->eip + x->len;
			/* The instruction and its batch in one run of the core
			 * when no INVLPG is among them (the common case: a
			 * guest's run of segment loads): one setjmp, one
			 * interrupt check, one paging check for all. */
			unsigned nb = 0, blen = 0;
			while (nb < BT_BATCH && batch[nb] && !(batch[nb] & BT_BATCH_INVLPG))
				blen += batch[nb++];
			bool transfer = why == SENS_FAR || why == SENS_INT || why == SENS_SYSCALL ||
					why == BT_WHY_INDIRECT; /* its batch is for the fall-through */
			bool alone = at == t->batch_fault_at;
			t->batch_fault_at = ~0u;
			/* A segment-load site's own load runs alone: its result
			 * fills the site. */
			if (nb && !transfer && !alone && why != BT_WHY_ADAPT && !site &&
			    (nb == BT_BATCH || !batch[nb]) && !emulate_batch_stops(t)) {
				int r = settle_n(t, false, 1 + nb);
				if (r == BT_BATCH_FAULT_GO_ON)
					t->batch_fault_at = c->seg[S_CS].base + c->eip;
				if (r >= 0)
					return r;
				if (c->eip == straight_on + blen)
					t->n.batched += nb;
				continue;
			}
			/* An INVLPG of the guest kernel took fast_invlpg; one of
			 * user code raises #GP: no flush to follow here. */
			int r = why == BT_WHY_ADAPT && cpl == 3 && !c->exc_return
					? settle_user_adapted(t)
					: settle_one(t, false);
			if (site && r < 0 && c->eip == straight_on)
				bt_segsite_fill(t, site - 1);
			/* an innocuous instruction that did not fault only moves EIP on */
			if (why == BT_WHY_ADAPT && c->cpl == cpl &&
			    c->seg[S_CS].base + c->eip - at <= INSN_MAX_LEN)
				bt_adapt_clean(t, at);
			if (r < 0 && c->eip == straight_on)
				r = emulate_batch(t, batch);
			if (r >= 0)
				return r;
			continue;
		}
		if (rc != BT_STOP_SIGNAL) {
			snprintf(t->msg, sizeof t->msg, "internal: native run ended with %d", rc);
			return EXIT_ERROR;
		}
		if (vm->stop)
			return t->msg[0] ? EXIT_ERROR : EXIT_NONE;
		if (bt_debug)
			fprintf(stderr, "bt: signal exit eip %08x emulate %d\n", c->eip, t->sig_emulate);
		if (t->sig_emulate) {
			/* a copied instruction faulted for the guest */
			bt_adapt_note(t, c->seg[S_CS].base + c->eip);
			int r = settle_one(t, false);
			if (r >= 0)
				return r;
			if (++t->fault_streak >= BT_STREAK) {
				t->fault_streak = 0;
				if (t->interp_burst < BT_INTERP_BURST)
					t->interp_burst = BT_INTERP_BURST;
				t->interp_budget = t->interp_burst;
				if (t->interp_burst < (64u << 10))
					t->interp_burst *= 2;
			}
		}
	}
}

/* Adds d to the "bt: name" counter (one lookup, whatever d is). */
static void stats_add(struct stats *st, const char *name, uint64_t d)
{
	if (!d)
		return;
	stats_event(st, "bt", name);
	char key[sizeof st->named[0].name];
	snprintf(key, sizeof key, "bt: %s", name);
	for (unsigned i = 0; i < st->n_named; i++)
		if (strcmp(st->named[i].name, key) == 0)
			st->named[i].count += d - 1;
}

static void flush_stats(struct bt *t)
{
	struct stats *st = &t->vcpu->vm->stats;
	struct {
		const char *name;
		uint64_t *now, *then;
	} rows[] = {
		{ "blocks translated", &t->n.blocks, &t->flushed.blocks },
		{ "translation cache bytes written", &t->n.cache_bytes, &t->flushed.cache_bytes },
		{ "chained transfers", &t->n.chained, &t->flushed.chained },
		{ "lookup misses (indirect)", &t->n.misses, &t->flushed.misses },
		{ "lookup entries filled", &t->n.lookups_filled, &t->flushed.lookups_filled },
		{ "cache flushes", &t->n.flushes, &t->flushed.flushes },
		{ "code page invalidations", &t->n.invalidations, &t->flushed.invalidations },
		{ "pages interpreted (written too often)", &t->n.volatile_pages, &t->flushed.volatile_pages },
		{ "volatile pages translated again", &t->n.volatile_retried, &t->flushed.volatile_retried },
		{ "hidden page faults", &t->n.hidden_faults, &t->flushed.hidden_faults },
		{ "faults emulated", &t->n.emulated_faults, &t->flushed.emulated_faults },
		{ "host kicks", &t->n.kicks, &t->flushed.kicks },
		{ "instructions interpreted", &t->n.interpreted, &t->flushed.interpreted },
		{ "sensitive instructions inlined", &t->n.inline_sens, &t->flushed.inline_sens },
		{ "host system calls from guest code (refused)", &t->n.sigsys, &t->flushed.sigsys },
		{ "port io done by the run loop", &t->n.fast_io, &t->flushed.fast_io },
		{ "invlpg done by the run loop", &t->n.fast_invlpg, &t->flushed.fast_invlpg },
		{ "instructions retranslated as VMM calls", &t->n.adapted, &t->flushed.adapted },
		{ "sensitive instructions batched into a call", &t->n.batched, &t->flushed.batched },
		{ "address-space switches (CR3)", &t->n.as_switches, &t->flushed.as_switches },
		{ "chains undone", &t->n.unchained, &t->flushed.unchained },
		{ "LDT slots written", &t->n.slot_writes, &t->flushed.slot_writes },
		{ "LDT slots reused (pool full)", &t->n.slot_reuses, &t->flushed.slot_reuses },
		{ "inline segment loads filled", &t->n.site_fills, &t->flushed.site_fills },
		{ "inline segment loads dropped", &t->n.site_drops, &t->flushed.site_drops },
		{ "int/iret done without the core's pipeline", &t->n.fast_gates, &t->flushed.fast_gates },
		{ "... of which without the core (cached gate)", &t->n.cached_gates, &t->flushed.cached_gates },
		{ "chains kept across address spaces", &t->n.chains_kept, &t->flushed.chains_kept },
		{ "lookup entries kept across address spaces", &t->n.lookups_kept, &t->flushed.lookups_kept },
	};
	for (size_t k = 0; k < sizeof rows / sizeof rows[0]; k++) {
		stats_add(st, rows[k].name, *rows[k].now - *rows[k].then);
		*rows[k].then = *rows[k].now;
	}
	for (unsigned w = 0; w < BT_WHY_N; w++) {
		if (!why_names[w])
			continue;
		char name[40];
		snprintf(name, sizeof name, "VMM call: %s", why_names[w]);
		stats_add(st, name, t->n.calls[w] - t->flushed.calls[w]);
		t->flushed.calls[w] = t->n.calls[w];
	}
}

static int bt_run(struct vcpu *vcpu, struct vcpu_exit *exit)
{
	struct bt *t = vcpu->priv;
	struct cpu *c = &t->cpu;
	struct vm *vm = vcpu->vm;
	native_install_kick(&t->nh);
	sigset_t saved;
	native_block_vmm_signals(&saved);
	c->halted = vcpu->halted;
	t->msg[0] = 0;
	uint64_t e0 = t->emulated;
	c->exit = -1;
	int r = bt_run_loop(t);
	sigprocmask(SIG_SETMASK, &saved, NULL);
	vm->stats.guest_insns += t->emulated - e0;
	vcpu->halted = c->halted;
	flush_stats(t);
	exit->reason = (enum exit_reason)r;
	if (r == EXIT_ERROR || r == EXIT_SHUTDOWN)
		snprintf(exit->error.msg, sizeof exit->error.msg, "%s",
			 t->msg[0] ? t->msg : c->errmsg);
	return 0;
}

/* --- life cycle --- */

/* The entry trampoline (32-bit, in the window; the guest's flags already
 * loaded): bail out if a kick came since the run loop looked, else load
 * the guest's registers (through CS) and jump to the block. It writes no
 * memory. Kicks here reach on_tramp_signal. */
static void tramp_emit(void)
{
	uint8_t *p = (uint8_t *)(uintptr_t)BT_TRAMP;
	uint32_t vp = BT_VPAGE;
#define F(field) (vp + (uint32_t)offsetof(struct bt_vpage, field))
	uint8_t *bail_jne;
	*p++ = 0x2e; *p++ = 0x8b; *p++ = 0x0d;	/* mov ecx, cs:[kick] */
	memcpy(p, &(uint32_t){ F(kick) }, 4); p += 4;
	*p++ = 0xe3; *p++ = 2;			/* jecxz +2: no flags touched */
	*p++ = 0xeb; bail_jne = p++;		/* jmp bail */
	*p++ = 0x2e; *p++ = 0x8b; *p++ = 0x0d;	/* mov ecx, cs:[entry_sahf] */
	memcpy(p, &(uint32_t){ F(entry_sahf) }, 4); p += 4;
	*p++ = 0xe3; *p++ = 10;			/* jecxz: flags loaded by popfq */
	*p++ = 0x2e; *p++ = 0x8b; *p++ = 0x05;	/* mov eax, cs:[entry_ahal] */
	memcpy(p, &(uint32_t){ F(entry_ahal) }, 4); p += 4;
	*p++ = 0x04; *p++ = 0x7f;		/* add al, 0x7f: OF */
	*p++ = 0x9e;				/* sahf: SF ZF AF PF CF */
	for (unsigned r = 0; r < 8; r++) {
		if (r == R_ESP)
			continue;
		*p++ = 0x2e; *p++ = 0x8b; *p++ = (uint8_t)(r << 3 | 5); /* mov r, cs:[gpr] */
		memcpy(p, &(uint32_t){ F(entry_gpr) + 4 * r }, 4); p += 4;
	}
	*p++ = 0x2e; *p++ = 0xff; *p++ = 0x25;	/* jmp dword cs:[entry_eip] */
	memcpy(p, &(uint32_t){ F(entry_eip) }, 4); p += 4;
	*bail_jne = (uint8_t)(p - (bail_jne + 1)); /* jmp rel8 to here */
	uint32_t here = (uint32_t)(uintptr_t)p;
	*p++ = 0xea;				/* ljmp 0x33:snippet */
	memcpy(p, &(uint32_t){ here + 7 }, 4); p += 4;
	*p++ = 0x33; *p++ = 0;
	here = (uint32_t)(uintptr_t)p;
	*p++ = 0xc7; *p++ = 0x05;		/* mov dword [rip+x], BT_EXIT_BAIL */
	memcpy(p, &(uint32_t){ F(exit_id) - (here + 10) }, 4); p += 4;
	memcpy(p, &(uint32_t){ BT_EXIT_BAIL }, 4); p += 4;
	here = (uint32_t)(uintptr_t)p;
	*p++ = 0xff; *p++ = 0x25;		/* jmp [rip+x] (bt_exit64) */
	memcpy(p, &(uint32_t){ F(exit64) - (here + 6) }, 4); p += 4;
#undef F
}

static int window_map(struct bt *t)
{
	void *w = mmap((void *)(uintptr_t)BT_WIN_BASE, BT_WIN_SIZE - 0x1000,
		       PROT_READ | PROT_WRITE | PROT_EXEC, MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED,
		       -1, 0);
	if (w != (void *)(uintptr_t)BT_WIN_BASE)
		return -1;
	struct bt_vpage *vp = w;
	vp->exit64 = (uint64_t)(uintptr_t)bt_exit64;
	/* The code segment of translated code: flat, 32-bit, readable (the
	 * lookup tables are read through CS), ring 3 as every LDT entry. */
	struct seg code = { .base = 0, .limit = 0xffffffffu, .type = 0xb, .s = 1, .dpl = 3,
			    .present = 1, .db = 1, .g = 1 };
	if (native_ldt_set(&t->nh, BT_CODE_SLOT, &code, 0xffffffffu) < 0)
		return -1;
	t->code_sel = NATIVE_SEL(BT_CODE_SLOT);
	/* The VMM data segment: the vCPU page only, writable. */
	struct seg data = { .base = BT_VPAGE, .limit = 0xfff, .type = 0x3, .s = 1, .dpl = 3,
			    .present = 1, .db = 1 };
	if (native_ldt_set(&t->nh, BT_DATA_SLOT, &data, 0xfff) < 0)
		return -1;
	vp->data_sel = NATIVE_SEL(BT_DATA_SLOT);
	tramp_emit();
	bt_tramp_far.off = BT_TRAMP;
	bt_tramp_far.sel = t->code_sel;
	t->nh.kick = (volatile sig_atomic_t *)&vp->kick;
	/* The core must see that kick too: a kick that arrives while it runs
	 * (a REP of 4 G iterations into MMIO, one cpu_run) lands here, not in
	 * vm->kick, and only a kick brings the run loop back to where a
	 * blocked SIGTERM is let in (bt_run). */
	t->cpu.kick = (volatile int *)&vp->kick;
	t->cache_used = BT_CACHE;
	return 0;
}

static void bt_free(struct bt *t)
{
	cpu_fini(&t->cpu);
	shadow_fini(&t->sh);
	free(t->blocks);
	free(t->page_blocks);
	free(t->smc_count);
	free(t->smc_last_ms);
	free(t->lin_blocks);
	free(t->filled);
	free(t->filled_lin);
	free(t->code_pages);
	free(t->pcs);
	free(t->exits);
	free(t->chained);
	free(t->chained_g);
	free(t->sites);
	free(t->gates);
	free(t);
}

static int bt_create(struct vcpu *vcpu)
{
	char why[256];
	if (!bt_available(why, sizeof why)) {
		fprintf(stderr, "ringvm: bt: %s\n", why);
		return -1;
	}
	if (the_bt) {
		fprintf(stderr, "ringvm: bt: one vCPU per process\n");
		return -1;
	}
	struct vm *vm = vcpu->vm;
	struct bt *t = calloc(1, sizeof *t);
	if (!t || cpu_init(&t->cpu, vm->ram, vm->ram_size, vcpu) < 0) {
		fprintf(stderr, "ringvm: bt: out of memory\n");
		free(t);
		return -1;
	}
	t->vcpu = vcpu;
	native_icache_reset(&t->ic);
	t->chain_from = -1;
	t->batch_fault_at = ~0u;
	bt_slots_reset(&t->slots);
	bt_debug = getenv("RINGVM_BT_DEBUG") != NULL;
	t->capblocks = 1u << 18;
	t->blocks = malloc(t->capblocks * sizeof *t->blocks);
	t->page_blocks = calloc(vm->ram_size >> 12, sizeof *t->page_blocks);
	t->smc_count = calloc(vm->ram_size >> 12, 1);
	t->smc_last_ms = calloc(vm->ram_size >> 12, sizeof *t->smc_last_ms);
	t->lin_blocks = calloc(1u << 20, sizeof *t->lin_blocks);
	t->capfilled = 4096;
	t->filled = calloc(t->capfilled, sizeof *t->filled);
	t->filled_lin = calloc(t->capfilled, sizeof *t->filled_lin);
	t->gates = calloc(1, sizeof *t->gates);
	t->nh.base = 0;
	t->nh.kick_sig = SIGRTMIN;
	t->nh.kick = &vm->kick;
	t->nh.cb = on_signal;
	t->nh.opaque = t;
	if (!t->blocks || !t->page_blocks || !t->smc_count || !t->smc_last_ms || !t->lin_blocks || !t->filled || !t->filled_lin || !t->gates ||
	    shadow_init(&t->sh, &t->nh, vm->memfd, vm->ram_size, BT_USER_TOP) < 0) {
		fprintf(stderr, "ringvm: bt: out of memory\n");
		bt_free(t);
		return -1;
	}
	t->sh.code_written = on_native_code_write;
	t->sh.opaque = t;
	t->cpu.code_written = on_core_code_write;
	if (native_reserve(&t->nh) < 0) {
		fprintf(stderr, "ringvm: bt: cannot reserve the low 4 GiB: %s\n", strerror(errno));
		bt_free(t);
		return -1;
	}
	if (window_map(t) < 0) {
		fprintf(stderr, "ringvm: bt: cannot map the VMM window: %s\n", strerror(errno));
		goto fail_res;
	}
	if (native_seccomp_install(why, sizeof why) < 0) {
		fprintf(stderr, "ringvm: bt: %s\n", why);
		goto fail_res;
	}
	if (native_install(&t->nh) < 0) {
		fprintf(stderr, "ringvm: bt: signal handlers: %s\n", strerror(errno));
		goto fail_res;
	}
	native_fpu_save_vmm(); /* what the shared exit stub restores */
	shadow_reset(&t->sh, &t->cpu);
	bt_flush(t); /* the miss exit and the lookup tables */
	t->n.flushes = 0;
	vcpu->priv = t;
	the_bt = t;
	return 0;
fail_res:
	native_release(&t->nh);
	bt_free(t);
	return -1;
}

static void bt_destroy(struct vcpu *vcpu)
{
	struct bt *t = vcpu->priv;
	if (!t)
		return;
	native_uninstall(&t->nh);
	native_release(&t->nh);
	bt_free(t);
	vcpu->priv = NULL;
	the_bt = NULL;
}

static void bt_get_state(struct vcpu *vcpu, struct cpu_state *s)
{
	struct bt *t = vcpu->priv;
	cpu_get_state(&t->cpu, s);
}

/* Only what the new state invalidates is dropped: a hypercall sets the
 * state after every call, and emptying the translation cache each time
 * would retranslate the guest kernel on every one. */
static void bt_set_state(struct vcpu *vcpu, const struct cpu_state *s)
{
	struct bt *t = vcpu->priv;
	struct cpu *c = &t->cpu;
	uint32_t cr0 = c->cr0, cr3 = c->cr3, cr4 = c->cr4;
	cpu_set_state(c, s);
	paging_changed(t, cr0, cr3, cr4, NULL);
}

/* A hypercall flushed the guest's TLB (one page, or all of it). */
static void bt_flush_tlb(struct vcpu *vcpu, uint32_t lin, bool all)
{
	struct bt *t = vcpu->priv;
	struct cpu *c = &t->cpu;
	if (all) {
		tlb_flush(c);
		shadow_flush(&t->sh, false);
		if (c->cr0 & CR0_PG)
			bt_new_address_space(t, c->cr3, false); /* a flush: nothing survives */
	} else {
		tlb_flush_page(c, lin);
		if (c->cr0 & CR0_PG)
			bt_invalidate_lin(t, lin);
		shadow_drop(&t->sh, lin);
	}
}

static bool bt_irq_window_open(struct vcpu *vcpu)
{
	struct bt *t = vcpu->priv;
	return cpu_irq_window_open(&t->cpu);
}

const struct engine engine_bt = {
	.name = "bt",
	.family = "binary translation",
	.available = bt_available,
	.fast_here = NULL,
	.create = bt_create,
	.destroy = bt_destroy,
	.run = bt_run,
	.get_state = bt_get_state,
	.set_state = bt_set_state,
	.irq_window_open = bt_irq_window_open,
	.flush_tlb = bt_flush_tlb,
	.hypercalls = true,
	.sandbox_needs = SANDBOX_NATIVE_CODE,
};
