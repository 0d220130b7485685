/* Every interrupt and exception lands in trap_dispatch (via isr.S).
 * Exceptions: a test may arm trap_expect to provoke one on purpose; one
 * raised in ring 3 goes to the process layer; anything else is a bug
 * that is reported, after which the kit exits with failure. */
#include "kit.h"
#include "bench.h"

volatile uint32_t ticks;
trap_hook timer_hook, syscall_hook, user_fault_hook, debug_hook, irq13_hook, v86_hook, vector_hook;
struct trap_expect trap_expect;

static const char *const exc_names[32] = {
	"#DE", "#DB", "NMI", "#BP", "#OF", "#BR", "#UD", "#NM", "#DF", "CSO", "#TS", "#NP",
	"#SS", "#GP", "#PF", "?15", "#MF", "#AC", "#MC", "#XM", "#VE", "#CP", "?22", "?23",
	"?24", "?25", "?26", "?27", "?28", "#VC", "#SX", "?31",
};

void trap_arm(uint32_t vector)
{
	trap_expect.vector = vector;
	trap_expect.hit = 0;
	trap_expect.got_vector = trap_expect.got_err = trap_expect.got_eip = trap_expect.got_cr2 = 0xFFFFFFFFu;
	trap_expect.armed = 1;
}

/* A bug, or an engine that delivered something it should not have: say
 * exactly what arrived, then stop with failure. */
static NORETURN void unexpected(struct regs *r)
{
	test_fail("exception", "unexpected %s vector=%u err=0x%x eip=0x%08x cs=0x%x eflags=0x%08x cr2=0x%08x",
		  r->vector < 32 ? exc_names[r->vector] : "int", r->vector, r->err, r->eip, r->cs,
		  r->eflags, read_cr2());
	tests_finish();
}

struct regs *trap_dispatch(struct regs *r)
{
	/* From virtual-8086 mode (EFLAGS.VM): CS is a paragraph, not a
	 * selector, so nothing below may judge the frame by CS's low bits. */
	if ((r->eflags & 0x00020000u) && v86_hook)
		return v86_hook(r);
	if (r->vector < 32) {
		/* bench divzero (bench_r0.c): skip the div, as fast as we can. */
		if (r->vector == 0 && bench_de_resume && (r->cs & 3) == 0) {
			r->eip = bench_de_resume;
			return r;
		}
		if (r->vector == 1 && debug_hook && (r->cs & 3) == 0)
			return debug_hook(r);
		if (trap_expect.armed && (r->cs & 3) == 0 && r->vector == trap_expect.vector) {
			trap_expect.got_vector = r->vector;
			trap_expect.got_err = r->err;
			trap_expect.got_eip = r->eip;
			trap_expect.got_cr2 = read_cr2();
			trap_expect.armed = 0;
			trap_expect.hit = 1;
			r->eip = trap_expect.resume;
			return r;
		}
		if ((r->cs & 3) == 3 && user_fault_hook)
			return user_fault_hook(r);
		unexpected(r);
	}
	if (r->vector < 48) {
		int irq = (int)r->vector - 32;
		pic_eoi(irq);
		if (irq == 0) {
			ticks++;
			if (timer_hook)
				return timer_hook(r);
		}
		if (irq == 13 && irq13_hook)
			return irq13_hook(r);
		return r;
	}
	if (r->vector < 96 && vector_hook)
		return vector_hook(r);
	if (r->vector == 0x80 && syscall_hook)
		return syscall_hook(r);
	unexpected(r);
}
