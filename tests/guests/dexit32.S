/* A 32-bit write of 0x12345678 to the debug-exit port: the process status
 * is ((v << 1) | 1) & 0xff = 0xf1 = 241, as under QEMU's isa-debug-exit. */
#include "mb.h"
MB_HEADER
	.globl _start
_start:
	movl $0x12345678, %eax
	outl %eax, $0xf4
	hlt
