/*
 * 16550A UART on COM1 (0x3F8-0x3FF, IRQ 4): the guest's console.
 *
 * Transmit is instant: a byte written to THR goes straight to stdout, so
 * THRE and TEMT are always set. Receive comes from stdin, read without
 * blocking in devices_poll into a ring; the 16-byte receive FIFO is the head
 * of that ring (1 byte when FIFOs are off), so input piped in faster than
 * the guest reads it waits on the host side instead of overrunning.
 *
 * Implemented: RBR/THR, IER, IIR (0xC0 with FIFOs), FCR (enable, trigger
 * level), LCR with the divisor latch, MCR with loopback, LSR, MSR (a
 * connected modem: DCD, DSR, CTS; MCR's outputs in loopback), SCR, and the
 * interrupts for received data, THR empty and modem status.
 * Left out: line-status interrupts (no parity/framing/overrun errors ever
 * happen), the receive timeout delay (data below the trigger level is
 * reported as a timeout at once), MCR OUT2 gating of the IRQ line (as in
 * QEMU, the IRQ does not depend on it), and FCR's "clear receive FIFO",
 * which keeps host input not yet read by the guest (so input typed or piped
 * before the guest's driver starts is not lost).
 */
#include <errno.h>
#include <poll.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "devices_priv.h"

#define COM1 0x3f8
#define COM1_IRQ 4
#define OUT_STALL_MS 1000 /* how long a full stdout pipe may hold the guest */

enum { RBR_THR, IER, IIR_FCR, LCR, MCR, LSR, MSR, SCR };

#define LCR_DLAB 0x80
#define MCR_LOOP 0x10
#define LSR_DR 0x01
#define LSR_THRE 0x20
#define LSR_TEMT 0x40
#define IER_RDA 0x01
#define IER_THRE 0x02
#define IER_MS 0x08
#define FCR_ENABLE 0x01
#define IIR_NONE 0x01
#define IIR_MS 0x00
#define IIR_THRE 0x02
#define IIR_RDA 0x04
#define IIR_TIMEOUT 0x0c

/* ---- receive ring */

static unsigned fifo_level(const struct uart *u)
{
	unsigned depth = (u->fcr & FCR_ENABLE) ? 16 : 1;
	return u->rx_count < depth ? u->rx_count : depth;
}

static void rx_push(struct uart *u, uint8_t b)
{
	if (u->rx_count == UART_RX_RING)
		return; /* only loopback can get here: a real UART would overrun too */
	u->rx[(u->rx_head + u->rx_count++) % UART_RX_RING] = b;
}

static uint8_t rx_pop(struct uart *u)
{
	if (u->rx_count == 0)
		return u->last_rx;
	u->last_rx = u->rx[u->rx_head];
	u->rx_head = (u->rx_head + 1) % UART_RX_RING;
	u->rx_count--;
	return u->last_rx;
}

/* ---- interrupts */

static unsigned rx_trigger(const struct uart *u)
{
	static const unsigned levels[4] = { 1, 4, 8, 14 };
	return (u->fcr & FCR_ENABLE) ? levels[u->fcr >> 6] : 1;
}

/* The interrupt identification, highest priority first. */
static uint8_t uart_iir_id(const struct uart *u)
{
	if ((u->ier & IER_RDA) && u->rx_count)
		return fifo_level(u) >= rx_trigger(u) ? IIR_RDA : IIR_TIMEOUT;
	if ((u->ier & IER_THRE) && u->thre_pending)
		return IIR_THRE;
	if ((u->ier & IER_MS) && (u->msr & 0x0f))
		return IIR_MS;
	return IIR_NONE;
}

static void uart_update_irq(struct vm *vm, struct uart *u)
{
	bool level = uart_iir_id(u) != IIR_NONE;
	if (level == u->irq_level)
		return;
	u->irq_level = level;
	irq_set(vm, COM1_IRQ, level);
}

/* ---- output */

/* Waits until stdout can take a byte, for at most OUT_STALL_MS; after one
 * such wait has expired, does not wait again until a write goes through,
 * so a reader that went away costs the guest one second, not one per byte. */
static bool out_wait(struct uart *u)
{
	if (!u->out_pollable)
		return true;
	struct pollfd pfd = { .fd = u->out_fd, .events = POLLOUT };
	int r;
	do
		r = poll(&pfd, 1, u->out_stalled ? 0 : OUT_STALL_MS);
	while (r < 0 && errno == EINTR);
	if (r == 0)
		u->out_stalled = true;
	return r > 0;
}

/* A write that failed for good (EPIPE, EBADF, EIO, ENOSPC): stdout is gone.
 * A reader that went away is not an error of ringvm's; anything else (a
 * full disk) ends the run with status 6 (main.c). */
static void out_gone(struct vm *vm, struct uart *u, int err)
{
	u->out_dead = true;
	if (err != EPIPE && !vm->output_errno)
		vm->output_errno = err;
	stats_event(&vm->stats, "uart", "stdout gone: output dropped");
}

static void uart_output(struct vm *vm, struct uart *u, uint8_t b)
{
	if (u->out_dead)
		return;
	for (int tries = 0; tries < 100; tries++) {
		if (!out_wait(u))
			break;
		ssize_t n = write(u->out_fd, &b, 1);
		if (n == 1) {
			u->out_stalled = false;
			return;
		}
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && errno == EAGAIN)
			continue; /* out_wait bounds this */
		out_gone(vm, u, n < 0 ? errno : EIO);
		return;
	}
	stats_event(&vm->stats, "uart", "stdout stalled: byte dropped");
}

/* ---- registers */

static void uart_thr_write(struct vm *vm, struct uart *u, uint8_t v)
{
	/* THR is full for a moment: the THRE interrupt drops, then rises again
	 * once the byte is sent, which gives the edge-triggered PIC an edge. */
	u->thre_pending = false;
	uart_update_irq(vm, u);
	if (u->mcr & MCR_LOOP)
		rx_push(u, v);
	else
		uart_output(vm, u, v);
	u->thre_pending = true;
}

/* In loopback the modem inputs are wired to MCR's outputs: RTS->CTS,
 * DTR->DSR, OUT1->RI, OUT2->DCD. Otherwise: a modem that is always there. */
static uint8_t msr_lines(uint8_t mcr)
{
	if (!(mcr & MCR_LOOP))
		return 0xb0;
	return (uint8_t)(((mcr & 0x02) << 3) | ((mcr & 0x01) << 5) | ((mcr & 0x04) << 4) |
			 ((mcr & 0x08) << 4));
}

/* New modem lines: set the delta bits (bit 2 is "RI trailing edge"). */
static void msr_set(struct uart *u, uint8_t lines)
{
	uint8_t old = u->msr & 0xf0, changed = old ^ lines;
	uint8_t delta = (uint8_t)((changed >> 4) & 0x0b);
	if ((old & 0x40) && !(lines & 0x40))
		delta |= 0x04;
	u->msr = (uint8_t)(lines | (u->msr & 0x0f) | delta);
}

static void uart_write(struct vm *vm, struct uart *u, unsigned reg, uint8_t v)
{
	bool dlab = u->lcr & LCR_DLAB;
	switch (reg) {
	case RBR_THR:
		if (dlab)
			u->dll = v;
		else
			uart_thr_write(vm, u, v);
		break;
	case IER:
		if (dlab) {
			u->dlm = v;
			break;
		}
		/* Enabling the THRE interrupt with THR empty raises it at once. */
		if ((v & IER_THRE) && !(u->ier & IER_THRE))
			u->thre_pending = true;
		u->ier = v & 0x0f;
		break;
	case IIR_FCR:
		u->fcr = v & 0xc1; /* bits 1-2 (clear FIFOs) are self-clearing */
		if (!(v & FCR_ENABLE))
			u->fcr = 0;
		break;
	case LCR: u->lcr = v; break;
	case MCR:
		u->mcr = v & 0x1f;
		msr_set(u, msr_lines(u->mcr));
		break;
	case SCR: u->scr = v; break;
	default: break; /* LSR and MSR are read-only */
	}
	uart_update_irq(vm, u);
}

static uint8_t uart_iir_read(struct uart *u)
{
	uint8_t id = uart_iir_id(u);
	if (id == IIR_THRE)
		u->thre_pending = false; /* reading IIR acknowledges THRE */
	return (uint8_t)(id | ((u->fcr & FCR_ENABLE) ? 0xc0 : 0));
}

static uint8_t uart_read(struct vm *vm, struct uart *u, unsigned reg)
{
	bool dlab = u->lcr & LCR_DLAB;
	uint8_t v = 0;
	switch (reg) {
	case RBR_THR: v = dlab ? u->dll : rx_pop(u); break;
	case IER: v = dlab ? u->dlm : u->ier; break;
	case IIR_FCR: v = uart_iir_read(u); break;
	case LCR: v = u->lcr; break;
	case MCR: v = u->mcr; break;
	case LSR: v = (uint8_t)(LSR_THRE | LSR_TEMT | (u->rx_count ? LSR_DR : 0)); break;
	case MSR:
		v = u->msr;
		u->msr &= 0xf0; /* reading MSR clears the deltas */
		break;
	case SCR: v = u->scr; break;
	}
	uart_update_irq(vm, u);
	return v;
}

static void uart_io(struct vm *vm, void *dev, uint64_t addr, uint8_t *data, unsigned len,
		    bool is_write)
{
	struct uart *u = dev;
	unsigned reg = (unsigned)(addr - COM1);
	if (is_write) {
		uart_write(vm, u, reg, data[0]);
		return;
	}
	memset(data, 0, len);
	data[0] = uart_read(vm, u, reg);
}

/* ---- input from stdin */

/* Reads what stdin has, without blocking (the fd is non-blocking or a
 * terminal in raw mode with VMIN=0). EOF means no more input, ever. */
void uart_poll(struct vm *vm, struct uart *u)
{
	if (u->in_fd < 0 || u->in_eof || (u->mcr & MCR_LOOP) || u->rx_count == UART_RX_RING)
		return;
	unsigned tail = (u->rx_head + u->rx_count) % UART_RX_RING;
	unsigned room = UART_RX_RING - u->rx_count;
	if (room > UART_RX_RING - tail)
		room = UART_RX_RING - tail; /* up to the end of the ring; the rest next time */
	ssize_t n = read(u->in_fd, u->rx + tail, room);
	if (n == 0 && !u->in_tty)
		u->in_eof = true; /* a raw terminal with VMIN=0 returns 0 for "nothing yet" */
	if (n < 0 && errno != EAGAIN && errno != EINTR)
		u->in_eof = true;
	if (n > 0) {
		u->rx_count += (unsigned)n;
		uart_update_irq(vm, u);
	}
}

/* The PV console hypercall: bytes go where COM1's transmitter sends them,
 * with the same flow control as uart_output, but in one write(2) when the
 * output takes them all. */
void uart_console_write(struct vm *vm, const uint8_t *buf, size_t n)
{
	struct uart *u = &vm->dev->uart;
	for (int tries = 0; n && !u->out_dead && tries < 100; tries++) {
		if (!out_wait(u))
			break;
		ssize_t k = write(u->out_fd, buf, n);
		if (k > 0) {
			u->out_stalled = false;
			buf += k;
			n -= (size_t)k;
			tries = -1; /* progress: the bound counts failures in a row */
			continue;
		}
		if (k < 0 && (errno == EINTR || errno == EAGAIN))
			continue;
		out_gone(vm, u, k < 0 ? errno : EIO);
		return;
	}
	if (n && !u->out_dead)
		stats_event(&vm->stats, "uart", "stdout stalled: bytes dropped");
}

int uart_input_fd(struct uart *u)
{
	if (u->in_fd < 0 || u->in_eof || (u->mcr & MCR_LOOP) || u->rx_count == UART_RX_RING)
		return -1; /* nothing uart_poll would read now */
	return u->in_fd;
}

int uart_init(struct vm *vm, struct uart *u)
{
	memset(u, 0, sizeof *u);
	u->in_fd = 0;
	u->out_fd = 1;
	u->msr = msr_lines(0);
	u->thre_pending = false;
	struct stat st;
	if (fstat(u->out_fd, &st) == 0)
		u->out_pollable = S_ISFIFO(st.st_mode) || S_ISSOCK(st.st_mode);
	if (fstat(u->in_fd, &st) < 0 || terminal_setup(u->in_fd) < 0)
		u->in_fd = -1; /* stdin closed, or a terminal we may not read: no input */
	else
		u->in_tty = isatty(u->in_fd);
	return bus_register(&vm->pio, COM1, 8, uart_io, u, "com1 (16550a uart)");
}

void uart_destroy(struct uart *u)
{
	(void)u;
	devices_restore_terminal();
}
