/* A REP STOSB of 2^32 - 1 bytes into guest-physical space that is not
 * RAM: every element is an MMIO write. The VMM must still answer SIGTERM
 * within a second. */
#include "mb.h"
MB_HEADER
	.globl _start
_start:
	lidt idt_empty
	cld
	movl $0xf0000000, %edi
	movl $0xffffffff, %ecx
	xorl %eax, %eax
	rep stosb
	DEBUG_EXIT(3)
	.data
idt_empty:
	.word 0
	.long 0
