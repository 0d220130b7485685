/*
 * The IOAPIC (82093AA-like, --machine pc) at 0xfec00000: 24 redirection
 * entries that turn interrupt lines into messages to the local APIC. A
 * kernel that masks the 8259s routes the PIT, COM1 and the disk through
 * here. ISA IRQ n is pin n, except the PIT's IRQ 0, which is pin 2, as on
 * every PC with an IOAPIC (the MP table's and MADT's interrupt source
 * override say so). The ISA lines reach the PIC and this chip both; the
 * guest masks the one it does not use.
 *
 * Edge-triggered pins deliver on a rising edge; level-triggered ones while
 * asserted, once until the local APIC's EOI clears Remote IRR. Polarity is
 * taken as programmed but every source here is active-high, so an
 * active-low pin is driven by the inverted line (what the wire would do).
 * Delivery modes: fixed and lowest priority (one CPU: the same thing);
 * others are counted (--stats) and dropped.
 */
#include <stdlib.h>
#include <string.h>

#include "devices_priv.h"

#define IOAPIC_BASE 0xfec00000u
#define IOAPIC_PINS 24
#define IOAPIC_VERSION (0x11u | (IOAPIC_PINS - 1u) << 16)
#define IOAPIC_ID 1 /* the local APIC is 0; the MP table and MADT say 1 */

#define RTE_MASKED (1ull << 16)
#define RTE_LEVEL (1ull << 15)
#define RTE_REMOTE_IRR (1ull << 14)
#define RTE_ACTIVE_LOW (1ull << 13)
#define RTE_DELIVERY_STATUS (1ull << 12)
#define RTE_LOGICAL (1ull << 11)
#define RTE_WRITABLE 0xff0000000001afffull

struct ioapic {
	uint32_t id, sel;
	uint64_t rte[IOAPIC_PINS];
	uint32_t lines; /* input levels, as the devices drive them */
};

static const struct device_ops ioapic_ops;

static bool asserted(const struct ioapic *io, unsigned pin)
{
	bool high = io->lines & (1u << pin);
	return (io->rte[pin] & RTE_ACTIVE_LOW) ? !high : high;
}

static void deliver(struct vm *vm, struct ioapic *io, unsigned pin)
{
	uint64_t r = io->rte[pin];
	unsigned mode = (unsigned)(r >> 8) & 7u;
	if (mode > 1) {
		stats_event(&vm->stats, "ioapic", "unsupported delivery mode");
		return;
	}
	if (r & RTE_LEVEL)
		io->rte[pin] |= RTE_REMOTE_IRR;
	apic_bus_deliver(vm, (uint8_t)(r >> 56), r & RTE_LOGICAL, (uint8_t)r, r & RTE_LEVEL);
}

/* A level-triggered pin that is asserted, unmasked and not waiting for an
 * EOI sends its message (again). */
static void level_check(struct vm *vm, struct ioapic *io, unsigned pin)
{
	uint64_t r = io->rte[pin];
	if ((r & RTE_LEVEL) && !(r & (RTE_MASKED | RTE_REMOTE_IRR)) && asserted(io, pin))
		deliver(vm, io, pin);
}

static void ioapic_line(struct vm *vm, void *s, unsigned irq, bool level)
{
	struct ioapic *io = s;
	unsigned pin = irq == 0 ? 2 : irq;
	if (pin >= IOAPIC_PINS)
		return;
	bool was = asserted(io, pin);
	if (level)
		io->lines |= 1u << pin;
	else
		io->lines &= ~(1u << pin);
	uint64_t r = io->rte[pin];
	if (r & RTE_LEVEL)
		level_check(vm, io, pin);
	else if (!was && asserted(io, pin) && !(r & RTE_MASKED))
		deliver(vm, io, pin);
}

void apic_bus_eoi(struct vm *vm, uint8_t vector)
{
	struct ioapic *io = devices_state(vm, &ioapic_ops);
	if (!io)
		return;
	for (unsigned pin = 0; pin < IOAPIC_PINS; pin++)
		if ((io->rte[pin] & RTE_REMOTE_IRR) && (uint8_t)io->rte[pin] == vector) {
			io->rte[pin] &= ~RTE_REMOTE_IRR;
			level_check(vm, io, pin);
		}
}

static uint32_t reg_read(struct ioapic *io)
{
	uint32_t sel = io->sel;
	if (sel == 0)
		return io->id << 24;
	if (sel == 1)
		return IOAPIC_VERSION;
	if (sel == 2)
		return io->id << 24; /* arbitration ID */
	if (sel >= 0x10 && sel < 0x10 + 2 * IOAPIC_PINS) {
		uint64_t r = io->rte[(sel - 0x10) / 2];
		return (sel & 1) ? (uint32_t)(r >> 32) : (uint32_t)r;
	}
	return 0;
}

static void reg_write(struct vm *vm, struct ioapic *io, uint32_t v)
{
	uint32_t sel = io->sel;
	if (sel == 0) {
		io->id = (v >> 24) & 0xfu;
		return;
	}
	if (sel < 0x10 || sel >= 0x10 + 2 * IOAPIC_PINS)
		return;
	unsigned pin = (sel - 0x10) / 2;
	uint64_t r = io->rte[pin];
	uint64_t keep = r & ~RTE_WRITABLE; /* Remote IRR, delivery status */
	if (sel & 1)
		r = (r & 0xffffffffull) | (uint64_t)v << 32;
	else
		r = (r & 0xffffffff00000000ull) | v;
	io->rte[pin] = (r & RTE_WRITABLE) | keep;
	if (!(io->rte[pin] & RTE_LEVEL))
		io->rte[pin] &= ~RTE_REMOTE_IRR;
	level_check(vm, io, pin);
}

/* IOREGSEL at +0x00, IOWIN at +0x10, both 32 bits. */
static void ioapic_mmio(struct vm *vm, void *dev, uint64_t addr, uint8_t *data, unsigned len,
			bool is_write)
{
	struct ioapic *io = dev;
	uint32_t off = (uint32_t)(addr - IOAPIC_BASE), v = 0;
	if (is_write) {
		memcpy(&v, data, len < 4 ? len : 4);
		if (off == 0x00)
			io->sel = v & 0xffu;
		else if (off == 0x10 && len == 4)
			reg_write(vm, io, v);
		return;
	}
	if (off == 0x00)
		v = io->sel;
	else if (off >= 0x10 && off < 0x14)
		v = reg_read(io) >> (8 * (off - 0x10));
	memset(data, 0, len);
	memcpy(data, &v, len < 4 ? len : 4);
}

static void *ioapic_create(struct vm *vm)
{
	struct ioapic *io = calloc(1, sizeof *io);
	if (!io)
		return NULL;
	if (bus_register(&vm->mmio, IOAPIC_BASE, 0x1000, ioapic_mmio, io, "IOAPIC") < 0 ||
	    irq_listen(vm, ioapic_line, io) < 0) {
		free(io);
		return NULL;
	}
	return io;
}

static void ioapic_reset(struct vm *vm, void *s)
{
	struct ioapic *io = s;
	io->id = IOAPIC_ID;
	io->sel = 0;
	for (unsigned pin = 0; pin < IOAPIC_PINS; pin++)
		io->rte[pin] = RTE_MASKED;
}

static void ioapic_destroy(struct vm *vm, void *s)
{
	free(s);
}

static const struct device_ops ioapic_ops = { "IOAPIC", 110, MACHINE_PC, ioapic_create,
					      ioapic_reset, NULL, NULL, ioapic_destroy };
DEVICE_REGISTER(ioapic_ops);
