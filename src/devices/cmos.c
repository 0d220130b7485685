/*
 * MC146818 CMOS/RTC at 0x70 (index; bit 7 is the NMI mask, ignored) and
 * 0x71 (data): the time of day from the host's UTC clock, and 128 bytes of
 * NVRAM filled the way a PC BIOS leaves them (memory sizes).
 *
 * The guest may set the clock: ringvm keeps the difference from host time,
 * so the guest's clock keeps running. Status B's data mode (BCD or binary)
 * and 12/24-hour bits are honoured for reads and writes.
 * UIP (status A bit 7) is set during the last 244 us before each second
 * changes, as on the real chip, so guests that wait for an update see one.
 * IRQ 8: the periodic (status A's rate), alarm and update-ended interrupts,
 * each enabled by its bit in status B; status C holds the flags (set
 * whether enabled or not) and reading it clears them and lowers the line.
 * Linux's rtc_cmos and `hwclock` use these.
 * Left out: daylight saving (DSE), the divider-reset bits, square-wave
 * output, and catching up on missed periodic interrupts (a late poll sets
 * PF once, as a guest that did not read C in time would see).
 */
#include <string.h>
#include <time.h>

#include "devices_priv.h"

enum {
	RTC_SEC = 0x00,
	RTC_MIN = 0x02,
	RTC_HOUR = 0x04,
	RTC_WDAY = 0x06,
	RTC_MDAY = 0x07,
	RTC_MONTH = 0x08,
	RTC_YEAR = 0x09,
	RTC_A = 0x0a,
	RTC_B = 0x0b,
	RTC_C = 0x0c,
	RTC_D = 0x0d,
	RTC_CENTURY = 0x32,
};

#define B_SET 0x80
#define B_PIE 0x40
#define B_AIE 0x20
#define B_UIE 0x10
#define B_BINARY 0x04
#define C_IRQF 0x80
#define C_PF 0x40
#define C_AF 0x20
#define C_UF 0x10
#define RTC_IRQ 8
#define RTC_SEC_ALARM 0x01
#define RTC_MIN_ALARM 0x03
#define RTC_HOUR_ALARM 0x05
#define NS 1000000000ull
#define B_24H 0x02
#define A_UIP 0x80
#define UIP_NS 244000ull

static bool is_time_reg(unsigned r)
{
	return (r <= RTC_YEAR && r != 0x01 && r != 0x03 && r != 0x05) || r == RTC_CENTURY;
}

/* ---- encoding: BCD or binary, 12 or 24 hours, per status B */

static uint8_t enc(const struct cmos *c, unsigned v)
{
	return (c->ram[RTC_B] & B_BINARY) ? (uint8_t)v : (uint8_t)((v / 10) << 4 | v % 10);
}

static unsigned dec(const struct cmos *c, uint8_t v)
{
	return (c->ram[RTC_B] & B_BINARY) ? v : (unsigned)((v >> 4) * 10 + (v & 15));
}

static uint8_t enc_hour(const struct cmos *c, unsigned h)
{
	if (c->ram[RTC_B] & B_24H)
		return enc(c, h);
	unsigned h12 = h % 12 ? h % 12 : 12;
	return (uint8_t)(enc(c, h12) | (h >= 12 ? 0x80 : 0)); /* bit 7: PM */
}

static unsigned dec_hour(const struct cmos *c, uint8_t v)
{
	if (c->ram[RTC_B] & B_24H)
		return dec(c, v);
	unsigned h = dec(c, v & 0x7f) % 12;
	return (v & 0x80) ? h + 12 : h;
}

/* ---- the guest's clock */

static int64_t guest_time(struct vm *vm, struct cmos *c)
{
	if (c->setting)
		return c->set_time;
	return (int64_t)(vm->dev->wall_ns() / 1000000000ull) + c->offset_s;
}

static uint8_t time_read(struct cmos *c, int64_t t, unsigned reg)
{
	time_t tt = (time_t)t;
	struct tm tm;
	gmtime_r(&tt, &tm);
	switch (reg) {
	case RTC_SEC: return enc(c, (unsigned)tm.tm_sec);
	case RTC_MIN: return enc(c, (unsigned)tm.tm_min);
	case RTC_HOUR: return enc_hour(c, (unsigned)tm.tm_hour);
	case RTC_WDAY: return enc(c, (unsigned)tm.tm_wday + 1); /* Sunday is 1 */
	case RTC_MDAY: return enc(c, (unsigned)tm.tm_mday);
	case RTC_MONTH: return enc(c, (unsigned)tm.tm_mon + 1);
	case RTC_YEAR: return enc(c, (unsigned)(tm.tm_year + 1900) % 100);
	default: return enc(c, (unsigned)(tm.tm_year + 1900) / 100); /* century */
	}
}

/* The guest writes one field: the others keep their current values. Day
 * of week is derived from the date, so writes to it are dropped. */
static int64_t time_write(struct cmos *c, int64_t t, unsigned reg, uint8_t v)
{
	time_t tt = (time_t)t;
	struct tm tm;
	gmtime_r(&tt, &tm);
	unsigned d = reg == RTC_HOUR ? dec_hour(c, v) : dec(c, v);
	switch (reg) {
	case RTC_SEC: tm.tm_sec = (int)d; break;
	case RTC_MIN: tm.tm_min = (int)d; break;
	case RTC_HOUR: tm.tm_hour = (int)d; break;
	case RTC_MDAY: tm.tm_mday = (int)d; break;
	case RTC_MONTH: tm.tm_mon = (int)d - 1; break;
	case RTC_YEAR: tm.tm_year = (tm.tm_year + 1900) / 100 * 100 + (int)d - 1900; break;
	case RTC_CENTURY: tm.tm_year = (int)d * 100 + (tm.tm_year + 1900) % 100 - 1900; break;
	default: return t;
	}
	return (int64_t)timegm(&tm);
}

static uint8_t status_a(struct vm *vm, struct cmos *c)
{
	uint64_t frac = vm->dev->wall_ns() % 1000000000ull;
	bool uip = !c->setting && frac >= 1000000000ull - UIP_NS;
	return (uint8_t)((c->ram[RTC_A] & 0x7f) | (uip ? A_UIP : 0));
}

/* Status B's SET bit halts updates: the guest then writes the fields one
 * by one and they take effect together when SET is cleared. */
static void status_b_write(struct vm *vm, struct cmos *c, uint8_t v)
{
	if ((v & B_SET) && !c->setting) {
		c->set_time = guest_time(vm, c);
		c->setting = true;
	} else if (!(v & B_SET) && c->setting) {
		c->setting = false;
		c->offset_s = c->set_time - (int64_t)(vm->dev->wall_ns() / 1000000000ull);
	}
	c->ram[RTC_B] = v;
}

/* ---- interrupts */

/* Status A's rate select: 0 off; 1 and 2 are 256 and 128 Hz (as 8 and 9
 * on the MC146818's 32.768 kHz time base), 3..15 are 32768 >> (r - 1) Hz. */
static uint64_t periodic_ns(const struct cmos *c)
{
	unsigned r = c->ram[RTC_A] & 0x0f;
	if (!r)
		return 0;
	if (r < 3)
		r += 7;
	return (NS << (r - 1)) / 32768;
}

static void irq_update(struct vm *vm, struct cmos *c)
{
	bool level = c->flags & c->ram[RTC_B] & (C_PF | C_AF | C_UF);
	if (level == c->irq_level)
		return;
	c->irq_level = level;
	irq_set(vm, RTC_IRQ, level);
}

/* Does the alarm match now? An alarm byte with its top two bits set
 * matches any value (the chip's "don't care"). */
static bool alarm_due(struct vm *vm, struct cmos *c)
{
	static const unsigned pairs[3][2] = {
		{ RTC_SEC_ALARM, RTC_SEC }, { RTC_MIN_ALARM, RTC_MIN }, { RTC_HOUR_ALARM, RTC_HOUR }
	};
	int64_t t = guest_time(vm, c);
	for (unsigned k = 0; k < 3; k++) {
		uint8_t a = c->ram[pairs[k][0]];
		if ((a & 0xc0) != 0xc0 && a != time_read(c, t, pairs[k][1]))
			return false;
	}
	return true;
}

/* Sets the flags whose time has come. The periodic flag runs whenever a
 * rate is selected, the update flag once a second unless SET halts
 * updates; their deadlines matter to the run loop only when enabled. */
void cmos_poll(struct vm *vm, struct cmos *c, uint64_t now)
{
	uint64_t period = periodic_ns(c);
	if (!c->next_second) { /* first poll: start the clocks, no flags yet */
		c->next_periodic = now + period;
		c->next_second = now + (NS - vm->dev->wall_ns() % NS);
		return;
	}
	if (period && now >= c->next_periodic) {
		c->flags |= C_PF;
		uint64_t late = now - c->next_periodic;
		c->next_periodic += (late / period + 1) * period;
	}
	if (now >= c->next_second) {
		if (!c->setting) {
			c->flags |= C_UF;
			if (alarm_due(vm, c))
				c->flags |= C_AF;
		}
		uint64_t frac = vm->dev->wall_ns() % NS;
		c->next_second = now + (NS - frac);
	}
	irq_update(vm, c);
}

uint64_t cmos_next_deadline(struct cmos *c)
{
	uint64_t d = UINT64_MAX;
	if ((c->ram[RTC_B] & B_PIE) && periodic_ns(c))
		d = c->next_periodic;
	if ((c->ram[RTC_B] & (B_UIE | B_AIE)) && c->next_second < d)
		d = c->next_second;
	return d;
}

static uint8_t status_c_read(struct vm *vm, struct cmos *c)
{
	cmos_poll(vm, c, dev_now(vm));
	uint8_t v = c->flags;
	if (v & c->ram[RTC_B] & (C_PF | C_AF | C_UF))
		v |= C_IRQF;
	c->flags = 0;
	irq_update(vm, c);
	return v;
}

static uint8_t cmos_read(struct vm *vm, struct cmos *c, unsigned reg)
{
	if (is_time_reg(reg))
		return time_read(c, guest_time(vm, c), reg);
	switch (reg) {
	case RTC_A: return status_a(vm, c);
	case RTC_C: return status_c_read(vm, c);
	case RTC_D: return 0x80; /* valid RAM and time: the battery is fine */
	default: return c->ram[reg];
	}
}

static void cmos_write(struct vm *vm, struct cmos *c, unsigned reg, uint8_t v)
{
	if (is_time_reg(reg)) {
		int64_t t = time_write(c, guest_time(vm, c), reg, v);
		if (c->setting)
			c->set_time = t;
		else
			c->offset_s = t - (int64_t)(vm->dev->wall_ns() / 1000000000ull);
		return;
	}
	switch (reg) {
	case RTC_A: /* UIP is read-only; a new rate starts a new period */
		c->ram[RTC_A] = v & 0x7f;
		c->next_periodic = dev_now(vm) + periodic_ns(c);
		break;
	case RTC_B:
		status_b_write(vm, c, v);
		irq_update(vm, c);
		vm_deadline_check(vm); /* an interrupt just enabled may be due first */
		break;
	case RTC_C:
	case RTC_D: break; /* read-only */
	default: c->ram[reg] = v; break;
	}
}

static void cmos_io(struct vm *vm, void *dev, uint64_t addr, uint8_t *data, unsigned len,
		    bool is_write)
{
	struct cmos *c = dev;
	if (addr == 0x70) {
		if (is_write)
			c->index = data[0] & 0x7f; /* bit 7 masks NMIs: there are none */
		else
			memset(data, 0xff, len); /* the index register is write-only */
		return;
	}
	if (is_write) {
		cmos_write(vm, c, c->index, data[0]);
		return;
	}
	memset(data, 0, len);
	data[0] = cmos_read(vm, c, c->index);
}

static void put16(uint8_t *ram, unsigned lo, uint64_t v)
{
	if (v > 0xffff)
		v = 0xffff;
	ram[lo] = (uint8_t)v;
	ram[lo + 1] = (uint8_t)(v >> 8);
}

/* What a BIOS stores: base memory in KiB, memory above 1 MiB in KiB (0x17
 * and again at 0x30), memory above 16 MiB in 64 KiB units (0x34). */
static void nvram_defaults(struct vm *vm, struct cmos *c)
{
	uint64_t mem = vm->ram_size;
	c->ram[RTC_A] = 0x26; /* 32.768 kHz time base, 1024 Hz periodic rate */
	c->ram[RTC_B] = B_24H; /* 24-hour, BCD */
	put16(c->ram, 0x15, 640);
	uint64_t ext_kib = mem > (1u << 20) ? (mem >> 10) - 1024 : 0;
	put16(c->ram, 0x17, ext_kib);
	put16(c->ram, 0x30, ext_kib);
	put16(c->ram, 0x34, mem > (16u << 20) ? (mem - (16u << 20)) >> 16 : 0);
}

int cmos_init(struct vm *vm, struct cmos *c)
{
	memset(c, 0, sizeof *c);
	nvram_defaults(vm, c);
	/* next_periodic and next_second stay 0 until the first poll: the
	 * clocks may still be replaced (tests use a fake one). */
	return bus_register(&vm->pio, 0x70, 2, cmos_io, c, "cmos/rtc");
}
