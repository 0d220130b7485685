/*
 * Devices as Linux uses them, beyond what the guest kit needs: the CMOS
 * RTC's IRQ 8 (rtc_cmos), on a fake clock: periodic interrupts at status
 * A's rate when status B enables them, the update-ended interrupt once a
 * second, the alarm, status C's flags and their clearing on read, and the
 * deadline the run loop sleeps until; and the 0xcf9 reset (reboot=pci).
 */
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "devices/devices_priv.h"
#include "vm/vm.h"

static uint64_t fake_ns = 5000000000ull;
static uint64_t fake_clock(void) { return fake_ns; }
/* Wall time: 10:00:00.0 UTC on some day, advancing with the fake clock. */
static uint64_t fake_wall(void) { return 1790000000ull * 1000000000ull + fake_ns - 5000000000ull; }

static void vm_open(struct vm *vm)
{
	memset(vm, 0, sizeof *vm);
	vm->pio.name = "port";
	vm->mmio.name = "mmio";
	vm->ram_size = 16u << 20;
	if (devices_init(vm) < 0) {
		printf("FAIL devices_init: returned -1\n");
		exit(1);
	}
	vm->dev->now = fake_clock;
	vm->dev->wall_ns = fake_wall;
	vm->dev->uart.in_fd = -1;
	vm->dev->uart.out_fd = -1;
	vm->dev->uart.out_dead = true;
}

static void outb(struct vm *vm, uint16_t port, uint8_t v)
{
	const struct bus_range *r = bus_find(&vm->pio, port);
	r->fn(vm, r->dev, port, &v, 1, true);
}

static uint8_t inb(struct vm *vm, uint16_t port)
{
	uint8_t v = 0xff;
	const struct bus_range *r = bus_find(&vm->pio, port);
	r->fn(vm, r->dev, port, &v, 1, false);
	return v;
}

static uint8_t rtc(struct vm *vm, uint8_t reg)
{
	outb(vm, 0x70, reg);
	return inb(vm, 0x71);
}

static void rtc_set(struct vm *vm, uint8_t reg, uint8_t v)
{
	outb(vm, 0x70, reg);
	outb(vm, 0x71, v);
}

/* Vectors 0x20/0x28, everything unmasked; IRQ 8 arrives through IRQ 2. */
static void pic_setup(struct vm *vm)
{
	static const uint8_t seq[][2] = { { 0x20, 0x11 }, { 0xa0, 0x11 }, { 0x21, 0x20 },
					  { 0xa1, 0x28 }, { 0x21, 0x04 }, { 0xa1, 0x02 },
					  { 0x21, 0x01 }, { 0xa1, 0x01 }, { 0x21, 0x00 },
					  { 0xa1, 0x00 } };
	for (unsigned i = 0; i < sizeof seq / sizeof seq[0]; i++)
		outb(vm, seq[i][0], seq[i][1]);
}

static void advance(struct vm *vm, uint64_t ns)
{
	fake_ns += ns;
	devices_poll(vm, fake_ns);
}

static void eoi(struct vm *vm)
{
	outb(vm, 0xa0, 0x20);
	outb(vm, 0x20, 0x20);
}

static void test_periodic(void)
{
	struct vm vm;
	vm_open(&vm);
	pic_setup(&vm);
	devices_poll(&vm, fake_ns);
	rtc_set(&vm, 0x0a, 0x26); /* 1024 Hz */
	advance(&vm, 5000000);
	CHECK("rtc no interrupt while PIE is off", !pic_has_interrupt(&vm), "IRQ 8 raised");
	uint8_t c = rtc(&vm, 0x0c);
	CHECK("rtc PF set even while PIE is off", (c & 0xc0) == 0x40, "status C 0x%02x", c);

	rtc_set(&vm, 0x0b, 0x02 | 0x40); /* 24h, PIE */
	uint64_t d = devices_next_deadline(&vm);
	CHECK("rtc deadline within one period", d > fake_ns && d - fake_ns <= 976563,
	      "deadline %llu ns ahead", (unsigned long long)(d - fake_ns));
	advance(&vm, 976563);
	int v = pic_acknowledge(&vm);
	CHECK("rtc periodic interrupt on vector 0x28", v == 0x28, "vector %d", v);
	c = rtc(&vm, 0x0c);
	CHECK("rtc status C says IRQF and PF", c == 0xc0, "status C 0x%02x", c);
	CHECK("rtc reading C clears it", rtc(&vm, 0x0c) == 0, "still set");
	eoi(&vm);
	CHECK("rtc line low after C was read", !pic_has_interrupt(&vm), "IRQ pending");
	/* Linux's rtc_cmos counts interrupts over a second: 1024 of them. */
	unsigned n = 0;
	for (unsigned i = 0; i < 1024 * 4; i++) {
		advance(&vm, 1000000000ull / 4096);
		if (pic_acknowledge(&vm) == 0x28) {
			n++;
			rtc(&vm, 0x0c);
			eoi(&vm);
		}
	}
	CHECK("rtc 1024 Hz is 1024 interrupts a second", n >= 1023 && n <= 1025, "%u", n);
	rtc_set(&vm, 0x0a, 0x2f); /* 2 Hz */
	n = 0;
	for (unsigned i = 0; i < 100; i++) {
		advance(&vm, 10000000);
		if (pic_acknowledge(&vm) == 0x28) {
			n++;
			rtc(&vm, 0x0c);
			eoi(&vm);
		}
	}
	CHECK("rtc rate 15 is 2 Hz", n == 2, "%u interrupts in 1 s", n);
	devices_destroy(&vm);
}

static void test_update_and_alarm(void)
{
	struct vm vm;
	vm_open(&vm);
	pic_setup(&vm);
	devices_poll(&vm, fake_ns);
	rtc_set(&vm, 0x0b, 0x02 | 0x10); /* UIE */
	advance(&vm, 400000000);
	CHECK("rtc no update interrupt within the second", !pic_has_interrupt(&vm), "early");
	advance(&vm, 600000000);
	int v = pic_acknowledge(&vm);
	uint8_t c = rtc(&vm, 0x0c);
	CHECK("rtc update-ended interrupt each second", v == 0x28 && (c & 0x90) == 0x90,
	      "vector %d status C 0x%02x", v, c);
	eoi(&vm);
	/* An alarm two seconds on, hour and minute "don't care". */
	uint8_t sec = rtc(&vm, 0x00);
	unsigned s = ((sec >> 4) * 10 + (sec & 15) + 2) % 60;
	rtc_set(&vm, 0x01, (uint8_t)((s / 10) << 4 | s % 10));
	rtc_set(&vm, 0x03, 0xc0);
	rtc_set(&vm, 0x05, 0xc0);
	rtc_set(&vm, 0x0b, 0x02 | 0x20); /* AIE only */
	advance(&vm, 1000000000);
	c = rtc(&vm, 0x0c);
	CHECK("rtc no alarm before its second", !(c & 0x20) && !pic_has_interrupt(&vm),
	      "status C 0x%02x", c);
	advance(&vm, 1000000000);
	v = pic_acknowledge(&vm);
	c = rtc(&vm, 0x0c);
	CHECK("rtc alarm interrupt at its second", v == 0x28 && (c & 0xa0) == 0xa0,
	      "vector %d status C 0x%02x", v, c);
	devices_destroy(&vm);
}

static void test_reset_cf9(void)
{
	struct vm vm;
	vm_open(&vm);
	outb(&vm, 0xcf9, 0x02); /* hard reset selected: nothing happens yet */
	CHECK("cf9 select without RST_CPU does not reset", !vm.stop && inb(&vm, 0xcf9) == 0x02,
	      "stop=%d readback 0x%02x", vm.stop, inb(&vm, 0xcf9));
	outb(&vm, 0xcf9, 0x06); /* what Linux's reboot=pci writes next */
	CHECK("cf9 RST_CPU resets the machine: status 0",
	      vm.stop && vm.exit_status == RINGVM_EXIT_POWEROFF && strstr(vm.stop_why, "0xcf9"),
	      "stop=%d status %d", vm.stop, vm.exit_status);
	devices_destroy(&vm);
}

int main(void)
{
	test_periodic();
	test_update_and_alarm();
	test_reset_cf9();
	CHECK_DONE();
}
