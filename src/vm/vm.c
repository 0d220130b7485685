/*
 * The VM: guest RAM in one memfd (so native engines can map its pages again
 * wherever the guest's page tables say), the two buses, the devices, and the
 * services every engine calls when the guest touches something that is not
 * plain RAM.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <time.h>
#include <unistd.h>

#include "devices/devices.h"
#include "vm.h"

uint64_t host_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

/* Guest RAM is exactly --mem bytes, for good: once sized, the memfd is
 * sealed against growing and shrinking (and against changing the seals),
 * so nothing that gets hold of it, a stray write() included, can make the
 * guest's RAM larger than configured or pull pages from under the VMM's
 * mapping (a SIGBUS). Writes inside it stay possible: that is guest RAM. */
#define RAM_SEALS (F_SEAL_GROW | F_SEAL_SHRINK | F_SEAL_SEAL)

static int ram_create(struct vm *vm, uint64_t size)
{
	vm->memfd = memfd_create("ringvm-ram", MFD_CLOEXEC | MFD_ALLOW_SEALING);
	if (vm->memfd < 0) {
		fprintf(stderr, "ringvm: memfd_create: %s\n", strerror(errno));
		return -1;
	}
	if (ftruncate(vm->memfd, (off_t)size) < 0) {
		fprintf(stderr, "ringvm: cannot size guest RAM to %llu MiB: %s\n",
			(unsigned long long)(size >> 20), strerror(errno));
		return -1;
	}
	if (fcntl(vm->memfd, F_ADD_SEALS, RAM_SEALS) < 0) {
		fprintf(stderr, "ringvm: cannot seal guest RAM: %s\n", strerror(errno));
		return -1;
	}
	void *p = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_NORESERVE, vm->memfd, 0);
	if (p == MAP_FAILED) {
		fprintf(stderr, "ringvm: cannot map %llu MiB of guest RAM: %s\n",
			(unsigned long long)(size >> 20), strerror(errno));
		return -1;
	}
	vm->ram = p;
	vm->ram_size = size;
	return 0;
}

int vm_create(struct vm *vm, const struct vm_config *cfg)
{
	memset(vm, 0, sizeof *vm);
	vm->cfg = *cfg;
	vm->memfd = -1;
	vm->pio.name = "port";
	vm->mmio.name = "mmio";
	if (ram_create(vm, cfg->mem_size) < 0 || devices_init(vm) < 0) {
		vm_destroy(vm);
		return -1;
	}
	return 0;
}

void vm_destroy(struct vm *vm)
{
	if (vm->dev)
		devices_destroy(vm);
	if (vm->ram)
		munmap(vm->ram, vm->ram_size);
	if (vm->memfd >= 0)
		close(vm->memfd);
	vm->ram = NULL;
	vm->memfd = -1;
}

void vm_request_stop(struct vm *vm, int status, const char *why)
{
	if (vm->stop)
		return; /* the first reason wins: it is the one the guest caused */
	vm->stop = true;
	vm->exit_status = status;
	vm->stop_why = why;
	vm->kick = 1;
}

/* Exit handling time is read from the clock only for --stats: under the
 * emulator an IN costs ~65 ns in all, and two clock reads would be a large
 * part of it. */
static uint64_t exit_clock(const struct vm *vm)
{
	return vm->cfg.stats ? host_ns() : 0;
}

void vcpu_pio(struct vcpu *vcpu, uint16_t port, uint8_t *data, unsigned size, bool is_write)
{
	struct vm *vm = vcpu->vm;
	if (port == RINGVM_PV_PORT && size == 4 && is_write && vcpu->engine &&
	    vcpu->engine->hypercalls) {
		/* The hypercall doorbell: no device, the registers are the message. */
		vcpu->hypercall = true;
		return;
	}
	uint64_t t0 = exit_clock(vm);
	const struct bus_range *r = bus_find(&vm->pio, port);
	if (r) {
		r->fn(vm, r->dev, port, data, size, is_write);
	} else {
		char name[16];
		snprintf(name, sizeof name, "0x%04x", port);
		stats_event(&vm->stats, is_write ? "unclaimed port write" : "unclaimed port read", name);
		if (!is_write)
			memset(data, 0xff, size);
	}
	if (vm->cfg.trace) {
		uint32_t v = 0;
		memcpy(&v, data, size > 4 ? 4 : size);
		fprintf(stderr, "ringvm: io %s port 0x%04x size %u value 0x%x\n",
			is_write ? "out" : "in", port, size, v);
	}
	vm_deadline_check(vm); /* a write may reprogram the PIT; any access may find a tick due */
	stats_exit(&vm->stats, EXIT_IO, exit_clock(vm) - t0);
}

bool vcpu_mmio(struct vcpu *vcpu, uint64_t gpa, uint8_t *data, unsigned len, bool is_write)
{
	struct vm *vm = vcpu->vm;
	uint64_t t0 = exit_clock(vm);
	const struct bus_range *r = bus_find(&vm->mmio, gpa);
	if (r) {
		r->fn(vm, r->dev, gpa, data, len, is_write);
	} else {
		stats_event(&vm->stats, "unclaimed mmio", is_write ? "write" : "read");
		if (!is_write)
			memset(data, 0xff, len);
	}
	if (vm->cfg.trace)
		fprintf(stderr, "ringvm: mmio %s 0x%llx len %u%s\n", is_write ? "write" : "read",
			(unsigned long long)gpa, len, r ? "" : " (unclaimed)");
	vm_deadline_check(vm); /* a local APIC timer write moves the next deadline */
	stats_exit(&vm->stats, EXIT_MMIO, exit_clock(vm) - t0);
	return r != NULL;
}

bool vcpu_irq_pending(struct vcpu *vcpu)
{
	/* A PV guest's virtual IF (its shared page) holds interrupts back. */
	return intc_pending(vcpu->vm) && pv_irq_accepted(vcpu->vm);
}

int vcpu_irq_ack(struct vcpu *vcpu)
{
	return intc_ack(vcpu->vm);
}

bool vcpu_platform_msr(struct vcpu *vcpu, uint32_t idx, uint64_t *v, bool is_write, uint64_t tsc)
{
	return intc_msr(vcpu->vm, idx, v, is_write, tsc);
}

void vcpu_platform_cpuid1(struct vcpu *vcpu, uint32_t out[4])
{
	intc_cpuid1(vcpu->vm, out);
}
