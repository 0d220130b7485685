/* Real mode with the timer: leaves protected mode the usual way (16-bit
 * segments, PE off, far jump), programs the PIC and PIT, and counts IRQ 0
 * through the real-mode IVT while it spins in real mode. After
 * REAL_TICKS interrupts it ends the run with status 0 ((0 << 1) | 1 = 1);
 * real_spin.S never ends, for the test that SIGTERM still works while a
 * guest runs real-mode code (which trap emulates). */
#include "mb.h"
#ifndef REAL_TICKS
#define REAL_TICKS 20
#endif
#define LOW 0x7000
#define OFF(x) ((x) - rm_start)
#define COUNT (LOW + OFF(count))
MB_HEADER
	.globl _start
_start:
	cli
	lgdt gdtr
	ljmp $0x08, $1f
1:	movw $0x10, %ax
	movw %ax, %ds
	movw %ax, %es
	movw %ax, %ss
	movl $stack_top, %esp
	movl $rm_start, %esi		/* the 16-bit part runs below 64 KiB */
	movl $LOW, %edi
	movl $(rm_end - rm_start), %ecx
	cld
	rep movsb
	movb $0x11, %al			/* PICs: vectors 0x20/0x28, only IRQ 0 */
	outb %al, $0x20
	outb %al, $0xa0
	movb $0x20, %al
	outb %al, $0x21
	movb $0x28, %al
	outb %al, $0xa1
	movb $0x04, %al
	outb %al, $0x21
	movb $0x02, %al
	outb %al, $0xa1
	movb $0x01, %al
	outb %al, $0x21
	outb %al, $0xa1
	movb $0xfe, %al
	outb %al, $0x21
	movb $0xff, %al
	outb %al, $0xa1
	movb $0x34, %al			/* PIT channel 0, mode 2, 100 Hz */
	outb %al, $0x43
	movb $0x9c, %al
	outb %al, $0x40
	movb $0x2e, %al
	outb %al, $0x40
	ljmp $0x18, $LOW

	.code16
rm_start:
	movw $0x20, %ax			/* 64 KiB data segments before PE goes */
	movw %ax, %ds
	movw %ax, %es
	movw %ax, %ss
	movl %cr0, %eax
	andl $0xfffffffe, %eax
	movl %eax, %cr0
	ljmp $0, $(LOW + OFF(rm_real))
rm_real:
	xorw %ax, %ax
	movw %ax, %ds
	movw %ax, %es
	movw %ax, %ss
	movw $0x6ff0, %sp
	lidtw LOW + OFF(ivt)
	movw $(LOW + OFF(irq0)), 0x20 * 4
	movw $0, 0x20 * 4 + 2
	movw $0, COUNT
	sti
2:
#if REAL_TICKS
	cmpw $REAL_TICKS, COUNT
	jae 3f
#endif
	jmp 2b
3:	cli
	DEBUG_EXIT(0)
4:	hlt
	jmp 4b
irq0:
	incw COUNT
	pushw %ax
	movb $0x20, %al
	outb %al, $0x20
	popw %ax
	iret
count:	.word 0
ivt:	.word 0x3ff
	.long 0
rm_end:

	.code32
	.data
	.balign 8
gdt:	.quad 0
	.quad 0x00cf9a000000ffff		/* 0x08: 32-bit code */
	.quad 0x00cf92000000ffff		/* 0x10: 32-bit data */
	.quad 0x00009a000000ffff		/* 0x18: 16-bit code, base 0, 64 KiB */
	.quad 0x000092000000ffff		/* 0x20: 16-bit data, base 0, 64 KiB */
gdtr:	.word gdtr - gdt - 1
	.long gdt
	.bss
	.balign 16
	.space 4096
stack_top:
