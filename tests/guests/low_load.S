/* A Multiboot kernel in low memory: linked at 0x7000 with 16 KiB of data
 * after its code, so it covers 0x8000, where ringvm puts the information
 * structure for a kernel that leaves room. The loader must place the
 * structure elsewhere: the guest checks EAX, that EBX points outside its
 * own image, that the structure's flags include the memory map and that
 * its sentinel word survived. Status 0x21 (v = 0x10) if all is well, 0x23
 * (v = 0x11) if not. */
#include "mb.h"
MB_HEADER
	.globl _start
_start:
	cmpl $0x2BADB002, %eax
	jne bad
	cmpl $_start, %ebx
	jb below
	cmpl $image_end, %ebx
	jb bad                  /* inside the image: it overwrote us */
below:
	testl $0x40, (%ebx)     /* MBI_MMAP */
	jz bad
	cmpl $0x5a5aa5a5, sentinel
	jne bad
	DEBUG_EXIT(0x10)
	hlt
bad:
	DEBUG_EXIT(0x11)
	hlt
	.data
	.balign 4
	.fill 0x1000, 4, 0x5a5aa5a5
sentinel:
	.long 0x5a5aa5a5
image_end:
