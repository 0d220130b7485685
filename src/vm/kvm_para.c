/*
 * kvm-clock for Linux guests on the software engines (kvm_para.h). The time
 * record is KVM's struct pvclock_vcpu_time_info, filled once when the guest
 * enables it: ringvm's guest TSC runs at the host's constant rate, so one
 * (timestamp, ns, scale) triple stays right, and the record says so
 * (PVCLOCK_TSC_STABLE_BIT, with KVM_FEATURE_CLOCKSOURCE_STABLE_BIT).
 */
#include <string.h>
#include <time.h>

#include "vm.h"

#define PVCLOCK_TSC_STABLE_BIT 1u

/* KVM's layouts (32 and 12 bytes), little-endian guest memory. */
struct kvm_time_info {
	uint32_t version, pad0;
	uint64_t tsc_timestamp, system_time;
	uint32_t tsc_to_system_mul;
	int8_t tsc_shift;
	uint8_t flags, pad[2];
};

struct kvm_wall_clock {
	uint32_t version, sec, nsec;
};

bool kvm_para_cpuid(uint32_t leaf, uint32_t out[4])
{
	if (leaf < KVM_PARA_CPUID_BASE || leaf > KVM_PARA_CPUID_BASE + 0xff)
		return false;
	out[0] = out[1] = out[2] = out[3] = 0;
	if (leaf == KVM_PARA_CPUID_BASE) {
		out[0] = KVM_PARA_CPUID_BASE + 1;
		memcpy(&out[1], "KVMKVMKVM\0\0\0", 12);
	} else if (leaf == KVM_PARA_CPUID_BASE + 1) {
		out[0] = KVM_PARA_F_CLOCKSOURCE2 | KVM_PARA_F_CLOCKSOURCE_STABLE;
	}
	return true;
}

bool kvm_para_rdmsr(struct vm *vm, uint32_t msr, uint64_t *v)
{
	switch (msr) {
	case MSR_KVM_SYSTEM_TIME_NEW: *v = vm->kvm_para.system_time_msr; return true;
	case MSR_KVM_WALL_CLOCK_NEW: *v = vm->kvm_para.wall_clock_msr; return true;
	default: return false;
	}
}

/* The record KVM's guest reads: odd version while it is written. */
static void time_info_write(struct vm *vm, uint8_t *p, uint64_t guest_tsc)
{
	struct kvm_time_info t;
	memcpy(&t, p, sizeof t);
	t.version |= 1;
	memcpy(p, &t.version, 4);
	__atomic_thread_fence(__ATOMIC_SEQ_CST);
	uint64_t sys;
	pv_clock_now(vm, &sys, &t.tsc_to_system_mul, &t.tsc_shift);
	t.tsc_timestamp = guest_tsc;
	t.system_time = sys;
	t.flags = PVCLOCK_TSC_STABLE_BIT;
	t.pad0 = 0;
	t.pad[0] = t.pad[1] = 0;
	memcpy(p + 4, (uint8_t *)&t + 4, sizeof t - 4);
	__atomic_thread_fence(__ATOMIC_SEQ_CST);
	t.version++;
	memcpy(p, &t.version, 4);
}

/* The wall-clock time at kvm-clock 0 (the VM's start), as KVM defines it. */
static void wall_clock_write(struct vm *vm, uint8_t *p)
{
	struct timespec now;
	clock_gettime(CLOCK_REALTIME, &now);
	uint64_t up = host_ns() - vm->stats.start_ns;
	uint64_t real = (uint64_t)now.tv_sec * 1000000000ull + (uint64_t)now.tv_nsec;
	uint64_t boot = real > up ? real - up : 0;
	struct kvm_wall_clock w;
	memcpy(&w, p, sizeof w);
	w.version = (w.version | 1) + 1; /* even: complete */
	w.sec = (uint32_t)(boot / 1000000000ull);
	w.nsec = (uint32_t)(boot % 1000000000ull);
	memcpy(p, &w, sizeof w);
}

bool kvm_para_wrmsr(struct vm *vm, uint32_t msr, uint64_t v, uint64_t guest_tsc)
{
	switch (msr) {
	case MSR_KVM_SYSTEM_TIME_NEW: {
		uint64_t gpa = v & ~1ull;
		uint8_t *p = vm_gpa(vm, gpa, sizeof(struct kvm_time_info));
		if ((v & 1) && (!p || (gpa & 3)))
			return false; /* not guest RAM: #GP */
		vm->kvm_para.system_time_msr = v;
		if (v & 1)
			time_info_write(vm, p, guest_tsc);
		return true;
	}
	case MSR_KVM_WALL_CLOCK_NEW: {
		uint8_t *p = vm_gpa(vm, v, sizeof(struct kvm_wall_clock));
		if (!p || (v & 3))
			return false;
		vm->kvm_para.wall_clock_msr = v;
		wall_clock_write(vm, p);
		return true;
	}
	default:
		return false;
	}
}
