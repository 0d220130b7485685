/* The output protocol: one PASS/FAIL line per test, a SUMMARY line, then
 * the status on QEMU's isa-debug-exit port (exit status (v << 1) | 1). */
#include "kit.h"

static uint32_t passed, failed;

/* only=GROUP on the command line runs the tests whose names start with it. */
int test_wanted(const char *name)
{
	char group[64];
	if (!cmdline_value("only", group, sizeof group))
		return 1;
	return !strncmp(name, group, strlen(group));
}

void test_pass(const char *name)
{
	passed++;
	kprintf("PASS %s\n", name);
}

static void vfail(const char *name, const char *fmt, va_list ap)
{
	char msg[200];
	kvsnprintf(msg, sizeof msg, fmt, ap);
	failed++;
	kprintf("FAIL %s: %s\n", name, msg);
}

void test_fail(const char *name, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	vfail(name, fmt, ap);
	va_end(ap);
}

void test_result(const char *name, int ok, const char *fmt, ...)
{
	if (ok) {
		test_pass(name);
		return;
	}
	va_list ap;
	va_start(ap, fmt);
	vfail(name, fmt, ap);
	va_end(ap);
}

void tests_finish(void)
{
	kprintf("SUMMARY passed=%u failed=%u\n", passed, failed);
	debug_exit(failed ? 1 : 0);
}

void debug_exit(uint32_t v)
{
	if (pv_active)
		pv_call(RINGVM_HC_SHUTDOWN, v, 0, 0);
	cli();
	outl(0xf4, v);
	/* No debug-exit device: stop here for good. */
	for (;;)
		__asm__ volatile("cli; hlt");
}
