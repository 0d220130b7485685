/* real_tick.S without an end: spins in real mode until the VMM is killed. */
#define REAL_TICKS 0
#include "real_tick.S"
