/*
 * The engine interface. An engine is one way of running guest code on the
 * host CPU (emulation, trap-and-emulate, binary translation, KVM). It runs
 * a vCPU until something needs the VMM and says what in a struct vcpu_exit.
 * A new engine is one folder under src/engines/ and one line in engines.c.
 */
#ifndef RINGVM_ENGINE_H
#define RINGVM_ENGINE_H

#include <stdbool.h>
#include <stddef.h>

#include "cpustate.h"
#include "exit.h"
#include "sandbox.h"

struct vcpu;

struct engine {
	const char *name;
	const char *family; /* "emulation", "trap-and-emulate", ... */
	/* What a user must know before trusting the engine with a guest
	 * (shown by `ringvm engines` and when a run starts), or NULL. */
	const char *caveat;
	/* Can this host run the engine? If not, why[] says exactly why. */
	bool (*available)(char *why, size_t why_len);
	/* Is the engine fast here (hardware support underneath)? For the
	 * automatic choice; NULL means "as fast as it ever is". */
	bool (*fast_here)(char *why, size_t why_len);
	/* Sets up vcpu->priv. Returns 0, or -1 with a message on stderr. */
	int (*create)(struct vcpu *vcpu);
	void (*destroy)(struct vcpu *vcpu);
	/* Runs guest code until an exit. Returns 0 (exit filled in) or -1. */
	int (*run)(struct vcpu *vcpu, struct vcpu_exit *exit);
	void (*get_state)(struct vcpu *vcpu, struct cpu_state *s);
	void (*set_state)(struct vcpu *vcpu, const struct cpu_state *s);
	/* Software engines: is the guest accepting interrupts (IF=1, no
	 * interrupt shadow)? The kvm engine answers from struct kvm_run. */
	bool (*irq_window_open)(struct vcpu *vcpu);
	/* What the engine needs from the host once the guest runs, beyond the
	 * VMM's own system calls: SANDBOX_* bits of src/vm/sandbox.h. */
	unsigned sandbox_needs;
};

/* The table of engines built in, in order of preference when all else is
 * equal. NULL-terminated. */
extern const struct engine *const engines[];
const struct engine *engine_find(const char *name);
/* Picks the fastest correct engine on this host; reason[] says why. */
const struct engine *engine_choose_default(char *reason, size_t reason_len);

#endif
