/*
 * The virtual CPU <-> native registers and segments, shared by the native
 * engines (trap, bt). Each guest segment register gets an LDT slot of its
 * own (native_slot_of) described from its segment cache; data segments of
 * guest user mode are clipped below user_top (segment truncation: the
 * engine keeps what lies above out of the guest's reach; trap puts its
 * top at the guest kernel split, bt lower, under its VMM window).
 * While the guest kernel runs (CPL 0), its segments, DPL-3 ones included
 * (Linux's kernel runs on __USER_DS), are given their whole limit, up to
 * 4 GiB: an engine with a VMM window in guest linear space cannot use
 * this as it is.
 */
#ifndef RINGVM_NATIVE_SYNC_H
#define RINGVM_NATIVE_SYNC_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "native/native.h"

struct cpu;

/* Virtual CPU -> native registers, writing the LDT slots it needs.
 * Returns 0, or -1 with msg[] saying why (modify_ldt failed). */
int native_sync_to(struct native_host *h, struct cpu *c, uint32_t user_top,
		   struct native_regs *r, char *msg, size_t msg_len);

/* Can the host enter this guest state natively at all? The iretq into
 * guest code (and the data selector loads before it, or the sigreturn
 * that resumes it) would fault in the VMM's own code otherwise, which the
 * host turns into the VMM's death: a code segment that is not present or
 * whose limit EIP exceeds, a stack segment that is not writable data, an
 * execute-only code segment in a data register. The guest's own checks
 * would have refused most of these; what is left (a state the core made
 * legally, such as EIP past a 16-bit CS limit before the fetch faults) is
 * emulated instead. */
bool native_sync_enterable(const struct cpu *c);

/* Native registers -> virtual CPU. A data segment register that no longer
 * holds our selector was loaded natively by the guest: that load is redone
 * on the guest's own tables. Returns -1, or the core's exit reason when
 * that load ended the run (a fault the core could not deliver). */
int native_sync_from(struct native_host *h, struct cpu *c, const struct native_regs *r);

#endif
