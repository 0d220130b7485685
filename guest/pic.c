/* 8259A pair, remapped to vectors 0x20-0x2F (the BIOS default 0x08 would
 * collide with CPU exceptions). Only IRQ 0, the PIT, is unmasked. */
#include "kit.h"

#define PIC1 0x20
#define PIC2 0xA0

void pic_init(void)
{
	outb(PIC1, 0x11);       /* ICW1: edge, cascade, ICW4 follows */
	outb(PIC2, 0x11);
	outb(PIC1 + 1, 0x20);   /* ICW2: vector base */
	outb(PIC2 + 1, 0x28);
	outb(PIC1 + 1, 0x04);   /* ICW3: slave on IRQ 2 */
	outb(PIC2 + 1, 0x02);
	outb(PIC1 + 1, 0x01);   /* ICW4: 8086 mode */
	outb(PIC2 + 1, 0x01);
	outb(PIC1 + 1, 0xFE);   /* OCW1: mask all but IRQ 0 */
	outb(PIC2 + 1, 0xFF);
}

void pic_eoi(int irq)
{
	if (irq >= 8)
		outb(PIC2, 0x20);
	outb(PIC1, 0x20);
}
