/*
 * The PC devices as one unit: the device model (the registered devices of
 * the machine, created in order), the interrupt lines and the interrupt
 * controller the vCPU sees, the periodic service the run loop calls, and
 * the host terminal that feeds COM1.
 */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <termios.h>
#include <time.h>
#include <unistd.h>

#include "devices_priv.h"

static uint64_t wall_clock_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

/* ---- the ISA devices of every PC, wrapped as device_ops here: their files
 * keep the init functions they had before the device model. The order is
 * the buses' lookup order (they scan in registration order): hot first. */

#define BOTH (MACHINE_ISAPC | MACHINE_PC)

static void *uart_create(struct vm *vm)
{
	return uart_init(vm, &vm->dev->uart) < 0 ? NULL : &vm->dev->uart;
}
static void uart_poll_op(struct vm *vm, void *s, uint64_t now)
{
	uart_poll(vm, s);
}
static void uart_destroy_op(struct vm *vm, void *s)
{
	uart_destroy(s);
}
static const struct device_ops uart_ops = { "uart", 10, BOTH, uart_create, NULL, uart_poll_op,
					    NULL, uart_destroy_op };
DEVICE_REGISTER(uart_ops);

static bool pic_pending_op(struct vm *vm, void *s)
{
	return pic_has_interrupt(vm);
}
static int pic_ack_op(struct vm *vm, void *s)
{
	return pic_acknowledge(vm);
}
static const struct intc pic_intc = { pic_pending_op, pic_ack_op, NULL, NULL };

static void *pic_create(struct vm *vm)
{
	if (pic_init(vm, &vm->dev->pic) < 0)
		return NULL;
	intc_install(vm, &pic_intc, &vm->dev->pic); /* until an APIC takes over */
	return &vm->dev->pic;
}
static const struct device_ops pic_ops = { "pic", 20, BOTH, pic_create, NULL, NULL, NULL, NULL };
DEVICE_REGISTER(pic_ops);

static void *pit_create(struct vm *vm)
{
	return pit_init(vm, &vm->dev->pit) < 0 ? NULL : &vm->dev->pit;
}
static void pit_poll_op(struct vm *vm, void *s, uint64_t now)
{
	pit_poll(vm, s, now);
}
static uint64_t pit_deadline_op(struct vm *vm, void *s)
{
	return pit_next_deadline(s);
}
static const struct device_ops pit_ops = { "pit", 30, BOTH, pit_create, NULL, pit_poll_op,
					   pit_deadline_op, NULL };
DEVICE_REGISTER(pit_ops);

static void *cmos_create(struct vm *vm)
{
	return cmos_init(vm, &vm->dev->cmos) < 0 ? NULL : &vm->dev->cmos;
}
static void cmos_poll_op(struct vm *vm, void *s, uint64_t now)
{
	cmos_poll(vm, s, now);
}
static uint64_t cmos_deadline_op(struct vm *vm, void *s)
{
	return cmos_next_deadline(s);
}
static const struct device_ops cmos_ops = { "cmos", 40, BOTH, cmos_create, NULL, cmos_poll_op,
					    cmos_deadline_op, NULL };
DEVICE_REGISTER(cmos_ops);

static void *ps2_create(struct vm *vm)
{
	return ps2_init(vm, &vm->dev->ps2) < 0 ? NULL : &vm->dev->ps2;
}
static const struct device_ops ps2_ops = { "i8042", 50, BOTH, ps2_create, NULL, NULL, NULL, NULL };
DEVICE_REGISTER(ps2_ops);

static void *small_ports_create(struct vm *vm)
{
	if (debug_exit_init(vm) < 0 || port80_init(vm) < 0 || reset_control_init(vm) < 0)
		return NULL;
	return vm->dev;
}
static const struct device_ops small_ports_ops = { "debug-exit, port 0x80, reset control", 60,
						   BOTH, small_ports_create, NULL, NULL, NULL,
						   NULL };
DEVICE_REGISTER(small_ports_ops);

/* ---- the device model */

extern const struct device_ops *const __start_ringvm_devices[];
extern const struct device_ops *const __stop_ringvm_devices[];

enum machine devices_machine(const struct vm *vm)
{
	return vm->cfg.machine ? vm->cfg.machine : MACHINE_ISAPC;
}

/* The registered devices of this machine, sorted by order (stable: a
 * handful of entries, insertion sort). */
static unsigned device_list(const struct vm *vm, const struct device_ops **out)
{
	unsigned n = 0;
	for (const struct device_ops *const *p = __start_ringvm_devices; p < __stop_ringvm_devices;
	     p++) {
		if (!((*p)->machines & devices_machine(vm)) || n == DEVICES_MAX)
			continue;
		unsigned k = n++;
		while (k > 0 && out[k - 1]->order > (*p)->order) {
			out[k] = out[k - 1];
			k--;
		}
		out[k] = *p;
	}
	return n;
}

static int devices_create(struct vm *vm, struct devices *d)
{
	const struct device_ops *list[DEVICES_MAX];
	unsigned n = device_list(vm, list);
	for (unsigned k = 0; k < n; k++) {
		void *st = list[k]->create(vm);
		if (!st) {
			if (!vm->init_status)
				fprintf(stderr, "ringvm: cannot create the %s device\n", list[k]->name);
			return -1;
		}
		if (list[k]->poll) {
			d->poll_fn[d->n_pollers] = list[k]->poll;
			d->poll_state[d->n_pollers++] = st;
		}
		if (list[k]->deadline) {
			d->timed_fn[d->n_timed] = list[k]->deadline;
			d->timed_state[d->n_timed++] = st;
		}
		d->ops[d->n] = list[k];
		d->state[d->n++] = st;
	}
	for (unsigned k = 0; k < d->n; k++)
		if (d->ops[k]->reset)
			d->ops[k]->reset(vm, d->state[k]);
	return 0;
}

void *devices_state(struct vm *vm, const struct device_ops *ops)
{
	for (unsigned k = 0; vm->dev && k < vm->dev->n; k++)
		if (vm->dev->ops[k] == ops)
			return vm->dev->state[k];
	return NULL;
}

int devices_init(struct vm *vm)
{
	struct devices *d = calloc(1, sizeof *d);
	if (!d) {
		fprintf(stderr, "ringvm: out of memory for the devices\n");
		return -1;
	}
	d->now = host_ns;
	d->wall_ns = wall_clock_ns;
	vm->dev = d;
	if (devices_create(vm, d) < 0) {
		devices_destroy(vm);
		return -1;
	}
	return 0;
}

void devices_destroy(struct vm *vm)
{
	struct devices *d = vm->dev;
	if (!d)
		return;
	for (unsigned k = d->n; k-- > 0;)
		if (d->ops[k]->destroy)
			d->ops[k]->destroy(vm, d->state[k]);
	free(d);
	vm->dev = NULL;
}

void devices_poll(struct vm *vm, uint64_t now_ns)
{
	struct devices *d = vm->dev;
	for (unsigned k = 0; k < d->n_pollers; k++)
		d->poll_fn[k](vm, d->poll_state[k], now_ns);
}

uint64_t devices_next_deadline(struct vm *vm)
{
	struct devices *d = vm->dev;
	uint64_t next = UINT64_MAX;
	for (unsigned k = 0; k < d->n_timed; k++) {
		uint64_t t = d->timed_fn[k](vm, d->timed_state[k]);
		if (t < next)
			next = t;
	}
	return next;
}

/* ---- interrupt lines and the interrupt controller */

void irq_set(struct vm *vm, unsigned irq, bool level)
{
	struct devices *d = vm->dev;
	pic_set_irq(vm, irq, level);
	for (unsigned k = 0; k < d->n_listen; k++)
		d->listen[k](vm, d->listen_state[k], irq, level);
}

int irq_listen(struct vm *vm, irq_listener fn, void *s)
{
	struct devices *d = vm->dev;
	if (d->n_listen == IRQ_LISTENERS_MAX)
		return -1;
	d->listen[d->n_listen] = fn;
	d->listen_state[d->n_listen++] = s;
	return 0;
}

void intc_install(struct vm *vm, const struct intc *ops, void *s)
{
	vm->dev->intc = ops;
	vm->dev->intc_state = s;
}

bool intc_pending(struct vm *vm)
{
	return vm->dev->intc->pending(vm, vm->dev->intc_state);
}

int intc_ack(struct vm *vm)
{
	return vm->dev->intc->ack(vm, vm->dev->intc_state);
}

bool intc_msr(struct vm *vm, uint32_t idx, uint64_t *v, bool is_write, uint64_t tsc)
{
	const struct intc *i = vm->dev->intc;
	return i->msr && i->msr(vm, vm->dev->intc_state, idx, v, is_write, tsc);
}

void intc_cpuid1(struct vm *vm, uint32_t out[4])
{
	const struct intc *i = vm->dev->intc;
	if (i->cpuid1)
		i->cpuid1(vm, vm->dev->intc_state, out);
}

int devices_input_fd(struct vm *vm)
{
	return uart_input_fd(&vm->dev->uart);
}

/* ---- the host terminal
 *
 * Everything below may run in a signal handler: only async-signal-safe
 * calls (tcsetattr, fcntl, signal, raise) and flags set before. */

static struct termios saved_tio;
static volatile sig_atomic_t tio_saved, fl_saved;
static int saved_fd = -1, saved_fl;

void devices_restore_terminal(void)
{
	if (tio_saved) {
		tio_saved = 0;
		tcsetattr(saved_fd, TCSANOW, &saved_tio);
	}
	if (fl_saved) {
		fl_saved = 0;
		fcntl(saved_fd, F_SETFL, saved_fl);
	}
}

/* Ctrl-C and kill end the VMM as they would without us, but leave the
 * terminal usable: restore it, then die of the same signal. */
static void on_fatal_signal(int sig)
{
	devices_restore_terminal();
	signal(sig, SIG_DFL);
	raise(sig);
}

static void catch_if_default(int sig, void (*fn)(int))
{
	struct sigaction old, sa;
	if (sigaction(sig, NULL, &old) < 0 || old.sa_handler != SIG_DFL)
		return; /* someone chose already: keep their choice */
	memset(&sa, 0, sizeof sa);
	sa.sa_handler = fn;
	sigemptyset(&sa.sa_mask);
	sigaction(sig, &sa, NULL);
}

static void install_exit_hooks(void)
{
	static bool done;
	if (done)
		return;
	done = true;
	atexit(devices_restore_terminal);
	catch_if_default(SIGINT, on_fatal_signal);
	catch_if_default(SIGTERM, on_fatal_signal);
	catch_if_default(SIGHUP, on_fatal_signal);
	catch_if_default(SIGQUIT, on_fatal_signal);
	/* A reader of stdout that goes away must not kill the VMM: the UART
	 * sees EPIPE and drops output instead. */
	catch_if_default(SIGPIPE, SIG_IGN);
}

/* Raw mode, but with ISIG kept so Ctrl-C still kills the VMM. VMIN=0,
 * VTIME=0: read() returns at once with what there is. */
static int raw_mode(int fd)
{
	if (tcgetpgrp(fd) != getpgrp())
		return -1; /* in the background: touching the terminal would stop us (SIGTTOU/SIGTTIN) */
	struct termios t;
	if (tcgetattr(fd, &t) < 0)
		return -1;
	saved_tio = t;
	saved_fd = fd;
	tio_saved = 1;
	t.c_iflag &= ~(tcflag_t)(IGNBRK | BRKINT | PARMRK | ISTRIP | INLCR | IGNCR | ICRNL | IXON);
	t.c_lflag &= ~(tcflag_t)(ECHO | ECHONL | ICANON | IEXTEN);
	t.c_cc[VMIN] = 0;
	t.c_cc[VTIME] = 0;
	if (tcsetattr(fd, TCSANOW, &t) < 0) {
		tio_saved = 0;
		return -1;
	}
	return 0;
}

int terminal_setup(int fd)
{
	install_exit_hooks();
	if (tio_saved || fl_saved)
		return 0; /* already set up (a second VM in the same process) */
	if (isatty(fd))
		return raw_mode(fd);
	int fl = fcntl(fd, F_GETFL);
	if (fl < 0)
		return -1;
	if (!(fl & O_NONBLOCK)) {
		saved_fd = fd;
		saved_fl = fl;
		fl_saved = 1;
		if (fcntl(fd, F_SETFL, fl | O_NONBLOCK) < 0)
			fl_saved = 0;
	}
	return 0;
}

int machine_parse(const char *name, enum machine *out)
{
	if (!strcmp(name, "help")) {
		printf("machines (--machine NAME, QEMU's names):\n"
		       "  isapc  the default: 8259 PICs, 8254 PIT, 16550A UART, CMOS/RTC, i8042\n"
		       "  pc     isapc + local APIC, IOAPIC, PCI host bridge, ACPI (power-off) and\n"
		       "         MP tables, VGA CRT controller; interp and trap only\n"
		       "both: ATA disks (--drive), fw_cfg, pc-testdev, isa-debug-exit\n");
		return 1;
	}
	if (!strcmp(name, "isapc"))
		*out = MACHINE_ISAPC;
	else if (!strcmp(name, "pc"))
		*out = MACHINE_PC;
	else {
		fprintf(stderr, "ringvm run: --machine %s: unknown machine (pc or isapc)\n", name);
		return -1;
	}
	return 0;
}
