/*
 * bt: full virtualization by binary translation. All guest code, kernel
 * and user, is translated block by block into a translation cache in a VMM
 * window at the top of guest linear space; innocuous instructions are
 * copied unchanged and run natively in compatibility mode on the guest's
 * registers, every control transfer and sensitive instruction ends its
 * block in a VMM call (a far jump to 64-bit code, no signal). Guest code
 * never runs untranslated (docs/07-bt.md).
 */
#ifndef RINGVM_ENGINE_BT_H
#define RINGVM_ENGINE_BT_H

#include "vm/engine.h"

extern const struct engine engine_bt;

struct cpu_state;
/* The differential test's entry (the contract of emu_run_flat in
 * cpu/emu_flat.h: CPL 3, paging off, flat segments, guest address x is
 * mem[x], outside mem #PF; -1 at stop_eip, the vector of the first
 * exception, or -2 if the code ran for more than max_insns instructions'
 * worth of time), through bt in this process: guest code translated and
 * run natively. Only mem's page at the code and the pages written are
 * meaningful afterwards: mem is copied in and out whole. */
int bt_run_flat(struct cpu_state *st, uint8_t *mem, uint32_t mem_len, uint32_t stop_eip,
		uint64_t max_insns);

#endif
