/*
 * trap: full virtualization by trap-and-emulate. Guest code (kernel and
 * user) runs natively in compatibility mode at host CPL 3, in LDT segments;
 * every privileged instruction faults and the shared CPU core (src/cpu/)
 * emulates it on the virtual CPU state; guest memory is a shadow of the
 * guest's page tables kept like a TLB. x86 is not classically
 * virtualizable: the sensitive instructions that do not trap show the
 * host's view (docs/06-trap.md). A teaching and measuring engine, not an
 * isolation boundary.
 */
#ifndef RINGVM_ENGINE_TRAP_H
#define RINGVM_ENGINE_TRAP_H

#include "vm/engine.h"

extern const struct engine engine_trap;

#endif
