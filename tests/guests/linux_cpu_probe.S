/* Does the engine run the two kinds of instruction a stock i386 Linux
 * needs that ringvm's CPU core has not always had: the x87 (FNINIT,
 * FNSTSW, FLD1, FADD, FISTP) and TZCNT, which a CPU without BMI1 runs as
 * BSF? Exits with status 1 (debug-exit 0) when both work; without an IDT,
 * a #UD ends the run as a triple fault (status 4). tests/t_linux.sh uses
 * it to SKIP an engine that cannot boot Linux yet. */
#include "mb.h"
MB_HEADER
	.globl _start
_start:
	movl $0x90000, %esp
	fninit
	fnstsw %ax
	testw %ax, %ax
	jnz bad
	fld1
	fld1
	faddp
	fistpl result
	cmpl $2, result
	jne bad
	movl $8, %eax
	.byte 0xf3, 0x0f, 0xbc, 0xc8	/* tzcnt %eax, %ecx: BSF here, 3 either way */
	cmpl $3, %ecx
	jne bad
	DEBUG_EXIT(0)
bad:
	DEBUG_EXIT(1)
	.data
result:	.long 0
