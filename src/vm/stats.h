/*
 * Exit counters for --stats: how many exits of each reason, and how much
 * host time the VMM spent handling them (like `perf kvm stat`), plus named
 * event counters (unimplemented instructions, unclaimed ports, ...).
 */
#ifndef RINGVM_STATS_H
#define RINGVM_STATS_H

#include <stdint.h>
#include <stdio.h>

#include "exit.h"

#define STATS_MAX_NAMED 128

struct stats {
	uint64_t exits[EXIT_REASON_COUNT];
	uint64_t exit_ns[EXIT_REASON_COUNT];
	struct {
		char name[48];
		uint64_t count;
	} named[STATS_MAX_NAMED];
	unsigned n_named;
	uint64_t start_ns, end_ns;
	uint64_t guest_insns; /* engines that count them, else 0 */
	/* Timer interrupts (PIT channel 0) raised to the guest, and ticks that
	 * were due but merged into others because the guest or the VMM could
	 * not take them in time: the rate the guest sees. */
	uint64_t timer_irqs, timer_coalesced;
};

void stats_exit(struct stats *s, enum exit_reason r, uint64_t ns);
/* Counts one event under "group: name", e.g. ("unimplemented", "fsin"). */
void stats_event(struct stats *s, const char *group, const char *name);
/* The same, n events at once (counters kept elsewhere, flushed at the end). */
void stats_event_n(struct stats *s, const char *group, const char *name, uint64_t n);
void stats_print(const struct stats *s, const char *engine, FILE *out);

#endif
