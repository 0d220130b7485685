/* CMOS RTC. Register 0 is the seconds; status A bit 7 (UIP) says an update
 * is in progress and the time registers must not be read. */
#include "kit.h"

uint8_t cmos_read(uint8_t reg)
{
	outb(0x70, reg);        /* bit 7 clear: NMI stays enabled */
	return inb(0x71);
}

uint8_t rtc_seconds(void)
{
	for (int i = 0; i < 10000 && (cmos_read(0x0A) & 0x80); i++)
		;
	return cmos_read(0x00);
}
