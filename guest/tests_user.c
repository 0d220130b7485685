/* user.*: ring-3 processes, each in its own address space. The kernel
 * spawns them, runs the scheduler until all have exited, then judges
 * from their exit codes, reports (SYS_REPORT) and recorded faults. */
#include "kit.h"
#include <stdbool.h>

#include "user.h"

static void test_syscall(void)
{
	struct proc *p = proc_spawn(user_syscall, 0, 0);
	uint32_t pid = (uint32_t)p->pid;
	p->frame->user_esp = USER_STACK_TOP - 8;
	/* The argument is the pid the process must get back from getpid. */
	uint32_t *arg = phys_to_virt((pte_get(p->pd_phys, USER_STACK_TOP - 4096) & ~0xFFFu) + 4096 - 4);
	*arg = pid;
	sched_run();
	test_result("user.syscall", !p->faulted && p->exit_code == 0,
		    "exit 0x%x fault vector %u: getpid %u (want %u), write returned %u, bad write %d (want -1)",
		    p->exit_code, p->faulted ? p->fault_vector : 0, p->report[0], pid, p->report[1],
		    (int)p->report[2]);
	proc_reap();
}

static void test_supervisor(void)
{
	static volatile uint32_t kernel_secret = 0x5EC2E7u;
	uint32_t addr = (uint32_t)&kernel_secret;
	struct proc *p = proc_spawn(user_read, addr, 0);
	sched_run();
	if (!p->faulted)
		test_fail("user.supervisor", "ring-3 read of supervisor page 0x%08x succeeded (read 0x%x)",
			  addr, p->report[0]);
	else
		test_result("user.supervisor", p->fault_vector == 14 && p->fault_err == 5 && p->fault_cr2 == addr,
			    "expected #PF err 0x5 (U=1 P=1 read) cr2 0x%08x, got vector %u err 0x%x cr2 0x%08x",
			    addr, p->fault_vector, p->fault_err, p->fault_cr2);
	proc_reap();
}

/* Executing kernel code from ring 3: the fetch itself must fault (#PF,
 * error 5 without NX: U=1 P=1 read), at the target, before anything runs. */
static void test_supervisor_exec(void)
{
	uint32_t addr = syscall_code_address();
	struct proc *p = proc_spawn(user_exec, addr, 0);
	sched_run();
	if (!p->faulted)
		test_fail("user.supervisor_exec", "ring-3 call of kernel code at 0x%08x returned (exit 0x%x)",
			  addr, p->exit_code);
	else
		test_result("user.supervisor_exec",
			    p->fault_vector == 14 && p->fault_err == 5 && p->fault_cr2 == addr &&
				    p->fault_eip == addr,
			    "expected #PF err 0x5 cr2 = eip = 0x%08x, got vector %u err 0x%x cr2 0x%08x eip 0x%08x",
			    addr, p->fault_vector, p->fault_err, p->fault_cr2, p->fault_eip);
	proc_reap();
}

/* user.cr3 and user.iret run together, so user_iret's yield really
 * switches to another address space and back. */
static void test_cr3_iret(void)
{
	const uint32_t ma = 0xAAAA0001u, mb = 0xBBBB0002u;
	struct proc *a = proc_spawn(user_cr3, ma, 0);
	struct proc *b = proc_spawn(user_cr3, mb, 0);
	struct proc *c = proc_spawn(user_iret, 0, 0);
	sched_run();

	if (test_wanted("user.cr3")) {
		uint32_t fa = pte_get(a->pd_phys, USER_PROBE) & ~0xFFFu;
		uint32_t fb = pte_get(b->pd_phys, USER_PROBE) & ~0xFFFu;
		uint32_t va = *(uint32_t *)phys_to_virt(fa), vb = *(uint32_t *)phys_to_virt(fb);
		test_result("user.cr3",
			    a->exit_code == 0 && b->exit_code == 0 && a->pd_phys != b->pd_phys && fa != fb &&
				    va == ma && vb == mb,
			    "at 0x%x A saw 0x%x (exit 0x%x, frame 0x%x holds 0x%x), B saw 0x%x (exit 0x%x, "
			    "frame 0x%x holds 0x%x), expected 0x%x / 0x%x",
			    USER_PROBE, a->report[0], a->exit_code, fa, va, b->report[0], b->exit_code, fb, vb,
			    ma, mb);
	}
	if (test_wanted("user.iret")) {
		uint32_t fl = c->report[IRET_SLOT_EFLAGS], cs = c->report[IRET_SLOT_CS];
		test_result("user.iret", !c->faulted && c->exit_code == 0,
			    "after IRET to ring 3 expected IF=1 DF=1 AC=1 IOPL=0 CPL=3, got eflags=0x%08x "
			    "(IF=%u DF=%u AC=%u IOPL=%u) cs=0x%x (exit 0x%x)",
			    fl, (fl >> 9) & 1, (fl >> 10) & 1, (fl >> 18) & 1, (fl >> 12) & 3, cs, c->exit_code);
	}
	proc_reap();
}

static void test_sched(void)
{
	struct proc *a = proc_spawn(user_spin, 0, 0);
	struct proc *b = proc_spawn(user_spin, 0, 0);
	sched_run();
	kprintf("# user.sched: counts %u and %u, preempted %u and %u times, %u switches between them\n",
		a->report[0], b->report[0], a->preempted, b->preempted, sched_user_switches);
	test_result("user.sched",
		    !a->faulted && !b->faulted && a->exit_code == 0 && b->exit_code == 0 && a->report[0] &&
			    b->report[0] && a->preempted >= 3 && b->preempted >= 3 && sched_user_switches >= 2,
		    "exits 0x%x/0x%x, counts %u/%u, preempted %u/%u, switches %u (want 0/0, >0, >=3, >=2)",
		    a->exit_code, b->exit_code, a->report[0], b->report[0], a->preempted, b->preempted,
		    sched_user_switches);
	proc_reap();
}

static uint32_t cr4_get(void)
{
	uint32_t v;
	__asm__ volatile("mov %%cr4, %0" : "=r"(v));
	return v;
}

static void cr4_set(uint32_t v)
{
	__asm__ volatile("mov %0, %%cr4" : : "r"(v) : "memory");
}

/* RDTSC from ring 3: allowed while CR4.TSD is clear, #GP at the rdtsc
 * once it is set (a VMM that answers rdtsc in translated code must notice
 * the change), allowed again once it is cleared. */
static void test_rdtsc_tsd(void)
{
	const uint32_t tsd = 1u << 2;
	uint32_t cr4 = cr4_get();
	struct proc *p = proc_spawn(user_rdtsc, 0, 0);
	sched_run();
	bool ok1 = !p->faulted && p->exit_code == 0 && p->report[1] == 0 && p->report[0] > 0;
	uint32_t d = p->report[0];
	proc_reap();
	cr4_set(cr4 | tsd);
	p = proc_spawn(user_rdtsc, 0, 0);
	sched_run();
	bool ok2 = p->faulted && p->fault_vector == 13 && p->fault_err == 0;
	uint32_t vec = p->faulted ? p->fault_vector : 0, err = p->fault_err, code = p->exit_code;
	proc_reap();
	cr4_set(cr4 & ~tsd);
	p = proc_spawn(user_rdtsc, 0, 0);
	sched_run();
	bool ok3 = !p->faulted && p->exit_code == 0;
	proc_reap();
	test_result("user.rdtsc_tsd", ok1 && ok2 && ok3,
		    "TSD clear: ok %d (delta %u); TSD set: vector %u err 0x%x exit 0x%x (want #GP 0); "
		    "cleared again: ok %d",
		    ok1, d, vec, err, code, ok3);
}

void tests_user(void)
{
	if (test_wanted("user.syscall"))
		test_syscall();
	if (test_wanted("user.supervisor"))
		test_supervisor();
	if (test_wanted("user.supervisor_exec"))
		test_supervisor_exec();
	if (test_wanted("user.cr3") || test_wanted("user.iret"))
		test_cr3_iret();
	if (test_wanted("user.sched"))
		test_sched();
	if (test_wanted("user.rdtsc_tsd"))
		test_rdtsc_tsd();
}
