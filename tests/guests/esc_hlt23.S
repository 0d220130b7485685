/* Escape attempt: far jump to the host's flat 32-bit selector 0x23, then
 * HLT. Under trap this is neither a compatibility-mode SYSCALL nor a
 * resumable guest state. */
#include "mb.h"
MB_HEADER
	.globl _start
_start:
	lidt idt_empty
	ljmp $0x23, $1f
1:	hlt
	jmp 1b
	.data
idt_empty:
	.word 0
	.long 0
