/* The compute workload, shared by the guest's bench mode and the native
 * build (bench/native_compute.c): pure integer work on a caller's arena. */
#ifndef KIT_COMPUTE_H
#define KIT_COMPUTE_H
#include <stdint.h>

#define COMPUTE_ARENA_BYTES (2u << 20)  /* 2 MiB */
/* Default round count. One round is about 60.2 million instructions
 * (callgrind on build/bench/native_compute: 60.3M for 1 round, 120.5M for
 * 2), so the default is about 1.5e9 instructions: ~0.25 s natively here,
 * ~15 s for an emulator at 100 MIPS. */
#define COMPUTE_DEFAULT_ROUNDS 25u

/* Runs `rounds` rounds of sieve + hash + sort over arena[0, arena_len)
 * (arena_len a multiple of 64, at least 64 KiB) and returns a checksum
 * that depends on every round. Deterministic; no libc, no division. */
uint32_t compute_run(uint8_t *arena, uint32_t arena_len, uint32_t rounds);

#endif
