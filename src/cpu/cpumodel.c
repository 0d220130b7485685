/*
 * CPU models (--cpu) and the CPUID instruction. A model names a real CPU
 * that Linux knows (vendor, family, model, stepping), so the kernel picks
 * its usual code paths and prints no "unknown vendor" warning; the
 * features reported are the model's own masked by CPU_CORE_FEATURES, so a
 * guest never sees a feature that #UDs (no MMX/SSE, no APIC, no PAE).
 * The hypervisor bit and leaf 0x40000000 say that ringvm is underneath.
 *
 * CPUID leaves above the model's maximum answer like the highest basic
 * leaf, as Intel CPUs do.
 */
#include <string.h>

#include "cpu.h"
#include "cpumodel.h"
#include "vm/hypercall.h"
#include "vm/kvm_para.h"
#include "vm/vm.h"

#define P6_FEATURES                                                                          \
	(CPUID_FPU | CPUID_DE | CPUID_PSE | CPUID_TSC | CPUID_MSR | CPUID_PAE | CPUID_MCE |  \
	 CPUID_CX8 | CPUID_APIC | CPUID_MTRR | CPUID_PGE | CPUID_MCA | CPUID_CMOV)

static const struct cpu_model models[] = {
	{ "pentiumpro", "Intel Pentium Pro (P6, family 6 model 1): no MMX, no SSE", "GenuineIntel",
	  6, 1, 9, P6_FEATURES, NULL, true },
	{ "pentium2", "Intel Pentium II (family 6 model 5): SYSENTER",
	  "GenuineIntel", 6, 5, 2, P6_FEATURES | CPUID_SEP | CPUID_MMX, NULL, true },
	{ "qemu32", "QEMU's qemu32 model (family 6 model 6), brand string included",
	  "GenuineIntel", 6, 6, 3,
	  P6_FEATURES | CPUID_SEP | CPUID_MMX | CPUID_FXSR | CPUID_SSE | (1u << 26) /* sse2 */,
	  "QEMU Virtual CPU version 2.5+", true },
	{ "athlon", "AMD Athlon (K7, family 6 model 2): AuthenticAMD, brand string",
	  "AuthenticAMD", 6, 2, 1, P6_FEATURES | CPUID_SEP | CPUID_MMX, "AMD Athlon(tm) Processor",
	  false },
};

const struct cpu_model *cpu_model_find(const char *name)
{
	for (size_t k = 0; k < sizeof models / sizeof models[0]; k++)
		if (!strcmp(models[k].name, name))
			return &models[k];
	return NULL;
}

/* "MODEL[,-kvmclock][,+kvmclock]" (QEMU's spelling): the model, and whether
 * KVM's paravirtual leaves and kvm-clock MSRs are offered (on by default;
 * off to compare a Linux guest's clock without them). */
const struct cpu_model *cpu_model_parse(const char *spec, bool *kvmclock)
{
	char name[32];
	size_t n = strcspn(spec, ",");
	if (n >= sizeof name)
		return NULL;
	memcpy(name, spec, n);
	name[n] = 0;
	bool kc = true;
	for (const char *o = spec + n; *o == ',';) {
		o++;
		size_t l = strcspn(o, ",");
		if (l == 9 && !strncmp(o, "-kvmclock", 9))
			kc = false;
		else if (l == 9 && !strncmp(o, "+kvmclock", 9))
			kc = true;
		else
			return NULL;
		o += l;
	}
	if (kvmclock)
		*kvmclock = kc;
	return cpu_model_find(name);
}

uint32_t cpu_model_features(const struct cpu_model *m)
{
	return m->features & CPU_CORE_FEATURES;
}

/* The flag names /proc/cpuinfo would show for the reported leaf 1 EDX. */
static void feature_names(uint32_t edx, char *out, size_t len)
{
	static const char *const names[32] = {
		"fpu", "vme", "de", "pse", "tsc", "msr", "pae", "mce", "cx8", "apic", NULL, "sep",
		"mtrr", "pge", "mca", "cmov", "pat", "pse36", NULL, NULL, NULL, NULL, NULL, "mmx",
		"fxsr", "sse", "sse2",
	};
	out[0] = 0;
	for (int b = 0; b < 32; b++)
		if ((edx & (1u << b)) && names[b]) {
			size_t n = strlen(out);
			snprintf(out + n, len - n, "%s%s", n ? " " : "", names[b]);
		}
}

void cpu_model_list(FILE *out)
{
	fprintf(out, "CPU models (--cpu NAME; default %s). Features are the model's, less what "
		"this core does not implement; MODEL,-kvmclock hides KVM's paravirtual clock\n"
		"leaves and MSRs from a Linux guest):\n", CPU_MODEL_DEFAULT);
	for (size_t k = 0; k < sizeof models / sizeof models[0]; k++) {
		char f[160];
		feature_names(cpu_model_features(&models[k]), f, sizeof f);
		fprintf(out, "  %-11s %s\n  %-11s   reports: %s %u/%u/%u, %s\n", models[k].name,
			models[k].summary, "", models[k].vendor, models[k].family, models[k].model,
			models[k].stepping, f);
	}
	fprintf(out, "No \"host\" model: under trap, an instruction the core cannot run (SSE on an\n"
		"MMIO page, after a guest #PF) would #UD where the host CPU ran it.\n");
}

static void put_str(uint32_t *regs, const char *s, size_t n)
{
	char buf[16] = { 0 };
	size_t l = strlen(s);
	memcpy(buf, s, l < n ? l : n);
	memcpy(regs, buf, n);
}

/* EBX EDX ECX spell the vendor; EBX ECX EDX the hypervisor signature. */
static void vendor_regs(const char *v, uint32_t out[4])
{
	memcpy(&out[1], v, 4);
	memcpy(&out[3], v + 4, 4);
	memcpy(&out[2], v + 8, 4);
}

static uint32_t signature_eax(const struct cpu_model *m)
{
	return (uint32_t)m->family << 8 | (uint32_t)m->model << 4 | m->stepping;
}

static void basic_leaf(const struct cpu_model *m, uint32_t leaf, uint32_t out[4])
{
	if (leaf == 0) {
		out[0] = 1;
		vendor_regs(m->vendor, out);
		return;
	}
	/* Leaf 1, and any leaf past the maximum (Intel's answer). */
	out[0] = signature_eax(m);
	out[1] = 0; /* brand index, CLFLUSH size, APIC ID: none */
	out[2] = CPUID_ECX_HYPERVISOR;
	out[3] = cpu_model_features(m);
}

static void extended_leaf(const struct cpu_model *m, uint32_t leaf, uint32_t out[4])
{
	if (leaf == 0x80000000u) {
		out[0] = 0x80000004u;
		return;
	}
	if (leaf == 0x80000001u) {
		/* AMD repeats most leaf 1 EDX bits here (Intel none of them),
		 * but bit 11 means SYSCALL, which this core does not implement. */
		out[0] = signature_eax(m);
		if (!strcmp(m->vendor, "AuthenticAMD"))
			out[3] = cpu_model_features(m) & ~CPUID_EXT_SYSCALL;
		return;
	}
	const char *b = m->brand;
	unsigned part = leaf - 0x80000002u; /* 0..2, 16 characters each */
	size_t l = strlen(b), off = part * 16u;
	char buf[16] = { 0 };
	if (off < l)
		memcpy(buf, b + off, l - off < 16 ? l - off : 16);
	memcpy(out, buf, 16);
}

void cpuid_query(struct cpu *c, uint32_t leaf, uint32_t sub, uint32_t out[4])
{
	const struct cpu_model *m = c->model;
	(void)sub;
	out[0] = out[1] = out[2] = out[3] = 0;
	if (leaf >= CPUID_HV_BASE && leaf < 0x50000000u) {
		/* ringvm's paravirtual ABI (src/vm/hypercall.c), then KVM's
		 * leaves for Linux's kvm-clock (src/vm/kvm_para.c). */
		if (pv_cpuid(leaf, out) || (c->kvmclock && kvm_para_cpuid(leaf, out)))
			return;
		if (leaf == CPUID_HV_BASE) {
			out[0] = CPUID_HV_BASE; /* the highest hypervisor leaf */
			put_str(&out[1], CPUID_HV_SIGNATURE, 12);
		}
		return;
	}
	if (leaf >= 0x80000000u && m->brand && leaf <= 0x80000004u) {
		extended_leaf(m, leaf, out);
		return;
	}
	basic_leaf(m, leaf > 1 ? 1 : leaf, out);
	/* The local APIC's bits (apic, tsc-deadline, APIC ID) come from the
	 * machine: only --machine pc has one. */
	if (leaf >= 1 && c->vcpu)
		vcpu_platform_cpuid1(c->vcpu, out);
}
