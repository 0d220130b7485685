/* kvmclock.*: KVM's paravirtual clock, read the way Linux's kvm-clock reads
 * it (CONFIG_KVM_GUEST, CONFIG_PARAVIRT_CLOCK): find "KVMKVMKVM" in the
 * hypervisor CPUID range (every 0x100, as Linux scans), enable the time
 * record and the wall clock through KVM's MSRs, and check them against the
 * PIT and the calendar. Runs only with the word "kvmclock": QEMU-TCG has no
 * KVM leaves, and the kit's default PASS set is compared with QEMU's. */
#include "kit.h"

#define MSR_KVM_WALL_CLOCK_NEW 0x4b564d00u
#define MSR_KVM_SYSTEM_TIME_NEW 0x4b564d01u
#define KVM_FEATURE_CLOCKSOURCE2 (1u << 3)

struct time_info {
	uint32_t version, pad0;
	uint64_t tsc_timestamp, system_time;
	uint32_t tsc_to_system_mul;
	int8_t tsc_shift;
	uint8_t flags, pad[2];
} __attribute__((packed));

struct wall_clock {
	uint32_t version, sec, nsec;
} __attribute__((packed));

static volatile struct time_info ti __attribute__((aligned(32)));
static volatile struct wall_clock wc __attribute__((aligned(32)));

static inline void wrmsr(uint32_t msr, uint64_t v)
{
	__asm__ volatile("wrmsr" : : "c"(msr), "a"((uint32_t)v), "d"((uint32_t)(v >> 32)) : "memory");
}

static uint32_t kvm_base(void)
{
	for (uint32_t base = 0x40000000u; base < 0x40010000u; base += 0x100) {
		uint32_t a, b, c, d;
		cpuid(base, &a, &b, &c, &d);
		if (b == 0x4b4d564bu && c == 0x564b4d56u && d == 0x4du && a >= base + 1)
			return base; /* "KVMK" "VMKV" "M\0\0\0" */
	}
	return 0;
}

/* Linux's pvclock_clocksource_read, without the 128-bit multiply. */
static uint64_t kvmclock_ns(void)
{
	uint32_t v, mul;
	uint64_t ts, sys, tsc;
	int8_t shift;
	do {
		v = ti.version;
		__asm__ volatile("" : : : "memory");
		ts = ti.tsc_timestamp;
		sys = ti.system_time;
		mul = ti.tsc_to_system_mul;
		shift = ti.tsc_shift;
		tsc = rdtsc();
		__asm__ volatile("" : : : "memory");
	} while ((v & 1) || v != ti.version);
	uint64_t delta = tsc - ts;
	delta = shift >= 0 ? delta << shift : delta >> -shift;
	return sys + (delta >> 32) * mul + (((uint64_t)(uint32_t)delta * mul) >> 32);
}

/* WRMSR of a time record outside RAM: KVM refuses it with #GP. */
static int wrmsr_faults(uint32_t msr, uint64_t v)
{
	uint32_t at;
	trap_arm(13);
	__asm__ volatile("movl $2f, %[res]\n\t"
			 "movl $1f, %[at]\n"
			 "1:\twrmsr\n"
			 "2:\n"
			 : [res] "=m"(trap_expect.resume), [at] "=&r"(at)
			 : "c"(msr), "a"((uint32_t)v), "d"((uint32_t)(v >> 32))
			 : "memory");
	trap_expect.armed = 0;
	return trap_expect.hit && trap_expect.got_eip == at;
}

void tests_kvmclock(void)
{
	if (!cmdline_has("kvmclock"))
		return;
	uint32_t base = kvm_base(), a = 0, b, c, d;
	if (base)
		cpuid(base + 1, &a, &b, &c, &d);
	kprintf("# kvmclock: KVM leaves at 0x%08x, features 0x%08x\n", base, a);
	if (!base || !(a & KVM_FEATURE_CLOCKSOURCE2)) {
		test_fail("kvmclock.cpuid", "no KVMKVMKVM leaf with KVM_FEATURE_CLOCKSOURCE2 (base 0x%x, features 0x%x)",
			  base, a);
		return;
	}
	test_pass("kvmclock.cpuid");

	wrmsr(MSR_KVM_WALL_CLOCK_NEW, virt_to_phys((const void *)&wc));
	/* 2020-01-01 .. 2100-01-01 */
	test_result("kvmclock.wall_clock", !(wc.version & 1) && wc.version && wc.sec > 1577836800u &&
						   wc.sec < 4102444800u && wc.nsec < 1000000000u,
		    "version %u sec %u nsec %u", wc.version, wc.sec, wc.nsec);

	wrmsr(MSR_KVM_SYSTEM_TIME_NEW, virt_to_phys((const void *)&ti) | 1);
	uint32_t t = ticks;
	while (ticks == t)
		irq_on_halt();
	uint64_t t0 = kvmclock_ns();
	t = ticks;
	while (ticks - t < 20)
		irq_on_halt();
	uint64_t t1 = kvmclock_ns();
	uint32_t ms = (uint32_t)udivmod64(t1 - t0, 1000000, NULL);
	test_result("kvmclock.system_time", ti.version && !(ti.version & 1) && t1 > t0 && ms >= 150 && ms <= 300,
		    "kvm-clock says %u ms for 20 PIT ticks (200 ms), version %u", ms, ti.version);
	wrmsr(MSR_KVM_SYSTEM_TIME_NEW, 0);
	test_result("kvmclock.refuses_outside_ram", wrmsr_faults(MSR_KVM_SYSTEM_TIME_NEW, 0xF0000001ull),
		    "enabling a time record outside RAM did not raise #GP");
}
