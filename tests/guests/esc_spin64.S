/* Escape attempt: far jump to the host's 64-bit selector 0x33 and spin
 * there. The VMM must still stop (on its own, or on SIGTERM within a
 * second), restoring the terminal and stdin flags. */
#include "mb.h"
MB_HEADER
	.globl _start
_start:
	lidt idt_empty
	ljmp $0x33, $1f
	.code64
1:	jmp 1b
	.code32
	.data
idt_empty:
	.word 0
	.long 0
