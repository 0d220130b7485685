/* Host mechanics of the trap engine (src/native/native.*): LDT
 * segments, compatibility-mode entry/exit, signal prologue, seccomp, the
 * shadow mapping, and the cost of one trapped instruction. */
#include <errno.h>
#include <linux/filter.h>
#include <linux/seccomp.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <time.h>
#include <unistd.h>

#include "check.h"
#include "native/native.h"

static struct native_host H;
static int memfd;
static int n_cli, n_sys, n_pf, sys_eax;
static volatile sig_atomic_t kick;

static enum native_verdict cb(int sig, siginfo_t *si, ucontext_t *uc, bool guest, void *op)
{
	struct native_regs r;
	native_regs_from_uc(uc, &r);
	greg_t trapno = uc->uc_mcontext.gregs[REG_TRAPNO];
	if (sig == SIGSEGV && trapno == 14) {
		uint32_t lin = (uint32_t)(uintptr_t)si->si_addr;
		n_pf++;
		if (native_map(&H, lin, memfd, 0x3000, true) < 0)
			return NATIVE_EXIT;
		return NATIVE_RESUME;
	}
	if (native_uc_compat_syscall(uc)) {
		n_sys++;
		sys_eax = (int)r.gpr[0];
		native_exit_code = 200 + sig;
		return NATIVE_EXIT; /* guest EIP lost: cannot resume */
	}
	if (sig == SIGSYS) {
		n_sys++;
		sys_eax = (int)r.gpr[0];
		native_regs_to_uc(uc, &r); /* EIP is past int 0x80 / syscall */
		return NATIVE_RESUME;
	}
	if (sig == SIGSEGV && trapno == 13) {
		uint8_t op0 = *(uint8_t *)native_host_addr(&H, r.eip);
		if (op0 == 0xfa) { /* cli */
			n_cli++;
			r.eip += 1;
			native_regs_to_uc(uc, &r);
			return NATIVE_RESUME;
		}
		if (op0 == 0xf4) { /* hlt */
			native_exit_code = 1;
			uc->uc_mcontext.gregs[REG_RAX] = r.gpr[0];
			/* keep eax for the test */
			sys_eax = sys_eax ? sys_eax : 0;
			native_exit_code = 100 + (int)(r.gpr[0] & 0xff);
			return NATIVE_EXIT;
		}
	}
	native_exit_code = sig == SIGILL ? 98 : 99;
	return NATIVE_EXIT;
}

static void flat(struct seg *s, uint8_t type)
{
	memset(s, 0, sizeof *s);
	s->limit = 0xffffffffu;
	s->type = type;
	s->s = 1;
	s->present = 1;
	s->db = 1;
	s->g = 1;
}

static int run_code(const uint8_t *code, size_t len, uint32_t esp)
{
	uint8_t *p = native_host_addr(&H, 0x100000);
	memcpy(p, code, len);
	struct native_regs r;
	memset(&r, 0, sizeof r);
	r.eip = 0x100000;
	r.gpr[4] = esp;
	for (int s = 0; s < 4; s++)
		r.sel[s] = NATIVE_SEL(NATIVE_LDT_FIRST + s);
	return native_enter(&H, &r);
}

/* A system call the VMM itself makes and a seccomp filter refuses (the
 * cli helper's whole-VMM allowlist, say) ends the process with one line
 * naming the call and status 6, not a core dump. In a child: the filter
 * is irrevocable. */
static void check_vmm_sigsys(void)
{
	int fds[2];
	if (pipe(fds) < 0)
		return;
	pid_t pid = fork();
	if (pid == 0) {
		dup2(fds[1], 2);
		struct sock_filter f[] = {
			BPF_STMT(BPF_LD | BPF_W | BPF_ABS, 0),
			BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, SYS_getppid, 0, 1),
			BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_TRAP),
			BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW),
		};
		struct sock_fprog prog = { .len = 4, .filter = f };
		if (syscall(SYS_seccomp, SECCOMP_SET_MODE_FILTER, 0, &prog) != 0)
			_exit(99);
		syscall(SYS_getppid);
		_exit(98);
	}
	close(fds[1]);
	char buf[256] = { 0 };
	ssize_t n = read(fds[0], buf, sizeof buf - 1);
	(void)n;
	close(fds[0]);
	int st = 0;
	waitpid(pid, &st, 0);
	char want[64];
	snprintf(want, sizeof want, "system call %d was refused", (int)SYS_getppid);
	CHECK("trap_native_vmm_sigsys_status6",
	      WIFEXITED(st) && WEXITSTATUS(st) == 6 && strstr(buf, want) && !strchr(buf, '\n')[1],
	      "status %#x, stderr: %s", st, buf);
}

static uint64_t now_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

int main(void)
{
	char why[256];
	if (!native_probe(why, sizeof why)) {
		SKIP("trap_native", "%s", why);
		return 0;
	}
	memfd = memfd_create("t", 0);
	CHECK("trap_native_memfd", memfd >= 0 && ftruncate(memfd, 1 << 20) == 0, "%s", strerror(errno));
	H.base = 0;
	H.kick = &kick;
	H.cb = cb;
	CHECK("trap_native_reserve", native_reserve(&H) == 0, "%s", strerror(errno));
	CHECK("trap_native_install", native_install(&H) == 0, "%s", strerror(errno));
	struct seg cs, ds;
	flat(&cs, 0xb);
	flat(&ds, 0x3);
	int ok = native_ldt_set(&H, NATIVE_LDT_FIRST + 1, &cs, 0xffffffffu) == 0;
	for (int s = 0; s < 4; s++)
		if (s != 1)
			ok &= native_ldt_set(&H, NATIVE_LDT_FIRST + s, &ds, 0xffffffffu) == 0;
	CHECK("trap_native_ldt", ok, "modify_ldt: %s", strerror(errno));
	CHECK("trap_native_map", native_map(&H, 0x100000, memfd, 0, true) == 0 &&
					 native_map(&H, 0x101000, memfd, 0x1000, true) == 0,
	      "%s", strerror(errno));

	/* mov $5,%eax; add $7,%eax; cli; hlt */
	static const uint8_t c1[] = { 0xb8, 5, 0, 0, 0, 0x83, 0xc0, 7, 0xfa, 0xf4 };
	int rc = run_code(c1, sizeof c1, 0x102000);
	CHECK("trap_native_enter_exit", rc == 112 && n_cli == 1, "rc=%d cli=%d", rc, n_cli);
	/* C with TLS after a round trip: errno lives in TLS (FS base). */
	errno = 0;
	CHECK("trap_native_fs_restored", errno == 0 && getpid() > 0, "errno");

	/* Touch an unmapped page: #PF -> map -> resume.
	 * mov $0x200010,%ebx; movl $42,(%ebx); mov (%ebx),%eax; hlt */
	static const uint8_t c2[] = { 0xbb, 0x10, 0, 0x20, 0, 0xc7, 0x03, 42, 0, 0, 0, 0x8b, 0x03, 0xf4 };
	rc = run_code(c2, sizeof c2, 0x102000);
	CHECK("trap_native_page_fault_map", rc == 142 && n_pf == 1, "rc=%d pf=%d", rc, n_pf);

	/* Stack works (push/pop through SS). push $9; pop %eax; hlt */
	static const uint8_t c3[] = { 0x6a, 9, 0x58, 0xf4 };
	rc = run_code(c3, sizeof c3, 0x102000);
	CHECK("trap_native_stack", rc == 109, "rc=%d", rc);

	/* int 0x80 / syscall from compatibility mode never reach the host
	 * kernel: mov $20,%eax (getpid in i386 numbering); int $0x80;
	 * mov $39,%eax; syscall; hlt. If they did run, eax would hold a pid. */
	if (native_seccomp_install(why, sizeof why) < 0) {
		SKIP("trap_native_seccomp", "%s", why);
	} else {
		static const uint8_t c4[] = { 0xb8, 20, 0, 0, 0, 0xcd, 0x80, 0xb8, 39, 0, 0, 0,
					      0x0f, 0x05, 0xf4 };
		n_sys = 0;
		rc = run_code(c4, sizeof c4, 0x101800);
		CHECK("trap_native_int80_trapped", n_sys == 2, "sys=%d rc=%d", n_sys, rc);
		CHECK("trap_native_syscall_never_host", rc == 200 + SIGSYS && sys_eax == 39,
		      "rc=%d eax=%d", rc, sys_eax);
		/* sysenter in compatibility mode: #UD on AMD (SIGILL), the
		 * host's compat entry on Intel (then seccomp: SIGSYS).
		 * mov $20,%eax; sysenter; hlt */
		static const uint8_t c6[] = { 0xb8, 20, 0, 0, 0, 0x0f, 0x34, 0xf4 };
		n_sys = 0;
		rc = run_code(c6, sizeof c6, 0x101800);
		CHECK("trap_native_sysenter_never_host", rc == 98 || n_sys == 1,
		      "rc=%d sys=%d", rc, n_sys);
		CHECK("trap_native_host_syscalls_still_work", getppid() > 0, "getppid");
		/* The escape: far jump to the host's 64-bit selector 0x33, then
		 * a 64-bit SYSCALL (x86-64 ABI, so an ABI-only filter lets it
		 * through). From below 4 GiB it must be refused: SIGSYS, EAX
		 * still 39 (getpid), not a pid.
		 * ljmp $0x33,$0x100007; mov $39,%eax; syscall; hlt */
		static const uint8_t c7[] = { 0xea, 0x07, 0, 0x10, 0, 0x33, 0, 0xb8, 39, 0, 0, 0,
					      0x0f, 0x05, 0xf4 };
		n_sys = 0;
		sys_eax = 0;
		rc = run_code(c7, sizeof c7, 0x101800);
		CHECK("trap_native_syscall64_from_low_refused", n_sys == 1 && sys_eax == 39,
		      "rc=%d sys=%d eax=%d", rc, n_sys, sys_eax);
		check_vmm_sigsys();
	}

	/* Cost of one trapped privileged instruction (CLI -> #GP -> SIGSEGV
	 * -> callback -> sigreturn): mov $N,%ecx; 1: cli; dec %ecx; jnz 1b; hlt */
	enum { N = 200000 };
	static const uint8_t c5[] = { 0xb9, N & 0xff, (N >> 8) & 0xff, N >> 16, 0, 0xfa, 0x49, 0x75, 0xfc, 0xf4 };
	n_cli = 0;
	uint64_t t0 = now_ns();
	rc = run_code(c5, sizeof c5, 0x102000);
	uint64_t t1 = now_ns();
	CHECK("trap_native_cli_loop", rc == 100 && n_cli == N, "rc=%d cli=%d", rc, n_cli);
	printf("# trap_native: trapped CLI round trip %.0f ns (callback included)\n",
	       (double)(t1 - t0) / N);

	/* Kick pending before entry: returns at once. */
	kick = 1;
	rc = run_code(c1, sizeof c1, 0x102000);
	CHECK("trap_native_kick_before_entry", rc == NATIVE_STOP_KICKED, "rc=%d", rc);
	kick = 0;
	native_uninstall(&H);
	native_release(&H);
	CHECK_DONE();
}
