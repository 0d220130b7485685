/*
 * make bench-sandbox: what the whole-VMM sandbox (src/vm/sandbox.c) costs a
 * system call. Each round measures, in a fresh child, a cheap allowed call
 * (getpid) and a trap round trip (ud2 -> SIGILL -> handler skips it ->
 * rt_sigreturn, the shape of every trap under the native engines) three
 * ways: no filter, a one-instruction allow-all filter, and the sandbox's
 * filter for a native engine. Rounds alternate the three, so host noise hits
 * all alike; the medians and their ratios are printed, nothing is asserted.
 */
#include <linux/filter.h>
#include <linux/seccomp.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>
#include <x86intrin.h>

#include "vm/sandbox.h"

#define ROUNDS 31
#define CALLS 200000
#define TRAPS 20000

enum { NO_FILTER, ALLOW_ALL, SANDBOX, KINDS };
static const char *const kind_names[KINDS] = { "no filter", "allow-all filter", "sandbox" };

static void skip_ud2(int sig, siginfo_t *si, void *uc)
{
	(void)sig;
	(void)si;
	((ucontext_t *)uc)->uc_mcontext.gregs[REG_RIP] += 2;
}

static int allow_all(void)
{
	struct sock_filter f[] = { BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW) };
	struct sock_fprog p = { 1, f };
	if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0)
		return -1;
	return (int)syscall(SYS_seccomp, SECCOMP_SET_MODE_FILTER, 0, &p);
}

/* In the child: install the kind of filter, measure, write two doubles
 * (cycles per call, cycles per trap) to fd. */
static void measure(int kind, int fd)
{
	struct sigaction sa;
	memset(&sa, 0, sizeof sa);
	sa.sa_sigaction = skip_ud2;
	sa.sa_flags = SA_SIGINFO;
	sigaction(SIGILL, &sa, NULL);
	char why[256];
	if ((kind == ALLOW_ALL && allow_all() != 0) ||
	    (kind == SANDBOX && sandbox_install(SANDBOX_NATIVE_CODE, why, sizeof why) != 0))
		_exit(3);
	uint64_t t0 = __rdtsc();
	for (int i = 0; i < CALLS; i++)
		syscall(SYS_getpid);
	uint64_t t1 = __rdtsc();
	for (int i = 0; i < TRAPS; i++)
		__asm__ volatile("ud2");
	uint64_t t2 = __rdtsc();
	double r[2] = { (double)(t1 - t0) / CALLS, (double)(t2 - t1) / TRAPS };
	_exit(write(fd, r, sizeof r) == sizeof r ? 0 : 4);
}

static int by_value(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;
	return x < y ? -1 : x > y;
}

int main(void)
{
	static double v[KINDS][2][ROUNDS];
	for (int r = 0; r < ROUNDS; r++) {
		for (int k = 0; k < KINDS; k++) {
			int p[2];
			if (pipe(p) < 0)
				return 1;
			pid_t pid = fork();
			if (pid == 0)
				measure(k, p[1]);
			double got[2] = { 0, 0 };
			int st;
			if (read(p[0], got, sizeof got) != sizeof got || waitpid(pid, &st, 0) != pid) {
				fprintf(stderr, "sandbox_cost: the %s child failed\n", kind_names[k]);
				return 1;
			}
			close(p[0]);
			close(p[1]);
			v[k][0][r] = got[0];
			v[k][1][r] = got[1];
		}
	}
	static const char *const what[2] = { "getpid", "trap round trip (SIGILL, rt_sigreturn)" };
	printf("median cycles of %d alternating rounds (rdtsc)\n", ROUNDS);
	for (int t = 0; t < 2; t++) {
		double m[KINDS];
		for (int k = 0; k < KINDS; k++) {
			qsort(v[k][t], ROUNDS, sizeof(double), by_value);
			m[k] = v[k][t][ROUNDS / 2];
		}
		printf("%-40s no filter %7.0f  allow-all %7.0f (x%.2f)  sandbox %7.0f (x%.2f)\n",
		       what[t], m[NO_FILTER], m[ALLOW_ALL], m[ALLOW_ALL] / m[NO_FILTER], m[SANDBOX],
		       m[SANDBOX] / m[NO_FILTER]);
	}
	return 0;
}
