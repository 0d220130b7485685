/*
 * The devices' own state, shared by the files in src/devices/ and their unit tests.
 * The VM core sees none of this: it only knows src/devices/devices.h.
 */
#ifndef RINGVM_DEVICES_PRIV_H
#define RINGVM_DEVICES_PRIV_H

#include <stdbool.h>
#include <stdint.h>

#include "devices.h"
#include "vm/vm.h"

/* ---- 8259A: one chip; the pair is master (IRQ 0-7) + slave (8-15 on IRQ 2). */
struct pic_chip {
	uint8_t irr, isr, imr;
	uint8_t lines;	      /* input levels last seen, for edge detection */
	uint8_t base;	      /* vector of IRQ 0 on this chip (ICW2) */
	uint8_t prio_low;     /* rotation: the IRQ with the lowest priority */
	uint8_t icw_step;     /* 0 ready, 2/3/4: the next write to A0=1 is that ICW */
	bool icw4_needed, single;
	bool auto_eoi, rotate_on_aeoi;
	bool read_isr;	      /* OCW3: A0=0 reads ISR instead of IRR */
	bool poll;	      /* OCW3 poll command: the next read is an INTA */
};

struct pic {
	struct pic_chip chip[2]; /* [0] master, [1] slave */
	bool intr_seen;		 /* the vCPU saw INTR high and has not acknowledged yet */
};

/* ---- 8254 */
struct pit_channel {
	uint8_t mode;	     /* 0-5 */
	uint8_t access;	     /* 1 lobyte, 2 hibyte, 3 lobyte then hibyte */
	bool bcd_requested;  /* counted as binary; see pit.c */
	uint16_t reload;     /* as written; 0 means 65536 */
	uint8_t write_lo;
	bool write_hi_next, read_hi_next;
	bool count_latched, latch_hi_next, status_latched;
	uint16_t latch;
	uint8_t status;
	bool null_count;     /* a count was written but not yet loaded */
	bool gate;
	bool running;	     /* counting from start at start_ns */
	uint32_t start;	     /* count at start_ns, 1..65536 */
	uint64_t start_ns;
	uint16_t frozen;     /* count shown while not running */
	bool out_frozen;     /* OUT while not running */
	/* Channel 0 only (see pit_poll_periodic): periods accounted for since
	 * start_ns; the last tick delivered and whether the guest is still
	 * handling it; the earliest time the next one may be delivered; when
	 * to look again while the guest has not finished the last one. */
	uint64_t periods_done;
	uint64_t pulse_ns;
	bool busy;
	uint64_t next_pulse_ns;
	uint64_t retry_ns;
	bool oneshot_fired;
};

struct pit {
	struct pit_channel ch[3];
	uint8_t port61; /* bits 0-3 of system control port B as written */
};

/* ---- 16550A */
#define UART_RX_RING 4096

struct uart {
	uint8_t ier, lcr, mcr, msr, scr, dll, dlm, fcr;
	bool thre_pending;   /* THR-empty interrupt waiting (cleared by an IIR read) */
	bool irq_level;	     /* what we last told the PIC on IRQ 4 */
	uint8_t last_rx;
	uint8_t rx[UART_RX_RING]; /* the 16-byte FIFO is the head of this ring */
	unsigned rx_head, rx_count;
	int in_fd, out_fd;   /* 0 and 1; the tests use pipes */
	bool in_tty, in_eof, out_dead, out_stalled, out_pollable;
};

/* ---- MC146818 CMOS/RTC */
struct cmos {
	uint8_t index;
	uint8_t ram[128];    /* NVRAM and the registers that are plain storage */
	int64_t offset_s;    /* guest wall clock minus host UTC, after guest writes */
	bool setting;	     /* status B SET: updates halted, writes go to set_time */
	int64_t set_time;    /* guest time (s since the epoch) while setting */
	/* Status C's flags (PF, AF, UF) and when each next comes due, in
	 * dev_now() time; the IRQ 8 line is IRQF = some flag enabled in B. */
	uint8_t flags;
	uint64_t next_periodic, next_second;
	bool irq_level;
};

/* ---- 8042 */
struct ps2 {
	uint8_t config, out, status_flags;
	bool out_full;
	bool out_aux; /* the byte came from the AUX port (status bit 5, IRQ 12) */
	uint8_t pending_cmd; /* a controller command waiting for its byte on 0x60 */
};

struct devices {
	/* Clocks, replaceable by the unit tests: monotonic ns (PIT) and wall-clock
	 * ns since the epoch (RTC). */
	uint64_t (*now)(void);
	uint64_t (*wall_ns)(void);
	struct pic pic;
	struct pit pit;
	struct uart uart;
	struct cmos cmos;
	struct ps2 ps2;
	char exit_why[64]; /* debug-exit's stop reason; vm->stop_why points here */
	uint8_t port80;
	uint8_t reset_control; /* port 0xcf9 */

	/* The device model (devices.c): what was created, in order. */
#define DEVICES_MAX 32
#define IRQ_LISTENERS_MAX 4
	const struct device_ops *ops[DEVICES_MAX];
	void *state[DEVICES_MAX];
	unsigned n;
	/* The devices with a poll / a deadline op, by index: every guest port
	 * access asks for the next deadline, so only those are walked. */
	void (*poll_fn[DEVICES_MAX])(struct vm *vm, void *s, uint64_t now_ns);
	void *poll_state[DEVICES_MAX];
	uint64_t (*timed_fn[DEVICES_MAX])(struct vm *vm, void *s);
	void *timed_state[DEVICES_MAX];
	unsigned n_pollers, n_timed;
	const struct intc *intc;
	void *intc_state;
	irq_listener listen[IRQ_LISTENERS_MAX];
	void *listen_state[IRQ_LISTENERS_MAX];
	unsigned n_listen;
};

/* Per-device setup and the pieces devices.c calls. Each *_init registers its
 * ports on vm->pio and returns 0, or -1. */
int pic_init(struct vm *vm, struct pic *p);
bool pic_irq_latched(struct vm *vm, unsigned irq); /* IRR bit still set */
bool pic_irq_masked(struct vm *vm, unsigned irq);  /* IMR bit set */
bool pic_irq_in_service(struct vm *vm, unsigned irq); /* ISR bit set: no EOI yet */

int pit_init(struct vm *vm, struct pit *p);
void pit_poll(struct vm *vm, struct pit *p, uint64_t now);
uint64_t pit_next_deadline(struct pit *p);

int uart_init(struct vm *vm, struct uart *u);
void uart_poll(struct vm *vm, struct uart *u);
int uart_input_fd(struct uart *u);
void uart_destroy(struct uart *u);

int cmos_init(struct vm *vm, struct cmos *c);
void cmos_poll(struct vm *vm, struct cmos *c, uint64_t now);
uint64_t cmos_next_deadline(struct cmos *c);
int ps2_init(struct vm *vm, struct ps2 *p);
int debug_exit_init(struct vm *vm);
int port80_init(struct vm *vm);
int reset_control_init(struct vm *vm);

/* Sets up stdin for non-blocking reads (raw mode with VMIN=0 on a terminal,
 * O_NONBLOCK otherwise); devices_restore_terminal undoes it. Returns -1 if
 * fd must not be read (a terminal whose foreground is another process group). */
int terminal_setup(int fd);

static inline uint64_t dev_now(struct vm *vm)
{
	return vm->dev->now();
}

#endif
