/* Entry from a Multiboot v1 loader: 32-bit protected mode, flat segments,
 * paging off, EAX = 0x2BADB002, EBX = physical address of the info.
 *
 * _start runs at its physical address (section .low.text, linked where it
 * is loaded). It first offers the boot to the smoke mode, which runs with
 * paging off entirely; otherwise it builds the boot page directory (an
 * identity map of the first 16 MiB, only for the instant of the switch,
 * plus the same 16 MiB at KBASE), turns paging on and jumps to the
 * higher-half kernel, which drops the identity map. */
#define KBASE 0xC0000000
#define MB_FLAGS 0x00000003     /* page-aligned modules, memory info */

	.section .multiboot, "a"
	.align 4
	.long 0x1BADB002
	.long MB_FLAGS
	.long -(0x1BADB002 + MB_FLAGS)

	.section .low.text, "ax"
	.globl _start
_start:
	cli
	cld
	movl $low_stack_top, %esp
	movl %eax, %esi             /* magic, kept in callee-saved registers */
	movl %ebx, %ebp             /* Multiboot info */

	/* The loader zeroes .bss; do it again so as not to depend on that
	 * (this wipes the stack too, which holds nothing yet). */
	movl $__low_bss_start, %edi
	movl $__low_bss_end, %ecx
	subl %edi, %ecx
	addl $3, %ecx
	shrl $2, %ecx
	xorl %eax, %eax
	rep stosl

	pushl %ebp
	pushl %esi
	call lo_smoke_boot          /* returns only if "smoke" is not on the cmdline */
	addl $8, %esp

	/* Zero the higher-half .bss through its physical address. */
	movl $(__bss_start - KBASE), %edi
	movl $(__bss_end - KBASE), %ecx
	subl %edi, %ecx
	addl $3, %ecx
	shrl $2, %ecx
	xorl %eax, %eax
	rep stosl

	/* kernel_pts[i] maps physical i * 4 KiB, for the first 16 MiB. */
	movl $(kernel_pts - KBASE), %edx
	xorl %ecx, %ecx
1:	movl %ecx, %eax
	shll $12, %eax
	orl $0x003, %eax            /* present, writable, supervisor */
	movl %eax, (%edx, %ecx, 4)
	incl %ecx
	cmpl $4096, %ecx
	jb 1b

	/* PDEs 0-3 (identity, temporary) and 768-771 (KBASE) share the tables. */
	movl $(kernel_pd - KBASE), %ebx
	movl $(kernel_pts - KBASE + 0x003), %eax
	xorl %ecx, %ecx
2:	movl %eax, (%ebx, %ecx, 4)
	movl %eax, (768 * 4)(%ebx, %ecx, 4)
	addl $4096, %eax
	incl %ecx
	cmpl $4, %ecx
	jb 2b

	movl %ebx, %cr3
	movl %cr0, %eax
	orl $0x80010000, %eax       /* PG, and WP so ring 0 honours read-only pages */
	movl %eax, %cr0
	movl $higher_half, %eax
	jmp *%eax

	.section .low.bss, "aw", @nobits
	.align 16
	.space 4096
low_stack_top:

	.text
higher_half:
	movl $boot_stack_top, %esp
	/* Drop the identity map: from here on, low addresses fault. */
	movl $kernel_pd, %ebx
	movl $0, 0(%ebx)
	movl $0, 4(%ebx)
	movl $0, 8(%ebx)
	movl $0, 12(%ebx)
	movl %cr3, %eax
	movl %eax, %cr3
	pushl %ebp
	pushl %esi
	call kmain
3:	cli
	hlt
	jmp 3b

	.bss
	.align 16
	.globl boot_stack_top
	.space 16384
boot_stack_top:
