/* An interrupt storm: the PIT at its highest rate (divisor 2, ~600 kHz)
 * interrupts a guest spinning with interrupts enabled, forever. The VMM
 * must still answer SIGTERM within a second. */
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
	/* IDT vector 0x20 -> tick (an interrupt gate). */
	movl $tick, %eax
	movw %ax, idt + 0x20 * 8
	movw $0x08, idt + 0x20 * 8 + 2
	movw $0x8e00, idt + 0x20 * 8 + 4
	shrl $16, %eax
	movw %ax, idt + 0x20 * 8 + 6
	lidt idtr
	/* PIC: ICW1..4, IRQ0-7 at 0x20, slave at 0x28; only IRQ0 unmasked. */
	movb $0x11, %al
	outb %al, $0x20
	outb %al, $0xa0
	movb $0x20, %al
	outb %al, $0x21
	movb $0x28, %al
	outb %al, $0xa1
	movb $4, %al
	outb %al, $0x21
	movb $2, %al
	outb %al, $0xa1
	movb $1, %al
	outb %al, $0x21
	outb %al, $0xa1
	movb $0xfe, %al
	outb %al, $0x21
	movb $0xff, %al
	outb %al, $0xa1
	/* PIT channel 0, mode 2, divisor 1193: the fastest rate (divisor 2). */
	movb $0x34, %al
	outb %al, $0x43
	movb $2, %al
	outb %al, $0x40
	movb $0, %al
	outb %al, $0x40
	sti
3:	jmp 3b
tick:
	pushl %eax
	incl ticks
	movb $0x20, %al
	outb %al, $0x20
	popl %eax
	iret
	.data
	.balign 8
gdt:
	.quad 0
	.quad 0x00cf9a000000ffff
	.quad 0x00cf92000000ffff
gdtr:
	.word 3 * 8 - 1
	.long gdt
idtr:
	.word 256 * 8 - 1
	.long idt
ticks:
	.long 0
	.bss
	.balign 8
idt:
	.skip 256 * 8
	.skip 4096
stack_top:
