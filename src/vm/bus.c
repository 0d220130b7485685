/* Registration and lookup on the port and MMIO buses. A linear scan: a PC
 * has a few dozen ranges, and the hot ones (COM1, PIC, PIT) come first. */
#include <stdio.h>

#include "bus.h"

int bus_register(struct bus *b, uint64_t base, uint64_t len, io_handler fn,
		 void *dev, const char *name)
{
	if (len == 0 || base + len < base) {
		fprintf(stderr, "ringvm: %s bus: empty or wrapping range for %s\n", b->name, name);
		return -1;
	}
	if (b->n == BUS_MAX_RANGES) {
		fprintf(stderr, "ringvm: %s bus: full, cannot add %s\n", b->name, name);
		return -1;
	}
	for (unsigned i = 0; i < b->n; i++) {
		const struct bus_range *r = &b->r[i];
		if (base < r->base + r->len && r->base < base + len) {
			fprintf(stderr, "ringvm: %s bus: %s at 0x%llx overlaps %s\n", b->name, name,
				(unsigned long long)base, r->name);
			return -1;
		}
	}
	b->r[b->n++] = (struct bus_range){ base, len, fn, dev, name };
	return 0;
}

const struct bus_range *bus_find(const struct bus *b, uint64_t addr)
{
	for (unsigned i = 0; i < b->n; i++)
		if (addr - b->r[i].base < b->r[i].len)
			return &b->r[i];
	return NULL;
}
