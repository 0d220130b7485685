/*
 * A test-facing entry point for differential testing against the host CPU:
 * runs guest code at CPL 3 with paging off and flat 4 GiB segments (CS
 * 0x23, data 0x2b, base 0: a 32-bit process's selectors on x86-64 Linux,
 * which FSAVE images record) and CR0.NE set, where guest address x is mem[x] for
 * x < mem_len. An access outside mem raises #PF (CR2 = the address).
 * No devices: IN/OUT and other privileged instructions raise #GP.
 *
 * Returns -1 when EIP reaches stop_eip, -2 after max_insns instructions,
 * or the vector of the first exception (st then holds the state at the
 * faulting instruction; mem holds every completed write).
 */
#ifndef RINGVM_CPU_EMU_FLAT_H
#define RINGVM_CPU_EMU_FLAT_H

#include <stdint.h>

#include "vm/cpustate.h"

int emu_run_flat(struct cpu_state *st, uint8_t *mem, uint32_t mem_len, uint32_t stop_eip,
		 uint64_t max_insns);

#endif
