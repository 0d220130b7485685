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

#endif
