/*
 * The local APIC (xAPIC, --machine pc), one per vCPU (ringvm has one): the
 * interrupt controller the CPU itself sees once the machine has an APIC.
 * Its 4 KiB of registers sit at the base IA32_APIC_BASE names (0xfee00000
 * after reset); it takes fixed interrupts from the IOAPIC, its own timer
 * and LVT entries and the ICR (self-IPIs), prioritises them by TPR/PPR, and
 * lets the 8259 through LINT0 in virtual-wire mode (ExtINT), the state a PC
 * BIOS leaves it in, so a PIC-only guest runs unchanged on --machine pc.
 *
 * Timer: counts at 1 GHz divided by the divide register (what QEMU's
 * does), one-shot, periodic, or TSC-deadline (IA32_TSC_DEADLINE, with the
 * TSC's rate measured against the host clock at creation). A periodic
 * timer is never faster than one interrupt per APIC_MIN_PERIOD_NS: the
 * current-count register still counts at the programmed rate, so a guest
 * that calibrates by reading it gets the right answer. Periods that pass
 * while the host does not run the VMM are delivered late, one per EOI,
 * rather than lost.
 *
 * INIT and SIPI to other CPUs are accepted and counted (--stats) for later
 * SMP; there is no other CPU to start.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <x86intrin.h>

#include "devices_priv.h"

#define MSR_APIC_BASE 0x1b
#define MSR_TSC_DEADLINE 0x6e0
#define APIC_BASE_DEFAULT 0xfee00000u
#define APIC_BASE_BSP (1u << 8)
#define APIC_BASE_EN (1u << 11)
#define APIC_VERSION 0x00050014u /* version 0x14, 6 LVT entries (max index 5) */
#define APIC_MIN_PERIOD_NS 20000u

#define CPUID_APIC_EDX (1u << 9)
#define CPUID_TSC_DEADLINE_ECX (1u << 24)

enum { LVT_TIMER, LVT_THERMAL, LVT_PERF, LVT_LINT0, LVT_LINT1, LVT_ERROR, LVT_N };
#define LVT_MASKED (1u << 16)
#define LVT_DELIVERY(v) (((v) >> 8) & 7u)
#define DM_FIXED 0
#define DM_NMI 4
#define DM_INIT 5
#define DM_SIPI 6
#define DM_EXTINT 7
#define TIMER_MODE(v) (((v) >> 17) & 3u)
#define TM_ONESHOT 0
#define TM_PERIODIC 1
#define TM_TSC_DEADLINE 2

#define SVR_ENABLE (1u << 8)
#define ESR_RECV_ILLEGAL (1u << 6)
#define ESR_SEND_ILLEGAL (1u << 5)

struct lapic {
	uint64_t base_msr;
	struct bus_range *mmio; /* our range on vm->mmio, moved when the base moves */
	uint32_t id, tpr, ldr, dfr, svr, esr, esr_pending, icr_lo, icr_hi;
	uint32_t lvt[LVT_N];
	uint32_t irr[8], isr[8], tmr[8];
	uint32_t initial, divide_reg;
	uint64_t start_ns; /* when the count was last loaded */
	uint64_t next_ns;  /* the timer's next interrupt, UINT64_MAX: none */
	uint64_t tsc_deadline;
	double tsc_per_ns;
	/* Periodic interrupts due while the previous one was still pending:
	 * delivered one after another as the guest EOIs (see lapic_poll). */
	uint32_t backlog;
};

static const struct device_ops lapic_ops;

/* ---- interrupt state */

static int highest(const uint32_t *bits)
{
	for (int w = 7; w >= 0; w--)
		if (bits[w])
			return w * 32 + 31 - __builtin_clz(bits[w]);
	return -1;
}

static bool sw_enabled(const struct lapic *a)
{
	return (a->base_msr & APIC_BASE_EN) && (a->svr & SVR_ENABLE);
}

static uint32_t ppr(const struct lapic *a)
{
	int isrv = highest(a->isr);
	uint32_t isr_class = isrv < 0 ? 0 : (uint32_t)isrv & 0xf0u;
	return (a->tpr & 0xf0u) >= isr_class ? a->tpr & 0xffu : isr_class;
}

/* The vector the APIC would deliver now, or -1. */
static int deliverable(const struct lapic *a)
{
	if (!sw_enabled(a))
		return -1;
	int v = highest(a->irr);
	if (v < 0 || ((uint32_t)v & 0xf0u) <= (ppr(a) & 0xf0u))
		return -1;
	return v;
}

static void set_error(struct vm *vm, struct lapic *a, uint32_t bit);

/* A fixed interrupt arrives: IRR, and TMR for a level-triggered one. */
static void accept(struct vm *vm, struct lapic *a, uint8_t vector, bool level)
{
	if (vector < 16) {
		set_error(vm, a, ESR_RECV_ILLEGAL);
		return;
	}
	a->irr[vector / 32] |= 1u << (vector % 32);
	if (level)
		a->tmr[vector / 32] |= 1u << (vector % 32);
	else
		a->tmr[vector / 32] &= ~(1u << (vector % 32));
	vm->kick = 1; /* an engine running guest code must come and look */
}

static void set_error(struct vm *vm, struct lapic *a, uint32_t bit)
{
	a->esr_pending |= bit;
	uint32_t e = a->lvt[LVT_ERROR];
	if (!(e & LVT_MASKED) && (e & 0xffu) >= 16)
		accept(vm, a, (uint8_t)e, false);
}

static void local_event(struct vm *vm, struct lapic *a, int lvt)
{
	uint32_t e = a->lvt[lvt];
	if (!(e & LVT_MASKED) && LVT_DELIVERY(e) == DM_FIXED && sw_enabled(a))
		accept(vm, a, (uint8_t)e, false);
}

/* The PIC reaches the CPU through LINT0 as ExtINT (virtual wire), or
 * directly when the APIC is switched off in IA32_APIC_BASE (QEMU's rule). */
static bool pic_through(const struct lapic *a)
{
	uint32_t l = a->lvt[LVT_LINT0];
	return !(a->base_msr & APIC_BASE_EN) ||
	       (!(l & LVT_MASKED) && LVT_DELIVERY(l) == DM_EXTINT);
}

static bool lapic_pending(struct vm *vm, void *s)
{
	struct lapic *a = s;
	return deliverable(a) >= 0 || (pic_through(a) && pic_has_interrupt(vm));
}

static int lapic_ack(struct vm *vm, void *s)
{
	struct lapic *a = s;
	int v = deliverable(a);
	if (v >= 0) {
		a->irr[v / 32] &= ~(1u << (v % 32));
		a->isr[v / 32] |= 1u << (v % 32);
		return v;
	}
	return pic_through(a) ? pic_acknowledge(vm) : -1;
}

static void eoi(struct vm *vm, struct lapic *a)
{
	int v = highest(a->isr);
	if (v < 0)
		return;
	a->isr[v / 32] &= ~(1u << (v % 32));
	uint32_t tv = a->lvt[LVT_TIMER] & 0xffu;
	if (a->backlog && (uint32_t)v == tv && !(a->irr[tv / 32] & (1u << (tv % 32)))) {
		a->backlog--;
		local_event(vm, a, LVT_TIMER);
	}
	if (a->tmr[v / 32] & (1u << (v % 32)))
		apic_bus_eoi(vm, (uint8_t)v);
	vm->kick = 1; /* a lower-priority interrupt may be deliverable now */
}

/* ---- the timer */

static unsigned divide_shift(const struct lapic *a)
{
	/* Divide configuration bits 0,1,3: 0b000 -> 2 ... 0b111 -> 1. */
	unsigned d = (a->divide_reg & 3u) | ((a->divide_reg >> 1) & 4u);
	return (d + 1) & 7u;
}

static uint64_t tick_ns(const struct lapic *a)
{
	return 1ull << divide_shift(a); /* 1 GHz bus clock, divided */
}

static uint64_t period_ns(const struct lapic *a)
{
	uint64_t p = (uint64_t)a->initial * tick_ns(a);
	return p;
}

static void timer_arm(struct lapic *a, uint64_t now)
{
	a->start_ns = now;
	a->backlog = 0;
	uint32_t mode = TIMER_MODE(a->lvt[LVT_TIMER]);
	if (mode == TM_TSC_DEADLINE || !a->initial) {
		if (mode != TM_TSC_DEADLINE)
			a->next_ns = UINT64_MAX;
		return;
	}
	uint64_t p = period_ns(a);
	if (mode == TM_PERIODIC && p < APIC_MIN_PERIOD_NS)
		p = APIC_MIN_PERIOD_NS;
	a->next_ns = now + p;
}

static uint32_t current_count(const struct lapic *a, uint64_t now)
{
	uint32_t mode = TIMER_MODE(a->lvt[LVT_TIMER]);
	if (mode == TM_TSC_DEADLINE || !a->initial)
		return 0;
	uint64_t ticks = (now - a->start_ns) >> divide_shift(a);
	if (mode == TM_PERIODIC)
		return a->initial - (uint32_t)(ticks % a->initial);
	if (a->next_ns == UINT64_MAX || ticks >= a->initial)
		return 0;
	return a->initial - (uint32_t)ticks;
}

static void lapic_poll(struct vm *vm, void *s, uint64_t now)
{
	struct lapic *a = s;
	if (now < a->next_ns)
		return;
	uint32_t mode = TIMER_MODE(a->lvt[LVT_TIMER]);
	if (mode == TM_PERIODIC && a->initial) {
		uint64_t p = period_ns(a);
		if (p < APIC_MIN_PERIOD_NS)
			p = APIC_MIN_PERIOD_NS;
		uint64_t periods = (now - a->next_ns) / p + 1;
		a->next_ns += p * periods;
		/* The host did not run us for a while (a loaded machine): the
		 * periods that went by are paid back one per EOI, as the PIT
		 * does, so a guest that counts ticks keeps time. A guest that
		 * has not taken the last one yet gets it coalesced (one IRR
		 * bit); the debt is capped at a second's worth. */
		uint32_t vec = a->lvt[LVT_TIMER] & 0xffu;
		bool pending = a->irr[vec / 32] & (1u << (vec % 32));
		if (!pending)
			local_event(vm, a, LVT_TIMER), periods--;
		uint64_t cap = 1000000000ull / p;
		a->backlog = a->backlog + periods > cap ? (uint32_t)cap : a->backlog + (uint32_t)periods;
	} else {
		local_event(vm, a, LVT_TIMER);
		a->next_ns = UINT64_MAX;
		if (mode == TM_TSC_DEADLINE)
			a->tsc_deadline = 0;
	}
}

static uint64_t lapic_deadline(struct vm *vm, void *s)
{
	return ((struct lapic *)s)->next_ns;
}

static void tsc_deadline_set(struct vm *vm, struct lapic *a, uint64_t v, uint64_t tsc)
{
	a->tsc_deadline = v;
	if (TIMER_MODE(a->lvt[LVT_TIMER]) != TM_TSC_DEADLINE || !v) {
		if (TIMER_MODE(a->lvt[LVT_TIMER]) == TM_TSC_DEADLINE)
			a->next_ns = UINT64_MAX;
		return;
	}
	uint64_t now = dev_now(vm);
	a->next_ns = v <= tsc ? now : now + (uint64_t)((double)(v - tsc) / a->tsc_per_ns);
	vm_deadline_check(vm);
}

/* ---- registers */

static void lvt_write(struct vm *vm, struct lapic *a, int lvt, uint32_t v)
{
	static const uint32_t writable[LVT_N] = {
		[LVT_TIMER] = 0x700ffu, [LVT_THERMAL] = 0x107ffu, [LVT_PERF] = 0x107ffu,
		[LVT_LINT0] = 0x1a7ffu, [LVT_LINT1] = 0x1a7ffu, [LVT_ERROR] = 0x100ffu,
	};
	if (!(a->svr & SVR_ENABLE))
		v |= LVT_MASKED; /* masks stay set while the APIC is software-disabled */
	uint32_t old_mode = TIMER_MODE(a->lvt[LVT_TIMER]);
	a->lvt[lvt] = v & writable[lvt];
	if (lvt == LVT_TIMER && TIMER_MODE(a->lvt[LVT_TIMER]) != old_mode) {
		/* A mode change stops the timer (SDM 10.5.4.1). */
		a->initial = 0;
		a->tsc_deadline = 0;
		a->next_ns = UINT64_MAX;
		a->backlog = 0;
	}
}

static bool for_me(const struct lapic *a, uint32_t dest, bool logical)
{
	if (!logical)
		return dest == a->id || dest == 0xff;
	if (dest == 0xff)
		return true;
	if ((a->dfr >> 28) == 0xf) /* flat model */
		return (a->ldr >> 24) & dest;
	return ((a->ldr >> 28) == (dest >> 4)) && ((a->ldr >> 24) & dest & 0xfu); /* cluster */
}

static void icr_send(struct vm *vm, struct lapic *a)
{
	uint32_t lo = a->icr_lo, mode = LVT_DELIVERY(lo), shorthand = (lo >> 18) & 3u;
	bool self = shorthand == 1 || shorthand == 2 ||
		    (shorthand == 0 && for_me(a, a->icr_hi >> 24, lo & (1u << 11)));
	bool others = shorthand >= 2 || (shorthand == 0 && (a->icr_hi >> 24) != a->id);
	if (mode == DM_INIT || mode == DM_SIPI) {
		/* For later SMP: no other CPU exists. Counted, nothing else. */
		if (others)
			stats_event(&vm->stats, "apic ipi", mode == DM_INIT ? "INIT" : "SIPI");
		return;
	}
	if (mode == DM_FIXED && self)
		accept(vm, a, (uint8_t)lo, false);
	else if (mode == DM_FIXED && (uint8_t)lo < 16)
		set_error(vm, a, ESR_SEND_ILLEGAL);
	else if (mode != DM_FIXED)
		stats_event(&vm->stats, "apic ipi", "unsupported delivery mode");
}

static uint32_t reg_read(struct vm *vm, struct lapic *a, uint32_t off)
{
	if (off >= 0x100 && off < 0x180)
		return a->isr[(off - 0x100) / 16];
	if (off >= 0x180 && off < 0x200)
		return a->tmr[(off - 0x180) / 16];
	if (off >= 0x200 && off < 0x280)
		return a->irr[(off - 0x200) / 16];
	if (off >= 0x320 && off < 0x380)
		return a->lvt[(off - 0x320) / 16];
	switch (off) {
	case 0x20: return a->id << 24;
	case 0x30: return APIC_VERSION;
	case 0x80: return a->tpr;
	case 0xa0: return ppr(a);
	case 0xd0: return a->ldr;
	case 0xe0: return a->dfr;
	case 0xf0: return a->svr;
	case 0x280: return a->esr;
	case 0x300: return a->icr_lo & ~(1u << 12); /* delivery status: always idle */
	case 0x310: return a->icr_hi;
	case 0x380: return a->initial;
	case 0x390: return current_count(a, dev_now(vm));
	case 0x3e0: return a->divide_reg;
	default: return 0;
	}
}

static void reg_write(struct vm *vm, struct lapic *a, uint32_t off, uint32_t v)
{
	if (off >= 0x320 && off < 0x380) {
		lvt_write(vm, a, (int)(off - 0x320) / 16, v);
		return;
	}
	switch (off) {
	case 0x20: a->id = v >> 24; break;
	case 0x80: a->tpr = v & 0xffu; vm->kick = 1; break;
	case 0xb0: eoi(vm, a); break;
	case 0xd0: a->ldr = v & 0xff000000u; break;
	case 0xe0: a->dfr = v | 0x0fffffffu; break;
	case 0xf0:
		a->svr = v & 0x3ffu;
		if (!(v & SVR_ENABLE))
			for (int k = 0; k < LVT_N; k++)
				a->lvt[k] |= LVT_MASKED;
		vm->kick = 1;
		break;
	case 0x280: a->esr = a->esr_pending; a->esr_pending = 0; break;
	case 0x300: a->icr_lo = v & 0x000cdfffu; icr_send(vm, a); break;
	case 0x310: a->icr_hi = v & 0xff000000u; break;
	case 0x380:
		a->initial = v;
		timer_arm(a, dev_now(vm));
		vm_deadline_check(vm);
		break;
	case 0x3e0: a->divide_reg = v & 0xbu; break;
	default: break; /* read-only or reserved: ignored */
	}
}

/* Registers are 32 bits wide at 16-byte offsets; other accesses read 0
 * and write nothing. */
static void lapic_mmio(struct vm *vm, void *dev, uint64_t addr, uint8_t *data, unsigned len,
		       bool is_write)
{
	struct lapic *a = dev;
	uint32_t off = (uint32_t)(addr - (a->base_msr & ~0xfffull));
	uint32_t v = 0;
	if (!(a->base_msr & APIC_BASE_EN)) {
		/* Switched off in IA32_APIC_BASE: the registers are gone, the
		 * bus floats (all ones), as with no APIC at all. */
		if (!is_write)
			memset(data, 0xff, len);
		return;
	}
	if (is_write) {
		if (len == 4 && !(off & 0xf)) {
			memcpy(&v, data, 4);
			reg_write(vm, a, off, v);
		}
		return;
	}
	if ((off & 0xf) < 4)
		v = reg_read(vm, a, off & ~0xfu) >> (8 * (off & 3));
	memset(data, 0, len);
	memcpy(data, &v, len < 4 ? len : 4);
}

/* ---- the CPU's side: MSRs and CPUID */

static void lapic_reset_regs(struct lapic *a)
{
	uint64_t base = a->base_msr;
	double rate = a->tsc_per_ns;
	struct bus_range *r = a->mmio;
	memset(a, 0, sizeof *a);
	a->base_msr = base;
	a->tsc_per_ns = rate;
	a->mmio = r;
	a->dfr = 0xffffffffu;
	a->svr = 0xff;
	for (int k = 0; k < LVT_N; k++)
		a->lvt[k] = LVT_MASKED;
	/* Virtual wire, as a PC BIOS leaves the BSP: the PIC through LINT0,
	 * NMI on LINT1 (QEMU does the same at reset). */
	a->lvt[LVT_LINT0] = DM_EXTINT << 8;
	a->lvt[LVT_LINT1] = DM_NMI << 8;
	a->next_ns = UINT64_MAX;
}

static bool lapic_msr(struct vm *vm, void *s, uint32_t idx, uint64_t *v, bool is_write,
		      uint64_t tsc)
{
	struct lapic *a = s;
	if (idx == MSR_TSC_DEADLINE) {
		if (is_write)
			tsc_deadline_set(vm, a, *v, tsc);
		else
			*v = a->tsc_deadline;
		return true;
	}
	if (idx != MSR_APIC_BASE)
		return false;
	if (!is_write) {
		*v = a->base_msr;
		return true;
	}
	/* 32 physical address bits: bits 0-7, 9, 10 and 32-63 are reserved. */
	if (*v & ~0xfffff900ull)
		return false;
	bool was_on = a->base_msr & APIC_BASE_EN;
	a->base_msr = (*v & ~(uint64_t)APIC_BASE_BSP) | APIC_BASE_BSP;
	a->mmio->base = a->base_msr & ~0xfffull;
	if (was_on && !(a->base_msr & APIC_BASE_EN))
		lapic_reset_regs(a); /* switched off: back to the power-on state */
	vm->kick = 1;
	return true;
}

static void lapic_cpuid1(struct vm *vm, void *s, uint32_t out[4])
{
	struct lapic *a = s;
	if (a->base_msr & APIC_BASE_EN)
		out[3] |= CPUID_APIC_EDX; /* hardware clears it while the APIC is off */
	out[2] |= CPUID_TSC_DEADLINE_ECX;
	out[1] = (out[1] & 0x00ffffffu) | a->id << 24;
}

static const struct intc lapic_intc = { lapic_pending, lapic_ack, lapic_msr, lapic_cpuid1 };

/* The IOAPIC's message to the CPU: a fixed (or lowest-priority) interrupt. */
void apic_bus_deliver(struct vm *vm, uint8_t dest, bool logical, uint8_t vector, bool level)
{
	struct lapic *a = devices_state(vm, &lapic_ops);
	if (a && sw_enabled(a) && for_me(a, dest, logical))
		accept(vm, a, vector, level);
}

/* TSC cycles per nanosecond, measured over 2 ms of host clock. */
static double measure_tsc_rate(void)
{
	uint64_t t0 = host_ns(), c0 = __rdtsc();
	struct timespec ts = { 0, 2000000 };
	nanosleep(&ts, NULL);
	uint64_t t1 = host_ns(), c1 = __rdtsc();
	return t1 > t0 && c1 > c0 ? (double)(c1 - c0) / (double)(t1 - t0) : 1.0;
}

static void *lapic_create(struct vm *vm)
{
	struct lapic *a = calloc(1, sizeof *a);
	if (!a)
		return NULL;
	a->base_msr = APIC_BASE_DEFAULT | APIC_BASE_BSP | APIC_BASE_EN;
	a->tsc_per_ns = measure_tsc_rate();
	if (bus_register(&vm->mmio, APIC_BASE_DEFAULT, 0x1000, lapic_mmio, a, "local APIC") < 0) {
		free(a);
		return NULL;
	}
	a->mmio = &vm->mmio.r[vm->mmio.n - 1];
	intc_install(vm, &lapic_intc, a);
	return a;
}

static void lapic_reset(struct vm *vm, void *s)
{
	lapic_reset_regs(s);
}

static void lapic_destroy(struct vm *vm, void *s)
{
	free(s);
}

static const struct device_ops lapic_ops = { "local APIC", 100, MACHINE_PC, lapic_create,
					     lapic_reset, lapic_poll, lapic_deadline,
					     lapic_destroy };
DEVICE_REGISTER(lapic_ops);
