/*
 * The differential test against the host CPU (test_diff.c), run through
 * the bt engine: each case's code is translated and run natively in
 * compatibility mode, faults are mapped back to precise guest state and
 * redone by the core, and the result must match the host CPU's. bt needs
 * the low 4 GiB: the ASan build SKIPs, tests/t_bt.sh runs the
 * sanitizer-free build/tests/test_bt_diff. One "PASS bt.diff.<form>" line
 * per form.
 */
#include <stdint.h>

#include "engines/bt/bt.h"

#define DIFF_PREFIX "bt.diff."
#define emu_run_flat bt_run_flat
#define main diff_main
/* test_diff.c checks that its entry point is linked in at all. */
#pragma GCC diagnostic ignored "-Waddress"
#include "test_diff.c"
#undef main

int main(void)
{
	char why[256];
	if (!engine_bt.available(why, sizeof why)) {
		SKIP("bt.diff", "%s", why);
		return 0;
	}
	return diff_main();
}
