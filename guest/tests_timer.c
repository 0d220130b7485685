/* timer.rate: IRQ 0 ticks during one CMOS RTC second. The RTC is polled
 * once per tick (HLT in between), so both edges of the second are seen
 * with one-tick resolution and the guest does almost no work meanwhile. */
#include "kit.h"

/* Waits for the seconds register to change; 0 if it did not within
 * max_ticks timer ticks. */
static int wait_second_edge(uint32_t max_ticks)
{
	uint8_t s0 = rtc_seconds();
	uint32_t start = ticks;
	while (ticks - start < max_ticks) {
		irq_on_halt();
		if (rtc_seconds() != s0)
			return 1;
	}
	return 0;
}

void tests_timer(void)
{
	if (!test_wanted("timer.rate"))
		return;
	if (!wait_second_edge(300)) {
		test_fail("timer.rate", "RTC seconds did not change within 300 ticks (ticks=%u)", ticks);
		return;
	}
	uint32_t t0 = ticks;
	if (!wait_second_edge(300)) {
		test_fail("timer.rate", "RTC seconds did not change within 300 ticks");
		return;
	}
	uint32_t n = ticks - t0;
	kprintf("# timer.rate: %u ticks in one RTC second (PIT at 100 Hz)\n", n);
	test_result("timer.rate", n >= 90 && n <= 110, "%u ticks in one RTC second, expected 90..110", n);
}
