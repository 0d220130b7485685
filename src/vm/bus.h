/*
 * Port-IO and MMIO buses. One callback type serves both kinds of trap, the
 * way kvmtool does it: a device registers a range and gets every access in
 * it, whichever engine caught the access.
 */
#ifndef RINGVM_BUS_H
#define RINGVM_BUS_H

#include <stdbool.h>
#include <stdint.h>

struct vm;

/* addr is the port or guest-physical address; len is 1, 2, 4 (or 8 for
 * MMIO); data is little-endian, len bytes. On a read the device fills it. */
typedef void (*io_handler)(struct vm *vm, void *dev, uint64_t addr,
			   uint8_t *data, unsigned len, bool is_write);

struct bus_range {
	uint64_t base, len;
	io_handler fn;
	void *dev;
	const char *name;
};

#define BUS_MAX_RANGES 64

struct bus {
	const char *name; /* "port" or "mmio" */
	struct bus_range r[BUS_MAX_RANGES];
	unsigned n;
};

/* Returns 0, or -1 if the range overlaps one registered before or the bus is full. */
int bus_register(struct bus *b, uint64_t base, uint64_t len, io_handler fn,
		 void *dev, const char *name);
const struct bus_range *bus_find(const struct bus *b, uint64_t addr);

#endif
