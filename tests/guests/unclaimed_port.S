/* Reads ports no device claims: they must read as all ones, as on a PC.
 * Exits with v=0 (status 1) if they did, v=1 (status 3) if not. */
#include "mb.h"
MB_HEADER
	.globl _start
_start:
	movw $0x1234, %dx
	inl %dx, %eax
	cmpl $0xffffffff, %eax
	jne bad
	inb $0xe9, %al
	cmpb $0xff, %al
	jne bad
	outb %al, $0xe9 /* and a write that nobody claims is dropped */
	DEBUG_EXIT(0)
bad:
	DEBUG_EXIT(1)
