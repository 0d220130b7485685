/*
 * Virtual-8086 mode (EFLAGS.VM=1 in protected mode): 8086 code runs at
 * CPL 3 with real-mode segments (realmode.c) under a ring-0 monitor.
 *
 * How it is entered: IRET at CPL 0 with VM set in the popped EFLAGS (here)
 * or a task switch to a TSS whose EFLAGS has VM set (task.c). How it is
 * left: any interrupt or exception, delivered through the IDT to a ring-0
 * handler with ES, DS, FS, GS pushed above the usual frame and then
 * nulled (idt.c). What traps to the monitor (no VME: the CPU models do not
 * report it, and CR4.VME cannot be set):
 *   - CLI, STI, PUSHF, POPF, INT n and IRET when IOPL < 3 (#GP(0));
 *     INT3, INTO and BOUND are not IOPL-sensitive: they go to the IDT;
 *   - IN, OUT, INS, OUTS whose ports the TSS I/O bitmap does not clear,
 *     whatever IOPL is (task.c: io_port_check);
 *   - everything that needs CPL 0 (HLT, MOV CR, LGDT, ...), and the
 *     protected-mode-only instructions (LAR, LSL, VERR, VERW, ARPL, SLDT,
 *     STR, LLDT, LTR: #UD).
 */
#include "exec.h"

uint32_t eflags_writable(struct cpu *c, unsigned size);

/* The IRET frame at CPL 0: EIP CS EFLAGS ESP SS ES DS FS GS, 32-bit. All of
 * it is read before anything changes, so a fault leaves the monitor's
 * state intact. EIP is masked to 16 bits (the v8086 CS limit). */
void v86_enter_by_iret(struct cpu *c)
{
	uint32_t v[9];
	for (uint32_t k = 0; k < 9; k++)
		v[k] = stack_peek(c, 4, k);
	eflags_write(c, v[2], eflags_writable(c, 4) | EFLAGS_RF | EFLAGS_VM);
	static const int order[] = { S_CS, S_SS, S_ES, S_DS, S_FS, S_GS };
	static const int slot[] = { 1, 4, 5, 6, 7, 8 };
	for (int k = 0; k < 6; k++)
		seg_load_real(c, order[k], (uint16_t)v[slot[k]]);
	c->r.r32[R_ESP] = v[3];
	c->eip = v[0] & 0xffff;
	cpu_set_cpl(c, 3);
	cpu_mode_changed(c);
}
