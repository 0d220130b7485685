/*
 * The one vCPU run loop every engine shares: service the devices, run the
 * engine until it exits, handle the exit, repeat. This is the user-space
 * half of KVM_RUN, and the same for emulation, trap-and-emulate and BT.
 *
 * A host timer "kicks" the engine when the next device event is due (a PIT
 * tick) or at least every few milliseconds (stdin), because a guest in a
 * tight loop would otherwise never give the VMM control back.
 *
 * A host timer signal costs about 17 us from expiry to handler on these
 * machines, so it is never armed less than KICK_MIN_NS ahead: a guest that
 * programs the PIT at tens of kHz or more would otherwise leave the VMM
 * doing nothing but taking timer signals. Events due sooner are found
 * without a signal: a guest port access (such as the EOI that ends every
 * timer interrupt) looks at the clock and kicks the engine synchronously
 * if a device event is already due.
 */
#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include "devices/devices.h"
#include "run.h"

#define KICK_MAX_NS 10000000ull /* poll stdin at least every 10 ms */
#define KICK_MIN_NS 50000ull	/* host timer signals at most 20,000 a second */

static struct vm *kick_vm;
static timer_t kick_timer;
static uint64_t kick_armed_at = UINT64_MAX;

static void kick_handler(int sig)
{
	(void)sig;
	if (kick_vm)
		kick_vm->kick = 1;
}

static int kick_timer_init(struct vm *vm)
{
	struct sigaction sa;
	memset(&sa, 0, sizeof sa);
	sa.sa_handler = kick_handler;
	sa.sa_flags = SA_RESTART; /* blocking calls resume; KVM_RUN still returns EINTR */
	sigemptyset(&sa.sa_mask);
	if (sigaction(SIGRTMIN, &sa, NULL) < 0)
		return -1;
	struct sigevent sev;
	memset(&sev, 0, sizeof sev);
	sev.sigev_notify = SIGEV_THREAD_ID;
	sev.sigev_signo = SIGRTMIN;
	sev._sigev_un._tid = (pid_t)syscall(SYS_gettid);
	if (timer_create(CLOCK_MONOTONIC, &sev, &kick_timer) < 0) {
		fprintf(stderr, "ringvm: timer_create: %s\n", strerror(errno));
		return -1;
	}
	kick_vm = vm;
	kick_armed_at = UINT64_MAX;
	return 0;
}

static void kick_timer_arm(uint64_t at_ns)
{
	if (at_ns == kick_armed_at)
		return;
	struct itimerspec its;
	memset(&its, 0, sizeof its);
	its.it_value.tv_sec = (time_t)(at_ns / 1000000000ull);
	its.it_value.tv_nsec = (long)(at_ns % 1000000000ull);
	timer_settime(kick_timer, TIMER_ABSTIME, &its, NULL);
	kick_armed_at = at_ns;
}

static void kick_timer_fini(void)
{
	timer_delete(kick_timer);
	kick_vm = NULL;
	signal(SIGRTMIN, SIG_IGN);
}

static uint64_t next_kick(struct vm *vm, uint64_t now)
{
	uint64_t d = devices_next_deadline(vm);
	uint64_t cap = now + KICK_MAX_NS;
	if (d > cap) {
		/* Round the cap so that it changes rarely: each re-arm is a syscall. */
		d = (cap / KICK_MAX_NS + 1) * KICK_MAX_NS;
	}
	if (d < now + KICK_MIN_NS)
		d = now + KICK_MIN_NS;
	return d;
}

/* Called after a guest port access: the engine comes back to the loop if a
 * device event is due now (the clock is read through the vDSO, ~25 ns), or
 * if the write moved the next deadline earlier than the armed timer (the
 * guest programmed the PIT) so that the timer can be re-armed. */
void vm_deadline_check(struct vm *vm)
{
	uint64_t d = devices_next_deadline(vm);
	if (d >= kick_armed_at)
		return;
	uint64_t now = host_ns();
	if (d <= now || next_kick(vm, now) < kick_armed_at)
		vm->kick = 1;
}

static void dump_guest(struct vcpu *vcpu)
{
	struct cpu_state s;
	vcpu->engine->get_state(vcpu, &s);
	cpu_state_dump(&s, stderr);
}

/* Sleeps while the guest waits in HLT, until the next device event or
 * input. The guest costs no host CPU while it idles. */
static void halt_wait(struct vm *vm)
{
	uint64_t now = host_ns();
	uint64_t d = devices_next_deadline(vm);
	int timeout_ms = -1;
	if (d != UINT64_MAX)
		timeout_ms = d <= now ? 0 : (int)((d - now + 999999) / 1000000);
	struct pollfd pfd = { .fd = devices_input_fd(vm), .events = POLLIN };
	if (pfd.fd < 0 && timeout_ms < 0) {
		vm_request_stop(vm, RINGVM_EXIT_GUEST_DEAD,
				"guest halted with no timer armed and no input: it can never wake up");
		return;
	}
	if (timeout_ms != 0)
		poll(&pfd, pfd.fd < 0 ? 0 : 1, timeout_ms);
}

static void handle_exit(struct vcpu *vcpu, struct vcpu_exit *ex)
{
	struct vm *vm = vcpu->vm;
	switch (ex->reason) {
	case EXIT_IO:
	case EXIT_MMIO:
		break; /* serviced and counted by vcpu_pio/vcpu_mmio */
	case EXIT_HLT:
		stats_exit(&vm->stats, EXIT_HLT, 0);
		if (vcpu->engine->irq_window_open && !vcpu->engine->irq_window_open(vcpu)) {
			/* Nothing can wake this CPU again: the machine is off. It
			 * is how a PC without ACPI powers off (Linux's poweroff
			 * and halt end in cli; hlt), so it is a clean stop. */
			if (vm->cfg.trace)
				dump_guest(vcpu);
			vm_request_stop(vm, RINGVM_EXIT_POWEROFF,
					"guest halted with interrupts disabled (powered off)");
			break;
		}
		if (!vcpu_irq_pending(vcpu)) {
			uint64_t t0 = host_ns();
			halt_wait(vm);
			vm->stats.exit_ns[EXIT_HLT] += host_ns() - t0;
		}
		break;
	case EXIT_SHUTDOWN:
		stats_exit(&vm->stats, EXIT_SHUTDOWN, 0);
		fprintf(stderr, "ringvm: guest triple fault (shutdown)\n");
		dump_guest(vcpu);
		vm_request_stop(vm, RINGVM_EXIT_GUEST_DEAD, "guest triple fault");
		break;
	case EXIT_ERROR:
		stats_exit(&vm->stats, EXIT_ERROR, 0);
		fprintf(stderr, "ringvm: %s engine: %s\n", vcpu->engine->name, ex->error.msg);
		dump_guest(vcpu);
		vm_request_stop(vm, RINGVM_EXIT_GUEST_DEAD, "the engine cannot continue");
		break;
	default:
		stats_exit(&vm->stats, ex->reason, 0);
		break;
	}
}

int vcpu_run_loop(struct vcpu *vcpu)
{
	struct vm *vm = vcpu->vm;
	if (kick_timer_init(vm) < 0)
		return RINGVM_EXIT_HOST;
	vm->stats.start_ns = host_ns();
	while (!vm->stop) {
		uint64_t now = host_ns();
		devices_poll(vm, now);
		if (vm->stop)
			break;
		vm->kick = 0;
		kick_timer_arm(next_kick(vm, now));
		struct vcpu_exit ex;
		memset(&ex, 0, sizeof ex);
		if (vcpu->engine->run(vcpu, &ex) < 0) {
			vm_request_stop(vm, RINGVM_EXIT_HOST, "the engine failed");
			break;
		}
		if (vm->cfg.trace && ex.reason != EXIT_NONE)
			fprintf(stderr, "ringvm: exit %s\n", exit_reason_name(ex.reason));
		handle_exit(vcpu, &ex);
	}
	vm->stats.end_ns = host_ns();
	kick_timer_fini();
	return vm->exit_status;
}
