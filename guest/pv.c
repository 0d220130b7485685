/* Detection of ringvm's PV ABI and the shared page (pv.h). Built into both
 * the higher-half kernel and the smoke build (paging off): the page's
 * physical address is its virtual address minus the build's offset. */
#include "kit.h"

/* isr.S spells these two as numbers. */
_Static_assert(RINGVM_HC_IRET == 14 && RINGVM_HC_EVENT == 5 && RINGVM_PV_PORT == 0xe4,
	       "isr.S's hypercalls");

int pv_active;
volatile struct ringvm_pv_shared *pv_shared;

static union {
	struct ringvm_pv_shared s;
	uint8_t page[4096];
} shared_page __attribute__((aligned(4096)));

#ifdef KIT_LOW
#define PV_VIRT_OFFSET 0u
#else
#define PV_VIRT_OFFSET KBASE
#endif

/* ringvm's leaves with this ABI version and doorbell; else the plain PC
 * path. CPUID does not trap under trap-and-emulate on a host without CPUID
 * faulting (it shows the host's leaves), so when the leaves are not there
 * the doorbell itself is tried: on a PC without ringvm, OUT to an unused
 * port leaves EAX as it was (0), under ringvm it returns the version. */
static int pv_present(void)
{
	uint32_t a, b, c, d;
	cpuid(RINGVM_PV_CPUID_BASE, &a, &b, &c, &d);
	if (b == RINGVM_PV_SIG_EBX && c == RINGVM_PV_SIG_ECX && d == RINGVM_PV_SIG_EDX &&
	    a >= RINGVM_PV_CPUID_INFO) {
		cpuid(RINGVM_PV_CPUID_INFO, &a, &b, &c, &d);
		return a == RINGVM_PV_VERSION && b == RINGVM_PV_PORT && (c & RINGVM_PV_F_SHARED);
	}
	return pv_call(RINGVM_HC_VERSION, 0, 0, 0) == RINGVM_PV_VERSION;
}

void pv_init(void)
{
	pv_active = 0;
	if (cmdline_has("nopv") || !pv_present())
		return;
	uint32_t pa = (uint32_t)&shared_page - PV_VIRT_OFFSET;
	if (pv_call(RINGVM_HC_SET_SHARED, pa, 0, 0) != 0)
		return;
	pv_shared = &shared_page.s;
	pv_active = 1;
#ifndef KIT_LOW
	struct ringvm_pv_sysregs r;
	if (pv_call(RINGVM_HC_READ_STATE, (uint32_t)&r, 0, 0) == 0)
		pv_cr3 = r.cr3;
#endif
}

void pv_check_call(const char *what, int32_t r)
{
	if (r < 0)
		test_fail("pv.boot", "hypercall %s returned %d", what, (int)r);
}

/* The pvclock read: retry while the VMM is writing (odd version) or wrote
 * meanwhile. (delta << shift) * mul >> 32 without a 128-bit multiply. */
uint64_t pv_clock_ns(void)
{
	if (!pv_active)
		return 0;
	volatile struct ringvm_pv_clock *c = &pv_shared->clock;
	uint32_t v, mul;
	uint64_t ts, sys, tsc;
	int8_t shift;
	do {
		v = c->version;
		__asm__ volatile("" : : : "memory");
		ts = c->tsc_timestamp;
		sys = c->system_ns;
		mul = c->tsc_to_system_mul;
		shift = c->tsc_shift;
		tsc = rdtsc();
		__asm__ volatile("" : : : "memory");
	} while ((v & 1) || v != c->version);
	uint64_t delta = tsc - ts;
	if (shift >= 0)
		delta <<= shift;
	else
		delta >>= -shift;
	uint64_t lo = (uint64_t)(uint32_t)delta * mul;
	uint64_t hi = (delta >> 32) * mul;
	return sys + hi + (lo >> 32);
}
