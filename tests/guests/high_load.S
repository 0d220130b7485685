/* Linked to load at 64 MiB: a loader must refuse it when --mem is smaller. */
#include "mb.h"
MB_HEADER
	.globl _start
_start:
	DEBUG_EXIT(0)
