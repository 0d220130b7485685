/*
 * The PC devices driven through their ports, the way a guest drives them:
 * PIC, PIT (on a fake clock), CMOS/RTC, PS/2 reset, debug-exit, port 0x80
 * and the UART (loopback, registers, stdin/stdout through pipes).
 */
#include <fcntl.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "check.h"
#include "devices/devices_priv.h"
#include "vm/vm.h"

/* ---- harness */

static uint64_t fake_ns = 1000000000ull;
static uint64_t fake_clock(void)
{
	return fake_ns;
}

static void vm_open(struct vm *vm, uint64_t ram_size)
{
	memset(vm, 0, sizeof *vm);
	vm->pio.name = "port";
	vm->mmio.name = "mmio";
	vm->ram_size = ram_size;
	if (devices_init(vm) < 0) {
		printf("FAIL devices_init: returned -1\n");
		exit(1);
	}
	vm->dev->now = fake_clock;
	/* Keep the tests off the real stdin and stdout. */
	vm->dev->uart.in_fd = -1;
	vm->dev->uart.out_fd = -1;
	vm->dev->uart.out_dead = true;
}

static void outb(struct vm *vm, uint16_t port, uint8_t v)
{
	const struct bus_range *r = bus_find(&vm->pio, port);
	if (r)
		r->fn(vm, r->dev, port, &v, 1, true);
}

static uint8_t inb(struct vm *vm, uint16_t port)
{
	uint8_t v = 0xff;
	const struct bus_range *r = bus_find(&vm->pio, port);
	if (r)
		r->fn(vm, r->dev, port, &v, 1, false);
	return v;
}

static uint64_t named_count(struct vm *vm, const char *key)
{
	for (unsigned i = 0; i < vm->stats.n_named; i++)
		if (strcmp(vm->stats.named[i].name, key) == 0)
			return vm->stats.named[i].count;
	return 0;
}

/* The init sequence Linux and the guest kit use: vectors 0x20 and 0x28. */
static void pic_setup(struct vm *vm)
{
	outb(vm, 0x20, 0x11);
	outb(vm, 0xa0, 0x11);
	outb(vm, 0x21, 0x20);
	outb(vm, 0xa1, 0x28);
	outb(vm, 0x21, 0x04);
	outb(vm, 0xa1, 0x02);
	outb(vm, 0x21, 0x01);
	outb(vm, 0xa1, 0x01);
	outb(vm, 0x21, 0x00);
	outb(vm, 0xa1, 0x00);
}

static void pulse(struct vm *vm, unsigned irq)
{
	pic_set_irq(vm, irq, 1);
	pic_set_irq(vm, irq, 0);
}

static uint8_t pic_isr(struct vm *vm, uint16_t base)
{
	outb(vm, base, 0x0b);
	uint8_t v = inb(vm, base);
	outb(vm, base, 0x0a);
	return v;
}

/* ---- PIC */

static void test_pic_basics(void)
{
	struct vm vm;
	vm_open(&vm, 32 << 20);
	pic_setup(&vm);
	outb(&vm, 0x21, 0xa5);
	CHECK("pic imr reads back", inb(&vm, 0x21) == 0xa5, "imr 0x%x", inb(&vm, 0x21));
	outb(&vm, 0x21, 0x00);

	CHECK("pic nothing pending after init", !pic_has_interrupt(&vm) && pic_acknowledge(&vm) == -1,
	      "an interrupt out of nowhere");
	pulse(&vm, 0);
	CHECK("pic irq 0 pending", pic_has_interrupt(&vm), "no interrupt");
	int v = pic_acknowledge(&vm);
	CHECK("pic irq 0 vector is base", v == 0x20, "vector 0x%x", v);
	CHECK("pic ack moves irr to isr", pic_isr(&vm, 0x20) == 0x01 && inb(&vm, 0x20) == 0,
	      "isr 0x%x irr 0x%x", pic_isr(&vm, 0x20), inb(&vm, 0x20));
	outb(&vm, 0x20, 0x20);
	CHECK("pic non-specific eoi clears isr", pic_isr(&vm, 0x20) == 0, "isr 0x%x",
	      pic_isr(&vm, 0x20));

	outb(&vm, 0x21, 0x01);
	pulse(&vm, 0);
	CHECK("pic masked irq not delivered", !pic_has_interrupt(&vm), "delivered");
	CHECK("pic masked irq latched in irr", inb(&vm, 0x20) == 0x01, "irr 0x%x", inb(&vm, 0x20));
	outb(&vm, 0x21, 0x00);
	CHECK("pic unmasking delivers it", pic_acknowledge(&vm) == 0x20, "not delivered");
	outb(&vm, 0x20, 0x60); /* specific EOI, IRQ 0 */
	CHECK("pic specific eoi clears isr", pic_isr(&vm, 0x20) == 0, "isr 0x%x", pic_isr(&vm, 0x20));

	pic_set_irq(&vm, 1, 1);
	pic_acknowledge(&vm);
	outb(&vm, 0x20, 0x20);
	CHECK("pic edge: a held line interrupts once", !pic_has_interrupt(&vm), "delivered again");
	pic_set_irq(&vm, 1, 0);
	pic_set_irq(&vm, 1, 1);
	CHECK("pic edge: a new rising edge interrupts", pic_acknowledge(&vm) == 0x21, "not delivered");
	outb(&vm, 0x20, 0x20);
	pic_set_irq(&vm, 1, 0);
	devices_destroy(&vm);
}

static void test_pic_priority(void)
{
	struct vm vm;
	vm_open(&vm, 32 << 20);
	pic_setup(&vm);
	pulse(&vm, 3);
	pulse(&vm, 1);
	int a = pic_acknowledge(&vm);
	CHECK("pic lowest irq number first", a == 0x21, "vector 0x%x", a);
	CHECK("pic lower priority waits for eoi", !pic_has_interrupt(&vm), "irq 3 nested in irq 1");
	pulse(&vm, 0);
	int b = pic_acknowledge(&vm);
	CHECK("pic higher priority nests", b == 0x20, "vector 0x%x", b);
	outb(&vm, 0x20, 0x20); /* EOI the highest in service: IRQ 0 */
	CHECK("pic eoi ends the highest in service", pic_isr(&vm, 0x20) == 0x02, "isr 0x%x",
	      pic_isr(&vm, 0x20));
	outb(&vm, 0x20, 0x20);
	int c = pic_acknowledge(&vm);
	CHECK("pic waiting irq after eoi", c == 0x23, "vector 0x%x", c);
	outb(&vm, 0x20, 0x20);

	pulse(&vm, 12);
	pulse(&vm, 3);
	int d = pic_acknowledge(&vm);
	CHECK("pic slave irq 12 via irq 2 beats irq 3", d == 0x2c, "vector 0x%x", d);
	CHECK("pic cascade in service on both chips",
	      pic_isr(&vm, 0x20) == 0x04 && pic_isr(&vm, 0xa0) == 0x10, "master 0x%x slave 0x%x",
	      pic_isr(&vm, 0x20), pic_isr(&vm, 0xa0));
	outb(&vm, 0xa0, 0x20);
	outb(&vm, 0x20, 0x20);
	int e = pic_acknowledge(&vm);
	CHECK("pic irq 3 after the slave's eoi", e == 0x23, "vector 0x%x", e);
	outb(&vm, 0x20, 0x20);

	pulse(&vm, 9);
	pulse(&vm, 14);
	int f = pic_acknowledge(&vm);
	outb(&vm, 0xa0, 0x20);
	outb(&vm, 0x20, 0x20);
	int g = pic_acknowledge(&vm);
	CHECK("pic two slave irqs in order", f == 0x29 && g == 0x2e, "vectors 0x%x 0x%x", f, g);
	outb(&vm, 0xa0, 0x20);
	outb(&vm, 0x20, 0x20);
	devices_destroy(&vm);
}

static void test_pic_special(void)
{
	struct vm vm;
	vm_open(&vm, 32 << 20);
	pic_setup(&vm);
	pulse(&vm, 5);
	pic_has_interrupt(&vm); /* the vCPU sees INTR... */
	outb(&vm, 0x21, 0x20);	/* ...the guest masks IRQ 5 before the INTA */
	int v = pic_acknowledge(&vm);
	CHECK("pic spurious irq 7", v == 0x27 && pic_isr(&vm, 0x20) == 0, "vector 0x%x isr 0x%x", v,
	      pic_isr(&vm, 0x20));
	outb(&vm, 0x21, 0x00);
	pic_acknowledge(&vm);
	outb(&vm, 0x20, 0x20);

	pulse(&vm, 10);
	pic_has_interrupt(&vm);
	outb(&vm, 0xa1, 0x04); /* mask IRQ 10 on the slave */
	int w = pic_acknowledge(&vm);
	CHECK("pic spurious irq 15", w == 0x2f && pic_isr(&vm, 0xa0) == 0, "vector 0x%x", w);
	outb(&vm, 0x20, 0x20); /* Linux EOIs the master for a spurious 15 */
	outb(&vm, 0xa1, 0x00);
	pic_acknowledge(&vm);
	outb(&vm, 0xa0, 0x20);
	outb(&vm, 0x20, 0x20);

	outb(&vm, 0x20, 0x11);
	outb(&vm, 0x21, 0x40);
	outb(&vm, 0x21, 0x04);
	outb(&vm, 0x21, 0x03); /* ICW4: 8086 mode, auto-EOI */
	outb(&vm, 0x21, 0x00);
	pulse(&vm, 4);
	int x = pic_acknowledge(&vm);
	CHECK("pic auto-eoi leaves isr empty", x == 0x44 && pic_isr(&vm, 0x20) == 0,
	      "vector 0x%x isr 0x%x", x, pic_isr(&vm, 0x20));

	pulse(&vm, 6);
	outb(&vm, 0x20, 0x0c); /* OCW3 poll */
	uint8_t p = inb(&vm, 0x20);
	CHECK("pic poll command returns the irq", p == 0x86 && !pic_has_interrupt(&vm), "0x%x", p);
	outb(&vm, 0x20, 0x0c);
	CHECK("pic poll with nothing pending", inb(&vm, 0x20) == 0, "not 0");
	outb(&vm, 0x20, 0xc3); /* set priority: IRQ 3 lowest, IRQ 4 highest */
	pulse(&vm, 1);
	pulse(&vm, 5);
	int y = pic_acknowledge(&vm);
	CHECK("pic rotated priority", y == 0x45, "vector 0x%x", y);
	devices_destroy(&vm);
}

/* ---- PIT */

#define PIT_NS(ticks) ((uint64_t)(ticks) * 1000000000ull / 1193182)

static void pit_program(struct vm *vm, uint8_t ctl, uint16_t port, uint16_t count)
{
	outb(vm, 0x43, ctl);
	outb(vm, port, (uint8_t)count);
	outb(vm, port, (uint8_t)(count >> 8));
}

/* Polls every step_ns for span_ns, taking every interrupt like a guest. */
static int run_ticks(struct vm *vm, uint64_t span_ns, uint64_t step_ns)
{
	int n = 0;
	for (uint64_t end = fake_ns + span_ns; fake_ns < end;) {
		fake_ns += step_ns;
		devices_poll(vm, fake_ns);
		while (pic_has_interrupt(vm)) {
			if (pic_acknowledge(vm) == 0x20)
				n++;
			outb(vm, 0x20, 0x20);
		}
	}
	return n;
}

static void test_pit_rate(void)
{
	struct vm vm;
	vm_open(&vm, 32 << 20);
	pic_setup(&vm);
	CHECK("pit no deadline before programming", devices_next_deadline(&vm) == UINT64_MAX,
	      "armed");
	pit_program(&vm, 0x34, 0x40, 11932); /* channel 0, mode 2, 100 Hz */
	uint64_t d = devices_next_deadline(&vm);
	CHECK("pit deadline one period ahead", d > fake_ns + 9900000 && d < fake_ns + 10100000,
	      "in %lld ns", (long long)(d - fake_ns));
	int n = run_ticks(&vm, 1000000000ull, 1000000);
	CHECK("pit 100 Hz gives 100 ticks a second", n >= 99 && n <= 101, "%d ticks", n);

	pit_program(&vm, 0x36, 0x40, 1193); /* mode 3, ~1 kHz */
	n = run_ticks(&vm, 500000000ull, 100000);
	CHECK("pit 1 kHz square wave gives 500 ticks in 0.5 s", n >= 499 && n <= 501, "%d ticks", n);

	pit_program(&vm, 0x34, 0x40, 11932);
	fake_ns += 35000000; /* the VMM was away for 3 periods */
	n = run_ticks(&vm, 5000000, 500000);
	CHECK("pit small backlog caught up", n == 3, "%d ticks", n);

	fake_ns += 5000000000ull; /* away for 500 periods */
	n = run_ticks(&vm, 1000000, 1000000);
	uint64_t lost = vm.stats.timer_coalesced;
	CHECK("pit long absence delivers one tick", n == 1, "%d ticks", n);
	CHECK("pit long absence counts coalesced ticks", lost >= 498 && lost <= 500, "%llu",
	      (unsigned long long)lost);

	/* A guest that masks IRQ 0 gets the one request IRR latches, not a
	 * catch-up storm when it unmasks. */
	pit_program(&vm, 0x34, 0x40, 11932);
	outb(&vm, 0x21, 0x01);
	fake_ns += 55000000;
	devices_poll(&vm, fake_ns);
	outb(&vm, 0x21, 0x00);
	n = run_ticks(&vm, 2000000, 1000000);
	CHECK("pit masked irq 0 drops missed ticks", n == 1, "%d ticks", n);

	/* The highest rate (divisor 2, ~597 kHz) polled every 10 us for 10 ms
	 * by a guest that takes 5 us per tick: the ticks are spaced so that
	 * the guest keeps running (at most one per PIT_MIN_TICK_NS, 100 us),
	 * the rest are counted as coalesced, and the deadline never asks the
	 * VMM to come back sooner than the spacing allows. */
	uint64_t irqs0 = vm.stats.timer_irqs, lost0 = vm.stats.timer_coalesced;
	pit_program(&vm, 0x34, 0x40, 2);
	n = 0;
	for (uint64_t end = fake_ns + 10000000; fake_ns < end;) {
		fake_ns += 10000;
		devices_poll(&vm, fake_ns);
		if (pic_has_interrupt(&vm) && pic_acknowledge(&vm) == 0x20) {
			n++;
			fake_ns += 5000; /* the handler */
			outb(&vm, 0x20, 0x20);
		}
	}
	CHECK("pit divisor 2 is rate-limited", n >= 50 && n <= 101, "%d ticks in 10 ms", n);
	CHECK("pit divisor 2 counts delivered ticks", vm.stats.timer_irqs - irqs0 == (uint64_t)n,
	      "%llu", (unsigned long long)(vm.stats.timer_irqs - irqs0));
	CHECK("pit divisor 2 counts coalesced ticks", vm.stats.timer_coalesced - lost0 > 5000,
	      "%llu", (unsigned long long)(vm.stats.timer_coalesced - lost0));
	devices_poll(&vm, fake_ns);
	d = devices_next_deadline(&vm);
	CHECK("pit divisor 2 deadline honours the spacing", d + 1 >= fake_ns, "%lld ns in the past",
	      (long long)(fake_ns - d));
	devices_destroy(&vm);
}

static void test_pit_oneshot(void)
{
	struct vm vm;
	vm_open(&vm, 32 << 20);
	pic_setup(&vm);
	pit_program(&vm, 0x30, 0x40, 1193); /* mode 0, ~1 ms */
	int early = run_ticks(&vm, 900000, 100000);
	int n = run_ticks(&vm, 10000000, 100000);
	CHECK("pit mode 0 fires once", early == 0 && n == 1, "%d early, %d later", early, n);
	CHECK("pit mode 0 disarmed after firing", devices_next_deadline(&vm) == UINT64_MAX, "armed");
	devices_destroy(&vm);
}

static uint16_t read16(struct vm *vm, uint16_t port)
{
	uint8_t lo = inb(vm, port);
	return (uint16_t)(lo | inb(vm, port) << 8);
}

static void test_pit_reads(void)
{
	struct vm vm;
	vm_open(&vm, 32 << 20);
	pit_program(&vm, 0x34, 0x40, 10000);
	fake_ns += PIT_NS(1000) + 1;
	outb(&vm, 0x43, 0x00); /* latch channel 0 */
	fake_ns += PIT_NS(500);
	uint16_t v = read16(&vm, 0x40);
	CHECK("pit latched count", v == 9000, "%u", v);
	v = read16(&vm, 0x40);
	CHECK("pit unlatched read follows the clock", v == 8500, "%u", v);

	outb(&vm, 0x43, 0xc2); /* read-back: count and status of channel 0 */
	fake_ns += PIT_NS(100);
	uint8_t st = inb(&vm, 0x40);
	v = read16(&vm, 0x40);
	CHECK("pit read-back status", st == 0xb4, "0x%x", st);
	CHECK("pit read-back count", v == 8500, "%u", v);

	outb(&vm, 0x43, 0x90); /* channel 2, lobyte only, mode 0 */
	CHECK("pit status null count before a count", (outb(&vm, 0x43, 0xe8), inb(&vm, 0x42)) == 0x50,
	      "wrong status");
	outb(&vm, 0x42, 200);
	CHECK("pit gate low holds channel 2", (fake_ns += PIT_NS(50), inb(&vm, 0x42)) == 200,
	      "counting with the gate low");

	/* Linux's PIT calibration: gate on, mode 0, poll port 0x61 bit 5. */
	outb(&vm, 0x61, (inb(&vm, 0x61) & ~0x02) | 0x01);
	pit_program(&vm, 0xb0, 0x42, 1000);
	fake_ns += PIT_NS(999);
	bool before = inb(&vm, 0x61) & 0x20;
	fake_ns += PIT_NS(2);
	bool after = inb(&vm, 0x61) & 0x20;
	CHECK("pit out2 rises at terminal count", !before && after, "before %d after %d", before,
	      after);
	CHECK("port 0x61 gate bit reads back", (inb(&vm, 0x61) & 0x03) == 0x01, "0x%x",
	      inb(&vm, 0x61));
	outb(&vm, 0x61, 0x00);
	fake_ns += PIT_NS(100);
	uint8_t c2 = inb(&vm, 0x42);
	fake_ns += PIT_NS(100);
	CHECK("pit gate low freezes channel 2", inb(&vm, 0x42) == c2, "still counting");
	devices_destroy(&vm);
}

/* ---- CMOS */

static uint8_t cmos(struct vm *vm, uint8_t reg)
{
	outb(vm, 0x70, reg);
	return inb(vm, 0x71);
}

static void cmos_set(struct vm *vm, uint8_t reg, uint8_t v)
{
	outb(vm, 0x70, reg);
	outb(vm, 0x71, v);
}

static uint8_t bcd(int v)
{
	return (uint8_t)((v / 10) << 4 | v % 10);
}

static void test_cmos(void)
{
	struct vm vm;
	vm_open(&vm, 32 << 20);
	struct tm tm;
	uint8_t r[10], cent;
	/* The clock the device reads (CLOCK_REALTIME): time() is the coarse
	 * clock, which can still say the old second when the CMOS already
	 * shows the new one. */
	for (int tries = 0; tries < 3; tries++) {
		struct timespec ts;
		clock_gettime(CLOCK_REALTIME, &ts);
		time_t t0 = ts.tv_sec;
		for (int i = 0; i < 10; i++)
			r[i] = cmos(&vm, (uint8_t)i);
		cent = cmos(&vm, 0x32);
		gmtime_r(&t0, &tm);
		clock_gettime(CLOCK_REALTIME, &ts);
		if (ts.tv_sec == t0)
			break; /* no second boundary in between */
	}
	CHECK("cmos seconds minutes hours in bcd",
	      r[0] == bcd(tm.tm_sec) && r[2] == bcd(tm.tm_min) && r[4] == bcd(tm.tm_hour),
	      "%02x:%02x:%02x", r[4], r[2], r[0]);
	CHECK("cmos date in bcd",
	      r[7] == bcd(tm.tm_mday) && r[8] == bcd(tm.tm_mon + 1) &&
		      r[9] == bcd(tm.tm_year % 100) && cent == bcd((tm.tm_year + 1900) / 100),
	      "%02x%02x-%02x-%02x", cent, r[9], r[8], r[7]);
	CHECK("cmos day of week", r[6] == tm.tm_wday + 1, "%u", r[6]);
	CHECK("cmos status b is 24h bcd", cmos(&vm, 0x0b) == 0x02, "0x%x", cmos(&vm, 0x0b));
	CHECK("cmos status d valid ram", cmos(&vm, 0x0d) == 0x80, "0x%x", cmos(&vm, 0x0d));
	CHECK("cmos base memory 640 KiB", cmos(&vm, 0x15) == 0x80 && cmos(&vm, 0x16) == 0x02,
	      "wrong");
	unsigned ext = cmos(&vm, 0x17) | cmos(&vm, 0x18) << 8;
	unsigned ext2 = cmos(&vm, 0x30) | cmos(&vm, 0x31) << 8;
	unsigned hi = cmos(&vm, 0x34) | cmos(&vm, 0x35) << 8;
	CHECK("cmos extended memory", ext == 31744 && ext2 == 31744, "%u %u", ext, ext2);
	CHECK("cmos memory above 16 MiB", hi == 256, "%u", hi);

	cmos_set(&vm, 0x0b, 0x06); /* binary, 24h */
	uint8_t y = cmos(&vm, 0x09);
	CHECK("cmos binary mode", y == tm.tm_year % 100 || y == (tm.tm_year + 1) % 100, "%u", y);
	cmos_set(&vm, 0x0b, 0x82); /* SET: halt updates, BCD */
	cmos_set(&vm, 0x09, 0x99);
	cmos_set(&vm, 0x32, 0x19);
	cmos_set(&vm, 0x08, 0x12);
	cmos_set(&vm, 0x07, 0x31);
	cmos_set(&vm, 0x04, 0x23);
	cmos_set(&vm, 0x02, 0x59);
	cmos_set(&vm, 0x00, 0x30);
	cmos_set(&vm, 0x0b, 0x02);
	CHECK("cmos guest sets the clock",
	      cmos(&vm, 0x32) == 0x19 && cmos(&vm, 0x09) == 0x99 && cmos(&vm, 0x08) == 0x12 &&
		      cmos(&vm, 0x07) == 0x31 && cmos(&vm, 0x04) == 0x23,
	      "%02x%02x-%02x-%02x %02x", cmos(&vm, 0x32), cmos(&vm, 0x09), cmos(&vm, 0x08),
	      cmos(&vm, 0x07), cmos(&vm, 0x04));
	cmos_set(&vm, 0x0b, 0x00); /* 12-hour mode: 23h is 11 PM */
	CHECK("cmos 12-hour mode", cmos(&vm, 0x04) == 0x91, "0x%x", cmos(&vm, 0x04));
	cmos_set(&vm, 0x40, 0x5a);
	CHECK("cmos nvram keeps bytes", cmos(&vm, 0x40) == 0x5a && cmos(&vm, 0xc0) == 0x5a,
	      "0x%x", cmos(&vm, 0x40));
	devices_destroy(&vm);
}

/* ---- PS/2, debug-exit, port 0x80 */

static void test_ps2(void)
{
	struct vm vm;
	vm_open(&vm, 32 << 20);
	CHECK("ps2 output buffer empty", !(inb(&vm, 0x64) & 0x01), "status 0x%x", inb(&vm, 0x64));
	outb(&vm, 0x64, 0xaa);
	CHECK("ps2 self test", (inb(&vm, 0x64) & 0x05) == 0x05 && inb(&vm, 0x60) == 0x55,
	      "wrong answer");
	outb(&vm, 0x64, 0x60);
	outb(&vm, 0x60, 0x07);
	outb(&vm, 0x64, 0x20);
	CHECK("ps2 config byte", inb(&vm, 0x60) == 0x07, "not written");
	outb(&vm, 0x64, 0xad);
	outb(&vm, 0x64, 0x20);
	CHECK("ps2 disable keyboard", inb(&vm, 0x60) & 0x10, "config bit 4 clear");
	CHECK("ps2 still running", !vm.stop, "stopped");
	devices_destroy(&vm);

	/* The AUX port as Linux's i8042 driver probes it, answered at once
	 * (a controller that ignored these made Linux wait 2 x 500 ms). */
	vm_open(&vm, 32 << 20);
	pic_setup(&vm);
	outb(&vm, 0x64, 0x60);
	outb(&vm, 0x60, 0x47); /* both ports' interrupts on */
	outb(&vm, 0x64, 0xd3);
	outb(&vm, 0x60, 0x5a);
	uint8_t st = inb(&vm, 0x64);
	CHECK("ps2 aux loopback", (st & 0x21) == 0x21 && pic_irq_latched(&vm, 12) &&
					  !pic_irq_latched(&vm, 1) && inb(&vm, 0x60) == 0x5a,
	      "status 0x%x irq12 %d irq1 %d", st, pic_irq_latched(&vm, 12), pic_irq_latched(&vm, 1));
	CHECK("ps2 aux read empties", !(inb(&vm, 0x64) & 0x21), "status 0x%x", inb(&vm, 0x64));
	outb(&vm, 0x64, 0xa9);
	CHECK("ps2 aux interface test", (inb(&vm, 0x64) & 0x21) == 0x01 && inb(&vm, 0x60) == 0x00,
	      "wrong answer");
	outb(&vm, 0x64, 0xd4);
	outb(&vm, 0x60, 0xff); /* reset the mouse: there is none */
	st = inb(&vm, 0x64);
	CHECK("ps2 absent mouse times out", (st & 0x61) == 0x61 && inb(&vm, 0x60) == 0xfe,
	      "status 0x%x", st);
	outb(&vm, 0x64, 0xd2);
	outb(&vm, 0x60, 0x33);
	st = inb(&vm, 0x64);
	CHECK("ps2 keyboard loopback", (st & 0x61) == 0x01 && pic_irq_latched(&vm, 1) &&
					       inb(&vm, 0x60) == 0x33,
	      "status 0x%x irq1 %d", st, pic_irq_latched(&vm, 1));
	outb(&vm, 0x60, 0xf2); /* identify the keyboard: there is none */
	st = inb(&vm, 0x64);
	CHECK("ps2 absent keyboard times out", (st & 0x61) == 0x41 && inb(&vm, 0x60) == 0xfe,
	      "status 0x%x", st);
	outb(&vm, 0x64, 0xfe);
	CHECK("ps2 reset stops the vm", vm.stop && vm.exit_status == RINGVM_EXIT_POWEROFF,
	      "stop %d status %d", vm.stop, vm.exit_status);
	CHECK("ps2 reset says why", vm.stop_why && strstr(vm.stop_why, "PS/2"), "%s",
	      vm.stop_why ? vm.stop_why : "(null)");
	devices_destroy(&vm);
}

static void test_debug_exit(void)
{
	static const struct {
		uint32_t v;
		int status;
		unsigned len;
	} cases[] = { { 0, 1, 1 }, { 1, 3, 1 }, { 0x10, 33, 1 }, { 0x10, 33, 4 }, { 0x7f, 255, 2 } };
	for (unsigned i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		struct vm vm;
		vm_open(&vm, 32 << 20);
		uint8_t data[4];
		memcpy(data, &cases[i].v, 4);
		uint16_t port = (uint16_t)(0xf4 + (cases[i].len == 1)); /* any of its 4 ports */
		const struct bus_range *r = bus_find(&vm.pio, port);
		r->fn(&vm, r->dev, port, data, cases[i].len, true);
		char name[64];
		snprintf(name, sizeof name, "debug-exit 0x%x (%u bytes) gives %d", cases[i].v,
			 cases[i].len, cases[i].status);
		CHECK(name, vm.stop && vm.exit_status == cases[i].status, "status %d",
		      vm.exit_status);
		if (i == 2)
			CHECK("debug-exit says why",
			      vm.stop_why && strcmp(vm.stop_why,
						    "guest wrote 0x10 to the debug-exit port") == 0,
			      "%s", vm.stop_why ? vm.stop_why : "(null)");
		devices_destroy(&vm);
	}
	struct vm vm;
	vm_open(&vm, 32 << 20);
	outb(&vm, 0x80, 0x42);
	CHECK("port 0x80 keeps the last post code", inb(&vm, 0x80) == 0x42 && !vm.stop, "0x%x",
	      inb(&vm, 0x80));
	devices_destroy(&vm);
}

/* ---- UART */

static bool irq4_pending(struct vm *vm)
{
	return pic_irq_latched(vm, 4);
}

static void test_uart_registers(void)
{
	struct vm vm;
	vm_open(&vm, 32 << 20);
	pic_setup(&vm);
	CHECK("uart lsr idle", inb(&vm, 0x3fd) == 0x60, "0x%x", inb(&vm, 0x3fd));
	CHECK("uart iir no interrupt", inb(&vm, 0x3fa) == 0x01, "0x%x", inb(&vm, 0x3fa));
	outb(&vm, 0x3fb, 0x80); /* DLAB */
	outb(&vm, 0x3f8, 0x01);
	outb(&vm, 0x3f9, 0x00);
	CHECK("uart divisor latch", inb(&vm, 0x3f8) == 0x01 && inb(&vm, 0x3f9) == 0x00, "wrong");
	outb(&vm, 0x3fb, 0x03);
	CHECK("uart lcr 8n1", inb(&vm, 0x3fb) == 0x03 && inb(&vm, 0x3f9) == 0x00, "wrong");
	outb(&vm, 0x3ff, 0x5a);
	CHECK("uart scratch", inb(&vm, 0x3ff) == 0x5a, "wrong");
	outb(&vm, 0x3fa, 0x07);
	CHECK("uart iir fifo bits", inb(&vm, 0x3fa) == 0xc1, "0x%x", inb(&vm, 0x3fa));
	CHECK("uart msr modem present", (inb(&vm, 0x3fe) & 0xf0) == 0xb0, "0x%x",
	      inb(&vm, 0x3fe));

	outb(&vm, 0x3f9, 0x02); /* THRE interrupt */
	CHECK("uart thre interrupt on enable", irq4_pending(&vm) && inb(&vm, 0x3fa) == 0xc2,
	      "irr %d", irq4_pending(&vm));
	CHECK("uart iir read clears thre", inb(&vm, 0x3fa) == 0xc1, "0x%x", inb(&vm, 0x3fa));
	CHECK("uart irq 4 vector", pic_acknowledge(&vm) == 0x24, "wrong vector");
	outb(&vm, 0x20, 0x20);
	outb(&vm, 0x3f8, 'x'); /* stdout is "gone" in this harness: dropped */
	CHECK("uart thre again after a write", irq4_pending(&vm) && inb(&vm, 0x3fa) == 0xc2,
	      "no new edge");
	outb(&vm, 0x3f9, 0x00);
	pic_acknowledge(&vm);
	outb(&vm, 0x20, 0x20);

	outb(&vm, 0x3fc, 0x1b); /* loopback, OUT2, RTS, DTR */
	CHECK("uart loopback msr", (inb(&vm, 0x3fe) & 0xf0) == 0xb0, "0x%x", inb(&vm, 0x3fe));
	outb(&vm, 0x3fc, 0x10);
	CHECK("uart loopback msr deltas", inb(&vm, 0x3fe) == 0x0b, "wrong");
	outb(&vm, 0x3f9, 0x01); /* received-data interrupt */
	outb(&vm, 0x3f8, 'A');
	outb(&vm, 0x3f8, 'B');
	CHECK("uart loopback data ready", inb(&vm, 0x3fd) == 0x61, "lsr 0x%x", inb(&vm, 0x3fd));
	CHECK("uart rda interrupt", irq4_pending(&vm) && inb(&vm, 0x3fa) == 0xc4, "iir 0x%x",
	      inb(&vm, 0x3fa));
	uint8_t a = inb(&vm, 0x3f8), b = inb(&vm, 0x3f8);
	CHECK("uart loopback bytes", a == 'A' && b == 'B', "%c%c", a, b);
	CHECK("uart empty after reads", inb(&vm, 0x3fd) == 0x60 && inb(&vm, 0x3fa) == 0xc1,
	      "lsr 0x%x", inb(&vm, 0x3fd));
	outb(&vm, 0x3fa, 0xc7); /* trigger level 14 */
	outb(&vm, 0x3f8, 'C');
	CHECK("uart below trigger level reports timeout", inb(&vm, 0x3fa) == 0xcc, "0x%x",
	      inb(&vm, 0x3fa));
	devices_destroy(&vm);
}

static void test_uart_stdio(void)
{
	struct vm vm;
	vm_open(&vm, 32 << 20);
	int in[2], out[2];
	if (pipe(in) < 0 || pipe(out) < 0) {
		SKIP("uart stdio", "pipe failed");
		return;
	}
	fcntl(in[0], F_SETFL, O_NONBLOCK);
	struct uart *u = &vm.dev->uart;
	u->in_fd = in[0];
	u->out_fd = out[1];
	u->out_dead = false;
	u->out_pollable = true;
	u->in_tty = false;

	outb(&vm, 0x3f8, 'h');
	outb(&vm, 0x3f8, 'i');
	char buf[8] = { 0 };
	ssize_t n = read(out[0], buf, sizeof buf);
	CHECK("uart output reaches stdout", n == 2 && memcmp(buf, "hi", 2) == 0, "%zd bytes", n);

	devices_poll(&vm, fake_ns);
	CHECK("uart no input yet", !(inb(&vm, 0x3fd) & 1) && devices_input_fd(&vm) == in[0],
	      "wrong");
	CHECK("uart input write", write(in[1], "xyz", 3) == 3, "pipe");
	devices_poll(&vm, fake_ns);
	char got[4] = { 0 };
	for (int i = 0; i < 3 && (inb(&vm, 0x3fd) & 1); i++)
		got[i] = (char)inb(&vm, 0x3f8);
	CHECK("uart input from stdin", strcmp(got, "xyz") == 0, "'%s'", got);
	close(in[1]);
	devices_poll(&vm, fake_ns);
	CHECK("uart stdin eof stops input", devices_input_fd(&vm) == -1, "still waits on stdin");

	close(out[0]);
	outb(&vm, 0x3f8, '!'); /* the reader went away: dropped, no SIGPIPE death */
	CHECK("uart stdout gone is survived", u->out_dead, "not noticed");
	close(in[0]);
	close(out[1]);
	devices_destroy(&vm);
}

/* A stdout pipe nobody reads must not hang the VMM: one bounded wait, then
 * bytes are dropped at once until the pipe drains. */
static void test_uart_stalled_stdout(void)
{
	struct vm vm;
	vm_open(&vm, 32 << 20);
	int out[2];
	if (pipe(out) < 0) {
		SKIP("uart stalled stdout", "pipe failed");
		return;
	}
	int fl = fcntl(out[1], F_GETFL);
	fcntl(out[1], F_SETFL, fl | O_NONBLOCK);
	char junk[4096];
	memset(junk, 'j', sizeof junk);
	while (write(out[1], junk, sizeof junk) > 0)
		;
	fcntl(out[1], F_SETFL, fl); /* blocking again, as stdout usually is */
	struct uart *u = &vm.dev->uart;
	u->out_fd = out[1];
	u->out_dead = false;
	u->out_pollable = true;
	time_t t0 = time(NULL);
	for (int i = 0; i < 100; i++)
		outb(&vm, 0x3f8, 'x');
	time_t spent = time(NULL) - t0;
	uint64_t dropped = named_count(&vm, "uart: stdout stalled: byte dropped");
	CHECK("uart full stdout does not hang", spent <= 3, "%lld s", (long long)spent);
	CHECK("uart full stdout drops and counts", dropped == 100, "%llu dropped",
	      (unsigned long long)dropped);
	fcntl(out[0], F_SETFL, O_NONBLOCK);
	while (read(out[0], junk, sizeof junk) > 0)
		;
	outb(&vm, 0x3f8, 'y');
	CHECK("uart output resumes when stdout drains",
	      named_count(&vm, "uart: stdout stalled: byte dropped") == 100 && !u->out_stalled,
	      "still dropping");
	close(out[0]);
	close(out[1]);
	devices_destroy(&vm);
}

int main(void)
{
	signal(SIGPIPE, SIG_IGN);
	test_pic_basics();
	test_pic_priority();
	test_pic_special();
	test_pit_rate();
	test_pit_oneshot();
	test_pit_reads();
	test_cmos();
	test_ps2();
	test_debug_exit();
	test_uart_registers();
	test_uart_stdio();
	test_uart_stalled_stdout();
	CHECK_DONE();
}
