/* Ring-0 micro-benchmarks that need neither paging nor ring 3: in,
 * cli_sti, pushf_popf, call_ret, divzero, x87. Built twice, like the other
 * drivers: into the higher-half kernel (bench.c) and into the smoke-mode
 * "low" build (paging off), which is what a hypervisor that cannot run a
 * paged 32-bit guest can still measure.
 *
 * Each benchmark runs its body n times in an asm loop (dec ecx; jnz) and is
 * timed with RDTSC around the whole loop. The same loop with an empty body
 * is timed right before it and subtracted, so cycles_per_op is the cost of
 * the body alone: this matters for the cheap ones (call_ret, cli_sti,
 * pushf_popf, a few cycles natively), and is noise for the expensive ones.
 * A body that comes out cheaper than the empty loop reports 0. */
#include "kit.h"
#include "bench.h"

/* The #DE handler resumes here (trap.c) when it is non-zero. */
volatile uint32_t bench_de_resume;

__asm__(".text\n"
	".globl bench_ret_target\n"
	"bench_ret_target:\n\tret\n");

uint64_t bench_loop_empty(uint32_t n)
{
	uint64_t t0 = rdtsc();
	__asm__ volatile("1:\tdecl %0\n\tjnz 1b" : "+c"(n) : : "memory", "cc");
	return rdtsc() - t0;
}

static uint64_t loop_in(uint32_t n)
{
	uint64_t t0 = rdtsc();
	__asm__ volatile("1:\tinb $0x80, %%al\n\tdecl %0\n\tjnz 1b" : "+c"(n) : : "eax", "memory", "cc");
	return rdtsc() - t0;
}

/* Paravirtual: the same operations as plain stores to the shared page
 * (pv.h); enabling checks for a held interrupt and calls the VMM only then. */
static uint64_t loop_pv_cli_sti(uint32_t n)
{
	uint64_t t0 = rdtsc();
	for (uint32_t i = n; i; i--) {
		irq_off();
		irq_on();
	}
	return rdtsc() - t0;
}

static uint64_t loop_pv_pushf_popf(uint32_t n)
{
	uint64_t t0 = rdtsc();
	for (uint32_t i = n; i; i--)
		irq_restore(irq_save());
	return rdtsc() - t0;
}

/* timer: the time since boot. Full virtualization reads the PIT's counter
 * (latch, two reads: three port exits); paravirtual reads the pvclock. */
static uint64_t loop_timer(uint32_t n)
{
	volatile uint32_t sink = 0;
	uint64_t t0 = rdtsc();
	if (pv_active) {
		for (uint32_t i = n; i; i--)
			sink += (uint32_t)pv_clock_ns();
	} else {
		for (uint32_t i = n; i; i--) {
			outb(0x43, 0x00);
			uint32_t lo = inb(0x40);
			sink += lo | (uint32_t)inb(0x40) << 8;
		}
	}
	(void)sink;
	return rdtsc() - t0;
}

/* Leaves IF as it found it (the loop ends on STI, so only if IF was set). */
static uint64_t loop_cli_sti(uint32_t n)
{
	uint32_t fl = read_eflags();
	uint64_t t0 = rdtsc();
	__asm__ volatile("1:\tcli\n\tsti\n\tdecl %0\n\tjnz 1b" : "+c"(n) : : "memory", "cc");
	uint64_t t = rdtsc() - t0;
	if (!(fl & EFLAGS_IF))
		cli();
	return t;
}

static uint64_t loop_pushf_popf(uint32_t n)
{
	uint64_t t0 = rdtsc();
	__asm__ volatile("1:\tpushfl\n\tpopfl\n\tdecl %0\n\tjnz 1b" : "+c"(n) : : "memory", "cc");
	return rdtsc() - t0;
}

static uint64_t loop_call_ret(uint32_t n)
{
	uint64_t t0 = rdtsc();
	__asm__ volatile("1:\tcall bench_ret_target\n\tdecl %0\n\tjnz 1b" : "+c"(n) : : "memory", "cc");
	return rdtsc() - t0;
}

/* An FADD/FSUB pair on the x87 stack (ST0 stays near pi): what an x87
 * instruction costs an engine (the emulator runs each on the host's x87). */
static uint64_t loop_x87(uint32_t n)
{
	__asm__ volatile("fninit; fld1; fldpi" ::: "memory");
	uint64_t t0 = rdtsc();
	__asm__ volatile("1:\tfadd %%st(1), %%st\n\tfsub %%st(1), %%st\n\tdecl %0\n\tjnz 1b"
			 : "+c"(n) : : "memory", "cc");
	uint64_t t = rdtsc() - t0;
	__asm__ volatile("fninit" ::: "memory");
	return t;
}

/* div by zero -> #DE -> the kernel's handler (isr.S, trap.c) moves EIP past
 * the div -> IRET. The empty loop for this one also clears EDX and loads
 * EAX, so only the fault is left after the subtraction. */
static uint64_t loop_div_setup(uint32_t n)
{
	uint64_t t0 = rdtsc();
	__asm__ volatile("1:\txorl %%edx, %%edx\n\tmovl $1, %%eax\n\tdecl %0\n\tjnz 1b"
			 : "+c"(n) : : "eax", "edx", "memory", "cc");
	return rdtsc() - t0;
}

static uint64_t loop_divzero(uint32_t n)
{
	uint32_t zero = 0;
	uint64_t t0 = rdtsc();
	__asm__ volatile("movl $2f, bench_de_resume\n"
			 "1:\txorl %%edx, %%edx\n\tmovl $1, %%eax\n\tdivl %1\n"
			 "2:\tdecl %0\n\tjnz 1b\n\t"
			 "movl $0, bench_de_resume"
			 : "+c"(n) : "b"(zero) : "eax", "edx", "memory", "cc");
	return rdtsc() - t0;
}

uint64_t bench_net(uint64_t body, uint64_t empty)
{
	return body > empty ? body - empty : 0;
}

int bench_r0(const char *name, uint32_t n, uint64_t *cycles)
{
	if (!n)
		n = 1;
	if (!strncmp(name, "in", 3))
		*cycles = bench_net(loop_in(n), bench_loop_empty(n));
	else if (!strncmp(name, "cli_sti", 8))
		*cycles = bench_net(pv_active ? loop_pv_cli_sti(n) : loop_cli_sti(n), bench_loop_empty(n));
	else if (!strncmp(name, "pushf_popf", 11))
		*cycles = bench_net(pv_active ? loop_pv_pushf_popf(n) : loop_pushf_popf(n),
				    bench_loop_empty(n));
	else if (!strncmp(name, "timer", 6))
		*cycles = bench_net(loop_timer(n), bench_loop_empty(n));
	else if (!strncmp(name, "call_ret", 9))
		*cycles = bench_net(loop_call_ret(n), bench_loop_empty(n));
	else if (!strncmp(name, "divzero", 8))
		*cycles = bench_net(loop_divzero(n), loop_div_setup(n));
	else if (!strncmp(name, "x87", 4))
		*cycles = bench_net(loop_x87(n), bench_loop_empty(n));
	else
		return 0;
	return 1;
}

void bench_print(const char *name, uint64_t cycles, uint32_t ops)
{
	kprintf("BENCH %s cycles_per_op=%llu ops=%u\n", name, udivmod64(cycles, ops ? ops : 1, NULL), ops);
}

/* Iterations: "iters=N" overrides; "quick" divides the default by 10. */
uint32_t bench_iters(uint32_t dflt)
{
	char arg[16];
	if (cmdline_value("iters", arg, sizeof arg) && parse_u32(arg))
		return parse_u32(arg);
	if (cmdline_has("quick"))
		return dflt / 10 ? dflt / 10 : 1;
	return dflt;
}

/* Is `name` in the comma-separated list of "bench=a,b,c" ("all": every
 * one; the word "bench" alone means compute only)? */
int bench_selected(const char *name)
{
	char list[128];
	if (!cmdline_value("bench", list, sizeof list))
		return cmdline_has("bench") && !strncmp(name, "compute", 8);
	uint32_t n = strlen(name);
	const char *p = list;
	while (*p) {
		const char *w = p;
		while (*p && *p != ',')
			p++;
		uint32_t len = (uint32_t)(p - w);
		if ((len == 3 && !strncmp(w, "all", 3)) || (len == n && !strncmp(w, name, n)))
			return 1;
		if (*p)
			p++;
	}
	return 0;
}

int bench_mode(void)
{
	char list[4];
	return cmdline_has("bench") || cmdline_value("bench", list, sizeof list);
}

/* Smoke mode (paging off, ring 0): the benchmarks that need neither. */
void bench_r0_all(void)
{
	static const char *const names[] = { "in", "cli_sti", "pushf_popf", "call_ret", "divzero",
					     "timer", "x87" };
	/* x87 last: kvm_pvm's emulator cannot run it and dies there. */
	static const uint32_t dflt[] = { BENCH_N_IN, BENCH_N_CLI_STI, BENCH_N_PUSHF_POPF,
					 BENCH_N_CALL_RET, BENCH_N_DIVZERO, BENCH_N_TIMER,
					 BENCH_N_X87 };
	for (uint32_t i = 0; i < sizeof names / sizeof names[0]; i++) {
		if (!bench_selected(names[i]))
			continue;
		uint32_t n = bench_iters(dflt[i]);
		uint64_t c;
		bench_r0(names[i], n, &c);
		bench_print(names[i], c, n);
		char test[32];
		ksnprintf(test, sizeof test, "bench.%s", names[i]);
		test_pass(test);
	}
}
