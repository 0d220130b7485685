/*
 * The paravirtual clock both time records publish (ringvm's shared page,
 * KVM's kvm-clock): ns since the VM started, and the scale that turns guest
 * TSC ticks into ns, ns = ((ticks << shift) * mul) >> 32 (KVM's pvclock
 * formula). The guest TSC runs at the host's constant rate in every engine,
 * so the scale is measured once.
 */
#include <x86intrin.h>

#include "pvclock.h"
#include "vm.h"

void pv_clock_scale(uint64_t tsc_hz, uint32_t *mul, int8_t *shift)
{
	/* Pick shift so that 2^31 <= 1e9 * 2^32 / (tsc_hz * 2^shift) < 2^32. */
	int sh = 0;
	long double hz = tsc_hz ? (long double)tsc_hz : 1e9L;
	long double ratio = 1e9L / hz; /* ns per tick */
	while (ratio >= 1.0L && sh < 31) {
		ratio /= 2;
		sh++;
	}
	while (ratio < 0.5L && sh > -31) {
		ratio *= 2;
		sh--;
	}
	*mul = (uint32_t)(ratio * 4294967296.0L);
	*shift = (int8_t)sh;
}

/* The host TSC rate, measured once against CLOCK_MONOTONIC (5 ms). */
uint64_t pv_tsc_hz(void)
{
	static uint64_t hz;
	if (hz)
		return hz;
	uint64_t t0 = host_ns(), c0 = __rdtsc(), t1;
	do
		t1 = host_ns();
	while (t1 - t0 < 5000000);
	uint64_t c1 = __rdtsc();
	hz = (uint64_t)((long double)(c1 - c0) * 1e9L / (long double)(t1 - t0));
	return hz;
}

void pv_clock_now(struct vm *vm, uint64_t *system_ns, uint32_t *mul, int8_t *shift)
{
	pv_clock_scale(pv_tsc_hz(), mul, shift);
	*system_ns = host_ns() - vm->stats.start_ns;
}
