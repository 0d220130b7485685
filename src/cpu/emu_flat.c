/*
 * emu_run_flat: the emulator on a bare buffer, for the differential test.
 */
#include <stdlib.h>

#include "cpu.h"
#include "emu_flat.h"

int emu_run_flat(struct cpu_state *st, uint8_t *mem, uint32_t mem_len, uint32_t stop_eip,
		 uint64_t max_insns)
{
	/* The decoder reads whole pages: a buffer that ends mid-page runs on
	 * a page-rounded copy whose RAM size is still mem_len, so the tail
	 * faults like outside. A page-sized buffer runs in place (the
	 * differential test replays thousands of cases on 3 MiB). */
	bool in_place = mem_len && (mem_len & 0xfff) == 0;
	size_t padded = ((size_t)mem_len + 0xfff) & ~(size_t)0xfff;
	uint8_t *ram = in_place ? mem : calloc(1, padded ? padded : 0x1000);
	struct cpu *c = malloc(sizeof *c);
	if (!ram || !c || cpu_init(c, ram, mem_len, NULL) < 0) {
		if (!in_place)
			free(ram);
		free(c);
		return -2;
	}
	if (!in_place)
		memcpy(ram, mem, mem_len);
	struct cpu_state s = *st;
	/* The selectors a 32-bit process sees on an x86-64 Linux host, as the
	 * native side of the differential test runs (FSAVE images hold CS and
	 * DS); CR0 as Linux sets it (NE: x87 errors are #MF). */
	cpu_state_flat_seg(&s.seg[S_CS], 0x23, 0xb, 3);
	for (int k = 0; k < SREG_COUNT; k++)
		if (k != S_CS)
			cpu_state_flat_seg(&s.seg[k], 0x2b, 0x3, 3);
	s.cr0 = CR0_PE | CR0_ET | CR0_NE;
	s.cr4 = 0;
	s.eflags = (s.eflags | EFLAGS_FIXED) & ~(EFLAGS_VM | EFLAGS_IOPL);
	cpu_set_state(c, &s);
	c->strict_mem = true;
	c->exc_return = true;
	c->stop_eip = stop_eip;
	int r = cpu_run(c, max_insns);
	int ret;
	if (r == -2 /* CPU_EXIT_EXCEPTION */)
		ret = c->exc_vec;
	else if (c->eip == stop_eip)
		ret = -1;
	else
		ret = -2;
	cpu_get_state(c, st);
	cpu_fini(c);
	free(c);
	if (!in_place) {
		memcpy(mem, ram, mem_len);
		free(ram);
	}
	return ret;
}
