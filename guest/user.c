/* The ring-3 programs. They are linked at USER_IMAGE into the .user
 * section, copied into each process's pages, and may use nothing but
 * themselves, compute.c and int 0x80 (guest.mk checks this). */
#include "user.h"
#include "compute.h"
#include "cpu.h"
#include "layout.h"
#include "syscall_abi.h"

static inline uint32_t sys0(uint32_t n)
{
	__asm__ volatile("int $0x80" : "+a"(n) : : "memory", "cc");
	return n;
}

static inline uint32_t sys2(uint32_t n, uint32_t a, uint32_t b)
{
	__asm__ volatile("int $0x80" : "+a"(n) : "b"(a), "c"(b) : "memory", "cc");
	return n;
}

static __attribute__((noreturn)) void sys_exit(uint32_t code)
{
	sys2(SYS_EXIT, code, 0);
	for (;;)
		;
}

static uint32_t sys_write(const char *s)
{
	uint32_t n = 0;
	while (s[n])
		n++;
	return sys2(SYS_WRITE, (uint32_t)s, n);
}

/* Exit 0: getpid and write both returned what they should. */
void user_syscall(uint32_t expected_pid)
{
	static const char msg[] = "# hello from ring 3\n";
	uint32_t pid = sys0(SYS_GETPID);
	uint32_t n = sys_write(msg);
	uint32_t bad = sys2(SYS_WRITE, 0xC0100000u, 4);     /* kernel buffer: refused */
	sys2(SYS_REPORT, 0, pid);
	sys2(SYS_REPORT, 1, n);
	sys2(SYS_REPORT, 2, bad);
	sys_exit((pid != expected_pid) | (n != sizeof msg - 1) << 1 | (bad != (uint32_t)-1) << 2);
}

/* Reads addr: the kernel expects this to fault when addr is supervisor-only. */
void user_read(uint32_t addr)
{
	uint32_t v = *(volatile uint32_t *)addr;
	sys2(SYS_REPORT, 0, v);
	sys_exit(0x55);
}

/* Calls addr: the kernel expects the fetch to fault when addr is
 * supervisor-only, even though the page holds code the kernel runs. */
void user_exec(uint32_t addr)
{
	sys0(SYS_GETPID); /* the kernel runs the code at addr in this address space */
	((void (*)(void))addr)();
	sys_exit(0x55);
}

/* Writes magic at USER_PROBE, lets the other processes run, and checks
 * that its own value is still there. */
void user_cr3(uint32_t magic)
{
	volatile uint32_t *probe = (volatile uint32_t *)USER_PROBE;
	*probe = magic;
	for (int i = 0; i < 4; i++)
		sys0(SYS_YIELD);
	uint32_t v = *probe;
	sys2(SYS_REPORT, 0, v);
	sys_exit(v != magic);
}

/* Sets DF and AC, goes through the kernel and a context switch, and
 * reports EFLAGS and CS as seen after the IRET back. */
void user_iret(uint32_t unused)
{
	uint32_t fl, cs;
	(void)unused;
	__asm__ volatile(
		"pushfl\n\t"
		"orl $0x40000, (%%esp)\n\t"     /* AC */
		"popfl\n\t"
		"std\n\t"                       /* DF */
		"movl %[yield], %%eax\n\t"
		"int $0x80\n\t"
		"pushfl\n\t"
		"popl %[fl]\n\t"
		"cld\n\t"
		"pushfl\n\t"
		"andl $~0x40000, (%%esp)\n\t"
		"popfl\n\t"
		"movl %%cs, %[cs]\n\t"
		: [fl] "=&b"(fl), [cs] "=&d"(cs)
		: [yield] "i"(SYS_YIELD)
		: "eax", "memory", "cc");
	sys2(SYS_REPORT, IRET_SLOT_EFLAGS, fl);
	sys2(SYS_REPORT, IRET_SLOT_CS, cs);
	uint32_t want = EFLAGS_IF | EFLAGS_DF | EFLAGS_AC;
	uint32_t ok = (fl & (want | EFLAGS_IOPL)) == want && (cs & 3) == 3;
	sys_exit(!ok);
}

/* Counts without ever yielding until the timer has preempted it 3 times;
 * the bound stops it if preemption never comes. */
void user_spin(uint32_t unused)
{
	volatile uint32_t *count = (volatile uint32_t *)USER_PROBE;
	(void)unused;
	while (sys0(SYS_PREEMPTIONS) < 3 && *count < (1u << 28)) {
		for (int i = 0; i < 4096; i++)
			(*count)++;
	}
	sys2(SYS_REPORT, 0, *count);
	sys_exit(*count >= (1u << 28));
}

/* The compute benchmark on the arena at USER_ARENA, timed with RDTSC. */
void user_bench(uint32_t rounds)
{
	/* One round first, timed on its own: it pays for first touches (the
	 * arena's fresh pages; a translating engine's translations). The
	 * rounds after it are the steady state. Native runs the same two
	 * steps (bench/native_compute.c). */
	uint8_t *arena = (uint8_t *)USER_ARENA;
	uint64_t t0 = rdtsc();
	compute_run(arena, COMPUTE_ARENA_BYTES, 1);
	uint64_t t1 = rdtsc();
	uint32_t sum = compute_run(arena, COMPUTE_ARENA_BYTES, rounds);
	uint64_t t2 = rdtsc();
	sys2(SYS_REPORT, BENCH_SLOT_SUM, sum);
	sys2(SYS_REPORT, BENCH_SLOT_LO, (uint32_t)(t2 - t1));
	sys2(SYS_REPORT, BENCH_SLOT_HI, (uint32_t)((t2 - t1) >> 32));
	sys2(SYS_REPORT, BENCH_SLOT_COLD_LO, (uint32_t)(t1 - t0));
	sys2(SYS_REPORT, BENCH_SLOT_COLD_LO + 1, (uint32_t)((t1 - t0) >> 32));
	sys_exit(0);
}

/* Reports a 64-bit count in two slots. */
static void report64(uint32_t slot, uint64_t v)
{
	sys2(SYS_REPORT, slot, (uint32_t)v);
	sys2(SYS_REPORT, slot + 1, (uint32_t)(v >> 32));
}

/* bench syscall: n round trips ring 3 -> int 0x80 (getpid) -> ring 3, and
 * the same loop without the int, for the kernel to subtract. */
void user_bench_syscall(uint32_t n)
{
	uint32_t c = n;
	uint64_t t0 = rdtsc();
	__asm__ volatile("1:\tmovl %1, %%eax\n\tdecl %0\n\tjnz 1b"
			 : "+c"(c) : "i"(SYS_GETPID) : "eax", "memory", "cc");
	uint64_t empty = rdtsc() - t0;
	c = n;
	t0 = rdtsc();
	__asm__ volatile("1:\tmovl %1, %%eax\n\tint $0x80\n\tdecl %0\n\tjnz 1b"
			 : "+c"(c) : "i"(SYS_GETPID) : "eax", "memory", "cc");
	uint64_t body = rdtsc() - t0;
	report64(BENCH_SLOT_LO, body);
	report64(BENCH_SLOT_EMPTY_LO, empty);
	sys_exit(0);
}

/* bench pgfault: reads BENCH_PF_VA and the page after it in turn, n times
 * each. The kernel maps the page that faulted and unmaps the other, so
 * every read faults once. The empty loop reads USER_PROBE (present). */
void user_bench_pgfault(uint32_t n)
{
	uint32_t c = n, a = USER_PROBE, b = USER_PROBE + 4;
	uint64_t t0 = rdtsc();
	__asm__ volatile("1:\tmovl (%1), %%eax\n\tmovl (%2), %%eax\n\tdecl %0\n\tjnz 1b"
			 : "+c"(c) : "r"(a), "r"(b) : "eax", "memory", "cc");
	uint64_t empty = rdtsc() - t0;
	c = n;
	a = BENCH_PF_VA;
	b = BENCH_PF_VA + 4096;
	t0 = rdtsc();
	__asm__ volatile("1:\tmovl (%1), %%eax\n\tmovl (%2), %%eax\n\tdecl %0\n\tjnz 1b"
			 : "+c"(c) : "r"(a), "r"(b) : "eax", "memory", "cc");
	uint64_t body = rdtsc() - t0;
	report64(BENCH_SLOT_LO, body);
	report64(BENCH_SLOT_EMPTY_LO, empty);
	sys_exit(0);
}

/* bench forkwait: a process that only exits. */
/* Reads the TSC twice from ring 3 and reports both halves of the
 * difference; under CR4.TSD the first rdtsc must fault (#GP) instead. */
void user_rdtsc(uint32_t unused)
{
	(void)unused;
	uint64_t a = rdtsc();
	uint64_t b = rdtsc();
	sys2(SYS_REPORT, 0, (uint32_t)(b - a));
	sys2(SYS_REPORT, 1, (uint32_t)((b - a) >> 32));
	sys_exit(b > a ? 0 : 1);
}

void user_exit0(uint32_t unused)
{
	(void)unused;
	sys_exit(0);
}

/* Rings the PV doorbell from ring 3: OUT at IOPL 0 must fault (#GP) before
 * the VMM ever sees a call. Exit 0 would mean it did not. */
void user_hypercall(uint32_t nr)
{
	__asm__ volatile("outl %%eax, $0xe4" : "+a"(nr) : : "memory");
	sys_exit(0);
}
