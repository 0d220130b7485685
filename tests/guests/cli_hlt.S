/* Halts with interrupts disabled: nothing can ever wake this CPU. */
#include "mb.h"
MB_HEADER
	.globl _start
_start:
	cli
	hlt
	DEBUG_EXIT(7)
