/*
 * The PC devices as one unit: creation in port order, the periodic service
 * the run loop calls, and the host terminal that feeds COM1.
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

/* The hot devices first: bus lookups scan in registration order. */
static int devices_register(struct vm *vm, struct devices *d)
{
	if (uart_init(vm, &d->uart) < 0 || pic_init(vm, &d->pic) < 0 ||
	    pit_init(vm, &d->pit) < 0 || cmos_init(vm, &d->cmos) < 0 ||
	    ps2_init(vm, &d->ps2) < 0 || debug_exit_init(vm) < 0 || port80_init(vm) < 0 ||
	    reset_control_init(vm) < 0)
		return -1;
	return 0;
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
	if (devices_register(vm, d) < 0) {
		fprintf(stderr, "ringvm: cannot register the PC devices on the port bus\n");
		devices_destroy(vm);
		return -1;
	}
	return 0;
}

void devices_destroy(struct vm *vm)
{
	if (!vm->dev)
		return;
	uart_destroy(&vm->dev->uart);
	free(vm->dev);
	vm->dev = NULL;
}

void devices_poll(struct vm *vm, uint64_t now_ns)
{
	pit_poll(vm, &vm->dev->pit, now_ns);
	cmos_poll(vm, &vm->dev->cmos, now_ns);
	uart_poll(vm, &vm->dev->uart);
}

uint64_t devices_next_deadline(struct vm *vm)
{
	uint64_t pit = pit_next_deadline(&vm->dev->pit);
	uint64_t rtc = cmos_next_deadline(&vm->dev->cmos);
	return pit < rtc ? pit : rtc;
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
