/* The whole-VMM sandbox (src/vm/sandbox.c): in a forked child, install it
 * for an engine profile, make a call, and check what the parent sees: the
 * exit status and the one line on stderr. Also guest RAM's memfd seals. */
#include <errno.h>
#include <fcntl.h>
#include <linux/kvm.h>
#include <pthread.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "check.h"
#include "vm/sandbox.h"
#include "vm/vm.h"

struct outcome {
	int status; /* exit status, or 128 + signal */
	char err[8192];
};

/* Runs fn in a child whose stderr is a pipe; fn installs the sandbox. */
static struct outcome in_child(void (*fn)(void))
{
	struct outcome o = { .status = -1 };
	int p[2];
	if (pipe(p) < 0)
		return o;
	fflush(stdout);
	pid_t pid = fork();
	if (pid == 0) {
		dup2(p[1], 2);
		close(p[0]);
		close(p[1]);
		fn();
		_exit(0);
	}
	close(p[1]);
	size_t got = 0;
	ssize_t n;
	char rest[4096];
	for (;;) { /* keep the start, drain the rest: the child must not get EPIPE */
		if (got < sizeof o.err - 1)
			n = read(p[0], o.err + got, sizeof o.err - 1 - got);
		else
			n = read(p[0], rest, sizeof rest);
		if (n <= 0)
			break;
		if (got < sizeof o.err - 1)
			got += (size_t)n;
	}
	o.err[got] = 0;
	close(p[0]);
	int st;
	if (waitpid(pid, &st, 0) == pid)
		o.status = WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
	return o;
}

static void install(unsigned needs)
{
	char why[256];
	if (sandbox_install(needs, why, sizeof why) < 0) {
		dprintf(2, "install failed: %s\n", why);
		_exit(99);
	}
}

static void say(const char *s)
{
	ssize_t w = write(2, s, strlen(s));
	(void)w;
}

static void do_socket(void)
{
	install(0);
	socket(AF_INET, SOCK_STREAM, 0);
	say("socket ran\n");
}

static void do_execve(void)
{
	install(SANDBOX_NATIVE_CODE | SANDBOX_KVM); /* no profile may run a program */
	char *argv[] = { "/bin/true", NULL };
	execve("/bin/true", argv, NULL);
	say("execve returned\n");
}

static char new_file[64];

static void do_create_file(void)
{
	install(0);
	open(new_file, O_WRONLY | O_CREAT | O_EXCL, 0600);
	say("open ran\n");
}

/* What the VMM does while a guest runs must keep working. */
static void do_allowed(void)
{
	install(0);
	void *m = mmap(NULL, 1 << 20, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	char *heap = malloc(100000);
	struct timespec ts;
	timer_t t;
	struct sigevent sev = { .sigev_notify = SIGEV_NONE };
	if (m == MAP_FAILED || !heap || clock_gettime(CLOCK_MONOTONIC, &ts) < 0 ||
	    timer_create(CLOCK_MONOTONIC, &sev, &t) < 0 || timer_delete(t) < 0 ||
	    munmap(m, 1 << 20) < 0) {
		say("an allowed call failed\n");
		return;
	}
	free(heap);
	struct termios_probe {
		char b[64];
	} tio;
	ioctl(2, TCGETS, &tio); /* ENOTTY on a pipe, but not refused */
	say("ok\n");
}

static void do_exec_mapping(void)
{
	install(0);
	mmap(NULL, 4096, PROT_READ | PROT_EXEC, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	say("mapped\n");
}

static void do_exec_mapping_native(void)
{
	install(SANDBOX_NATIVE_CODE);
	void *p = mmap(NULL, 4096, PROT_READ | PROT_EXEC, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	say(p == MAP_FAILED ? "mmap failed\n" : "mapped\n");
}

static int kvm_fd = -1;

static void do_kvm_ioctl(unsigned needs)
{
	install(needs);
	int v = ioctl(kvm_fd, KVM_GET_API_VERSION, 0);
	say(v == KVM_API_VERSION ? "kvm answered\n" : "kvm failed\n");
}
static void do_kvm_ioctl_interp(void) { do_kvm_ioctl(0); }

/* Rules for one call from two profiles merge: with SANDBOX_KVM, the
 * terminal's ioctls stay allowed and others stay refused. */
static void do_tty_ioctls_kvm(void)
{
	install(SANDBOX_KVM);
	char buf[64];
	ioctl(2, TCGETS, buf);
	say("tcgets ran\n");
	int n;
	ioctl(2, FIONREAD, &n);
	say("fionread ran\n");
}
static void do_kvm_ioctl_kvm(void) { do_kvm_ioctl(SANDBOX_KVM); }

/* A system call from below 4 GiB, where only guest code lives: it must be
 * trapped to the engine's SIGSYS handler (which a native engine installs
 * before the sandbox), never allowed and never a kill, even for a call the
 * VMM itself may make (getpid). */
static void on_guest_sigsys(int sig, siginfo_t *si, void *uc)
{
	(void)sig;
	(void)uc;
	if (si->si_code == 1 /* SYS_SECCOMP */ && si->si_syscall == SYS_getpid &&
	    (uintptr_t)si->si_call_addr < (1ull << 32))
		say("guest getpid trapped\n");
	_exit(42);
}

static void do_guest_ip(void)
{
	uint8_t *code = mmap((void *)0x20000000, 4096, PROT_READ | PROT_WRITE | PROT_EXEC,
			     MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED_NOREPLACE, -1, 0);
	if (code != (void *)0x20000000) {
		say("no low page\n");
		_exit(98);
	}
	static const uint8_t stub[] = { 0xb8, 39, 0, 0, 0, 0x0f, 0x05, 0xc3 }; /* getpid; ret */
	memcpy(code, stub, sizeof stub);
	struct sigaction sa;
	memset(&sa, 0, sizeof sa);
	sa.sa_sigaction = on_guest_sigsys;
	sa.sa_flags = SA_SIGINFO;
	sigaction(SIGSYS, &sa, NULL);
	install(SANDBOX_NATIVE_CODE);
	((void (*)(void))(uintptr_t)code)();
	say("guest getpid ran\n");
}

/* TSYNC: a thread that existed before the sandbox is under it too. (It
 * must be running first: a thread that starts under the filter makes
 * glibc's thread-start calls, which the VMM never needs.) */
static volatile int thread_running;

static void *thread_socket(void *arg)
{
	(void)arg;
	thread_running = 1;
	sleep(1);
	socket(AF_INET, SOCK_STREAM, 0);
	say("thread socket ran\n");
	return NULL;
}

static void do_thread(void)
{
	pthread_t t;
	if (pthread_create(&t, NULL, thread_socket, NULL) != 0)
		_exit(97);
	while (!thread_running)
		usleep(1000);
	install(0);
	pthread_join(t, NULL);
}

#if defined(__SANITIZE_ADDRESS__)
/* The sanitizer runtimes report from inside the sandbox: their reports must
 * come out whole, with their own status, not as a blocked call. */
static void do_ubsan_report(void)
{
	install(0);
	volatile int big = 0x7fffffff;
	int sum = big + 1; /* signed overflow: UBSan stops here */
	dprintf(2, "sum %d\n", sum);
}

static void do_asan_report(void)
{
	install(0);
	char *volatile p = malloc(8);
	volatile char c = p[8];
	(void)c;
}

static void *volatile leak_sink;

static void do_lsan_report(void)
{
	install(0);
	leak_sink = malloc(100);
	leak_sink = NULL;
	exit(0); /* LeakSanitizer runs at exit: a tracer task, ptrace, /proc */
}

static void expect_report(const char *name, void (*fn)(void), const char *fn_name, int status,
			  const char *what)
{
	struct outcome o = in_child(fn);
	/* ... and symbolized: the frame that made the error is named */
	CHECK(name, o.status == status && strstr(o.err, what) && !strstr(o.err, "blocked") &&
			    strstr(o.err, fn_name),
	      "status %d (want %d), stderr: %.300s", o.status, status, o.err);
}
#endif

static void expect(const char *name, void (*fn)(void), int status, const char *err)
{
	struct outcome o = in_child(fn);
	CHECK(name, o.status == status && !strcmp(o.err, err),
	      "status %d (want %d), stderr \"%s\" (want \"%s\")", o.status, status, o.err, err);
}

static void test_ram_sealed(void)
{
	struct vm vm;
	struct vm_config cfg = { .mem_size = 4u << 20 };
	if (vm_create(&vm, &cfg) < 0) {
		CHECK("sandbox.ram_sealed", false, "vm_create failed");
		return;
	}
	int seals = fcntl(vm.memfd, F_GET_SEALS);
	bool grow_refused = ftruncate(vm.memfd, 8u << 20) < 0 && errno == EPERM;
	bool shrink_refused = ftruncate(vm.memfd, 1u << 20) < 0 && errno == EPERM;
	bool write_past_end_refused = pwrite(vm.memfd, "x", 1, 4u << 20) < 0 && errno == EPERM;
	bool write_inside_ok = pwrite(vm.memfd, "x", 1, 4096) == 1 && vm.ram[4096] == 'x';
	CHECK("sandbox.ram_sealed",
	      (seals & (F_SEAL_GROW | F_SEAL_SHRINK | F_SEAL_SEAL)) ==
			      (F_SEAL_GROW | F_SEAL_SHRINK | F_SEAL_SEAL) &&
		      grow_refused && shrink_refused && write_past_end_refused && write_inside_ok,
	      "seals 0x%x grow_refused %d shrink_refused %d write_past_end_refused %d "
	      "write_inside_ok %d",
	      seals, grow_refused, shrink_refused, write_past_end_refused, write_inside_ok);
	vm_destroy(&vm);
}

int main(void)
{
	expect("sandbox.socket_refused", do_socket, RINGVM_EXIT_SANDBOX,
	       "ringvm: sandbox: blocked system call 41 (socket)\n");
	expect("sandbox.execve_refused", do_execve, RINGVM_EXIT_SANDBOX,
	       "ringvm: sandbox: blocked system call 59 (execve)\n");
	snprintf(new_file, sizeof new_file, "/tmp/ringvm-sandbox-%d", (int)getpid());
	expect("sandbox.create_file_refused", do_create_file, RINGVM_EXIT_SANDBOX,
	       "ringvm: sandbox: blocked system call 257 (openat)\n");
	CHECK("sandbox.create_file_absent", access(new_file, F_OK) < 0, "%s was created", new_file);
	unlink(new_file);
	expect("sandbox.vmm_calls_allowed", do_allowed, 0, "ok\n");
	expect("sandbox.exec_mapping_refused", do_exec_mapping, RINGVM_EXIT_SANDBOX,
	       "ringvm: sandbox: blocked system call 9 (mmap)\n");
	expect("sandbox.exec_mapping_native", do_exec_mapping_native, 0, "mapped\n");
	expect("sandbox.guest_ip_trapped", do_guest_ip, 42, "guest getpid trapped\n");
	expect("sandbox.tsync_threads", do_thread, RINGVM_EXIT_SANDBOX,
	       "ringvm: sandbox: blocked system call 41 (socket)\n");
	kvm_fd = open("/dev/kvm", O_RDWR | O_CLOEXEC);
	if (kvm_fd >= 0) {
		expect("sandbox.kvm_ioctl_refused", do_kvm_ioctl_interp, RINGVM_EXIT_SANDBOX,
		       "ringvm: sandbox: blocked system call 16 (ioctl)\n");
		expect("sandbox.kvm_ioctl_kvm", do_kvm_ioctl_kvm, 0, "kvm answered\n");
		close(kvm_fd);
	} else {
		SKIP("sandbox.kvm_ioctl_refused", "no /dev/kvm");
		SKIP("sandbox.kvm_ioctl_kvm", "no /dev/kvm");
	}
#if defined(__SANITIZE_ADDRESS__)
	expect_report("sandbox.ubsan_reports", do_ubsan_report, "test_sandbox.c", 1, "runtime error: signed integer overflow");
	expect_report("sandbox.asan_reports", do_asan_report, "do_asan_report", 1, "heap-buffer-overflow");
	/* (__sanitizer_sandbox_on_notify would make this one fail silently:
	 * the sandbox does not call it) */
	expect_report("sandbox.lsan_reports", do_lsan_report, "do_lsan_report", 1, "detected memory leaks");
#endif
	expect("sandbox.profiles_merge", do_tty_ioctls_kvm, RINGVM_EXIT_SANDBOX,
	       "tcgets ran\nringvm: sandbox: blocked system call 16 (ioctl)\n");
	test_ram_sealed();
	CHECK_DONE();
}
