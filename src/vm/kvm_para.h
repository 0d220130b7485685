/*
 * KVM's paravirtual interface for Linux guests, on the software engines:
 * the KVM CPUID leaves and kvm-clock through its MSRs, each as KVM
 * documents it (Documentation/virt/kvm/x86/cpuid.rst and msr.rst), for one
 * vCPU. Debian's i386 kernel (CONFIG_KVM_GUEST, CONFIG_PARAVIRT_CLOCK) finds
 * "KVMKVMKVM" and switches its clocksource to kvm-clock. The leaves sit at
 * 0x40000100 because ringvm's own ABI (pv.h) holds 0x40000000; Linux scans
 * every 0x100 for KVM's signature. Under the kvm engine the host's KVM
 * answers instead (its leaves are moved to the same base).
 */
#ifndef RINGVM_KVM_PARA_H
#define RINGVM_KVM_PARA_H

#include <stdbool.h>
#include <stdint.h>

struct vm;

#define KVM_PARA_CPUID_BASE 0x40000100u
#define KVM_PARA_F_CLOCKSOURCE2 (1u << 3)
#define KVM_PARA_F_CLOCKSOURCE_STABLE (1u << 24)
#define MSR_KVM_WALL_CLOCK_NEW 0x4b564d00u
#define MSR_KVM_SYSTEM_TIME_NEW 0x4b564d01u

/* Per-VM state: what the guest wrote to the two MSRs. */
struct kvm_para {
	uint64_t system_time_msr;
	uint64_t wall_clock_msr;
};

/* CPUID leaves 0x40000100-0x400001ff; false for other leaves. */
bool kvm_para_cpuid(uint32_t leaf, uint32_t out[4]);
/* The kvm-clock MSRs. false: not one of them (the caller raises #GP), or
 * a write the guest may not make (bad address: #GP, as KVM does).
 * guest_tsc is the vCPU's TSC now, for the time record. */
bool kvm_para_rdmsr(struct vm *vm, uint32_t msr, uint64_t *v);
bool kvm_para_wrmsr(struct vm *vm, uint32_t msr, uint64_t v, uint64_t guest_tsc);

#endif
