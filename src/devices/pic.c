/*
 * 8259A programmable interrupt controllers: master at 0x20-0x21 (IRQ 0-7),
 * slave at 0xA0-0xA1 (IRQ 8-15) cascaded on the master's IRQ 2, as on every
 * PC since the AT.
 *
 * Implemented: the ICW1-ICW4 init sequence, IMR (OCW1), OCW2 (non-specific,
 * specific and rotating EOIs, set priority, rotate in AEOI), OCW3 (read IRR
 * or ISR, poll command), edge-triggered inputs, auto-EOI, spurious IRQ 7/15.
 * Left out: level-triggered mode (ICW1 LTIM, ELCR at 0x4D0: ports left
 * unclaimed), special mask mode, special fully nested mode, buffered mode.
 */
#include <string.h>

#include "devices_priv.h"

enum { MASTER, SLAVE };
#define CASCADE_IRQ 2

/* Priority of irq on chip c: 0 is the highest. Rotation moves prio_low. */
static unsigned prio_of(const struct pic_chip *c, unsigned irq)
{
	return (irq - c->prio_low - 1) & 7;
}

/* The highest-priority IRQ set in mask, or -1. */
static int highest(const struct pic_chip *c, uint8_t mask)
{
	for (unsigned p = 0; p < 8; p++) {
		unsigned irq = (p + c->prio_low + 1) & 7;
		if (mask & (1u << irq))
			return (int)irq;
	}
	return -1;
}

/* The IRQ this chip asserts INT for: requested, unmasked, and of higher
 * priority than everything in service (fully nested mode). */
static int chip_output(const struct pic_chip *c)
{
	int irq = highest(c, c->irr & ~c->imr);
	if (irq < 0)
		return -1;
	int busy = highest(c, c->isr);
	if (busy >= 0 && prio_of(c, (unsigned)busy) <= prio_of(c, (unsigned)irq))
		return -1;
	return irq;
}

/* An edge-triggered input: a rising level latches IRR; IRR stays latched
 * until acknowledged, whatever the line does afterwards. */
static void chip_input(struct pic_chip *c, unsigned irq, bool level)
{
	uint8_t bit = (uint8_t)(1u << irq);
	if (level && !(c->lines & bit))
		c->irr |= bit;
	if (level)
		c->lines |= bit;
	else
		c->lines &= (uint8_t)~bit;
}

/* The slave's INT pin drives the master's IRQ 2 input. */
static void cascade_update(struct pic *p)
{
	chip_input(&p->chip[MASTER], CASCADE_IRQ, chip_output(&p->chip[SLAVE]) >= 0);
}

void pic_set_irq(struct vm *vm, unsigned irq, bool level)
{
	struct pic *p = &vm->dev->pic;
	if (irq == CASCADE_IRQ)
		irq = 9; /* the AT wired the ISA bus's IRQ 2 line to IRQ 9 */
	if (irq >= 16)
		return;
	if (irq < 8) {
		chip_input(&p->chip[MASTER], irq, level);
	} else {
		chip_input(&p->chip[SLAVE], irq - 8, level);
		cascade_update(p);
	}
}

bool pic_irq_latched(struct vm *vm, unsigned irq)
{
	const struct pic *p = &vm->dev->pic;
	return irq < 16 && (p->chip[irq >> 3].irr & (1u << (irq & 7)));
}

bool pic_irq_in_service(struct vm *vm, unsigned irq)
{
	const struct pic *p = &vm->dev->pic;
	return irq < 16 && (p->chip[irq >> 3].isr & (1u << (irq & 7)));
}

bool pic_irq_masked(struct vm *vm, unsigned irq)
{
	const struct pic *p = &vm->dev->pic;
	return irq < 16 && (p->chip[irq >> 3].imr & (1u << (irq & 7)));
}

bool pic_has_interrupt(struct vm *vm)
{
	struct pic *p = &vm->dev->pic;
	/* The vCPU samples INTR: remember what it saw, for pic_acknowledge. */
	p->intr_seen = chip_output(&p->chip[MASTER]) >= 0;
	return p->intr_seen;
}

/* One chip's half of the INTA cycle: IRR -> ISR (unless auto-EOI). Returns
 * the IRQ, or 7 (spurious: INT went away before the acknowledge; ISR untouched). */
static unsigned chip_ack(struct pic_chip *c)
{
	int irq = chip_output(c);
	if (irq < 0)
		return 7;
	uint8_t bit = (uint8_t)(1u << irq);
	c->irr &= (uint8_t)~bit;
	if (!c->auto_eoi)
		c->isr |= bit;
	else if (c->rotate_on_aeoi)
		c->prio_low = (uint8_t)irq;
	return (unsigned)irq;
}

/* The INTA cycle: the master answers, or hands it to the slave for IRQ 2. */
static int pic_ack(struct pic *p)
{
	struct pic_chip *m = &p->chip[MASTER], *s = &p->chip[SLAVE];
	unsigned irq = chip_ack(m);
	int vector = m->base + irq;
	if (irq == CASCADE_IRQ) {
		vector = s->base + chip_ack(s);
		/* Reset the cascade's edge detector so that a slave still
		 * asserting INT (another request waiting) latches IRQ 2 again. */
		m->lines &= (uint8_t)~(1u << CASCADE_IRQ);
	}
	cascade_update(p);
	return vector;
}

int pic_acknowledge(struct vm *vm)
{
	struct pic *p = &vm->dev->pic;
	bool seen = p->intr_seen;
	p->intr_seen = false;
	/* With nothing asserted, an INTA the vCPU never had reason for gets
	 * -1; one that follows a sampled INTR gets the spurious IRQ 7. */
	if (chip_output(&p->chip[MASTER]) < 0 && !seen)
		return -1;
	return pic_ack(p);
}

/* ---- port interface */

static void icw1(struct pic_chip *c, uint8_t v)
{
	c->icw4_needed = v & 0x01;
	c->single = v & 0x02;
	c->icw_step = 2;
	/* The init sequence clears IMR, ISR and the requests, restores the
	 * default priorities and selects IRR for reading (8259A datasheet). */
	c->imr = c->isr = c->irr = 0;
	c->prio_low = 7;
	c->read_isr = c->poll = false;
	c->auto_eoi = c->rotate_on_aeoi = false;
}

static void icw_data(struct pic_chip *c, uint8_t v)
{
	switch (c->icw_step) {
	case 2:
		c->base = v & 0xf8;
		c->icw_step = c->single ? (c->icw4_needed ? 4 : 0) : 3;
		break;
	case 3: /* cascade wiring: fixed on a PC */
		c->icw_step = c->icw4_needed ? 4 : 0;
		break;
	case 4:
		c->auto_eoi = v & 0x02;
		c->icw_step = 0;
		break;
	}
}

static void eoi(struct pic_chip *c, int irq, bool rotate)
{
	if (irq < 0)
		return;
	c->isr &= (uint8_t)~(1u << irq);
	if (rotate)
		c->prio_low = (uint8_t)irq;
}

static void ocw2(struct pic_chip *c, uint8_t v)
{
	unsigned level = v & 7;
	switch (v >> 5) {
	case 0: c->rotate_on_aeoi = false; break;
	case 4: c->rotate_on_aeoi = true; break;
	case 1: eoi(c, highest(c, c->isr), false); break;
	case 5: eoi(c, highest(c, c->isr), true); break;
	case 3: eoi(c, (int)level, false); break;
	case 7: eoi(c, (int)level, true); break;
	case 6: c->prio_low = (uint8_t)level; break;
	default: break; /* 2: no operation */
	}
}

static void ocw3(struct pic_chip *c, uint8_t v)
{
	if (v & 0x04)
		c->poll = true;
	if (v & 0x02)
		c->read_isr = v & 0x01;
}

static void pic_write(struct pic *p, struct pic_chip *c, bool a0, uint8_t v)
{
	if (!a0 && (v & 0x10))
		icw1(c, v);
	else if (!a0 && (v & 0x08))
		ocw3(c, v);
	else if (!a0)
		ocw2(c, v);
	else if (c->icw_step)
		icw_data(c, v);
	else
		c->imr = v;
	cascade_update(p);
}

/* Poll command: the read acknowledges like an INTA and returns 0x80 | level
 * if a request was waiting, else 0. */
static uint8_t pic_poll_read(struct pic *p, struct pic_chip *c)
{
	c->poll = false;
	if (chip_output(c) < 0)
		return 0;
	unsigned irq = chip_ack(c);
	if (c == &p->chip[SLAVE])
		cascade_update(p);
	return (uint8_t)(0x80 | irq);
}

static uint8_t pic_read(struct pic *p, struct pic_chip *c, bool a0)
{
	if (c->poll)
		return pic_poll_read(p, c);
	if (a0)
		return c->imr;
	return c->read_isr ? c->isr : c->irr;
}

static void pic_io(struct vm *vm, void *dev, uint64_t addr, uint8_t *data, unsigned len,
		   bool is_write)
{
	struct pic *p = dev;
	struct pic_chip *c = &p->chip[addr >= 0xa0 ? SLAVE : MASTER];
	bool a0 = addr & 1;
	if (is_write) {
		pic_write(p, c, a0, data[0]);
		return;
	}
	memset(data, 0, len);
	data[0] = pic_read(p, c, a0);
}

int pic_init(struct vm *vm, struct pic *p)
{
	memset(p, 0, sizeof *p);
	for (int i = 0; i < 2; i++) {
		p->chip[i].prio_low = 7;
		p->chip[i].base = i ? 0x70 : 0x08; /* the BIOS's values until the guest reprograms */
	}
	if (bus_register(&vm->pio, 0x20, 2, pic_io, p, "pic master") < 0 ||
	    bus_register(&vm->pio, 0xa0, 2, pic_io, p, "pic slave") < 0)
		return -1;
	return 0;
}
