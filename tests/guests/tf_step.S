/* Single-steps forever-ish: sets EFLAGS.TF in a loop whose #DB handler
 * counts and IRETs (restoring TF). After TF_STEPS traps it ends the run
 * with status 0 ((0 << 1) | 1 = 1); tf_spin.S never ends, for the test
 * that the VMM still answers SIGTERM while the guest single-steps. */
#include "mb.h"
#ifndef TF_STEPS
#define TF_STEPS 20000
#endif
MB_HEADER
	.globl _start
_start:
	lgdt gdtr
	ljmp $0x08, $1f
1:	movw $0x10, %ax
	movw %ax, %ds
	movw %ax, %es
	movw %ax, %ss
	movl $stack_top, %esp
	movl $db_handler, %eax		/* IDT[1]: 32-bit interrupt gate */
	movw %ax, idt + 8
	movw $0x08, idt + 10
	movw $0x8e00, idt + 12
	shrl $16, %eax
	movw %ax, idt + 14
	lidt idtr
	xorl %ecx, %ecx
	pushfl
	orl $0x100, (%esp)
	popfl
2:	incl %eax
	jmp 2b

db_handler:
	incl %ecx
#if TF_STEPS
	cmpl $TF_STEPS, %ecx
	jb 3f
	DEBUG_EXIT(0)
#endif
3:	iret

	.data
	.balign 8
gdt:	.quad 0, 0x00cf9a000000ffff, 0x00cf92000000ffff
gdtr:	.word 3 * 8 - 1
	.long gdt
	.balign 8
idt:	.fill 2 * 8, 1, 0
idtr:	.word 2 * 8 - 1
	.long idt
	.bss
	.balign 16
	.fill 4096, 1, 0
stack_top:
