/* Timer interrupts keep coming during one long REP instruction: the PIT
 * ticks at 1 kHz (IRQ0 -> vector 0x20) while a REP OUTSB of 10 million
 * bytes to the POST port runs, and an x86 REP takes interrupts between
 * iterations. Exits with status 3 if the handler ran at least 10 times
 * meanwhile, else 5. Under trap the whole REP once ran inside the signal
 * handler, where the VMM's timer signal is blocked: no tick at all. */
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
	/* PIT channel 0, mode 2, divisor 1193: 1 kHz. */
	movb $0x34, %al
	outb %al, $0x43
	movb $(1193 & 0xff), %al
	outb %al, $0x40
	movb $(1193 >> 8), %al
	outb %al, $0x40
	sti
	cld
	movl $0x100000, %esi
	movl $10000000, %ecx
	movw $0x80, %dx
	rep outsb
	cli
	cmpl $10, ticks
	jb 2f
	DEBUG_EXIT(1)
2:	DEBUG_EXIT(2)
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
