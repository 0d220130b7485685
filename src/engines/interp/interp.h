/*
 * interp: full virtualization by emulation. Every guest instruction is
 * decoded (once, then cached) and executed in software by the shared CPU
 * core in src/cpu/, like Bochs.
 */
#ifndef RINGVM_ENGINE_INTERP_H
#define RINGVM_ENGINE_INTERP_H

#include "vm/engine.h"

extern const struct engine engine_interp;

#endif
