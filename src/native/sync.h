/*
 * The virtual CPU <-> native registers and segments, shared by the native
 * engines (trap, bt). Each guest segment register gets an LDT slot of its
 * own (native_slot_of) described from its segment cache; data segments of
 * guest user mode are clipped below user_top (segment truncation: the
 * engine keeps what lies above out of the guest's reach; trap puts its
 * top at the guest kernel split, bt lower, under its VMM window).
 */
#ifndef RINGVM_NATIVE_SYNC_H
#define RINGVM_NATIVE_SYNC_H

#include <stddef.h>
#include <stdint.h>

#include "native/native.h"

struct cpu;

/* Virtual CPU -> native registers, writing the LDT slots it needs.
 * Returns 0, or -1 with msg[] saying why (modify_ldt failed). */
int native_sync_to(struct native_host *h, struct cpu *c, uint32_t user_top,
		   struct native_regs *r, char *msg, size_t msg_len);

/* Native registers -> virtual CPU. A data segment register that no longer
 * holds our selector was loaded natively by the guest: that load is redone
 * on the guest's own tables. Returns -1, or the core's exit reason when
 * that load ended the run (a fault the core could not deliver). */
int native_sync_from(struct native_host *h, struct cpu *c, const struct native_regs *r);

#endif
