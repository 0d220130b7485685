/*
 * 8254 programmable interval timer at 0x40-0x43, and system control port B
 * (0x61) for channel 2's gate and output.
 *
 * The counters are not stepped: a running counter is (start, start_ns), and
 * its count and OUT are computed from host time on every read, at the
 * 1.193182 MHz of the PC's input clock. Channel 0 raises IRQ 0 in real time
 * from devices_poll; channel 1 (DRAM refresh once) only counts; channel 2
 * is gated by port 0x61 bit 0 and its OUT is port 0x61 bit 5, which is what
 * Linux's PIT-based TSC calibration polls.
 *
 * Left out: BCD counting (a BCD control word is counted in --stats and the
 * counter counts in binary). Writing a new count restarts the counter at
 * once in every mode (a real 8254 in modes 2 and 3 waits for the end of
 * the current period).
 */
#include <string.h>

#include "devices_priv.h"

#define PIT_HZ 1193182ull
#define NS 1000000000ull
#define PIT_MAX_BACKLOG 100 /* more missed periods than this are coalesced */
#define PIT_MIN_TICK_NS 100000ull /* delivered ticks: at most 10,000 a second */
#define PIT_MAX_HANDLER_NS 2000000ull /* longer without an EOI: not waited for */

static uint64_t ticks_to_ns(uint64_t ticks)
{
	return (uint64_t)(((unsigned __int128)ticks * NS + PIT_HZ - 1) / PIT_HZ);
}

static uint64_t ns_to_ticks(uint64_t ns)
{
	return (uint64_t)((unsigned __int128)ns * PIT_HZ / NS);
}

static uint64_t elapsed_ticks(const struct pit_channel *c, uint64_t now)
{
	return now > c->start_ns ? ns_to_ticks(now - c->start_ns) : 0;
}

static bool periodic(const struct pit_channel *c)
{
	return c->mode == 2 || c->mode == 3;
}

/* The count a read would see at time now. */
static uint16_t pit_count(const struct pit_channel *c, uint64_t now)
{
	if (!c->running)
		return c->frozen;
	uint64_t t = elapsed_ticks(c, now);
	uint32_t d = c->start;
	switch (c->mode) {
	case 2:
		return (uint16_t)(d - t % d);
	case 3: /* counts down by two, twice per period */
		return (uint16_t)((d - (2 * t) % d) & 0xfffe);
	default: /* 0, 1, 4, 5: count down once, then wrap and keep counting */
		return (uint16_t)((d - t) & 0xffff);
	}
}

static bool pit_out(const struct pit_channel *c, uint64_t now)
{
	if (!c->running)
		return c->out_frozen;
	uint64_t t = elapsed_ticks(c, now);
	uint32_t d = c->start;
	switch (c->mode) {
	case 0:
	case 1:
		return t >= d;
	case 2:
		return t % d != d - 1;
	case 3:
		return t % d < (d + 1) / 2;
	default: /* 4, 5: one clock low at the terminal count */
		return t != d;
	}
}

static void pit_freeze(struct pit_channel *c, uint64_t now)
{
	c->frozen = pit_count(c, now);
	c->out_frozen = pit_out(c, now);
	c->running = false;
}

static void pit_start(struct pit_channel *c, uint32_t count, uint64_t now)
{
	c->start = count ? count : 65536;
	c->start_ns = now;
	c->running = true;
	c->periods_done = 0;
	c->busy = false;
	c->retry_ns = 0;
	c->oneshot_fired = false;
}

/* A new count was written: load it, and start counting unless the mode
 * waits for a gate edge or the gate is low. */
static void pit_reload(struct pit_channel *c, uint64_t now)
{
	uint32_t count = c->reload ? c->reload : 65536;
	c->null_count = false;
	if (c->mode == 1 || c->mode == 5 || !c->gate) {
		c->frozen = (uint16_t)count;
		c->start = count;
		c->out_frozen = c->mode != 0;
		c->running = false;
		return;
	}
	pit_start(c, count, now);
}

static void pit_set_gate(struct pit_channel *c, bool gate, uint64_t now)
{
	bool rising = gate && !c->gate;
	if (!gate && c->gate && c->running && c->mode != 1 && c->mode != 5)
		pit_freeze(c, now); /* modes 0, 2, 3, 4 stop counting while the gate is low */
	c->gate = gate;
	if (!rising || c->null_count)
		return;
	if (c->mode == 0 || c->mode == 4)
		pit_start(c, c->frozen, now); /* resume where it stopped */
	else
		pit_start(c, c->reload ? c->reload : 65536, now); /* modes 1, 2, 3, 5 retrigger */
}

static void pit_latch(struct pit_channel *c, uint64_t now)
{
	if (c->count_latched)
		return; /* a second latch before the read is ignored */
	c->latch = pit_count(c, now);
	c->count_latched = true;
	c->latch_hi_next = false;
}

static void pit_latch_status(struct pit_channel *c, uint64_t now)
{
	if (c->status_latched)
		return;
	c->status = (uint8_t)((pit_out(c, now) << 7) | (c->null_count << 6) | (c->access << 4) |
			      (c->mode << 1) | c->bcd_requested);
	c->status_latched = true;
}

static void pit_readback(struct pit *p, uint8_t v, uint64_t now)
{
	for (int i = 0; i < 3; i++) {
		if (!(v & (2 << i)))
			continue;
		if (!(v & 0x20))
			pit_latch(&p->ch[i], now);
		if (!(v & 0x10))
			pit_latch_status(&p->ch[i], now);
	}
}

static void pit_control(struct vm *vm, struct pit *p, uint8_t v, uint64_t now)
{
	unsigned sc = v >> 6, rw = (v >> 4) & 3;
	if (sc == 3) {
		pit_readback(p, v, now);
		return;
	}
	struct pit_channel *c = &p->ch[sc];
	if (rw == 0) {
		pit_latch(c, now);
		return;
	}
	c->access = (uint8_t)rw;
	c->mode = (v >> 1) & 7;
	if (c->mode > 5)
		c->mode -= 4; /* 6 and 7 are aliases of 2 and 3 */
	c->bcd_requested = v & 1;
	if (c->bcd_requested)
		stats_event(&vm->stats, "pit", "BCD mode requested (counting in binary)");
	c->write_hi_next = c->read_hi_next = false;
	c->count_latched = c->status_latched = false;
	c->null_count = true;
	/* Programming a mode stops the counter; OUT goes low in mode 0, high otherwise. */
	c->running = false;
	c->frozen = 0;
	c->out_frozen = c->mode != 0;
}

static void pit_data_write(struct pit_channel *c, uint8_t v, uint64_t now)
{
	switch (c->access) {
	case 1:
		c->reload = v;
		break;
	case 2:
		c->reload = (uint16_t)(v << 8);
		break;
	default:
		if (!c->write_hi_next) {
			c->write_lo = v;
			c->write_hi_next = true;
			if (c->mode == 0 && c->running)
				pit_freeze(c, now); /* mode 0: the first byte stops the count */
			return;
		}
		c->reload = (uint16_t)(c->write_lo | (v << 8));
		c->write_hi_next = false;
		break;
	}
	pit_reload(c, now);
}

static uint8_t pit_byte(uint16_t v, unsigned access, bool *hi_next)
{
	if (access == 1)
		return (uint8_t)v;
	if (access == 2)
		return (uint8_t)(v >> 8);
	bool hi = *hi_next;
	*hi_next = !hi;
	return (uint8_t)(hi ? v >> 8 : v);
}

static uint8_t pit_data_read(struct pit_channel *c, uint64_t now)
{
	if (c->status_latched) {
		c->status_latched = false;
		return c->status;
	}
	if (c->count_latched) {
		uint8_t b = pit_byte(c->latch, c->access, &c->latch_hi_next);
		if (c->access != 3 || !c->latch_hi_next)
			c->count_latched = false; /* the whole latched value was read */
		return b;
	}
	return pit_byte(pit_count(c, now), c->access, &c->read_hi_next);
}

static void pit_io(struct vm *vm, void *dev, uint64_t addr, uint8_t *data, unsigned len,
		   bool is_write)
{
	struct pit *p = dev;
	uint64_t now = dev_now(vm);
	unsigned reg = addr & 3;
	if (is_write) {
		if (reg == 3)
			pit_control(vm, p, data[0], now);
		else
			pit_data_write(&p->ch[reg], data[0], now);
		return;
	}
	memset(data, 0, len);
	if (reg != 3) /* the control word register cannot be read */
		data[0] = pit_data_read(&p->ch[reg], now);
}

/* Port 0x61: bit 0 gates channel 2, bit 1 enables the speaker (ignored),
 * bit 4 toggles with DRAM refresh every 15 us, bit 5 is channel 2's OUT. */
static void port61_io(struct vm *vm, void *dev, uint64_t addr, uint8_t *data, unsigned len,
		      bool is_write)
{
	struct pit *p = dev;
	uint64_t now = dev_now(vm);
	if (is_write) {
		p->port61 = data[0] & 0x0f;
		pit_set_gate(&p->ch[2], data[0] & 1, now);
		return;
	}
	memset(data, 0, len);
	bool refresh = (now / 15085) & 1;
	data[0] = (uint8_t)(p->port61 | (refresh << 4) | (pit_out(&p->ch[2], now) << 5));
}

/* ---- channel 0 -> IRQ 0 */

static void irq0_pulse(struct vm *vm)
{
	irq_set(vm, 0, 1);
	irq_set(vm, 0, 0);
}

static void pit_poll_oneshot(struct vm *vm, struct pit_channel *c, uint64_t now)
{
	if (c->oneshot_fired || elapsed_ticks(c, now) < c->start)
		return;
	c->oneshot_fired = true;
	irq0_pulse(vm);
	vm->stats.timer_irqs++;
}

/* Ticks that were due but will never be delivered, for --stats. */
static void count_coalesced(struct vm *vm, uint64_t n)
{
	vm->stats.timer_coalesced += n;
}

static void deliver_tick(struct vm *vm, struct pit_channel *c, uint64_t now)
{
	irq0_pulse(vm);
	c->periods_done++;
	c->pulse_ns = now;
	c->busy = true;
	c->retry_ns = now; /* look again at the guest's next port write */
	c->next_pulse_ns = now + PIT_MIN_TICK_NS;
	vm->stats.timer_irqs++;
}

/* Is the guest done with the last tick (taken and EOIed)? When it is, the
 * time it spent is known: the next tick waits at least as long again, so
 * that the guest keeps half of the CPU whatever one interrupt costs on
 * this engine (a few us emulated, tens of us trapped). While it is not,
 * the VMM looks again soon after an EOI could have come (vm_deadline_check
 * catches the EOI write itself), or a period later if the tick has not
 * even been taken (interrupts off). */
static bool tick_finished(struct vm *vm, struct pit_channel *c, uint64_t now)
{
	if (!c->busy)
		return true;
	uint64_t period = ticks_to_ns(c->start);
	if (pic_irq_latched(vm, 0)) {
		c->retry_ns = now + (period > PIT_MIN_TICK_NS ? period : PIT_MIN_TICK_NS);
		return false;
	}
	if (pic_irq_in_service(vm, 0) && now - c->pulse_ns < PIT_MAX_HANDLER_NS) {
		c->retry_ns = c->pulse_ns; /* due now: polled at the EOI */
		return false;
	}
	c->busy = false;
	c->retry_ns = 0;
	uint64_t spent = now - c->pulse_ns;
	if (spent > PIT_MAX_HANDLER_NS)
		spent = PIT_MAX_HANDLER_NS; /* a guest that never EOIs IRQ 0 */
	if (now + spent > c->next_pulse_ns)
		c->next_pulse_ns = now + spent;
	return true;
}

/*
 * One tick per period, computed from the clock: the ticks due are
 * elapsed time / period, whenever the VMM gets to look. Missed periods (the
 * VMM was descheduled, or the guest was still handling the last tick) are
 * delivered one at a time, unless there are too many: then they are
 * counted as coalesced and only one is delivered. Delivered ticks are at
 * least PIT_MIN_TICK_NS apart and leave the guest as much time as it spent
 * in the previous one, so a guest that programs the highest rate (divisor
 * 1..2, ~1 MHz) gets a bounded interrupt rate and keeps running: a CPU
 * slower than the one the guest was written for cannot take a tick every
 * microsecond and do anything else.
 */
static void pit_poll_periodic(struct vm *vm, struct pit_channel *c, uint64_t now)
{
	uint64_t due = elapsed_ticks(c, now) / c->start;
	uint64_t backlog = due - c->periods_done;
	if (pic_irq_masked(vm, 0)) {
		c->busy = false;
		if (backlog == 0)
			return;
		irq0_pulse(vm); /* IRR latches masked requests: one waits for the unmask */
		count_coalesced(vm, backlog - 1);
		c->periods_done = due; /* the rest are not caught up on */
		return;
	}
	if (backlog > PIT_MAX_BACKLOG) {
		count_coalesced(vm, backlog - 1);
		c->periods_done = due - 1;
	}
	if (!tick_finished(vm, c, now) || backlog == 0 || now < c->next_pulse_ns)
		return;
	deliver_tick(vm, c, now);
}

void pit_poll(struct vm *vm, struct pit *p, uint64_t now)
{
	struct pit_channel *c = &p->ch[0];
	if (!c->running)
		return;
	if (periodic(c))
		pit_poll_periodic(vm, c, now);
	else if (c->mode == 0 || c->mode == 4)
		pit_poll_oneshot(vm, c, now);
}

uint64_t pit_next_deadline(struct pit *p)
{
	const struct pit_channel *c = &p->ch[0];
	if (!c->running)
		return UINT64_MAX;
	if (periodic(c)) {
		if (c->busy)
			return c->retry_ns;
		uint64_t next = c->start_ns + ticks_to_ns((c->periods_done + 1) * c->start);
		return next > c->next_pulse_ns ? next : c->next_pulse_ns;
	}
	if ((c->mode == 0 || c->mode == 4) && !c->oneshot_fired)
		return c->start_ns + ticks_to_ns(c->start);
	return UINT64_MAX;
}

int pit_init(struct vm *vm, struct pit *p)
{
	memset(p, 0, sizeof *p);
	for (int i = 0; i < 3; i++) {
		p->ch[i].gate = i != 2; /* channels 0 and 1 are always gated on */
		p->ch[i].access = 3;
		p->ch[i].out_frozen = true;
	}
	if (bus_register(&vm->pio, 0x40, 4, pit_io, p, "pit") < 0 ||
	    bus_register(&vm->pio, 0x61, 1, port61_io, p, "system control port b") < 0)
		return -1;
	return 0;
}
