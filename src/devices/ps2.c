/*
 * 8042 PS/2 controller at 0x60 (data) and 0x64 (status/command), enough for
 * what guests ask of it with no keyboard attached: the controller
 * configuration byte, the self tests, enabling and disabling the ports, the
 * output port, and the reset line, which is how a PC reboots; ringvm ends
 * the run instead (status 0, like a guest that powered off).
 *
 * It is a PS/2-type controller with both ports (keyboard and AUX) and
 * nothing plugged in. Like the real one it answers the AUX interface test
 * (0xa9) and echoes a byte written with 0xd2/0xd3 as if the keyboard or
 * the mouse had sent it, raising IRQ 1 or IRQ 12 when the configuration
 * byte enables it. That is how Linux's i8042 driver finds the AUX port and
 * its interrupt: a controller that ignored those commands made it wait
 * for two 500 ms timeouts at every boot.
 *
 * Left out: a keyboard and a mouse (bytes sent to them are counted and
 * dropped), the A20 gate (A20 is always enabled).
 */
#include <string.h>

#include "devices_priv.h"

#define ST_OBF 0x01	  /* output buffer full */
#define ST_SYS 0x04	  /* system flag: the self test passed */
#define ST_CMD 0x08	  /* the last write was to 0x64 */
#define ST_UNLOCKED 0x10  /* keyboard not inhibited */
#define ST_AUXDATA 0x20	  /* the output buffer holds a byte from the AUX port */
#define CFG_KBD_INT 0x01  /* IRQ 1 when a keyboard-side byte arrives */
#define CFG_AUX_INT 0x02  /* IRQ 12 when an AUX-side byte arrives */
#define CFG_SYS 0x04
#define CFG_KBD_OFF 0x10
#define CFG_AUX_OFF 0x20

#define KBD_IRQ 1
#define AUX_IRQ 12

/* The interrupt lines follow the output buffer: up while it holds a byte
 * from a port whose interrupt the configuration byte enables. */
static void ps2_update_irqs(struct vm *vm, const struct ps2 *p)
{
	bool full = p->out_full && p->out_from_port;
	irq_set(vm, KBD_IRQ, full && !p->out_aux && (p->config & CFG_KBD_INT));
	irq_set(vm, AUX_IRQ, full && p->out_aux && (p->config & CFG_AUX_INT));
}

/* A reply of the controller itself (read by polling: no interrupt). */
static void ps2_reply(struct ps2 *p, uint8_t v)
{
	p->out = v;
	p->out_full = true;
	p->out_aux = false;
	p->out_from_port = false;
}

/* A byte that arrives from the keyboard or the AUX port (here only the
 * ones the guest echoes through 0xd2/0xd3). */
static void ps2_port_byte(struct vm *vm, struct ps2 *p, uint8_t v, bool aux)
{
	p->out = v;
	p->out_full = true;
	p->out_aux = aux;
	p->out_from_port = true;
	ps2_update_irqs(vm, p);
}

static void ps2_reset(struct vm *vm)
{
	vm_request_stop(vm, RINGVM_EXIT_POWEROFF, "guest reset the machine (PS/2 controller)");
}

static void ps2_command(struct vm *vm, struct ps2 *p, uint8_t cmd)
{
	p->status_flags |= ST_CMD;
	if (cmd >= 0xf0) { /* pulse output port bits whose mask bit is 0; bit 0 is reset */
		if (!(cmd & 1))
			ps2_reset(vm);
		return;
	}
	switch (cmd) {
	case 0x20: ps2_reply(p, p->config); break;
	case 0x60: /* write the configuration byte: it comes on 0x60 */
	case 0xd1: /* write the output port: likewise */
	case 0xd2: /* echo the next byte as if from the keyboard */
	case 0xd3: /* echo the next byte as if from the AUX device */
	case 0xd4: /* send the next byte to the AUX device */
		p->pending_cmd = cmd;
		break;
	case 0xa9: ps2_reply(p, 0x00); break; /* AUX interface test: no error */
	case 0xa7: p->config |= CFG_AUX_OFF; break;
	case 0xa8: p->config &= (uint8_t)~CFG_AUX_OFF; break;
	case 0xaa: /* controller self test: passed */
		p->config |= CFG_SYS;
		ps2_reply(p, 0x55);
		break;
	case 0xab: ps2_reply(p, 0x00); break; /* keyboard interface test: no error */
	case 0xad: p->config |= CFG_KBD_OFF; break;
	case 0xae: p->config &= (uint8_t)~CFG_KBD_OFF; break;
	case 0xd0: ps2_reply(p, 0x03); break; /* output port: reset line high, A20 on */
	default: stats_event(&vm->stats, "ps2", "unimplemented controller command"); break;
	}
}

static void ps2_data_write(struct vm *vm, struct ps2 *p, uint8_t v)
{
	uint8_t cmd = p->pending_cmd;
	p->pending_cmd = 0;
	p->status_flags &= (uint8_t)~ST_CMD;
	if (cmd == 0x60) {
		p->config = v;
		ps2_update_irqs(vm, p);
	} else if (cmd == 0xd1) {
		if (!(v & 1))
			ps2_reset(vm); /* output port bit 0 low: the CPU's reset line */
	} else if (cmd == 0xd2 || cmd == 0xd3) {
		ps2_port_byte(vm, p, v, cmd == 0xd3);
	} else if (cmd == 0xd4) {
		stats_event(&vm->stats, "ps2", "byte for the mouse (none attached)");
	} else {
		stats_event(&vm->stats, "ps2", "byte for the keyboard (none attached)");
	}
}

static uint8_t ps2_status(const struct ps2 *p)
{
	uint8_t st = (uint8_t)(p->status_flags | ST_UNLOCKED);
	if (p->out_full)
		st |= ST_OBF;
	if (p->out_full && p->out_aux)
		st |= ST_AUXDATA;
	if (p->config & CFG_SYS)
		st |= ST_SYS;
	return st;
}

static void ps2_io(struct vm *vm, void *dev, uint64_t addr, uint8_t *data, unsigned len,
		   bool is_write)
{
	struct ps2 *p = dev;
	if (is_write) {
		if (addr == 0x64)
			ps2_command(vm, p, data[0]);
		else
			ps2_data_write(vm, p, data[0]);
		return;
	}
	memset(data, 0, len);
	if (addr == 0x64) {
		data[0] = ps2_status(p);
	} else {
		data[0] = p->out; /* an empty buffer reads as the last byte again */
		p->out_full = false;
		ps2_update_irqs(vm, p);
	}
}

int ps2_init(struct vm *vm, struct ps2 *p)
{
	memset(p, 0, sizeof *p);
	/* As a BIOS leaves it: keyboard interrupt on, system flag, translation. */
	p->config = 0x45;
	if (bus_register(&vm->pio, 0x60, 1, ps2_io, p, "ps/2 controller data") < 0 ||
	    bus_register(&vm->pio, 0x64, 1, ps2_io, p, "ps/2 controller") < 0)
		return -1;
	return 0;
}
