/* Escape attempt: far jump to the host's flat 32-bit selector 0x23, then
 * a store to guest-physical space that is not RAM (MMIO). */
#include "mb.h"
MB_HEADER
	.globl _start
_start:
	lidt idt_empty
	ljmp $0x23, $1f
1:	movl $0x12345678, 0xf0000000
	jmp 1b
	.data
idt_empty:
	.word 0
	.long 0
