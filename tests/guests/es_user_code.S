/* Guest user mode loads its own (readable) code segment into ES, then
 * makes a system call that exits with status 7. Under trap, user code runs
 * on an execute-only view of its code segment's LDT slot, which ES shares:
 * resuming guest code with that ES once faulted inside the VMM's signal
 * handler and killed it (found by tests/fuzz_system.py). */
#include "mb.h"
MB_HEADER
	.globl _start
_start:
	lgdt gdtr
	ljmp $0x08, $1f
1:	movw $0x10, %ax
	movw %ax, %ds
	movw %ax, %ss
	movl $stack0_top, %esp
	/* TSS: ring-0 stack for the system call. */
	movl $tss, %eax
	movw %ax, gdt + 0x28 + 2
	shrl $16, %eax
	movb %al, gdt + 0x28 + 4
	movb %ah, gdt + 0x28 + 7
	movl $stack0_top, tss + 4
	movl $0x10, tss + 8
	movw $0x28, %ax
	ltr %ax
	/* IDT vector 0x80 -> sys_exit, callable from ring 3. */
	movl $sys_exit, %eax
	movw %ax, idt + 0x80 * 8
	movw $0x08, idt + 0x80 * 8 + 2
	movw $0xee00, idt + 0x80 * 8 + 4
	shrl $16, %eax
	movw %ax, idt + 0x80 * 8 + 6
	lidt idtr
	/* To ring 3. */
	pushl $0x23
	pushl $stack3_top
	pushl $0x2
	pushl $0x1b
	pushl $user
	iret
user:
	movw $0x1b, %ax
	movw %ax, %es
	movl $0x12345, %ebx
	int $0x80
1:	jmp 1b
sys_exit:
	DEBUG_EXIT(3)
	.data
	.balign 8
gdt:
	.quad 0
	.quad 0x00cf9a000000ffff	/* 0x08: ring-0 code */
	.quad 0x00cf92000000ffff	/* 0x10: ring-0 data */
	.quad 0x00cffa000000ffff	/* 0x18: ring-3 code, readable */
	.quad 0x00cff2000000ffff	/* 0x20: ring-3 data */
	.quad 0x0000890000000067	/* 0x28: TSS */
gdtr:
	.word 6 * 8 - 1
	.long gdt
idtr:
	.word 256 * 8 - 1
	.long idt
	.bss
	.balign 8
idt:
	.skip 256 * 8
tss:
	.skip 104
	.balign 16
	.skip 4096
stack0_top:
	.skip 4096
stack3_top:
