#ifndef RINGVM_ENGINE_KVM_H
#define RINGVM_ENGINE_KVM_H
#include "vm/engine.h"
extern const struct engine engine_kvm;
#endif
