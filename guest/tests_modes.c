/* modes.*: the CPU's modes beyond flat 32-bit protected mode.
 *   modes.real_mode   drop to real mode (paging off, 16-bit protected mode,
 *                     PE off), INT n, #DE and IRQ 0 through a real-mode
 *                     IVT, segment:offset arithmetic and A20, and back;
 *   modes.v86_iobitmap  a v8086 program under a ring-0 monitor: the port
 *                     the TSS I/O bitmap allows works, the denied ones and
 *                     INT n (IOPL 0) #GP to the monitor, which sees the
 *                     v8086 segment registers pushed;
 *   modes.task_gate   INT n through an IDT task gate to a second TSS, and
 *                     back by IRET with NT (busy bits, back link, saved
 *                     registers); modes.task_call: far CALL to a GDT task
 *                     gate and to the TSS itself;
 *   modes.call_gate   ring 3 calls ring 0 through a call gate with two
 *                     parameters and far RETs back.
 * The tests load a GDT of their own (the kit's entries plus theirs) and
 * put the kit's back afterwards. */
#include "kit.h"
#include "modes.h"
#include "user.h"

#define EFLAGS_NT 0x4000u
#define EFLAGS_VM 0x20000u

extern const char rm_blob_start[], rm_blob_end[], v86_blob_start[], v86_blob_end[];
void v86_enter(const uint32_t frame[9]);
void v86_resume(void);
void task2_entry(void);
void callgate_entry(void);
void far_ret_stub(void);

volatile uint32_t task2_runs, task2_eflags;
volatile uint16_t task2_tr;

struct __attribute__((packed)) tss32 {
	uint32_t link, esp0, ss0, esp1, ss1, esp2, ss2, cr3, eip, eflags;
	uint32_t eax, ecx, edx, ebx, esp, ebp, esi, edi;
	uint32_t es, cs, ss, ds, fs, gs, ldt;
	uint16_t trap, iomap_base;
};

/* The v8086 TSS: its I/O bitmap covers all 65536 ports, then the 0xff
 * byte the SDM asks for after it. */
struct __attribute__((packed)) tss_io {
	struct tss32 t;
	uint8_t iomap[8192 + 1];
};

static uint64_t modes_gdt[MODES_GDT_ENTRIES] __attribute__((aligned(8)));
static struct dtr modes_gdtr;
static struct tss32 tss2 __attribute__((aligned(128)));
static struct tss_io tss_v86 __attribute__((aligned(128)));
static uint8_t task2_stack[4096] __attribute__((aligned(16)));
static uint8_t v86_kstack[4096] __attribute__((aligned(16)));

static uint64_t seg_desc(uint32_t base, uint32_t limit, uint8_t access, uint8_t flags)
{
	uint64_t d = limit & 0xFFFFu;
	d |= (uint64_t)(base & 0xFFFFFFu) << 16;
	d |= (uint64_t)access << 40;
	d |= (uint64_t)((limit >> 16) & 0xFu) << 48;
	d |= (uint64_t)(flags & 0xFu) << 52;
	d |= (uint64_t)(base >> 24) << 56;
	return d;
}

/* Call gate (type 0xC) or task gate (type 5, offset unused). */
static uint64_t gate_desc(uint16_t sel, uint32_t off, uint8_t access, uint8_t params)
{
	uint64_t g = off & 0xFFFFu;
	g |= (uint64_t)sel << 16;
	g |= (uint64_t)(params & 0x1F) << 32;
	g |= (uint64_t)access << 40;
	g |= (uint64_t)(off >> 16) << 48;
	return g;
}

#define DESC_BUSY (2ull << 40) /* TSS type 9 -> 0xB */

static void lgdt(const struct dtr *d)
{
	__asm__ volatile("lgdt %0" : : "m"(*d) : "memory");
}

static void modes_gdt_build(void)
{
	for (int k = 0; k < GDT_ENTRIES; k++)
		modes_gdt[k] = gdt[k];
	modes_gdt[SEL_CALLGATE >> 3] = gate_desc(SEL_KCODE, (uint32_t)callgate_entry, 0xEC, 2);
	modes_gdt[SEL_CODE16 >> 3] = seg_desc(0, 0xFFFF, 0x9A, 0);
	modes_gdt[SEL_DATA16 >> 3] = seg_desc(0, 0xFFFF, 0x92, 0);
	modes_gdt[SEL_TSS2 >> 3] = seg_desc((uint32_t)&tss2, sizeof tss2 - 1, 0x89, 0);
	modes_gdt[SEL_TSS_V86 >> 3] = seg_desc((uint32_t)&tss_v86, sizeof tss_v86 - 1, 0x89, 0);
	modes_gdt[SEL_TASKGATE >> 3] = gate_desc(SEL_TSS2, 0, 0x85, 0);
	modes_gdtr.limit = sizeof modes_gdt - 1;
	modes_gdtr.base = (uint32_t)modes_gdt;
}

/* Low memory, linear = physical, user-accessible (v8086 runs at CPL 3). */
static void low_identity_map(int on)
{
	uint32_t pd = read_cr3();
	for (uint32_t k = 0; k < MODES_LOW_PAGES; k++) {
		uint32_t va = MODES_LOW_FIRST + k * 4096u;
		if (on)
			map_page(pd, va, va, PTE_W | PTE_U);
		else
			unmap_page(pd, va);
	}
}

static uint16_t rm_result(int n)
{
	return ((volatile uint16_t *)phys_to_virt(RM_RESULTS))[n];
}

static void test_real_mode(void)
{
	modes_gdt_build();
	memcpy(phys_to_virt(RM_BASE), rm_blob_start, (uint32_t)(rm_blob_end - rm_blob_start));
	memset(phys_to_virt(RM_RESULTS), 0, 32);
	memset(phys_to_virt(RM_IVT), 0, 0x400);
	/* Paging goes off while the GDT is in use: the code switching modes
	 * loads selectors from a copy at a physical address. */
	memcpy(phys_to_virt(RM_GDT), modes_gdt, sizeof modes_gdt);
	struct dtr low = { sizeof modes_gdt - 1, RM_GDT };
	low_identity_map(1);
	uint32_t fl = read_eflags();
	cli();
	lgdt(&low);
	((void (*)(void))RM_BASE)();
	lgdt(&gdt_loaded);
	__asm__ volatile("lidt %0" : : "m"(idt_loaded) : "memory");
	write_eflags(fl);
	low_identity_map(0);
	uint16_t at_1mib = *(volatile uint16_t *)phys_to_virt(0x100000);
	test_result("modes.real_mode",
		    rm_result(RMR_DONE) == 0x600d && rm_result(RMR_INT) == 0x2345 &&
			    rm_result(RMR_INT_CS) == RM_SEG && !(rm_result(RMR_FLAGS) & EFLAGS_IF) &&
			    (rm_result(RMR_PUSHED) & EFLAGS_IF) && rm_result(RMR_DE) == 1 &&
			    rm_result(RMR_WRAP) == 0xbeef && rm_result(RMR_A20) == at_1mib &&
			    rm_result(RMR_IRQ) > 0,
		    "done 0x%x, INT 0x30 gave 0x%x (want 0x2345) handler CS 0x%x flags 0x%x pushed 0x%x, "
		    "#DE %u, 0410:0000 = 0x%x (want 0xbeef), FFFF:0010 = 0x%x (want 0x%x), IRQ0 %u",
		    rm_result(RMR_DONE), rm_result(RMR_INT), rm_result(RMR_INT_CS),
		    rm_result(RMR_FLAGS), rm_result(RMR_PUSHED), rm_result(RMR_DE),
		    rm_result(RMR_WRAP), rm_result(RMR_A20), at_1mib, rm_result(RMR_IRQ));
}

/* What the v8086 monitor saw: the opcode at CS:IP of each #GP. */
static struct {
	uint32_t n_gp, other_vector, irqs;
	uint8_t op[8];
	uint32_t es, ds, fs, gs, frame_ds;
} mon;

static struct regs *v86_monitor(struct regs *r)
{
	if (r->vector >= 32 && r->vector < 48) { /* an IRQ taken in v8086 */
		pic_eoi((int)r->vector - 32);
		if (r->vector == 32) {
			mon.irqs++;
			*(volatile uint16_t *)phys_to_virt(((uint32_t)V86_DATA_SEG << 4) + 4) = 1;
		}
		return r;
	}
	if (r->vector != 13) {
		mon.other_vector = r->vector;
		goto leave;
	}
	uint8_t op = *(volatile uint8_t *)phys_to_virt((r->cs << 4) + (r->eip & 0xFFFF));
	if (mon.n_gp < sizeof mon.op)
		mon.op[mon.n_gp] = op;
	if (mon.n_gp++ == 0) {
		const uint32_t *seg = (const uint32_t *)(r + 1); /* above SS: ES DS FS GS */
		mon.es = seg[0] & 0xFFFF;
		mon.ds = seg[1] & 0xFFFF;
		mon.fs = seg[2] & 0xFFFF;
		mon.gs = seg[3] & 0xFFFF;
		mon.frame_ds = r->ds & 0xFFFF; /* what the CPU left in DS: null */
	}
	if (op == 0xE6 || op == 0xE5 || op == 0xCD) {
		r->eip += 2; /* OUT imm8, IN imm8, INT n: skipped */
		return r;
	}
leave: /* HLT, or anything unexpected: back to the kernel */
	r->eip = (uint32_t)v86_resume;
	r->cs = SEL_KCODE;
	r->eflags = 0x2;
	r->ds = r->es = r->fs = r->gs = SEL_KDATA;
	return r;
}

static void test_v86(void)
{
	modes_gdt_build();
	memset(&tss_v86, 0, sizeof tss_v86);
	tss_v86.t.ss0 = SEL_KDATA;
	tss_v86.t.esp0 = (uint32_t)(v86_kstack + sizeof v86_kstack);
	tss_v86.t.iomap_base = sizeof tss_v86.t;
	memset(tss_v86.iomap, 0xFF, sizeof tss_v86.iomap);
	tss_v86.iomap[0x21 / 8] &= (uint8_t)~(1u << (0x21 % 8));
	memcpy(phys_to_virt(V86_BASE), v86_blob_start, (uint32_t)(v86_blob_end - v86_blob_start));
	volatile uint16_t *data = phys_to_virt((uint32_t)V86_DATA_SEG << 4);
	data[0] = data[1] = data[2] = 0;
	memset(&mon, 0, sizeof mon);
	uint8_t mask = inb(0x21);
	low_identity_map(1);
	uint32_t fl = read_eflags();
	cli();
	lgdt(&modes_gdtr);
	__asm__ volatile("ltr %w0" : : "r"(SEL_TSS_V86) : "memory");
	v86_hook = v86_monitor;
	const uint32_t frame[9] = { 0, V86_SEG, EFLAGS_VM | EFLAGS_IF | 0x2, 0x0FF0, V86_STACK_SEG,
				    0x0510, V86_DATA_SEG, 0x0700, 0x0800 };
	v86_enter(frame);
	v86_hook = 0;
	/* Back to the kit's TSS: LTR wants it marked available. */
	modes_gdt[SEL_TSS >> 3] &= ~DESC_BUSY;
	__asm__ volatile("ltr %w0" : : "r"(SEL_TSS) : "memory");
	lgdt(&gdt_loaded);
	write_eflags(fl);
	low_identity_map(0);
	static const uint8_t want[4] = { 0xE6, 0xE5, 0xCD, 0xF4 };
	int ops_ok = mon.n_gp == 4;
	for (int k = 0; k < 4; k++)
		ops_ok = ops_ok && mon.op[k] == want[k];
	test_result("modes.v86_iobitmap",
		    ops_ok && !mon.other_vector && (data[0] & 0xFF) == mask && data[1] == 0x7777 &&
			    mon.es == 0x0510 && mon.ds == V86_DATA_SEG && mon.fs == 0x0700 &&
			    mon.gs == 0x0800 && mon.frame_ds == 0 && mon.irqs > 0,
		    "#GPs %u ops %02x %02x %02x %02x (want e6 e5 cd f4), other vector %u, port 0x21 "
		    "read 0x%x (want 0x%x), end marker 0x%x, pushed es/ds/fs/gs %x/%x/%x/%x, "
		    "handler ds %x, timer interrupts in v8086 %u",
		    mon.n_gp, mon.op[0], mon.op[1], mon.op[2], mon.op[3], mon.other_vector,
		    data[0] & 0xFF, mask, data[1], mon.es, mon.ds, mon.fs, mon.gs, mon.frame_ds,
		    mon.irqs);
}

static void test_tasks(void)
{
	modes_gdt_build();
	memset(&tss2, 0, sizeof tss2);
	tss2.cr3 = read_cr3();
	tss2.eip = (uint32_t)task2_entry;
	tss2.eflags = 0x2;
	tss2.esp = (uint32_t)(task2_stack + sizeof task2_stack);
	tss2.cs = SEL_KCODE;
	tss2.es = tss2.ss = tss2.ds = tss2.fs = tss2.gs = SEL_KDATA;
	tss2.ldt = SEL_LDT;
	tss2.iomap_base = sizeof tss2;
	/* CR3 and the LDT selector are static TSS fields: a switch back to the
	 * kit's task loads them from its TSS, which must hold the right ones. */
	uint64_t kd = gdt[SEL_TSS >> 3];
	struct tss32 *kit_tss = (struct tss32 *)(uint32_t)(((kd >> 16) & 0xFFFFFFu) | ((kd >> 32) & 0xFF000000u));
	kit_tss->cr3 = read_cr3();
	kit_tss->ldt = SEL_LDT;
	uint64_t *idt = (uint64_t *)idt_loaded.base;
	uint64_t saved_gate = idt[VEC_TASKGATE];
	idt[VEC_TASKGATE] = gate_desc(SEL_TSS2, 0, 0x85, 0);
	task2_runs = 0;
	uint32_t fl = read_eflags();
	cli();
	lgdt(&modes_gdtr);

	__asm__ volatile("int %0" : : "i"(VEC_TASKGATE) : "memory");
	uint32_t nt_after = read_eflags() & EFLAGS_NT;
	uint32_t runs1 = task2_runs, eflags1 = task2_eflags, tr1 = task2_tr;
	uint32_t link = tss2.link, eax2 = tss2.eax, eip2 = tss2.eip;
	int busy2 = (modes_gdt[SEL_TSS2 >> 3] & DESC_BUSY) != 0;
	int busy1 = (modes_gdt[SEL_TSS >> 3] & DESC_BUSY) != 0;

	__asm__ volatile("lcall %0, $0" : : "i"(SEL_TASKGATE) : "memory");
	uint32_t runs2 = task2_runs;
	__asm__ volatile("lcall %0, $0" : : "i"(SEL_TSS2) : "memory");
	uint32_t runs3 = task2_runs;
	/* Back in the kit's task: its TSS busy, task 2's not (STR would say it
	 * too, but STR is part of the x86 hole under trap). */
	int busy1_after = (modes_gdt[SEL_TSS >> 3] & DESC_BUSY) != 0;
	int busy2_after = (modes_gdt[SEL_TSS2 >> 3] & DESC_BUSY) != 0;

	/* What a task switch costs next to a plain far CALL/RET (information
	 * only: a line for the reader, never a pass condition). */
	enum { ROUNDS = 1000 };
	uint64_t t0 = rdtsc();
	for (int k = 0; k < ROUNDS; k++)
		__asm__ volatile("lcall %0, $0" : : "i"(SEL_TSS2) : "memory");
	uint64_t t1 = rdtsc();
	for (int k = 0; k < ROUNDS; k++)
		__asm__ volatile("lcall %0, $far_ret_stub" : : "i"(SEL_KCODE) : "memory");
	uint64_t t2 = rdtsc();

	lgdt(&gdt_loaded);
	idt[VEC_TASKGATE] = saved_gate;
	__asm__ volatile("clts"); /* every task switch sets CR0.TS */
	write_eflags(fl);
	uint32_t after_iret = (uint32_t)task2_entry;
	kprintf("# modes: %u cycles per task switch and back (CALL to a TSS, IRET with NT), %u per "
		"far CALL and RET\n",
		(uint32_t)udivmod64(t1 - t0, ROUNDS, 0), (uint32_t)udivmod64(t2 - t1, ROUNDS, 0));
	test_result("modes.task_gate",
		    runs1 == 1 && (eflags1 & EFLAGS_NT) && tr1 == SEL_TSS2 && link == SEL_TSS &&
			    !busy2 && busy1 && !nt_after && eax2 == 0x7a5c0001 &&
			    eip2 > after_iret && eip2 < after_iret + 64,
		    "task2 ran %u times (want 1), its EFLAGS 0x%x (want NT), its TR 0x%x, back link "
		    "0x%x (want 0x%x), busy: task2 %d (want 0) kit %d (want 1), NT here 0x%x, "
		    "saved EAX 0x%x EIP 0x%x",
		    runs1, eflags1, tr1, link, SEL_TSS, busy2, busy1, nt_after, eax2, eip2);
	test_result("modes.task_call", runs2 == 2 && runs3 == 3 && busy1_after && !busy2_after,
		    "runs after CALL to the task gate %u (want 2), to the TSS %u (want 3), busy: kit "
		    "%d (want 1) task2 %d (want 0)",
		    runs2, runs3, busy1_after, busy2_after);
}

static void test_call_gate(void)
{
	modes_gdt_build();
	lgdt(&modes_gdtr);
	struct proc *p = proc_spawn(user_callgate, 0, 0);
	sched_run();
	lgdt(&gdt_loaded);
	test_result("modes.call_gate",
		    !p->faulted && p->exit_code == 0 && p->report[0] == 942 &&
			    p->report[1] == ((uint32_t)SEL_UCODE << 16 | SEL_UDATA) &&
			    p->report[2] == 0 && p->report[3] == 8 && p->report[4] >= KBASE,
		    "fault %d vector %u eip 0x%x, exit 0x%x, result %u (want 942), pushed CS:SS "
		    "0x%x (want 0x%x), ESP moved by %d (want 0), pushed ESP -%u (want 8), handler "
		    "ESP 0x%x (want the kernel's)",
		    p->faulted, p->fault_vector, p->fault_eip, p->exit_code, p->report[0],
		    p->report[1], (uint32_t)SEL_UCODE << 16 | SEL_UDATA, (int)p->report[2],
		    p->report[3], p->report[4]);
	proc_reap();
}

void tests_modes(void)
{
	if (test_wanted("modes.real_mode"))
		test_real_mode();
	if (test_wanted("modes.v86_iobitmap"))
		test_v86();
	if (test_wanted("modes.task_gate") || test_wanted("modes.task_call"))
		test_tasks();
	if (test_wanted("modes.call_gate"))
		test_call_gate();
}
