/* The paravirtual clock (pvclock.c), shared by ringvm's PV ABI and KVM's
 * kvm-clock. */
#ifndef RINGVM_PVCLOCK_H
#define RINGVM_PVCLOCK_H

#include <stdint.h>

struct vm;

/* For a guest TSC read at this moment: ns since the VM started, and the
 * TSC scale. */
void pv_clock_now(struct vm *vm, uint64_t *system_ns, uint32_t *mul, int8_t *shift);
/* pvclock scale for a TSC of tsc_hz: ns = ((ticks << shift) * mul) >> 32. */
void pv_clock_scale(uint64_t tsc_hz, uint32_t *mul, int8_t *shift);
/* The host TSC rate, measured once against CLOCK_MONOTONIC (5 ms). */
uint64_t pv_tsc_hz(void);

#endif
