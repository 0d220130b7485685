/*
 * The CPU a guest sees: CPUID leaves and model-specific registers, from a
 * named model (--cpu) intersected with what this core implements. Shared
 * by every software engine (interp, trap, bt): a guest is told only about
 * features that work whichever engine runs it.
 */
#ifndef RINGVM_CPU_CPUMODEL_H
#define RINGVM_CPU_CPUMODEL_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

/* CPUID reports fpu only because the core executes the whole x87
 * instruction set (src/cpu/exec_fpu.c, CPU_CORE_HAS_X87 in cpu.h). */
#ifndef CPU_HAS_X87
#define CPU_HAS_X87 CPU_CORE_HAS_X87
#endif

/* CPUID leaf 1 EDX / ECX bits. */
#define CPUID_FPU (1u << 0)
#define CPUID_VME (1u << 1)
#define CPUID_DE (1u << 2)
#define CPUID_PSE (1u << 3)
#define CPUID_TSC (1u << 4)
#define CPUID_MSR (1u << 5)
#define CPUID_PAE (1u << 6)
#define CPUID_MCE (1u << 7)
#define CPUID_CX8 (1u << 8)
#define CPUID_APIC (1u << 9)
#define CPUID_SEP (1u << 11)
#define CPUID_MTRR (1u << 12)
#define CPUID_PGE (1u << 13)
#define CPUID_MCA (1u << 14)
#define CPUID_CMOV (1u << 15)
#define CPUID_MMX (1u << 23)
#define CPUID_FXSR (1u << 24)
#define CPUID_SSE (1u << 25)
#define CPUID_ECX_HYPERVISOR (1u << 31)
#define CPUID_EXT_SYSCALL (1u << 11) /* leaf 0x80000001 EDX */

/* What this core implements correctly, for every engine built on it. */
#define CPU_CORE_FEATURES                                                                   \
	((CPU_HAS_X87 ? CPUID_FPU : 0) | CPUID_PSE | CPUID_TSC | CPUID_MSR | CPUID_CX8 |    \
	 CPUID_SEP | CPUID_PGE | CPUID_CMOV)

/* The hypervisor range: ringvm's own signature at 0x40000000. Linux looks
 * for KVM's every 0x100 up to 0x40010000, so KVM's leaves can join later
 * at 0x40000100 without moving these. */
#define CPUID_HV_BASE 0x40000000u
#define CPUID_HV_SIGNATURE "RingVMRingVM"

struct cpu_model {
	const char *name;
	const char *summary;	/* one line for --cpu help */
	const char *vendor;	/* 12 characters */
	uint8_t family, model, stepping;
	uint32_t features;	/* leaf 1 EDX of the real CPU, before the core's mask */
	const char *brand;	/* extended leaves 0x80000002-4, or NULL: none */
	bool intel_msrs;	/* PLATFORM_ID, BIOS_SIGN_ID, MISC_ENABLE */
};

#define CPU_MODEL_DEFAULT "pentium2"

/* The model called name, or NULL. */
const struct cpu_model *cpu_model_find(const char *name);
/* MODEL[,-kvmclock]: NULL if unknown; *kvmclock: offer KVM's kvm-clock. */
const struct cpu_model *cpu_model_parse(const char *spec, bool *kvmclock);
/* Prints the models, one a line, with what each reports on this core. */
void cpu_model_list(FILE *out);
/* Leaf 1 EDX for model m on this core. */
uint32_t cpu_model_features(const struct cpu_model *m);

#endif
