/* --stats: exit counts and handling time per reason, like `perf kvm stat`,
 * and named event counters. */
#include <string.h>

#include "stats.h"

static const char *const reason_names[EXIT_REASON_COUNT] = {
	[EXIT_NONE] = "none (kick/slice)",
	[EXIT_IO] = "io",
	[EXIT_MMIO] = "mmio",
	[EXIT_HLT] = "hlt",
	[EXIT_IRQ_WINDOW] = "irq-window",
	[EXIT_HYPERCALL] = "hypercall",
	[EXIT_SHUTDOWN] = "shutdown",
	[EXIT_ERROR] = "error",
};

const char *exit_reason_name(enum exit_reason r)
{
	return r < EXIT_REASON_COUNT ? reason_names[r] : "?";
}

void stats_exit(struct stats *s, enum exit_reason r, uint64_t ns)
{
	if (r >= EXIT_REASON_COUNT)
		return;
	s->exits[r]++;
	s->exit_ns[r] += ns;
}

void stats_event(struct stats *s, const char *group, const char *name)
{
	stats_event_n(s, group, name, 1);
}

void stats_event_n(struct stats *s, const char *group, const char *name, uint64_t n)
{
	char key[sizeof s->named[0].name];
	snprintf(key, sizeof key, "%s: %s", group, name);
	for (unsigned i = 0; i < s->n_named; i++) {
		if (strcmp(s->named[i].name, key) == 0) {
			s->named[i].count += n;
			return;
		}
	}
	if (s->n_named == STATS_MAX_NAMED)
		return; /* the table is full: later kinds go uncounted rather than crash */
	memcpy(s->named[s->n_named].name, key, sizeof key);
	s->named[s->n_named++].count = n;
}

void stats_print(const struct stats *s, const char *engine, FILE *out)
{
	uint64_t total = 0, run_ns = s->end_ns - s->start_ns;
	for (int r = 0; r < EXIT_REASON_COUNT; r++)
		total += s->exits[r];
	fprintf(out, "\nringvm stats: engine %s, %.3f s wall\n", engine, run_ns / 1e9);
	fprintf(out, "%-20s %12s %8s %12s %10s\n", "exit reason", "count", "count%", "time (ms)",
		"avg (us)");
	for (int r = 0; r < EXIT_REASON_COUNT; r++) {
		if (!s->exits[r])
			continue;
		fprintf(out, "%-20s %12llu %7.2f%% %12.3f %10.3f\n", reason_names[r],
			(unsigned long long)s->exits[r], 100.0 * s->exits[r] / total,
			s->exit_ns[r] / 1e6, s->exit_ns[r] / 1e3 / s->exits[r]);
	}
	fprintf(out, "%-20s %12llu\n", "total", (unsigned long long)total);
	if (s->guest_insns)
		fprintf(out, "guest instructions   %12llu  (%.1f million/s)\n",
			(unsigned long long)s->guest_insns,
			run_ns ? s->guest_insns * 1e3 / run_ns : 0.0);
	if (s->timer_irqs || s->timer_coalesced)
		fprintf(out, "timer interrupts     %12llu  (%.0f/s), %llu ticks coalesced\n",
			(unsigned long long)s->timer_irqs,
			run_ns ? s->timer_irqs * 1e9 / run_ns : 0.0,
			(unsigned long long)s->timer_coalesced);
	for (unsigned i = 0; i < s->n_named; i++)
		fprintf(out, "%-40s %12llu\n", s->named[i].name, (unsigned long long)s->named[i].count);
}
