/* The CPU-modes tests (tests_modes.c, modes_asm.S): low-memory layout and
 * selectors, shared by C and assembly. Everything here lives below 1 MiB,
 * identity-mapped only while a test runs, and away from what loaders put
 * in low memory (ringvm's Multiboot information at 0x8000, QEMU's at
 * 0x9000 and up). */
#ifndef KIT_MODES_H
#define KIT_MODES_H

#define MODES_LOW_FIRST 0x2000  /* first identity-mapped page */
#define MODES_LOW_PAGES 5       /* 0x2000 - 0x6fff */

#define RM_IVT      0x2000      /* the real-mode IVT (LIDT base), 256 entries */
#define RM_GDT      0x2400      /* the GDT while paging is off (copy) */
#define RM_RESULTS  0x2800      /* what the 16-bit code found, for C */
#define RM_BASE     0x3000      /* the real-mode blob: CS = 0x0300 there */
#define RM_SEG      0x0300
#define RM_STACK_SEG 0x0600     /* SS:SP = 0600:0ff0 -> 0x6ff0 */

#define V86_BASE    0x4000      /* the v8086 program: CS = 0x0400 */
#define V86_SEG     0x0400
#define V86_DATA_SEG 0x0500     /* DS; the program stores what it read at 0500:0000 */
#define V86_STACK_SEG 0x0600

/* Results of the real-mode run, as 16-bit words at RM_RESULTS + 2*n. */
#define RMR_INT     0   /* AX after INT 0x30 (0x1234 + 0x1111 from the handler) */
#define RMR_INT_CS  1   /* CS the INT 0x30 handler saw */
#define RMR_DE      2   /* set by the #DE handler through IVT vector 0 */
#define RMR_WRAP    3   /* word read back through another segment:offset */
#define RMR_IRQ     4   /* timer interrupts taken through IVT vector 0x20 */
#define RMR_DONE    5   /* 0x600d: the 16-bit code ran to its end */
#define RMR_FLAGS   6   /* FLAGS inside the INT 0x30 handler (IF clear) */
#define RMR_A20     7   /* word at FFFF:0010 (= physical 1 MiB with A20 on) */
#define RMR_PUSHED  8   /* FLAGS that INT 0x30 pushed (IF set) */

/* Selectors of the tests' own GDT (entries 0-6 are the kit's). */
#define SEL_CALLGATE 0x38       /* call gate, DPL 3 -> SEL_KCODE, 2 parameters */
#define SEL_CODE16  0x40        /* 16-bit ring-0 code, base 0, 64 KiB */
#define SEL_DATA16  0x48        /* 16-bit data, base 0, 64 KiB */
#define SEL_TSS2    0x50        /* the second task */
#define SEL_TSS_V86 0x58        /* the v8086 TSS, with an I/O bitmap */
#define SEL_TASKGATE 0x60       /* a task gate to SEL_TSS2 */
#define MODES_GDT_ENTRIES 13

#define VEC_TASKGATE 0x41       /* IDT task gate to SEL_TSS2 */

#endif
