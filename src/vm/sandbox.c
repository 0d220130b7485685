/*
 * The whole-VMM seccomp allowlist (see sandbox.h).
 *
 * The list was built by reading every path that runs once the guest does:
 * the run loop (host timer, poll on stdin while the guest halts), the
 * devices (serial output and input, the terminal and its restore on exit
 * and on SIGINT/SIGTERM/SIGHUP/SIGQUIT), --trace and --stats output, the
 * exit path (munmap, close, exit_group) and each engine's own needs, then
 * checked under strace with every engine. The VMM opens no file, creates no
 * socket or process and executes nothing once the guest runs, so none of
 * those is on the list; memory may not become executable unless the engine
 * runs guest code natively.
 *
 * Order of the checks, and why:
 * 1. Not the x86-64 ABI (int 0x80, sysenter, syscall from compatibility
 *    mode, x32): never the VMM's own call. Trap it.
 * 2. Made from an instruction pointer below 4 GiB: only guest code (and
 *    translated guest code) lives there. Trap it, never kill it: the native
 *    engines' own filter traps such calls too, the kernel applies the most
 *    restrictive action of all filters (KILL > TRAP > ERRNO > ALLOW), and
 *    their SIGSYS handler turns the trap into a guest event.
 * 3. The allowlist, some entries with argument checks.
 * 4. Anything else: trap, and the SIGSYS reporter below prints one line.
 *
 * Why SECCOMP_RET_TRAP rather than RET_ERRNO(EPERM): a refused call inside
 * glibc or the sanitizer runtime would fail quietly somewhere (a lost
 * message, a poll that returns at once forever) and the user would see
 * something else go wrong, or nothing; a trap names the call at the moment
 * it is made. And rather than RET_KILL_PROCESS: that dies silently, leaving
 * a raw terminal behind.
 */
#include <errno.h>
#include <fcntl.h>
#include <linux/audit.h>
#include <linux/filter.h>
#include <linux/kvm.h>
#include <linux/seccomp.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include "devices/devices.h"
#include "sandbox.h"
#include "syscall_names.h"
#include "vm.h"

#if defined(__SANITIZE_ADDRESS__)
#define SANITIZED_BUILD 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define SANITIZED_BUILD 1
#endif
#endif

/* ---- the rules, as tables */

enum test_op {
	T_NONE,	      /* the end of a rule's tests */
	T_EQ,	      /* args[arg] == value */
	T_MASKED_EQ,  /* (args[arg] & mask) == value */
	T_BITS_CLEAR, /* (args[arg] & mask) == 0 */
};

/* Only the low 32 bits of an argument are tested: every argument tested
 * here is an int or unsigned int to the kernel, which ignores the rest. */
struct arg_test {
	uint8_t op, arg;
	uint32_t mask, value;
};

#define MAX_TESTS 8
#define OWN_PID 0xffffffffu /* value placeholder: this process's pid */

/* A system call, allowed if any of its tests passes, or always if it has none. */
struct rule {
	int nr;
	struct arg_test t[MAX_TESTS];
};

#define ANY(sys) { .nr = (sys) }
#define IF(sys, ...) { .nr = (sys), .t = { __VA_ARGS__ } }
#define EQ(a, v) { T_EQ, (a), 0, (v) }
#define MASKED(a, m, v) { T_MASKED_EQ, (a), (m), (v) }
#define CLEAR(a, m) { T_BITS_CLEAR, (a), (m), 0 }

/* What the VMM itself does once the guest runs, whatever the engine. The
 * filter tests system calls in this order, one after the other: the ones
 * made per exit or per trap come first (a filter costs every call ~500
 * cycles here just by being there, and its length a few hundred more). */
static const struct rule vmm_rules[] = {
	/* per trap under native engines: the return from the signal handler,
	 * the guest pages mapped and protected (native rules add exec) */
	ANY(SYS_rt_sigreturn), IF(SYS_mmap, CLEAR(2, PROT_EXEC)), ANY(SYS_munmap),
	IF(SYS_mprotect, CLEAR(2, PROT_EXEC)),
	/* per exit under kvm: KVM_RUN (kvm rules add the KVM ioctls); the
	 * terminal: isatty, tcgetpgrp, tcsetattr on the way out */
	IF(SYS_ioctl, EQ(1, TCGETS), EQ(1, TCSETS), EQ(1, TCSETSW), EQ(1, TCSETSF),
	   EQ(1, TIOCGPGRP), EQ(1, TIOCGWINSZ)),
	/* the host timer that kicks the engine back to the run loop */
	ANY(SYS_timer_settime), ANY(SYS_timer_create), ANY(SYS_timer_gettime),
	ANY(SYS_timer_delete),
	/* serial output, --trace, --stats, messages; serial input */
	ANY(SYS_write), ANY(SYS_read), ANY(SYS_writev), ANY(SYS_readv),
	/* a halted guest waits for stdin or the next device deadline;
	 * the UART waits for a full stdout pipe */
	ANY(SYS_poll), ANY(SYS_ppoll),
	/* signals: the kick handler, the native engines' masks and stacks,
	 * the terminal-restoring fatal handlers, and raise() of the fatal
	 * signal afterwards (to ourselves only) */
	ANY(SYS_rt_sigprocmask), ANY(SYS_rt_sigaction), ANY(SYS_rt_sigpending),
	ANY(SYS_sigaltstack), ANY(SYS_restart_syscall), ANY(SYS_getpid), ANY(SYS_gettid),
	IF(SYS_tgkill, EQ(0, OWN_PID)),
	/* clocks (normally the vDSO; these when it falls back) */
	ANY(SYS_clock_gettime), ANY(SYS_clock_getres), ANY(SYS_gettimeofday),
	ANY(SYS_clock_nanosleep), ANY(SYS_nanosleep),
	/* stdin's O_NONBLOCK, set and restored */
	IF(SYS_fcntl, EQ(1, F_GETFL), EQ(1, F_SETFL), EQ(1, F_GETFD)),
	/* stdio's first use of a stream looks at its descriptor, by number only */
	ANY(SYS_fstat),
	IF(SYS_newfstatat, MASKED(3, AT_EMPTY_PATH, AT_EMPTY_PATH)),
	/* malloc and the exit path; nothing may become executable */
	ANY(SYS_brk), ANY(SYS_madvise), ANY(SYS_mremap),
	ANY(SYS_close), ANY(SYS_futex),
	/* --drive images, opened before the sandbox: sector reads and writes, FLUSH CACHE */
	ANY(SYS_pread64), ANY(SYS_pwrite64), ANY(SYS_fdatasync),
	ANY(SYS_exit), ANY(SYS_exit_group),
};

/* SANDBOX_KVM: KVM_RUN, register access and interrupt injection on the
 * vCPU descriptor: every KVM ioctl has type 0xAE (bits 8-15). */
static const struct rule kvm_rules[] = {
	IF(SYS_ioctl, MASKED(1, 0xff00u, KVMIO << 8)),
};

/* SANDBOX_NATIVE_CODE: the virtual TLB maps guest pages (executable ones
 * too) on demand and write-protects the guest kernel's code; segment
 * descriptors go into the LDT; the handlers switch signal masks and stacks. */
static const struct rule native_rules[] = {
	ANY(SYS_mmap), ANY(SYS_mprotect), ANY(SYS_modify_ldt),
};
/* (A call's tests from every set are merged into one block, placed where
 * the call first appears: vmm_rules' order decides.) */

#ifdef SANITIZED_BUILD
/* ASan/UBSan builds only: LeakSanitizer's exit-time scan stops the world
 * from a cloned tracer task (clone, ptrace, wait4, /proc/self/task), and
 * the runtime reads /proc/self/maps and the binary when it reports (read
 * only: nothing is created or written). */
static const struct rule sanitizer_rules[] = {
	ANY(SYS_clone), ANY(SYS_ptrace), ANY(SYS_wait4), ANY(SYS_prctl),
	IF(SYS_open, CLEAR(1, O_ACCMODE | O_CREAT | O_TRUNC)),
	IF(SYS_openat, CLEAR(2, O_ACCMODE | O_CREAT | O_TRUNC)),
	ANY(SYS_getdents), ANY(SYS_getdents64), ANY(SYS_readlink),
	ANY(SYS_sched_yield), ANY(SYS_getppid), ANY(SYS_lseek), ANY(SYS_pread64),
	ANY(SYS_stat), ANY(SYS_lstat), ANY(SYS_kill), ANY(SYS_tgkill),
	ANY(SYS_prlimit64), ANY(SYS_getrlimit),
	ANY(SYS_newfstatat), ANY(SYS_fstat),
	IF(SYS_fcntl, EQ(1, F_SETFD)), /* the symbolizer's close-on-exec */
};
#endif

/* ---- from rules to a BPF program */

#define PROG_MAX 512
#define LD_W(off) BPF_STMT(BPF_LD | BPF_W | BPF_ABS, (off))
#define RET(v) BPF_STMT(BPF_RET | BPF_K, (v))
#define ARG_LO(i) (offsetof(struct seccomp_data, args) + 8u * (i))
#define IP_HI (offsetof(struct seccomp_data, instruction_pointer) + 4u)

struct prog {
	struct sock_filter f[PROG_MAX];
	unsigned n;
	bool full;
};

static void emit(struct prog *p, struct sock_filter ins)
{
	if (p->n == PROG_MAX) {
		p->full = true;
		return;
	}
	p->f[p->n++] = ins;
}

/* The merged view: all tests of every rule for nr, or any == true if one
 * of them allows it unconditionally. */
struct merged {
	bool any;
	unsigned n;
	struct arg_test t[3 * MAX_TESTS];
};

struct ruleset {
	const struct rule *r;
	size_t n;
};

static void merge(const struct ruleset *sets, unsigned nsets, int nr, struct merged *m)
{
	memset(m, 0, sizeof *m);
	for (unsigned s = 0; s < nsets; s++) {
		for (size_t i = 0; i < sets[s].n; i++) {
			const struct rule *r = &sets[s].r[i];
			if (r->nr != nr)
				continue;
			if (r->t[0].op == T_NONE)
				m->any = true;
			for (unsigned k = 0; k < MAX_TESTS && r->t[k].op != T_NONE &&
					     m->n < sizeof m->t / sizeof m->t[0];
			     k++)
				m->t[m->n++] = r->t[k];
		}
	}
}

/* One block per system call:
 *     JEQ nr ? next : past the block
 *     (per test) LD arg; [AND mask;] JEQ value ? allow : next test
 *     RET TRAP
 *   allow:
 *     RET ALLOW
 * A rejected test leaves A holding the argument, so the block ends in its
 * own verdict rather than falling through to the next system call's. */
static void emit_block(struct prog *p, int nr, const struct merged *m, uint32_t pid)
{
	if (m->any) {
		emit(p, (struct sock_filter)BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, (uint32_t)nr, 0, 1));
		emit(p, (struct sock_filter)RET(SECCOMP_RET_ALLOW));
		return;
	}
	unsigned len = 0; /* instructions after the JEQ on nr */
	for (unsigned k = 0; k < m->n; k++)
		len += m->t[k].op == T_MASKED_EQ || m->t[k].op == T_BITS_CLEAR ? 3 : 2;
	len += 2;
	emit(p, (struct sock_filter)BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, (uint32_t)nr, 0, (uint8_t)len));
	unsigned allow_at = p->n + len - 1;
	for (unsigned k = 0; k < m->n; k++) {
		const struct arg_test *t = &m->t[k];
		uint32_t v = t->value == OWN_PID ? pid : t->value;
		emit(p, (struct sock_filter)LD_W((uint32_t)ARG_LO(t->arg)));
		if (t->op != T_EQ)
			emit(p, (struct sock_filter)BPF_STMT(BPF_ALU | BPF_AND | BPF_K, t->mask));
		if (t->op == T_BITS_CLEAR)
			v = 0;
		uint8_t to_allow = (uint8_t)(allow_at - p->n - 1);
		emit(p, (struct sock_filter)BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, v, to_allow, 0));
	}
	emit(p, (struct sock_filter)RET(SECCOMP_RET_TRAP));
	emit(p, (struct sock_filter)RET(SECCOMP_RET_ALLOW));
}

static bool seen_before(const struct ruleset *sets, unsigned s, size_t i)
{
	int nr = sets[s].r[i].nr;
	for (unsigned s2 = 0; s2 <= s; s2++)
		for (size_t i2 = 0; i2 < (s2 == s ? i : sets[s2].n); i2++)
			if (sets[s2].r[i2].nr == nr)
				return true;
	return false;
}

static void build(struct prog *p, unsigned needs, uint32_t pid)
{
	struct ruleset sets[4];
	unsigned ns = 0;
	sets[ns++] = (struct ruleset){ vmm_rules, sizeof vmm_rules / sizeof vmm_rules[0] };
	if (needs & SANDBOX_KVM)
		sets[ns++] = (struct ruleset){ kvm_rules, sizeof kvm_rules / sizeof kvm_rules[0] };
	if (needs & SANDBOX_NATIVE_CODE)
		sets[ns++] = (struct ruleset){ native_rules, sizeof native_rules / sizeof native_rules[0] };
#ifdef SANITIZED_BUILD
	sets[ns++] = (struct ruleset){ sanitizer_rules,
				       sizeof sanitizer_rules / sizeof sanitizer_rules[0] };
#endif
	p->n = 0;
	p->full = false;
	emit(p, (struct sock_filter)LD_W(offsetof(struct seccomp_data, arch)));
	emit(p, (struct sock_filter)BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, AUDIT_ARCH_X86_64, 1, 0));
	emit(p, (struct sock_filter)RET(SECCOMP_RET_TRAP));
	emit(p, (struct sock_filter)LD_W((uint32_t)IP_HI));
	emit(p, (struct sock_filter)BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, 0, 0, 1));
	emit(p, (struct sock_filter)RET(SECCOMP_RET_TRAP));
	emit(p, (struct sock_filter)LD_W(offsetof(struct seccomp_data, nr)));
	emit(p, (struct sock_filter)BPF_JUMP(BPF_JMP | BPF_JGE | BPF_K, __X32_SYSCALL_BIT, 0, 1));
	emit(p, (struct sock_filter)RET(SECCOMP_RET_TRAP));
	for (unsigned s = 0; s < ns; s++) {
		for (size_t i = 0; i < sets[s].n; i++) {
			if (seen_before(sets, s, i))
				continue;
			struct merged m;
			merge(sets, ns, sets[s].r[i].nr, &m);
			/* The previous block's tests left an argument in A: reload nr. */
			emit(p, (struct sock_filter)LD_W(offsetof(struct seccomp_data, nr)));
			emit_block(p, sets[s].r[i].nr, &m, pid);
		}
	}
	emit(p, (struct sock_filter)RET(SECCOMP_RET_TRAP));
}

/* ---- reporting a blocked call (async-signal-safe: write, exit_group, and the
 * terminal restore, itself async-signal-safe) */

static char *put_str(char *p, char *end, const char *s)
{
	while (*s && p < end)
		*p++ = *s++;
	return p;
}

static char *put_uint(char *p, char *end, unsigned long v)
{
	char digits[24];
	int n = 0;
	do
		digits[n++] = (char)('0' + v % 10);
	while ((v /= 10) && n < (int)sizeof digits);
	while (n && p < end)
		*p++ = digits[--n];
	return p;
}

void sandbox_report_blocked(const siginfo_t *si)
{
	char line[160], *p = line, *end = line + sizeof line - 1;
	unsigned nr = (unsigned)si->si_syscall;
	const char *name = nr < sizeof syscall_names / sizeof syscall_names[0] && syscall_names[nr]
				   ? syscall_names[nr]
				   : "unknown";
	p = put_str(p, end, "ringvm: sandbox: blocked system call ");
	p = put_uint(p, end, nr);
	p = put_str(p, end, " (");
	p = put_str(p, end, si->si_arch == AUDIT_ARCH_X86_64 ? name : "not the x86-64 ABI");
	p = put_str(p, end, ")");
	if ((uintptr_t)si->si_call_addr < (1ull << 32))
		p = put_str(p, end, " made by guest code");
	*p++ = '\n';
	devices_restore_terminal();
	ssize_t w = write(2, line, (size_t)(p - line));
	(void)w;
	/* The raw exit_group, not _exit(): a sanitizer intercepts _exit() to
	 * run its leak check, which would make more calls (maybe forbidden,
	 * with SIGSYS now blocked: a silent kill) in a process that is in no
	 * state for it. */
	for (;;)
		syscall(SYS_exit_group, RINGVM_EXIT_SANDBOX);
}

static void on_sigsys(int sig, siginfo_t *si, void *uc)
{
	(void)sig;
	(void)uc;
	sandbox_report_blocked(si);
}

void sandbox_catch_sigsys(void)
{
	struct sigaction old, sa;
	if (sigaction(SIGSYS, NULL, &old) < 0)
		return;
	if ((old.sa_flags & SA_SIGINFO) || (old.sa_handler != SIG_DFL && old.sa_handler != SIG_IGN))
		return; /* the engine's own handler: it reports non-guest calls itself */
	memset(&sa, 0, sizeof sa);
	sa.sa_sigaction = on_sigsys;
	sa.sa_flags = SA_SIGINFO;
	sigfillset(&sa.sa_mask);
	sigaction(SIGSYS, &sa, NULL);
}

int sandbox_install(unsigned needs, char *why, size_t why_len)
{
	static struct prog p;
	build(&p, needs, (uint32_t)getpid());
	if (p.full) {
		snprintf(why, why_len, "internal: the filter does not fit in %d instructions", PROG_MAX);
		return -1;
	}
	/* glibc loads the time zone on the first gmtime_r (the CMOS clock),
	 * opening /etc/localtime: let it do so now. */
	tzset();
	sandbox_catch_sigsys();
	struct sock_fprog fp = { .len = (unsigned short)p.n, .filter = p.f };
	/* no_new_privs: required without CAP_SYS_ADMIN, and right anyway
	 * (ringvm never executes anything). */
	if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0) {
		snprintf(why, why_len, "PR_SET_NO_NEW_PRIVS: %s", strerror(errno));
		return -1;
	}
	/* TSYNC: every thread of the VMM, now and later, runs under it. */
	long r = syscall(SYS_seccomp, SECCOMP_SET_MODE_FILTER, SECCOMP_FILTER_FLAG_TSYNC, &fp);
	if (r != 0) {
		if (r > 0)
			snprintf(why, why_len, "thread %ld could not be synchronized", r);
		else
			snprintf(why, why_len, "seccomp filter refused: %s", strerror(errno));
		return -1;
	}
	return 0;
}
