/* Escape attempt: far jump to the host's 64-bit user code selector 0x33,
 * then a 64-bit SYSCALL: write(2, msg) and exit_group(42). Under trap the
 * seccomp filter must refuse both (the instruction pointer is below
 * 4 GiB) and the VMM must stop the guest with status 4. Elsewhere 0x33 is
 * not a guest code segment: #GP with no IDT, a triple fault (status 4). */
#include "mb.h"
MB_HEADER
	.globl _start
_start:
	lidt idt_empty
	ljmp $0x33, $long_mode
	.code64
long_mode:
	mov $1, %eax		/* write */
	mov $2, %edi
	mov $msg, %esi
	mov $msg_len, %edx
	syscall
	mov $231, %eax		/* exit_group */
	mov $42, %edi
	syscall
	jmp .
	.code32
	.data
idt_empty:
	.word 0
	.long 0
msg:
	.ascii "ESCAPED: guest wrote through a host system call\n"
	msg_len = . - msg
