/*
 * 8042 PS/2 controller at 0x60 (data) and 0x64 (status/command), as a
 * PS/2-type controller with a keyboard port and an AUX (mouse) port and
 * nothing plugged into either: the controller configuration byte, the self
 * and interface tests, enabling and disabling the ports, the loopback
 * commands (a byte written back as if the keyboard or the mouse had sent
 * it), IRQ 1 and IRQ 12 for output from each port, the output port, and the
 * reset line, which is how a PC reboots; ringvm ends the run instead
 * (status 0, like a guest that powered off).
 *
 * A byte sent to a device answers as real controllers do when none is
 * attached: 0xFE with the timeout bit set. Linux probes exactly this: a
 * controller that ignored the AUX loopback and test commands made its
 * i8042 driver wait out two 500 ms timeouts on every boot.
 *
 * Left out: a keyboard and a mouse, the A20 gate (A20 is always enabled).
 */
#include <string.h>

#include "devices_priv.h"

#define ST_OBF 0x01	  /* output buffer full */
#define ST_SYS 0x04	  /* system flag: the self test passed */
#define ST_CMD 0x08	  /* the last write was to 0x64 */
#define ST_UNLOCKED 0x10  /* keyboard not inhibited */
#define ST_AUX 0x20	  /* the output buffer holds a byte from the AUX port */
#define ST_TIMEOUT 0x40	  /* the device did not answer */
#define CFG_KBD_IRQ 0x01
#define CFG_AUX_IRQ 0x02
#define CFG_SYS 0x04
#define CFG_KBD_OFF 0x10
#define CFG_AUX_OFF 0x20

#define KBD_IRQ 1
#define AUX_IRQ 12

/* IRQ 1 and IRQ 12 are levels: high while the output buffer holds a byte
 * from that port and the configuration byte enables its interrupt. */
static void ps2_update_irq(struct vm *vm, struct ps2 *p)
{
	bool kbd = p->out_full && !p->out_aux && (p->config & CFG_KBD_IRQ);
	bool aux = p->out_full && p->out_aux && (p->config & CFG_AUX_IRQ);
	irq_set(vm, KBD_IRQ, kbd);
	irq_set(vm, AUX_IRQ, aux);
}

/* A byte in the output buffer, from the AUX port or not (the controller's
 * own answers come as keyboard-side bytes, and interrupt as such). */
static void ps2_output(struct vm *vm, struct ps2 *p, uint8_t v, bool aux, bool timeout)
{
	p->out = v;
	p->out_full = true;
	p->out_aux = aux;
	if (timeout)
		p->status_flags |= ST_TIMEOUT;
	ps2_update_irq(vm, p);
}

static void ps2_reply(struct vm *vm, struct ps2 *p, uint8_t v)
{
	ps2_output(vm, p, v, false, false);
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
	case 0x20: ps2_reply(vm, p, p->config); break;
	case 0x60: /* write the configuration byte: it comes on 0x60 */
	case 0xd1: /* write the output port: likewise */
	case 0xd2: /* loopback as keyboard data: likewise */
	case 0xd3: /* loopback as AUX data: likewise */
	case 0xd4: /* a byte for the AUX device: likewise */
		p->pending_cmd = cmd;
		break;
	case 0xa7: p->config |= CFG_AUX_OFF; break;
	case 0xa8: p->config &= (uint8_t)~CFG_AUX_OFF; break;
	case 0xa9: ps2_reply(vm, p, 0x00); break; /* AUX interface test: no error */
	case 0xaa: /* controller self test: passed */
		p->config |= CFG_SYS;
		ps2_reply(vm, p, 0x55);
		break;
	case 0xab: ps2_reply(vm, p, 0x00); break; /* keyboard interface test: no error */
	case 0xad: p->config |= CFG_KBD_OFF; break;
	case 0xae: p->config &= (uint8_t)~CFG_KBD_OFF; break;
	case 0xd0: ps2_reply(vm, p, 0x03); break; /* output port: reset line high, A20 on */
	default: stats_event(&vm->stats, "ps2", "unimplemented controller command"); break;
	}
}

static void ps2_data_write(struct vm *vm, struct ps2 *p, uint8_t v)
{
	uint8_t cmd = p->pending_cmd;
	p->pending_cmd = 0;
	p->status_flags &= (uint8_t)~(ST_CMD | ST_TIMEOUT);
	switch (cmd) {
	case 0x60:
		p->config = v;
		ps2_update_irq(vm, p);
		break;
	case 0xd1:
		if (!(v & 1))
			ps2_reset(vm); /* output port bit 0 low: the CPU's reset line */
		break;
	case 0xd2: ps2_output(vm, p, v, false, false); break;
	case 0xd3: ps2_output(vm, p, v, true, false); break;
	case 0xd4:
		stats_event(&vm->stats, "ps2", "byte for the mouse (none attached)");
		ps2_output(vm, p, 0xfe, true, true);
		break;
	default:
		stats_event(&vm->stats, "ps2", "byte for the keyboard (none attached)");
		ps2_output(vm, p, 0xfe, false, true);
		break;
	}
}

static uint8_t ps2_status(const struct ps2 *p)
{
	uint8_t st = (uint8_t)(p->status_flags | ST_UNLOCKED);
	if (p->out_full)
		st |= ST_OBF;
	if (p->out_full && p->out_aux)
		st |= ST_AUX;
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
		ps2_update_irq(vm, p);
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
