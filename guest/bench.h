/* The guest kit's benchmarks (bench_r0.c: ring 0, no paging needed, also
 * in the smoke build; bench.c: the rest). Default iteration counts keep
 * each benchmark to roughly 2 s or less on an emulator running 50-100
 * million guest instructions per second (measured with ringvm's interp:
 * per op about 75 instructions for syscall, 165 per pgfault, 56 per
 * divzero, 32,000 per forkwait, 60 million per compute round, 3-7 for the
 * rest; most are well under 0.5 s); "quick" divides them by 10 (compute:
 * 1 round, about 0.6 s at 100 MIPS, the one exception to 0.2 s). An
 * engine that traps on an instruction (IN, CLI/STI, INVLPG, MOV CR3) pays
 * its trap cost per op: at a few microseconds per trap these still finish
 * in seconds. */
#ifndef KIT_BENCH_H
#define KIT_BENCH_H
#include <stdint.h>

#define BENCH_N_SYSCALL    200000u
#define BENCH_N_IN         100000u
#define BENCH_N_CR3        50000u   /* iterations of two CR3 writes */
#define BENCH_N_CLI_STI    500000u
#define BENCH_N_PUSHF_POPF 500000u
#define BENCH_N_PGFAULT    50000u    /* iterations of two faults */
#define BENCH_N_PTEMOD     200000u
#define BENCH_N_PTEMOD64   5000u     /* batches of 64 PTE updates */
#define BENCH_N_TIMER      100000u
#define BENCH_N_DIVZERO    200000u
#define BENCH_N_CALL_RET   2000000u
#define BENCH_N_FORKWAIT   1000u
#define BENCH_N_X87        500000u  /* FADD+FSUB pairs */
#define BENCH_COMPUTE_ROUNDS 2u      /* bench=...: compute; "quick": 1 */

extern volatile uint32_t bench_de_resume;
uint64_t bench_loop_empty(uint32_t n);
uint64_t bench_net(uint64_t body, uint64_t empty);
int bench_r0(const char *name, uint32_t n, uint64_t *cycles);
void bench_print(const char *name, uint64_t cycles, uint32_t ops);
uint32_t bench_iters(uint32_t dflt);
int bench_selected(const char *name);
int bench_mode(void);
void bench_r0_all(void);

#endif
