/* 8254 channel 0 in mode 2 (rate generator) drives IRQ 0. */
#include "kit.h"

#define PIT_HZ 1193182u

void pit_init(uint32_t hz)
{
	uint32_t div = (PIT_HZ + hz / 2) / hz;
	outb(0x43, 0x34);       /* channel 0, lobyte/hibyte, mode 2, binary */
	outb(0x40, (uint8_t)div);
	outb(0x40, (uint8_t)(div >> 8));
}
