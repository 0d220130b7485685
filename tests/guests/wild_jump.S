/* Jumps into guest-physical space that is not RAM, with no IDT: whatever
 * the bytes there decode to, the guest must end in a clean shutdown. */
#include "mb.h"
MB_HEADER
	.globl _start
_start:
	lidt idt_empty
	movl $0xf0000000, %eax
	jmp *%eax
	.data
idt_empty:
	.word 0
	.long 0
