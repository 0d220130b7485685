/*
 * Model-specific registers as the modelled CPU has them: the ones it has
 * work, every other index raises #GP, as on hardware (Linux probes with
 * rdmsr_safe and takes the #GP as "absent"). Only what the model reports
 * exists: no APIC_BASE (no APIC), no MTRRs (CPUID does not report mtrr),
 * no EFER (no long mode, no NX), SYSENTER MSRs only with sep.
 */
#include "cpu.h"
#include "cpumodel.h"
#include "vm/kvm_para.h"
#include "vm/vm.h"

#define MSR_TSC 0x10
#define MSR_PLATFORM_ID 0x17
#define MSR_BIOS_SIGN_ID 0x8b
#define MSR_SYSENTER_CS 0x174
#define MSR_SYSENTER_ESP 0x175
#define MSR_SYSENTER_EIP 0x176
#define MSR_MISC_ENABLE 0x1a0

#define MISC_ENABLE_FAST_STRINGS 1u

int cpu_set_model(struct cpu *c, const char *name)
{
	const struct cpu_model *m = cpu_model_parse(name ? name : CPU_MODEL_DEFAULT, &c->kvmclock);
	if (!m)
		return -1;
	c->model = m;
	c->features = cpu_model_features(m);
	c->misc_enable = MISC_ENABLE_FAST_STRINGS;
	c->bios_sign_id = 0;
	return 0;
}

static bool has_sep(const struct cpu *c)
{
	return c->features & CPUID_SEP;
}

bool msr_read(struct cpu *c, uint32_t idx, uint64_t *v)
{
	switch (idx) {
	case MSR_TSC: *v = tsc_read(c); return true;
	case MSR_SYSENTER_CS: *v = c->sysenter_cs; return has_sep(c);
	case MSR_SYSENTER_ESP: *v = c->sysenter_esp; return has_sep(c);
	case MSR_SYSENTER_EIP: *v = c->sysenter_eip; return has_sep(c);
	case MSR_PLATFORM_ID: *v = 0; return c->model->intel_msrs;
	case MSR_BIOS_SIGN_ID: *v = c->bios_sign_id; return c->model->intel_msrs;
	case MSR_MISC_ENABLE: *v = c->misc_enable; return c->model->intel_msrs;
	/* IA32_APIC_BASE, IA32_TSC_DEADLINE: the machine's local APIC, if any;
	 * then KVM's paravirtual MSRs (kvm-clock), src/vm/kvm_para.c. */
	default:
		return c->vcpu && (vcpu_platform_msr(c->vcpu, idx, v, false, tsc_read(c)) ||
				   (c->kvmclock && kvm_para_rdmsr(c->vcpu->vm, idx, v)));
	}
}

bool msr_write(struct cpu *c, uint32_t idx, uint64_t v)
{
	switch (idx) {
	case MSR_TSC: c->tsc_offset += (int64_t)(v - tsc_read(c)); return true;
	case MSR_SYSENTER_CS: c->sysenter_cs = (uint32_t)v; return has_sep(c);
	case MSR_SYSENTER_ESP: c->sysenter_esp = (uint32_t)v; return has_sep(c);
	case MSR_SYSENTER_EIP: c->sysenter_eip = (uint32_t)v; return has_sep(c);
	/* Writing 0 before CPUID is how Linux reads the microcode revision
	 * (there is none: it stays 0). */
	case MSR_BIOS_SIGN_ID: c->bios_sign_id = 0; return c->model->intel_msrs;
	case MSR_MISC_ENABLE:
		/* Fast strings is the one bit kept; the rest read as written
		 * bits of a CPU without thermal control, SpeedStep or the like. */
		c->misc_enable = v;
		return c->model->intel_msrs;
	default:
		return c->vcpu && (vcpu_platform_msr(c->vcpu, idx, &v, true, tsc_read(c)) ||
				   (c->kvmclock && kvm_para_wrmsr(c->vcpu->vm, idx, v, tsc_read(c))));
	}
}
