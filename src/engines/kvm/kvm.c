/*
 * The kvm engine: hardware-assisted virtualization through Linux KVM. The
 * CPU runs the guest itself and exits to us on IO, MMIO, HLT and the like;
 * the PIC, PIT and UART stay in user space (no in-kernel irqchip), so
 * interrupts are injected with KVM_INTERRUPT when the guest can take them,
 * or an interrupt-window exit is requested when it cannot.
 */
#include <errno.h>
#include <fcntl.h>
#include <linux/kvm.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <unistd.h>
#include <cpuid.h>

#include "kvm.h"
#include "vm/vm.h"

/* KVM on Intel needs three pages of guest-physical space for the real-mode
 * TSS; put them just below the BIOS area, far above any RAM ringvm gives. */
#define KVM_TSS_ADDR 0xfffbd000u

struct kvm_vcpu_priv {
	int kvm_fd, vm_fd, vcpu_fd;
	struct kvm_run *run;
	size_t run_size;
};

static bool kvm_available(char *why, size_t len)
{
	int fd = open("/dev/kvm", O_RDWR | O_CLOEXEC);
	if (fd < 0) {
		snprintf(why, len, "/dev/kvm: %s", errno == ENOENT ? "no such device (KVM not loaded)"
				   : errno == EACCES ? "permission denied" : strerror(errno));
		return false;
	}
	int api = ioctl(fd, KVM_GET_API_VERSION, 0);
	close(fd);
	if (api != KVM_API_VERSION) {
		snprintf(why, len, "/dev/kvm: API version %d, expected %d", api, KVM_API_VERSION);
		return false;
	}
	snprintf(why, len, "/dev/kvm opens");
	return true;
}

/* Does the host CPU itself have VT-x or AMD-V? Without either, a /dev/kvm
 * that opens is a software hypervisor (here: kvm_pvm) and runs our guests
 * by emulating them, far slower than ringvm's own software engines. */
static bool kvm_fast_here(char *why, size_t len)
{
	unsigned a, b, c, d;
	bool vmx = __get_cpuid(1, &a, &b, &c, &d) && (c & (1u << 5));
	bool svm = __get_cpuid(0x80000001, &a, &b, &c, &d) && (c & (1u << 2));
	if (vmx || svm) {
		snprintf(why, len, "host CPU has %s", vmx ? "VT-x" : "AMD-V");
		return true;
	}
	bool pvm = access("/sys/module/kvm_pvm", F_OK) == 0;
	snprintf(why, len, "host CPU has no VT-x/AMD-V: /dev/kvm is %s that emulates 32-bit guests "
		 "instruction by instruction", pvm ? "kvm_pvm, a software hypervisor," : "a software hypervisor");
	return false;
}

static void seg_to_kvm(struct kvm_segment *k, const struct seg *s)
{
	memset(k, 0, sizeof *k);
	k->base = s->base;
	k->limit = s->limit;
	k->selector = s->sel;
	k->type = s->type;
	k->present = s->present;
	k->dpl = s->dpl;
	k->db = s->db;
	k->s = s->s;
	k->g = s->g;
	k->avl = s->avl;
	k->unusable = s->unusable;
}

static void seg_from_kvm(struct seg *s, const struct kvm_segment *k)
{
	*s = (struct seg){ .sel = k->selector, .base = (uint32_t)k->base, .limit = k->limit,
			   .type = k->type, .s = k->s, .dpl = k->dpl, .present = k->present,
			   .db = k->db, .g = k->g, .avl = k->avl, .unusable = k->unusable };
}

static int kvm_set_cpuid(struct kvm_vcpu_priv *p)
{
	for (int n = 64; n <= 4096; n *= 2) {
		struct kvm_cpuid2 *c = calloc(1, sizeof *c + n * sizeof c->entries[0]);
		if (!c)
			return -1;
		c->nent = (uint32_t)n;
		if (ioctl(p->kvm_fd, KVM_GET_SUPPORTED_CPUID, c) == 0) {
			int r = ioctl(p->vcpu_fd, KVM_SET_CPUID2, c);
			free(c);
			return r;
		}
		free(c);
		if (errno != E2BIG)
			return -1;
	}
	return -1;
}

static void kvm_destroy(struct vcpu *vcpu)
{
	struct kvm_vcpu_priv *p = vcpu->priv;
	if (!p)
		return;
	if (p->run)
		munmap(p->run, p->run_size);
	if (p->vcpu_fd >= 0)
		close(p->vcpu_fd);
	if (p->vm_fd >= 0)
		close(p->vm_fd);
	if (p->kvm_fd >= 0)
		close(p->kvm_fd);
	free(p);
	vcpu->priv = NULL;
}

static int kvm_fail(struct vcpu *vcpu, const char *what)
{
	fprintf(stderr, "ringvm: kvm: %s: %s\n", what, strerror(errno));
	kvm_destroy(vcpu);
	return -1;
}

static int kvm_create(struct vcpu *vcpu)
{
	struct kvm_vcpu_priv *p = calloc(1, sizeof *p);
	if (!p)
		return -1;
	p->kvm_fd = p->vm_fd = p->vcpu_fd = -1;
	vcpu->priv = p;
	p->kvm_fd = open("/dev/kvm", O_RDWR | O_CLOEXEC);
	if (p->kvm_fd < 0)
		return kvm_fail(vcpu, "/dev/kvm");
	p->vm_fd = ioctl(p->kvm_fd, KVM_CREATE_VM, 0);
	if (p->vm_fd < 0)
		return kvm_fail(vcpu, "KVM_CREATE_VM");
	/* Not every KVM needs (or has) a TSS area: only a refusal matters on VMX. */
	(void)ioctl(p->vm_fd, KVM_SET_TSS_ADDR, KVM_TSS_ADDR);
	struct kvm_userspace_memory_region mr = {
		.slot = 0, .guest_phys_addr = 0, .memory_size = vcpu->vm->ram_size,
		.userspace_addr = (uint64_t)(uintptr_t)vcpu->vm->ram,
	};
	if (ioctl(p->vm_fd, KVM_SET_USER_MEMORY_REGION, &mr) < 0)
		return kvm_fail(vcpu, "KVM_SET_USER_MEMORY_REGION");
	p->vcpu_fd = ioctl(p->vm_fd, KVM_CREATE_VCPU, 0);
	if (p->vcpu_fd < 0)
		return kvm_fail(vcpu, "KVM_CREATE_VCPU");
	int sz = ioctl(p->kvm_fd, KVM_GET_VCPU_MMAP_SIZE, 0);
	if (sz <= 0)
		return kvm_fail(vcpu, "KVM_GET_VCPU_MMAP_SIZE");
	p->run_size = (size_t)sz;
	p->run = mmap(NULL, p->run_size, PROT_READ | PROT_WRITE, MAP_SHARED, p->vcpu_fd, 0);
	if (p->run == MAP_FAILED) {
		p->run = NULL;
		return kvm_fail(vcpu, "mmap kvm_run");
	}
	if (kvm_set_cpuid(p) < 0)
		return kvm_fail(vcpu, "KVM_SET_CPUID2");
	return 0;
}

static void kvm_get_state(struct vcpu *vcpu, struct cpu_state *s)
{
	struct kvm_vcpu_priv *p = vcpu->priv;
	struct kvm_regs r;
	struct kvm_sregs sr;
	memset(s, 0, sizeof *s);
	if (ioctl(p->vcpu_fd, KVM_GET_REGS, &r) < 0 || ioctl(p->vcpu_fd, KVM_GET_SREGS, &sr) < 0)
		return;
	const uint64_t g[GPR_COUNT] = { r.rax, r.rcx, r.rdx, r.rbx, r.rsp, r.rbp, r.rsi, r.rdi };
	for (int i = 0; i < GPR_COUNT; i++)
		s->gpr[i] = (uint32_t)g[i];
	s->eip = (uint32_t)r.rip;
	s->eflags = (uint32_t)r.rflags;
	const struct kvm_segment *ks[SREG_COUNT] = { &sr.es, &sr.cs, &sr.ss, &sr.ds, &sr.fs, &sr.gs };
	for (int i = 0; i < SREG_COUNT; i++)
		seg_from_kvm(&s->seg[i], ks[i]);
	seg_from_kvm(&s->ldtr, &sr.ldt);
	seg_from_kvm(&s->tr, &sr.tr);
	s->gdtr = (struct dtr){ (uint32_t)sr.gdt.base, sr.gdt.limit };
	s->idtr = (struct dtr){ (uint32_t)sr.idt.base, sr.idt.limit };
	s->cr0 = (uint32_t)sr.cr0;
	s->cr2 = (uint32_t)sr.cr2;
	s->cr3 = (uint32_t)sr.cr3;
	s->cr4 = (uint32_t)sr.cr4;
	s->efer = sr.efer;
}

static void kvm_set_state(struct vcpu *vcpu, const struct cpu_state *s)
{
	struct kvm_vcpu_priv *p = vcpu->priv;
	struct kvm_sregs sr;
	if (ioctl(p->vcpu_fd, KVM_GET_SREGS, &sr) < 0) {
		fprintf(stderr, "ringvm: kvm: KVM_GET_SREGS: %s\n", strerror(errno));
		return;
	}
	struct kvm_segment *ks[SREG_COUNT] = { &sr.es, &sr.cs, &sr.ss, &sr.ds, &sr.fs, &sr.gs };
	for (int i = 0; i < SREG_COUNT; i++)
		seg_to_kvm(ks[i], &s->seg[i]);
	seg_to_kvm(&sr.ldt, &s->ldtr);
	seg_to_kvm(&sr.tr, &s->tr);
	sr.gdt.base = s->gdtr.base;
	sr.gdt.limit = s->gdtr.limit;
	sr.idt.base = s->idtr.base;
	sr.idt.limit = s->idtr.limit;
	sr.cr0 = s->cr0;
	sr.cr2 = s->cr2;
	sr.cr3 = s->cr3;
	sr.cr4 = s->cr4;
	sr.efer = s->efer;
	struct kvm_regs r = {
		.rax = s->gpr[R_EAX], .rcx = s->gpr[R_ECX], .rdx = s->gpr[R_EDX],
		.rbx = s->gpr[R_EBX], .rsp = s->gpr[R_ESP], .rbp = s->gpr[R_EBP],
		.rsi = s->gpr[R_ESI], .rdi = s->gpr[R_EDI], .rip = s->eip,
		.rflags = s->eflags | EFLAGS_FIXED,
	};
	if (ioctl(p->vcpu_fd, KVM_SET_SREGS, &sr) < 0 || ioctl(p->vcpu_fd, KVM_SET_REGS, &r) < 0)
		fprintf(stderr, "ringvm: kvm: setting registers: %s\n", strerror(errno));
}

static bool kvm_irq_window_open(struct vcpu *vcpu)
{
	struct kvm_vcpu_priv *p = vcpu->priv;
	return p->run->if_flag;
}

/* Injects a pending PIC interrupt if the guest can take it now, else asks
 * KVM to exit as soon as it can. */
static void kvm_inject(struct vcpu *vcpu, struct kvm_vcpu_priv *p)
{
	p->run->request_interrupt_window = 0;
	if (!vcpu_irq_pending(vcpu))
		return;
	if (p->run->ready_for_interrupt_injection && p->run->if_flag) {
		int vec = vcpu_irq_ack(vcpu);
		if (vec >= 0) {
			struct kvm_interrupt irq = { .irq = (uint32_t)vec };
			ioctl(p->vcpu_fd, KVM_INTERRUPT, &irq);
		}
	} else {
		p->run->request_interrupt_window = 1;
	}
}

static void kvm_exit_error(struct vcpu_exit *ex, const char *fmt, unsigned long long v)
{
	ex->reason = EXIT_ERROR;
	snprintf(ex->error.msg, sizeof ex->error.msg, fmt, v);
}

/* KVM's own instruction emulator gave up; say so with what it reported
 * (for an emulation failure: the instruction bytes). */
static void kvm_internal_error(struct vcpu_exit *ex, const struct kvm_run *run)
{
	ex->reason = EXIT_ERROR;
	int n = snprintf(ex->error.msg, sizeof ex->error.msg, "KVM internal error, suberror %u%s",
			 run->internal.suberror,
			 run->internal.suberror == KVM_INTERNAL_ERROR_EMULATION
				 ? " (KVM's instruction emulator could not emulate the guest instruction)"
				 : "");
	for (uint32_t i = 0; i < run->internal.ndata && i < 4 && n > 0 &&
			     (size_t)n < sizeof ex->error.msg; i++)
		n += snprintf(ex->error.msg + n, sizeof ex->error.msg - (size_t)n, " data[%u]=0x%llx",
			      i, (unsigned long long)run->internal.data[i]);
}

static int kvm_run(struct vcpu *vcpu, struct vcpu_exit *ex)
{
	struct kvm_vcpu_priv *p = vcpu->priv;
	struct kvm_run *run = p->run;
	struct vm *vm = vcpu->vm;
	for (;;) {
		if (vm->kick || vm->stop) {
			ex->reason = EXIT_NONE;
			return 0;
		}
		kvm_inject(vcpu, p);
		if (ioctl(p->vcpu_fd, KVM_RUN, 0) < 0) {
			if (errno == EINTR || errno == EAGAIN) {
				ex->reason = EXIT_NONE;
				return 0;
			}
			kvm_exit_error(ex, "KVM_RUN failed: errno %llu", (unsigned long long)errno);
			return 0;
		}
		switch (run->exit_reason) {
		case KVM_EXIT_IO: {
			/* Serviced here and completed by the next KVM_RUN, as KVM expects. */
			uint8_t *data = (uint8_t *)run + run->io.data_offset;
			for (uint32_t i = 0; i < run->io.count; i++)
				vcpu_pio(vcpu, run->io.port, data + i * run->io.size, run->io.size,
					 run->io.direction == KVM_EXIT_IO_OUT);
			if (vm->stop) {
				ex->reason = EXIT_IO;
				return 0;
			}
			continue;
		}
		case KVM_EXIT_MMIO:
			vcpu_mmio(vcpu, run->mmio.phys_addr, run->mmio.data,
				  run->mmio.len > 8 ? 8 : run->mmio.len, run->mmio.is_write);
			continue;
		case KVM_EXIT_HLT:
			ex->reason = EXIT_HLT;
			return 0;
		case KVM_EXIT_IRQ_WINDOW_OPEN:
			ex->reason = EXIT_IRQ_WINDOW;
			return 0;
		case KVM_EXIT_INTR:
			ex->reason = EXIT_NONE;
			return 0;
		case KVM_EXIT_SHUTDOWN:
			ex->reason = EXIT_SHUTDOWN;
			return 0;
		case KVM_EXIT_FAIL_ENTRY:
			kvm_exit_error(ex, "VM entry failed, hardware reason 0x%llx",
				       run->fail_entry.hardware_entry_failure_reason);
			return 0;
		case KVM_EXIT_INTERNAL_ERROR:
			kvm_internal_error(ex, run);
			return 0;
		default:
			kvm_exit_error(ex, "unexpected KVM exit reason %llu", run->exit_reason);
			return 0;
		}
	}
}

const struct engine engine_kvm = {
	.name = "kvm",
	.family = "hardware-assisted",
	.available = kvm_available,
	.fast_here = kvm_fast_here,
	.create = kvm_create,
	.destroy = kvm_destroy,
	.run = kvm_run,
	.get_state = kvm_get_state,
	.set_state = kvm_set_state,
	.irq_window_open = kvm_irq_window_open,
	.sandbox_needs = SANDBOX_KVM,
};
