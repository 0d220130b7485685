/* Reads COM1 until a newline and echoes each byte upper-cased, polling
 * the line status register: the UART's input path from the host's stdin. */
#include "mb.h"
MB_HEADER
	.globl _start
_start:
	movw $0x3fd, %dx	/* LSR */
1:	inb %dx, %al
	testb $1, %al		/* DR: a byte waits */
	jz 1b
	movw $0x3f8, %dx
	inb %dx, %al
	cmpb $'a', %al
	jb 2f
	cmpb $'z', %al
	ja 2f
	subb $0x20, %al
2:	movb %al, %bl
	movw $0x3fd, %dx
3:	inb %dx, %al
	testb $0x20, %al	/* THRE: room to send */
	jz 3b
	movw $0x3f8, %dx
	movb %bl, %al
	outb %al, %dx
	movw $0x3fd, %dx
	cmpb $'\n', %bl
	jne 1b
	DEBUG_EXIT(0)
