/* Entry points of the ring-3 programs (user.c), for the kernel to spawn. */
#ifndef KIT_USER_H
#define KIT_USER_H
#include <stdint.h>

void user_syscall(uint32_t expected_pid);
void user_read(uint32_t addr);
void user_exec(uint32_t addr);
void user_cr3(uint32_t magic);
void user_iret(uint32_t unused);
void user_spin(uint32_t unused);
void user_bench(uint32_t rounds);
void user_bench_syscall(uint32_t n);
void user_bench_pgfault(uint32_t n);
void user_exit0(uint32_t unused);
void user_rdtsc(uint32_t unused);
void user_hypercall(uint32_t nr);
void user_callgate(uint32_t unused); /* user_modes.c */

/* user_iret's report slots */
#define IRET_SLOT_EFLAGS 0
#define IRET_SLOT_CS     1
/* user_bench's report slots */
#define BENCH_SLOT_SUM   0
#define BENCH_SLOT_LO    1
#define BENCH_SLOT_HI    2
#define BENCH_SLOT_EMPTY_LO 3   /* the loop without its body, 2 slots */
#define BENCH_SLOT_COLD_LO 5    /* compute: the untimed-by-LO first round, 2 slots */
/* user_bench_pgfault's two pages (not mapped by proc_spawn) */
#define BENCH_PF_VA      0x02000000u

#endif
