/* The kernel's internal interfaces, one block per source file. */
#ifndef KIT_H
#define KIT_H
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include "cpu.h"
#include "layout.h"
#include "pv.h"

#define NORETURN __attribute__((noreturn))
#define PRINTF(a, b) __attribute__((format(printf, a, b)))

/* string.c: the few libc routines the compiler and the kit use. */
void *memset(void *d, int c, size_t n);
void *memcpy(void *d, const void *s, size_t n);
size_t strlen(const char *s);
int strncmp(const char *a, const char *b, size_t n);
uint64_t udivmod64(uint64_t n, uint64_t d, uint64_t *rem);

/* serial.c: COM1, polled. */
void serial_init(void);
void serial_putc(char c);
void serial_write(const char *s, uint32_t n);

/* print.c: printf subset: %c %s %d %u %x %p, widths, '0' flag, l/ll. */
int kvsnprintf(char *buf, uint32_t size, const char *fmt, va_list ap);
int ksnprintf(char *buf, uint32_t size, const char *fmt, ...) PRINTF(3, 4);
void kprintf(const char *fmt, ...) PRINTF(1, 2);

/* bootinfo.c: what the Multiboot loader told us. */
#define MB_MAGIC 0x2BADB002u
struct bootinfo {
	uint32_t magic;
	uint32_t mem_kb;       /* 1 MiB + upper memory, 0 if not given */
	uint32_t mem_upper_kb;
	char cmdline[256];
};
extern struct bootinfo boot;
void bootinfo_parse(uint32_t magic, uint32_t mbi_phys, uint32_t virt_offset);
int cmdline_has(const char *word);
/* Copies the value of "key=value" into out; 0 if the key is absent. */
int cmdline_value(const char *key, char *out, uint32_t size);
uint32_t parse_u32(const char *s);
void print_banner(void);

/* report.c: the PASS/FAIL protocol and the debug-exit port. */
int test_wanted(const char *name);
void test_pass(const char *name);
void test_fail(const char *name, const char *fmt, ...) PRINTF(2, 3);
/* PASS if ok, else FAIL with the message. */
void test_result(const char *name, int ok, const char *fmt, ...) PRINTF(3, 4);
NORETURN void tests_finish(void);
NORETURN void debug_exit(uint32_t v);

/* gdt.c: GDT, TSS, LDT. */
struct __attribute__((packed)) dtr {
	uint16_t limit;
	uint32_t base;
};
extern struct dtr gdt_loaded;           /* operand of our LGDT */
extern uint64_t gdt[GDT_ENTRIES];
extern uint64_t ldt[1];
void gdt_init(void);
void tss_set_esp0(uint32_t esp0);

/* idt.c */
extern struct dtr idt_loaded;           /* operand of our LIDT */
void idt_init(void);

/* trap.c: the C side of every interrupt and exception. */
struct regs {
	uint32_t gs, fs, es, ds;
	uint32_t edi, esi, ebp, esp_pusha, ebx, edx, ecx, eax;
	uint32_t vector, err;
	uint32_t eip, cs, eflags;
	uint32_t user_esp, user_ss; /* valid only when coming from ring 3 */
};
typedef struct regs *(*trap_hook)(struct regs *r);
extern trap_hook timer_hook;     /* IRQ 0, after the tick count and EOI */
extern trap_hook syscall_hook;   /* int 0x80 */
extern trap_hook user_fault_hook;/* an exception raised in ring 3 */
extern trap_hook user_pf_hook;   /* consulted first by it: non-NULL resumes */
extern trap_hook debug_hook;     /* #DB (vector 1) raised in ring 0 */
extern trap_hook irq13_hook;     /* IRQ 13 (FPU error, CR0.NE=0), after the EOI */
extern trap_hook v86_hook;       /* anything raised in virtual-8086 mode (tests_modes.c) */
extern trap_hook vector_hook;    /* vectors 0x30-0x5f (APIC tests) */
extern volatile uint32_t ticks;
/* An exception that a ring-0 test provokes on purpose: the handler records
 * it and resumes at `resume` instead of reporting a failure. */
struct trap_expect {
	volatile int armed;
	volatile int hit;
	uint32_t vector;
	uint32_t resume;
	uint32_t got_vector, got_err, got_eip, got_cr2;
};
extern struct trap_expect trap_expect;
void trap_arm(uint32_t vector);
struct regs *trap_dispatch(struct regs *r);

/* tests_platform.c: APIC, IOAPIC, MP/ACPI, PCI, ATA, fw_cfg (only=platform). */
void tests_platform(void);

/* pic.c, pit.c, cmos.c */
void pic_init(void);
void pic_eoi(int irq);
void pit_init(uint32_t hz);
uint8_t cmos_read(uint8_t reg);
uint8_t rtc_seconds(void);      /* raw register 0, read outside an update */

/* paging.c */
extern uint32_t kernel_pd[1024];
static inline void *phys_to_virt(uint32_t p) { return (void *)(p + KBASE); }
static inline uint32_t virt_to_phys(const void *v) { return (uint32_t)v - KBASE; }
#define PTE_P 0x001u
#define PTE_W 0x002u
#define PTE_U 0x004u
void paging_init(void);
uint32_t frame_alloc(void);             /* zeroed 4 KiB frame, physical */
void frame_free(uint32_t pa);           /* back to the free list */
uint32_t frame_alloc_fresh(void);       /* from the bump allocator only */
void pd_free(uint32_t pd_phys);         /* user half: pages, tables, the PD */
uint32_t pd_new(void);                  /* new address space sharing the kernel */
void map_page(uint32_t pd_phys, uint32_t va, uint32_t pa, uint32_t flags);
void unmap_page(uint32_t pd_phys, uint32_t va);
uint32_t pte_get(uint32_t pd_phys, uint32_t va); /* 0 if unmapped */
/* CR3: read and write, through the VMM when paravirtual (pv_cr3 is the
 * kernel's own record of what it loaded). */
extern uint32_t pv_cr3;
static inline uint32_t kcr3(void) { return pv_active ? pv_cr3 : read_cr3(); }
void set_cr3(uint32_t pd_phys);
/* Writes a live page-table entry and drops va's TLB entry (one hypercall
 * when paravirtual; a store and INVLPG otherwise). */
void pte_write(uint32_t *pte, uint32_t val, uint32_t va);

/* proc.c: ring-3 processes and the preemptive round-robin scheduler. */
#define MAX_PROCS 6
enum proc_state { P_FREE, P_NEW, P_RUNNABLE, P_DEAD };
struct proc {
	int pid;
	enum proc_state state;
	uint32_t pd_phys;
	uint32_t kstack_top;
	struct regs *frame;             /* saved context while not running */
	uint32_t exit_code;
	uint32_t report[8];
	uint32_t preempted;             /* timer ticks that switched it out of ring 3 */
	uint32_t probe_phys;            /* frame behind USER_PROBE */
	int faulted;
	uint32_t fault_vector, fault_err, fault_eip, fault_cr2;
};
extern struct proc procs[MAX_PROCS];
extern struct proc *current;
extern uint32_t sched_user_switches;    /* timer switches between two user procs */
void sched_init(void);
/* Creates a ring-3 process that starts at entry(arg) with arena_pages of
 * zeroed memory at USER_ARENA. It starts running at sched_run(). */
struct proc *proc_spawn(void (*entry)(uint32_t), uint32_t arg, uint32_t arena_pages);
/* Runs every spawned process until all have exited; frees the slots after
 * the caller has read them (proc_reap). */
void sched_run(void);
void proc_reap(void);
struct regs *schedule(struct regs *r);

/* syscall.c */
void syscall_init(void);
uint32_t syscall_code_address(void);

/* Test groups and modes. */
void tests_exc(void);
void tests_sensitive(void);
void tests_timer(void);
void tests_user(void);
void tests_fpu(void);
void tests_pv(void);
void tests_kvmclock(void);
void tests_modes(void);
void bench_run(void);

#endif
