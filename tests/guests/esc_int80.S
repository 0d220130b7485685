/* Escape attempt: an i386 Linux write(2, msg) then exit(42) through
 * `int $0x80` from guest kernel code. Under trap the seccomp filter
 * turns it into a guest event (never a host system call); the guest has
 * no IDT, so it ends as a guest that died, never with status 42. */
#include "mb.h"
MB_HEADER
	.globl _start
_start:
	lidt idt_empty
	movl $4, %eax		/* write */
	movl $2, %ebx
	movl $msg, %ecx
	movl $msg_len, %edx
	int $0x80
	movl $1, %eax		/* exit */
	movl $42, %ebx
	int $0x80
	jmp .
	.data
idt_empty:
	.word 0
	.long 0
msg:
	.ascii "ESCAPED: guest wrote through a host system call\n"
	msg_len = . - msg
