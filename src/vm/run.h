#ifndef RINGVM_RUN_H
#define RINGVM_RUN_H

#include "vm.h"

/* Runs the vCPU until the guest or the VMM ends the run; returns the
 * process exit status (the guest's debug-exit status, or RINGVM_EXIT_*). */
int vcpu_run_loop(struct vcpu *vcpu);

#endif
