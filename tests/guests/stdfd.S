/* What a guest sees when ringvm was started with stdin, stdout or stderr
 * closed: nothing of ringvm's own descriptors may reach guest RAM (a guest
 * RAM memfd that took number 0, 1 or 2 would receive ringvm's stderr, the
 * guest's own serial output, or feed guest RAM back as serial input).
 * Prints "MARK" on COM1, then exits with v=0 (status 1) when all is well;
 * v=1 (status 3): ringvm's stderr was written at guest-physical 0;
 * v=2 (status 5): the guest's serial output was written there;
 * v=3 (status 7): serial input arrived although stdin was empty or closed. */
#include "mb.h"
MB_HEADER
	.globl _start
_start:
	cmpl $0x676e6972, 0	/* "ring": the start of ringvm's engine banner */
	jne 1f
	DEBUG_EXIT(1)
1:	movl $mark, %esi
2:	movb (%esi), %bl
	testb %bl, %bl
	jz 4f
	movw $0x3fd, %dx
3:	inb %dx, %al
	testb $0x20, %al	/* THRE */
	jz 3b
	movw $0x3f8, %dx
	movb %bl, %al
	outb %al, %dx
	incl %esi
	jmp 2b
4:	cmpl $0x4b52414d, 0	/* "MARK" */
	jne 5f
	DEBUG_EXIT(2)
	/* Watch the line status for about 50 million TSC cycles: the VMM
	 * reads stdin at least every 10 ms. */
5:	rdtsc
	movl %eax, %edi
6:	movw $0x3fd, %dx
	inb %dx, %al
	testb $1, %al		/* DR */
	jz 7f
	DEBUG_EXIT(3)
7:	rdtsc
	subl %edi, %eax
	cmpl $50000000, %eax
	jb 6b
	DEBUG_EXIT(0)
mark:	.asciz "MARK\n"
