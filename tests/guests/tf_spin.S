/* Sets TF (single-step) with an IDT whose handlers all IRET, then spins:
 * every instruction raises #DB forever. The VMM must still answer SIGTERM
 * within a second. */
#include "mb.h"
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
	/* 32 interrupt gates to iret_handler. */
	movl $idt, %edi
	movl $32, %ecx
2:	movl $iret_handler, %eax
	movw %ax, (%edi)
	movw $0x08, 2(%edi)
	movw $0x8e00, 4(%edi)
	shrl $16, %eax
	movw %ax, 6(%edi)
	addl $8, %edi
	loop 2b
	lidt idtr
	pushfl
	orl $0x100, (%esp)
	popfl
3:	jmp 3b
iret_handler:
	iret
	.data
	.balign 8
gdt:
	.quad 0
	.quad 0x00cf9a000000ffff	/* 0x08: flat code */
	.quad 0x00cf92000000ffff	/* 0x10: flat data */
gdtr:
	.word 3 * 8 - 1
	.long gdt
idtr:
	.word 32 * 8 - 1
	.long idt
	.bss
	.balign 8
idt:
	.skip 32 * 8
	.skip 4096
stack_top:
