/* Loads an empty IDT and raises #BP: no handler for #BP, none for the
 * double fault either, so the CPU shuts down. ringvm must end the run with
 * a register dump and status 4, not crash. */
#include "mb.h"
MB_HEADER
	.globl _start
_start:
	lidt idt_empty
	int3
	DEBUG_EXIT(7) /* never reached */
	.data
idt_empty:
	.word 0
	.long 0
