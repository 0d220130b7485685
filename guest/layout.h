/* Memory layout and selectors, shared by the kernel and the ring-3 programs. */
#ifndef KIT_LAYOUT_H
#define KIT_LAYOUT_H

/* The kernel is linked at KBASE + 1 MiB and loaded at 1 MiB; physical RAM
 * [0, KMAP_BYTES) is mapped at KBASE in every address space. */
#define KBASE       0xC0000000u
#define KMAP_PTS    4u                  /* page tables for the kernel map */
#define KMAP_BYTES  (KMAP_PTS * 0x400000u)

/* Ring-3 address space (per process, below KBASE so that an engine that
 * truncates user segments below the kernel still reaches all of it). */
#define USER_IMAGE      0x00400000u     /* .user section: code, data, bss */
#define USER_PROBE      0x00800000u     /* one private page per process */
#define USER_STACK_TOP  0x00C00000u
#define USER_STACK_PAGES 4u
#define USER_ARENA      0x01000000u     /* benchmark arena */

/* Kernel test area: a page table of its own, for the #PF tests. */
#define KTEST_VA        0xD0000000u

/* GDT layout. */
#define SEL_KCODE 0x08
#define SEL_KDATA 0x10
#define SEL_UCODE 0x1B      /* index 3, RPL 3 */
#define SEL_UDATA 0x23      /* index 4, RPL 3 */
#define SEL_TSS   0x28
#define SEL_LDT   0x30
#define GDT_ENTRIES 7
#define SEL_LDT_DATA 0x04   /* LDT index 0, TI=1, RPL 0 */

#endif
