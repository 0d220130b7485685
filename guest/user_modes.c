/* The ring-3 side of the CPU-modes tests (tests_modes.c): a far CALL
 * through a call gate to ring 0 with two parameters. Like user.c, this
 * runs in user pages and may use nothing but int 0x80. */
#include "layout.h"
#include "modes.h"
#include "syscall_abi.h"
#include "user.h"

#define STR_(x) #x
#define STR(x) STR_(x)

static inline void report(uint32_t slot, uint32_t v)
{
	uint32_t n = SYS_REPORT;
	__asm__ volatile("int $0x80" : "+a"(n) : "b"(slot), "c"(v) : "memory", "cc");
}

/* Reports: 0 the gate's result (1000 - 58), 1 the CS << 16 | SS the gate
 * pushed on the ring-0 stack, 2 ESP before - ESP after (0: RET popped the
 * parameters here too), 3 ESP before - the ESP the gate pushed (8: after
 * the two parameters), 4 the handler's ESP (on the kernel's stack). */
void user_callgate(uint32_t unused)
{
	uint32_t diff, cs, pushed_esp, before, after, kesp;
	(void)unused;
	__asm__ volatile("movl %%esp, %%esi\n\t"
			 "pushl $1000\n\t"
			 "pushl $58\n\t"
			 "lcall $" STR(SEL_CALLGATE) " | 3, $0\n\t"
			 "movl %%esp, %%edi\n\t"
			 : "=a"(diff), "=c"(cs), "=d"(pushed_esp), "=S"(before), "=D"(after),
			   "=b"(kesp)
			 :
			 : "memory", "cc");
	report(0, diff);
	report(1, cs);
	report(2, before - after);
	report(3, before - pushed_esp);
	report(4, kesp);
	uint32_t n = SYS_EXIT;
	__asm__ volatile("int $0x80" : "+a"(n) : "b"(0) : "memory", "cc");
	for (;;)
		;
}
