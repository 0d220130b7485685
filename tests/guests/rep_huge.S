/* A REP OUTSB with a count of 2^32 - 1 to the POST port: billions of
 * port writes inside one instruction. The VMM must still answer SIGTERM
 * within a second. */
#include "mb.h"
MB_HEADER
	.globl _start
_start:
	lidt idt_empty
	cld
	movl $0x80, %edx
	movl $0x100000, %esi
	movl $0xffffffff, %ecx
	rep outsb
	DEBUG_EXIT(3)
	.data
idt_empty:
	.word 0
	.long 0
