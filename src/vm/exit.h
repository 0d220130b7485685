/*
 * Why an engine stopped running guest code: the software twin of struct
 * kvm_run. Every engine reports the same reasons, so the run loop, the
 * devices and --stats never know which engine is underneath. Port and MMIO
 * accesses are serviced inside the engine (vcpu_pio, vcpu_mmio), so an IO
 * exit only means "an access may have ended the run".
 */
#ifndef RINGVM_EXIT_H
#define RINGVM_EXIT_H

#include <stdbool.h>
#include <stdint.h>

enum exit_reason {
	EXIT_NONE,	 /* time slice over or host kick: nothing to handle */
	EXIT_IO,	 /* port IN/OUT, already serviced */
	EXIT_MMIO,	 /* access to non-RAM guest-physical memory, already serviced */
	EXIT_HLT,	 /* guest executed HLT */
	EXIT_IRQ_WINDOW, /* guest can take an interrupt now */
	EXIT_HYPERCALL,	 /* paravirtual call into the VMM */
	EXIT_SHUTDOWN,	 /* triple fault or equivalent: the guest is dead */
	EXIT_ERROR,	 /* the engine cannot go on (message in error.msg) */
	EXIT_REASON_COUNT
};

const char *exit_reason_name(enum exit_reason r);

struct vcpu_exit {
	enum exit_reason reason;
	struct {
		char msg[160];
	} error; /* EXIT_ERROR, EXIT_SHUTDOWN */
};

#endif
