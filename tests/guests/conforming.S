/* Runs kernel code in a conforming code segment (legal at any CPL), then
 * exits with status 9. Linux's modify_ldt refuses present conforming code
 * segments: trap once failed here with a bogus errno ("modify_ldt:
 * Inappropriate ioctl for device"). */
#include "mb.h"
MB_HEADER
	.globl _start
_start:
	lgdt gdtr
	ljmp $0x18, $1f
1:	movw $0x10, %ax
	movw %ax, %ds
	DEBUG_EXIT(4)
	.data
	.balign 8
gdt:
	.quad 0
	.quad 0x00cf9a000000ffff	/* 0x08: flat code */
	.quad 0x00cf92000000ffff	/* 0x10: flat data */
	.quad 0x00cf9e000000ffff	/* 0x18: flat code, conforming, readable */
gdtr:
	.word 4 * 8 - 1
	.long gdt
