/* Host baselines for the benchmark table: what the building blocks of the
 * software engines and of kvm cost on this host, measured in a plain
 * 64-bit process.
 *
 *   sigsegv   a ring-3 CLI raises #GP, the kernel delivers SIGSEGV, the
 *             handler steps RIP past the CLI, sigreturn resumes: the
 *             trap engine's trap round trip, without any emulation.
 *   farjump   64-bit code far-jumps into a 32-bit code segment of our LDT
 *             (compatibility mode), which far-jumps straight back to the
 *             64-bit user CS 0x33: the cost of leaving translated 32-bit
 *             code for a VMM call and coming back.
 *   kvm_exit  an empty KVM_RUN round trip: a real-mode guest doing OUT in
 *             a loop, each OUT an exit to us (where /dev/kvm opens).
 *
 * Prints one line each:
 *   HOST name ns_per_op=X cycles_per_op=Y ops=N
 *   HOST name n/a reason="..."
 * Usage: host_baselines [sigsegv|farjump|kvm_exit]... (default: all) */
#define _GNU_SOURCE
#include <asm/ldt.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/kvm.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <ucontext.h>
#include <unistd.h>

#include "clock.h"

static void report(const char *name, uint64_t ns, uint64_t cycles, uint64_t ops)
{
	printf("HOST %s ns_per_op=%.1f cycles_per_op=%.1f ops=%llu\n", name, (double)ns / ops,
	       (double)cycles / ops, (unsigned long long)ops);
	fflush(stdout);
}

static void na(const char *name, const char *why)
{
	printf("HOST %s n/a reason=\"%s\"\n", name, why);
	fflush(stdout);
}

/* ---- sigsegv ---- */
static volatile uint64_t segv_count;

static void on_segv(int sig, siginfo_t *si, void *uc_)
{
	ucontext_t *uc = uc_;
	(void)sig;
	(void)si;
	uc->uc_mcontext.gregs[REG_RIP] += 1; /* CLI is one byte */
	segv_count++;
}

static void bench_sigsegv(void)
{
	struct sigaction sa;
	memset(&sa, 0, sizeof sa);
	sa.sa_sigaction = on_segv;
	sa.sa_flags = SA_SIGINFO | SA_NODEFER;
	sigaction(SIGSEGV, &sa, NULL);
	const uint64_t n = 200000;
	for (int i = 0; i < 1000; i++)  /* warm up */
		__asm__ volatile("cli" ::: "memory");
	segv_count = 0;
	uint64_t t0 = now_ns(), c0 = rdtsc();
	for (uint64_t i = 0; i < n; i++)
		__asm__ volatile("cli" ::: "memory");
	uint64_t c1 = rdtsc(), t1 = now_ns();
	signal(SIGSEGV, SIG_DFL);
	if (segv_count != n) {
		na("sigsegv", "CLI did not fault once per execution");
		return;
	}
	report("sigsegv", t1 - t0, c1 - c0, n);
}

/* ---- farjump ---- */
static void bench_farjump(void)
{
	struct user_desc d;
	memset(&d, 0, sizeof d);
	d.entry_number = 0;
	d.base_addr = 0;
	d.limit = 0xFFFFF;
	d.seg_32bit = 1;
	d.contents = MODIFY_LDT_CONTENTS_CODE;
	d.limit_in_pages = 1;
	d.useable = 1;
	if (syscall(SYS_modify_ldt, 1, &d, sizeof d) != 0) {
		na("farjump", "modify_ldt failed");
		return;
	}
	const uint16_t sel32 = (0 << 3) | 4 | 3;        /* LDT entry 0, RPL 3 */
	uint8_t *code = mmap(NULL, 4096, PROT_READ | PROT_WRITE | PROT_EXEC,
			     MAP_PRIVATE | MAP_ANONYMOUS | MAP_32BIT, -1, 0);
	if (code == MAP_FAILED || (uintptr_t)code >= (1ull << 32) - 4096) {
		na("farjump", "no executable page below 4 GiB");
		return;
	}
	uint32_t base = (uint32_t)(uintptr_t)code;
	/* Layout:
	 *   +0   mov [rip + saved], rsp                                (64-bit)
	 *   +7   loop64: dec ecx; jz done; jmp far [rip + farptr]
	 *        done: mov rsp, [rip + saved]; ret
	 *   +32  code32: jmp far 0x33:loop64                           (32-bit)
	 *   +48  farptr: m16:32 = code32, sel32
	 *   +56  saved: RSP. Coming back from compatibility mode, the upper
	 *        halves of the registers are undefined (Intel SDM); on this
	 *        host RSP does come back truncated to 32 bits. */
	uint8_t *p = code;
	int32_t disp;
	*p++ = 0x48; *p++ = 0x89; *p++ = 0x25;          /* mov [rip+disp32], rsp */
	disp = (int32_t)(56 - (p + 4 - code));
	memcpy(p, &disp, 4); p += 4;
	uint8_t *loop64 = p;
	*p++ = 0xFF; *p++ = 0xC9;                       /* dec ecx */
	*p++ = 0x74; uint8_t *jz = p++;                 /* jz done */
	*p++ = 0xFF; *p++ = 0x2D;                       /* jmp far m16:32 [rip+disp32] */
	disp = (int32_t)(48 - (p + 4 - code));
	memcpy(p, &disp, 4); p += 4;
	*jz = (uint8_t)(p - (jz + 1));
	*p++ = 0x48; *p++ = 0x8B; *p++ = 0x25;          /* done: mov rsp, [rip+disp32] */
	disp = (int32_t)(56 - (p + 4 - code));
	memcpy(p, &disp, 4); p += 4;
	*p++ = 0xC3;                                    /* ret */
	p = code + 32;
	*p++ = 0xEA;                                    /* jmp far ptr16:32 (32-bit mode) */
	uint32_t back = base + (uint32_t)(loop64 - code);
	memcpy(p, &back, 4); p += 4;
	uint16_t cs64 = 0x33;
	memcpy(p, &cs64, 2);
	p = code + 48;
	uint32_t off32 = base + 32;
	memcpy(p, &off32, 4);
	memcpy(p + 4, &sel32, 2);

	/* Run it in a child first: a kernel that refuses leaves us alive. */
	pid_t pid = fork();
	if (pid == 0) {
		uint64_t c = 11;
		__asm__ volatile("call *%1" : "+c"(c) : "r"(code) : "memory", "cc", "rax", "rdx", "rsi", "rdi", "r8", "r9", "r10", "r11");
		_exit(0);
	}
	int st;
	waitpid(pid, &st, 0);
	if (!WIFEXITED(st) || WEXITSTATUS(st)) {
		na("farjump", "the far jump into the LDT code segment did not come back");
		return;
	}
	const uint64_t n = 1000000;
	uint64_t c = n + 1;     /* the loop counts n round trips */
	uint64_t t0 = now_ns(), c0 = rdtsc();
	__asm__ volatile("call *%1" : "+c"(c) : "r"(code) : "memory", "cc", "rax", "rdx", "rsi", "rdi", "r8", "r9", "r10", "r11");
	uint64_t c1 = rdtsc(), t1 = now_ns();
	report("farjump", t1 - t0, c1 - c0, n);
}

/* ---- kvm_exit ---- */
static void kvm_child(void)
{
	int kvm = open("/dev/kvm", O_RDWR | O_CLOEXEC);
	if (kvm < 0) {
		na("kvm_exit", "/dev/kvm does not open");
		return;
	}
	int vm = ioctl(kvm, KVM_CREATE_VM, 0);
	if (vm < 0) {
		na("kvm_exit", "KVM_CREATE_VM failed");
		return;
	}
	uint8_t *mem = mmap(NULL, 0x10000, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	/* 0x1000: out 0x10, al; jmp 0x1000 (real mode) */
	static const uint8_t guest[] = { 0xE6, 0x10, 0xEB, 0xFC };
	memcpy(mem + 0x1000, guest, sizeof guest);
	struct kvm_userspace_memory_region r = {
		.slot = 0, .guest_phys_addr = 0, .memory_size = 0x10000, .userspace_addr = (uintptr_t)mem,
	};
	if (ioctl(vm, KVM_SET_USER_MEMORY_REGION, &r) < 0) {
		na("kvm_exit", "KVM_SET_USER_MEMORY_REGION failed");
		return;
	}
	int vcpu = ioctl(vm, KVM_CREATE_VCPU, 0);
	int sz = ioctl(kvm, KVM_GET_VCPU_MMAP_SIZE, 0);
	if (vcpu < 0 || sz <= 0) {
		na("kvm_exit", "KVM_CREATE_VCPU failed");
		return;
	}
	struct kvm_run *run = mmap(NULL, (size_t)sz, PROT_READ | PROT_WRITE, MAP_SHARED, vcpu, 0);
	struct kvm_sregs s;
	ioctl(vcpu, KVM_GET_SREGS, &s);
	s.cs.base = 0;
	s.cs.selector = 0;
	ioctl(vcpu, KVM_SET_SREGS, &s);
	struct kvm_regs g;
	memset(&g, 0, sizeof g);
	g.rip = 0x1000;
	g.rflags = 2;
	ioctl(vcpu, KVM_SET_REGS, &g);
	/* A few warm-up exits, then the timed ones. */
	const uint64_t n = 2000;
	uint64_t t0 = 0, c0 = 0;
	for (uint64_t i = 0; i < n + 20; i++) {
		if (i == 20) {
			t0 = now_ns();
			c0 = rdtsc();
		}
		if (ioctl(vcpu, KVM_RUN, 0) < 0 || run->exit_reason != KVM_EXIT_IO) {
			char why[96];
			snprintf(why, sizeof why, "KVM_RUN: %s, exit reason %u", strerror(errno), run->exit_reason);
			na("kvm_exit", why);
			return;
		}
	}
	uint64_t c1 = rdtsc(), t1 = now_ns();
	report("kvm_exit", t1 - t0, c1 - c0, n);
}

static void bench_kvm_exit(void)
{
	if (access("/dev/kvm", R_OK | W_OK)) {
		na("kvm_exit", "no /dev/kvm");
		return;
	}
	/* In a child with a time limit: a software /dev/kvm can be very slow. */
	pid_t pid = fork();
	if (pid == 0) {
		alarm(30);
		kvm_child();
		_exit(0);
	}
	int st;
	waitpid(pid, &st, 0);
	if (WIFSIGNALED(st))
		na("kvm_exit", WTERMSIG(st) == SIGALRM ? "timed out after 30 s" : "the KVM child crashed");
}

int main(int argc, char **argv)
{
	int all = argc < 2;
	for (int i = 0; i < (all ? 3 : argc - 1); i++) {
		const char *w = all ? (const char *[]){ "sigsegv", "farjump", "kvm_exit" }[i] : argv[i + 1];
		if (!strcmp(w, "sigsegv"))
			bench_sigsegv();
		else if (!strcmp(w, "farjump"))
			bench_farjump();
		else if (!strcmp(w, "kvm_exit"))
			bench_kvm_exit();
		else {
			fprintf(stderr, "usage: %s [sigsegv|farjump|kvm_exit]...\n", argv[0]);
			return 2;
		}
	}
	return 0;
}
