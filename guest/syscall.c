/* int 0x80 from ring 3 (and SYS_YIELD from the kernel thread), plus the
 * fate of a process that takes an exception: it is killed, and the fault
 * is kept for the test that expected (or did not expect) it. */
#include "kit.h"
#include "syscall_abi.h"

/* A user buffer must lie below KBASE in present user pages of the current
 * address space, so the kernel never faults on a process's behalf. */
static int user_range_ok(uint32_t p, uint32_t len)
{
	if (len > 4096 || p >= KBASE || KBASE - p < len)
		return 0;
	for (uint32_t va = p & ~0xFFFu; va < p + len; va += 4096) {
		uint32_t pte = pte_get(current->pd_phys, va);
		if ((pte & (PTE_P | PTE_U)) != (PTE_P | PTE_U))
			return 0;
	}
	return 1;
}

static struct regs *sys_exit(struct regs *r, uint32_t code)
{
	current->exit_code = code;
	current->state = P_DEAD;
	return schedule(r);
}

static struct regs *syscall(struct regs *r)
{
	uint32_t a = r->ebx, b = r->ecx;
	switch (r->eax) {
	case SYS_WRITE:
		if (!user_range_ok(a, b)) {
			r->eax = (uint32_t)-1;
			break;
		}
		serial_write((const char *)a, b);
		r->eax = b;
		break;
	case SYS_GETPID:
		r->eax = (uint32_t)current->pid;
		break;
	case SYS_YIELD:
		r->eax = 0;
		return schedule(r);
	case SYS_EXIT:
		return sys_exit(r, a);
	case SYS_REPORT:
		if (a >= SYS_REPORT_SLOTS) {
			r->eax = (uint32_t)-1;
			break;
		}
		current->report[a] = b;
		r->eax = 0;
		break;
	case SYS_PREEMPTIONS:
		r->eax = current->preempted;
		break;
	default:
		r->eax = (uint32_t)-1;
	}
	return r;
}

trap_hook user_pf_hook;

static struct regs *user_fault(struct regs *r)
{
	/* bench pgfault: a fault the benchmark resolves and resumes from. */
	if (user_pf_hook) {
		struct regs *again = user_pf_hook(r);
		if (again)
			return again;
	}
	current->faulted = 1;
	current->fault_vector = r->vector;
	current->fault_err = r->err;
	current->fault_eip = r->eip;
	current->fault_cr2 = read_cr2();
	kprintf("# pid %d killed: vector %u err 0x%x eip 0x%08x cr2 0x%08x\n", current->pid,
		r->vector, r->err, r->eip, current->fault_cr2);
	return sys_exit(r, 0xDEAD0000u | r->vector);
}

/* For user.supervisor_exec: code that has just run in the caller's
 * address space, so a VMM that maps pages on demand has it mapped. */
uint32_t syscall_code_address(void)
{
	return (uint32_t)&syscall;
}

void syscall_init(void)
{
	syscall_hook = syscall;
	user_fault_hook = user_fault;
}
