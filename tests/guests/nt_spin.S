/* Sets EFLAGS.NT with POPF (natively allowed at any CPL), then spins long
 * enough for the VMM's kick to take it out of native mode and back in,
 * then exits with status 5. Under trap the guest's NT once leaked into
 * the VMM's own flags through rt_sigreturn and the next entry into guest
 * code (IRETQ with NT set: a #GP in 64-bit mode) killed the VMM. */
#include "mb.h"
MB_HEADER
	.globl _start
_start:
	lidt idt_empty
	movl $stack_top, %esp
	pushl $0x4002
	popfl
	movl $400000000, %ecx
1:	decl %ecx
	jnz 1b
	DEBUG_EXIT(2)
	.bss
	.skip 4096
stack_top:
	.data
idt_empty:
	.word 0
	.long 0
