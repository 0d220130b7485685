/*
 * The core caches decoded guest instructions by physical address and
 * learns of writes to them only when it makes the write itself. Guest
 * code that runs natively (trap, bt) writes without telling it, so before
 * a native engine has the core emulate at CS:EIP it asks here: the bytes
 * there are compared with those seen the last time, and if they changed
 * the core's copies of that page (and the next) are dropped.
 */
#ifndef RINGVM_NATIVE_ICACHE_H
#define RINGVM_NATIVE_ICACHE_H

#include <stdint.h>

struct cpu;

#define NATIVE_ICACHE_BYTES 16 /* at least one whole instruction (15) */

struct native_icache {
	struct {
		uint32_t pa;
		uint8_t b[NATIVE_ICACHE_BYTES];
	} e[256];
};

/* Forgets every byte seen (no entry matches afterwards). */
void native_icache_reset(struct native_icache *ic);

/* Call before the core decodes at the virtual CPU's CS:EIP. Not from a
 * signal handler that interrupted the core (it uses the core's jmp_buf). */
void native_icache_check(struct native_icache *ic, struct cpu *c);

#endif
