/* A 16-bit write of 0x100 to the debug-exit port: QEMU ends with status
 * ((0x100 << 1) | 1) truncated to 8 bits, 1; ringvm must say and return 1. */
#include "mb.h"
MB_HEADER
	.globl _start
_start:
	movw $0x100, %ax
	outw %ax, $0xf4
	hlt
