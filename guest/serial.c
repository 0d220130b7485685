/* COM1 (16550A), output only, by polling LSR.THRE: no interrupts needed. */
#include "kit.h"

#define COM1 0x3F8
#define LSR_THRE 0x20

void serial_init(void)
{
	outb(COM1 + 1, 0x00); /* IER: no interrupts */
	outb(COM1 + 3, 0x80); /* LCR: DLAB to set the divisor */
	outb(COM1 + 0, 0x01); /* 115200 baud */
	outb(COM1 + 1, 0x00);
	outb(COM1 + 3, 0x03); /* 8N1, DLAB off */
	outb(COM1 + 2, 0xC7); /* FIFO on, cleared */
	outb(COM1 + 4, 0x03); /* DTR, RTS */
}

void serial_putc(char c)
{
	/* Bounded so that a UART that never reports THRE cannot hang us. */
	for (int i = 0; i < 100000 && !(inb(COM1 + 5) & LSR_THRE); i++)
		;
	outb(COM1, (uint8_t)c);
}

void serial_write(const char *s, uint32_t n)
{
	if (pv_active) {
		/* One hypercall per chunk instead of two port exits per byte. */
		while (n) {
			uint32_t k = n < RINGVM_PV_CONSOLE_MAX ? n : RINGVM_PV_CONSOLE_MAX;
			if (pv_call(RINGVM_HC_CONSOLE_WRITE, (uint32_t)s, k, 0) < 0)
				break;
			s += k;
			n -= k;
		}
		return;
	}
	while (n--)
		serial_putc(*s++);
}
