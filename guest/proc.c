/* Ring-3 processes and a round-robin scheduler, preemptive on the timer.
 *
 * procs[0] is the kernel's own thread (the test driver). It runs only when
 * no user process is runnable: sched_run() makes the spawned processes
 * runnable and yields, and gets control back once they have all exited.
 * A context is the struct regs frame that isr.S pushed on that context's
 * kernel stack; switching is returning another frame to isr.S, after
 * loading that process's CR3 and kernel stack (TSS.ESP0). */
#include "kit.h"
#include "syscall_abi.h"

struct proc procs[MAX_PROCS];
struct proc *current = &procs[0];
uint32_t sched_user_switches;

extern char __user_start[], __user_end[], __user_lma[];    /* kit.ld */

#define KSTACK_PAGES 2

static struct regs *timer_tick(struct regs *r)
{
	if (current != &procs[0] && (r->cs & 3) == 3) {
		current->preempted++;
		struct proc *prev = current;
		struct regs *next = schedule(r);
		if (current != prev && current != &procs[0])
			sched_user_switches++;
		return next;
	}
	return r;
}

void sched_init(void)
{
	procs[0].pid = 0;
	procs[0].state = P_RUNNABLE;
	procs[0].pd_phys = virt_to_phys(kernel_pd);
	timer_hook = timer_tick;
}

/* Saves r as the current context, picks the next runnable user process
 * after it (or the kernel thread if none is left), and returns its frame. */
struct regs *schedule(struct regs *r)
{
	current->frame = r;
	int cur = (int)(current - procs);
	struct proc *next = &procs[0];
	for (int i = 1; i < MAX_PROCS; i++) {
		struct proc *p = &procs[1 + (cur - 1 + i + MAX_PROCS - 1) % (MAX_PROCS - 1)];
		if (p->state == P_RUNNABLE) {
			next = p;
			break;
		}
	}
	current = next;
	if (kcr3() != next->pd_phys)
		set_cr3(next->pd_phys);
	if (next != &procs[0])
		tss_set_esp0(next->kstack_top);
	return next->frame;
}

struct proc *proc_spawn(void (*entry)(uint32_t), uint32_t arg, uint32_t arena_pages)
{
	struct proc *p = NULL;
	for (int i = 1; i < MAX_PROCS; i++) {
		if (procs[i].state == P_FREE) {
			p = &procs[i];
			memset(p, 0, sizeof *p);
			p->pid = i;
			break;
		}
	}
	if (!p) {
		test_fail("proc", "no free process slot");
		tests_finish();
	}
	p->pd_phys = pd_new();

	/* A private copy of the ring-3 image: code, data and bss. */
	uint32_t size = (uint32_t)(__user_end - __user_start);
	for (uint32_t off = 0; off < size; off += 4096) {
		uint32_t f = frame_alloc();
		memcpy(phys_to_virt(f), phys_to_virt((uint32_t)__user_lma + off), 4096);
		map_page(p->pd_phys, (uint32_t)__user_start + off, f, PTE_U | PTE_W);
	}
	p->probe_phys = frame_alloc();
	map_page(p->pd_phys, USER_PROBE, p->probe_phys, PTE_U | PTE_W);
	uint32_t stack_frame = 0;
	for (uint32_t i = 1; i <= USER_STACK_PAGES; i++) {
		stack_frame = frame_alloc();
		map_page(p->pd_phys, USER_STACK_TOP - i * 4096, stack_frame, PTE_U | PTE_W);
		if (i == 1) {
			/* entry(arg) as if called: [esp] = return address 0, [esp+4] = arg */
			uint32_t *top = phys_to_virt(stack_frame + 4096 - 8);
			top[0] = 0;
			top[1] = arg;
		}
	}
	for (uint32_t i = 0; i < arena_pages; i++)
		map_page(p->pd_phys, USER_ARENA + i * 4096, frame_alloc(), PTE_U | PTE_W);

	/* Kernel stack with an initial frame that "returns" to ring 3. */
	/* Each slot keeps its kernel stack for good (contiguous frames). */
	static uint32_t slot_kstack[MAX_PROCS];
	uint32_t slot = (uint32_t)(p - procs);
	if (!slot_kstack[slot]) {
		slot_kstack[slot] = frame_alloc_fresh();
		for (int i = 1; i < KSTACK_PAGES; i++)
			frame_alloc_fresh();    /* contiguous: the bump allocator goes upwards */
	}
	p->kstack_top = (uint32_t)phys_to_virt(slot_kstack[slot]) + KSTACK_PAGES * 4096;
	struct regs *f = (struct regs *)(p->kstack_top - sizeof(struct regs));
	memset(f, 0, sizeof *f);
	f->gs = f->fs = f->es = f->ds = SEL_UDATA;
	f->eip = (uint32_t)entry;
	f->cs = SEL_UCODE;
	f->eflags = EFLAGS_IF | 0x2;    /* bit 1 is always set */
	f->user_esp = USER_STACK_TOP - 8;
	f->user_ss = SEL_UDATA;
	p->frame = f;
	p->state = P_NEW;
	return p;
}

void sched_run(void)
{
	sched_user_switches = 0;
	for (int i = 1; i < MAX_PROCS; i++)
		if (procs[i].state == P_NEW)
			procs[i].state = P_RUNNABLE;
	/* The kernel thread yields through the same gate as ring 3; it is
	 * resumed when no user process is left. */
	uint32_t eax = SYS_YIELD;
	__asm__ volatile("int $0x80" : "+a"(eax) : : "memory", "cc");
}

/* Frees the address spaces of the finished processes (the caller runs on
 * the kernel thread, in kernel_pd) and their slots. */
void proc_reap(void)
{
	for (int i = 1; i < MAX_PROCS; i++) {
		if (procs[i].state != P_FREE && procs[i].pd_phys && procs[i].pd_phys != kcr3())
			pd_free(procs[i].pd_phys);
		procs[i].pd_phys = 0;
		procs[i].state = P_FREE;
	}
}
