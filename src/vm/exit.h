/*
 * Why an engine stopped running guest code: the software twin of struct
 * kvm_run. Every engine reports the same reasons, so the run loop, the
 * devices and --stats never know which engine is underneath.
 */
#ifndef RINGVM_EXIT_H
#define RINGVM_EXIT_H

#include <stdbool.h>
#include <stdint.h>

enum exit_reason {
	EXIT_NONE,	 /* time slice over or host kick: nothing to handle */
	EXIT_IO,	 /* port IN/OUT (kvm: run loop completes it) */
	EXIT_MMIO,	 /* access to guest-physical memory that is not RAM */
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
	union {
		struct {
			uint16_t port;
			uint8_t size;	/* 1, 2, 4 */
			bool is_write;
			uint32_t count; /* > 1 for string IO */
			uint8_t *data;	/* count * size bytes */
		} io;
		struct {
			uint64_t gpa;
			uint8_t len;
			bool is_write;
			uint8_t data[8];
		} mmio;
		struct {
			char msg[160];
		} error;
	};
};

#endif
