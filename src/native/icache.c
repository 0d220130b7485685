#include <setjmp.h>
#include <string.h>

#include "cpu/cpu.h"
#include "native/icache.h"

void native_icache_reset(struct native_icache *ic)
{
	for (unsigned h = 0; h < 256; h++)
		ic->e[h].pa = ~0u; /* above any RAM: never compared equal */
}

void native_icache_check(struct native_icache *ic, struct cpu *c)
{
	uint32_t lin = c->seg[S_CS].base + c->eip;
	volatile uint32_t pa;
	if (_setjmp(c->jb))
		return; /* the fetch faults: the core raises it itself */
	bool w;
	pa = paging_translate(c, lin, false, c->cpl == 3, true, &w);
	if ((uint64_t)pa + NATIVE_ICACHE_BYTES > c->ram_size)
		return;
	unsigned n = 0x1000 - (pa & 0xfff);
	if (n > NATIVE_ICACHE_BYTES)
		n = NATIVE_ICACHE_BYTES;
	unsigned h = (pa ^ (pa >> 8)) & 255;
	if (ic->e[h].pa == pa && memcmp(ic->e[h].b, c->ram + pa, n) == 0)
		return;
	cpu_forget_code(c, pa >> 12);
	if (n < NATIVE_ICACHE_BYTES && (uint64_t)pa + 0x1000 < c->ram_size)
		cpu_forget_code(c, (pa >> 12) + 1);
	ic->e[h].pa = pa;
	memcpy(ic->e[h].b, c->ram + pa, n);
}
