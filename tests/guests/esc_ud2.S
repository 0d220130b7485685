/* Escape attempt: far jump to the host's 64-bit selector 0x33, then UD2.
 * The #UD is the guest's: the VMM must not die of SIGILL. */
#include "mb.h"
MB_HEADER
	.globl _start
_start:
	lidt idt_empty
	ljmp $0x33, $1f
	.code64
1:	ud2
	.code32
	.data
idt_empty:
	.word 0
	.long 0
