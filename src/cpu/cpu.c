/*
 * The CPU object and its run loop: look up (or decode) the block at EIP,
 * run its handlers back to back, and between blocks poll the host kick,
 * take pending interrupts, and stop on exits. Exceptions come back here
 * by longjmp and are delivered through the IDT from here.
 */
#include <stdlib.h>

#include "cpu.h"
#include "decode.h"
#include "vm/vm.h"

static volatile int no_kick;

int cpu_init(struct cpu *c, uint8_t *ram, uint64_t ram_size, struct vcpu *vcpu)
{
	memset(c, 0, sizeof *c);
	c->ram = ram;
	c->ram_size = ram_size;
	c->vcpu = vcpu;
	c->kick = vcpu ? (volatile int *)&vcpu->vm->kick : &no_kick;
	c->delivering = -1;
	c->stop_eip = 0xffffffffu;
	c->exit = -1;
	if (cpu_set_model(c, vcpu ? vcpu->vm->cfg.cpu : NULL) < 0)
		return -1; /* main.c checked the name: only a bad caller gets here */
	if (decode_init(c) < 0)
		return -1;
	cpu_fpu_reset(c);
	tlb_flush(c); /* the zeroed entries would match linear page 0 */
	struct cpu_state s;
	cpu_state_multiboot_entry(&s, 0, 0);
	cpu_set_state(c, &s);
	return 0;
}

void cpu_fini(struct cpu *c)
{
	decode_fini(c);
}

void cpu_get_state(struct cpu *c, struct cpu_state *s)
{
	memset(s, 0, sizeof *s);
	memcpy(s->gpr, c->r.r32, sizeof s->gpr);
	s->eip = c->eip;
	s->eflags = flags_get(c) | EFLAGS_FIXED;
	memcpy(s->seg, c->seg, sizeof s->seg);
	s->ldtr = c->ldtr;
	s->tr = c->tr;
	s->gdtr = c->gdtr;
	s->idtr = c->idtr;
	s->cr0 = c->cr0;
	s->cr2 = c->cr2;
	s->cr3 = c->cr3;
	s->cr4 = c->cr4;
	s->efer = c->efer;
	s->tsc = tsc_read(c);
	s->sysenter_cs = c->sysenter_cs;
	s->sysenter_esp = c->sysenter_esp;
	s->sysenter_eip = c->sysenter_eip;
	cpu_fpu_to_fsave(c, s->fpu);
}

void cpu_set_state(struct cpu *c, const struct cpu_state *s)
{
	memcpy(c->r.r32, s->gpr, sizeof s->gpr);
	c->r.r32[REG_NONE] = 0;
	c->eip = s->eip;
	c->eflags = s->eflags | EFLAGS_FIXED;
	c->lf_op = LF_NONE;
	memcpy(c->seg, s->seg, sizeof c->seg);
	c->ldtr = s->ldtr;
	c->tr = s->tr;
	c->gdtr = s->gdtr;
	c->idtr = s->idtr;
	/* As writing them would: translations go only if paging changed. */
	bool paging_changed = c->cr0 != (s->cr0 | CR0_ET) || c->cr3 != s->cr3 || c->cr4 != s->cr4;
	c->cr0 = s->cr0 | CR0_ET;
	c->cr2 = s->cr2;
	c->cr3 = s->cr3;
	c->cr4 = s->cr4;
	c->efer = s->efer;
	c->sysenter_cs = s->sysenter_cs;
	c->sysenter_esp = s->sysenter_esp;
	c->sysenter_eip = s->sysenter_eip;
	cpu_fpu_from_fsave(c, s->fpu);
	/* The CPL is the DPL of SS in protected mode (CS.RPL could lie for
	 * conforming code), 0 in real mode, 3 in v8086. */
	if (!(c->cr0 & CR0_PE))
		c->cpl = 0;
	else if (c->eflags & EFLAGS_VM)
		c->cpl = 3;
	else
		c->cpl = c->seg[S_SS].dpl;
	if (paging_changed)
		tlb_flush(c);
	cpu_mode_changed(c);
	c->irq_check = true;
}

bool cpu_irq_deliver_pending(struct cpu *c);
/* Takes one pending external interrupt if the guest accepts it now. */
bool cpu_irq_deliver_pending(struct cpu *c)
{
	if (!c->vcpu || !(c->eflags & EFLAGS_IF) || c->shadow)
		return false;
	if (!vcpu_irq_pending(c->vcpu))
		return false;
	int vec = vcpu_irq_ack(c->vcpu);
	if (vec < 0)
		return false;
	idt_deliver(c, vec, 0, false, EV_EXTERNAL, c->eip);
	return true;
}

/* Instructions retired in the block that was interrupted. */
static void count_partial_block(struct cpu *c)
{
	if (c->cur) {
		c->insns += (uint64_t)(c->cur - c->blk_start);
		c->cur = NULL;
	}
}

/*
 * After an instruction that began with TF set and completed: the #DB trap
 * (SDM vol. 3, 17.3.1.4), unless the instruction was MOV SS / POP SS (the
 * trap waits one more instruction, like interrupts) or INT n / INT3 / INTO
 * (their handler runs with TF clear). An instruction that faulted never
 * gets here: the fault is delivered instead. Before any pending external
 * interrupt: a trap on the previous instruction has the higher priority.
 */
static void single_step_done(struct cpu *c)
{
	bool inhibit = c->db_inhibit;
	c->db_inhibit = false;
	if (inhibit || c->halted || c->exit >= 0)
		return;
	cpu_single_step_trap(c);
}

#define CPU_EXIT_EXCEPTION (-2)
#define RUN_ON (-1) /* a block_careful result: keep running */

/* Runs the instructions [i, end) of the current block (the per-instruction
 * dispatch). A handler may end the block early by clearing blk_end. */
static inline __attribute__((always_inline)) void block_exec(struct cpu *c,
							      const struct insn *i,
							      const struct insn *end)
{
	c->blk_start = i;
	c->blk_eip = c->eip;
	c->blk_end = end;
	do {
		c->cur = i;
		i->fn(c, i);
		i = c->cur + 1; /* threaded handlers may have run on (NEXT_THREADED) */
	} while (i < c->blk_end);
	c->insns += (uint64_t)(c->cur - c->blk_start) + 1;
	c->cur = NULL;
}

/*
 * Must this block boundary look at more than the next block? An exit, a
 * halt, an interrupt shadow or a device that may have raised an interrupt,
 * single-stepping, the host's kick, a budget that could end inside the
 * next block, or emu_flat's stop address. Computed without branches: at a
 * boundary between two ordinary blocks, all are false.
 */
static inline bool boundary_needs_care(const struct cpu *c, uint64_t insn_limit)
{
	return (c->exit >= 0) | c->halted | c->shadow | c->irq_check |
	       ((c->eflags & EFLAGS_TF) != 0) | (*c->kick != 0) |
	       (c->insns + BLOCK_MAX_INSNS > insn_limit) | (c->eip == c->stop_eip);
}

/* The boundary with everything checked, then one block (or part of one:
 * the budget, single-stepping). Returns an exit, or RUN_ON. */
static int block_careful(struct cpu *c)
{
	if (unlikely(c->exit >= 0))
		return c->exit;
	if (unlikely(c->halted)) {
		if (!cpu_irq_deliver_pending(c))
			return EXIT_HLT;
	}
	if (unlikely(*c->kick))
		return EXIT_NONE;
	if (unlikely(c->insns >= c->insn_limit || c->eip == c->stop_eip))
		return EXIT_NONE;
	bool shadow = c->shadow;
	c->shadow = false;
	if (c->irq_check && !shadow) {
		c->irq_check = false;
		cpu_irq_deliver_pending(c);
	}
	struct block *b = block_find(c);
	uint64_t left = c->insn_limit - c->insns;
	/* TF changes only at block ends (POPF, IRET, exception delivery),
	 * so a block that starts with TF set runs one instruction at a
	 * time, each followed by its single-step trap. */
	bool step = c->eflags & EFLAGS_TF;
	if (unlikely(step)) {
		left = 1;
		c->db_inhibit = false; /* only the stepped instruction may set it */
	}
	block_exec(c, b->insns, b->insns + (b->n < left ? b->n : left));
	if (unlikely(step))
		single_step_done(c);
	return RUN_ON;
}

/* The run loop proper, apart from cpu_run so that nothing here lives
 * across its _setjmp (which would keep c and the limit in memory). An
 * exception longjmps out of here into cpu_run, which calls it again. */
static __attribute__((noinline)) int run_blocks(struct cpu *c)
{
	const uint64_t insn_limit = c->insn_limit;
	struct block *prev = NULL; /* the block that just ran whole, if any */
	for (;;) {
		if (unlikely(boundary_needs_care(c, insn_limit))) {
			int r = block_careful(c);
			if (r != RUN_ON)
				return r;
			prev = NULL;
			continue;
		}
		/* The common boundary: straight into the next whole block. */
		struct block *b = prev ? block_find_after(c, prev) : block_find(c);
		block_exec(c, b->insns, b->insns + b->n);
		prev = b;
	}
}

int cpu_run(struct cpu *c, uint64_t budget)
{
	c->exit = -1;
	c->cur = NULL;
	c->insn_limit = c->insns + budget;
	c->irq_check = true; /* devices ran since the last run */
	/* Exceptions delivered in this run. A handler that faults before its
	 * first instruction retires (in real mode the stack never runs out)
	 * loops here without retiring anything; the budget bounds that too,
	 * for callers that cannot see the kick (trap, inside its signal
	 * handler). */
	volatile uint64_t delivered = 0;
	switch (_setjmp(c->jb)) {
	case 0:
		break;
	case 1:
		count_partial_block(c);
		if (c->exc_return)
			return CPU_EXIT_EXCEPTION;
		cpu_handle_exception(c);
		if (++delivered > budget) /* delivered: the handler runs next time */
			return c->exit >= 0 ? c->exit : EXIT_NONE;
		break;
	default:
		count_partial_block(c);
		return c->exit;
	}
	if (unlikely(c->step_pending)) {
		c->step_pending = false;
		cpu_single_step_trap(c); /* delivered through case 1 */
	}
	return run_blocks(c);
}
