/* Resets the machine the PC way, by pulsing the 8042's reset line. */
#include "mb.h"
MB_HEADER
	.globl _start
_start:
	movb $0xfe, %al
	outb %al, $0x64
	DEBUG_EXIT(7) /* a machine that did not reset */
