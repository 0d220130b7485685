/*
 * The interp engine: glue between the run loop and the CPU core. All the
 * work is in src/cpu/; this file only maps the engine interface onto it.
 */
#include <stdio.h>
#include <stdlib.h>

#include "cpu/cpu.h"
#include "interp.h"
#include "vm/vm.h"

static bool interp_available(char *why, size_t why_len)
{
	snprintf(why, why_len, "pure software: runs everywhere");
	return true;
}

static int interp_create(struct vcpu *vcpu)
{
	struct cpu *c = calloc(1, sizeof *c);
	if (!c || cpu_init(c, vcpu->vm->ram, vcpu->vm->ram_size, vcpu) < 0) {
		fprintf(stderr, "ringvm: interp: out of memory\n");
		free(c);
		return -1;
	}
	vcpu->priv = c;
	return 0;
}

static void interp_destroy(struct vcpu *vcpu)
{
	struct cpu *c = vcpu->priv;
	if (!c)
		return;
	cpu_fini(c);
	free(c);
	vcpu->priv = NULL;
}

static int interp_run(struct vcpu *vcpu, struct vcpu_exit *exit)
{
	struct cpu *c = vcpu->priv;
	uint64_t before = c->insns;
	c->halted = vcpu->halted;
	int r = cpu_run(c, UINT64_MAX / 2);
	/* Hypercalls are handled here, not in the run loop: an emulator's
	 * exit is a function call, so a hypercall need cost no more. */
	while (r == EXIT_HYPERCALL && !vcpu->vm->stop && !vcpu->vm->kick) {
		if (hypercall_handle(vcpu)) {
			r = EXIT_HLT; /* HALT: the run loop waits as for HLT */
			break;
		}
		r = cpu_run(c, UINT64_MAX / 2);
	}
	vcpu->vm->stats.guest_insns += c->insns - before;
	vcpu->halted = c->halted;
	if (r < 0 || r >= EXIT_REASON_COUNT) {
		r = EXIT_ERROR;
		snprintf(c->errmsg, sizeof c->errmsg, "internal: bad exit %d", r);
	}
	exit->reason = (enum exit_reason)r;
	if (r == EXIT_ERROR || r == EXIT_SHUTDOWN)
		snprintf(exit->error.msg, sizeof exit->error.msg, "%s", c->errmsg);
	return 0;
}

static void interp_get_state(struct vcpu *vcpu, struct cpu_state *s)
{
	cpu_get_state(vcpu->priv, s);
}

static void interp_set_state(struct vcpu *vcpu, const struct cpu_state *s)
{
	cpu_set_state(vcpu->priv, s);
}

static void interp_flush_tlb(struct vcpu *vcpu, uint32_t lin, bool all)
{
	if (all)
		tlb_flush(vcpu->priv);
	else
		tlb_flush_page(vcpu->priv, lin);
}

static bool interp_irq_window_open(struct vcpu *vcpu)
{
	return cpu_irq_window_open(vcpu->priv);
}

const struct engine engine_interp = {
	.name = "interp",
	.family = "emulation",
	.available = interp_available,
	.fast_here = NULL,
	.create = interp_create,
	.destroy = interp_destroy,
	.run = interp_run,
	.get_state = interp_get_state,
	.set_state = interp_set_state,
	.flush_tlb = interp_flush_tlb,
	.irq_window_open = interp_irq_window_open,
	.hypercalls = true,
};
