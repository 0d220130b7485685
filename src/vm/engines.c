/*
 * The engines built into this ringvm, and the automatic choice among them.
 *
 * With VT-x/AMD-V under /dev/kvm, hardware assistance is the fastest way to
 * run a guest. Without it (these project machines: /dev/kvm is served by a
 * software hypervisor that emulates our guests instruction by instruction),
 * the software engines are the fast path, so the choice looks at the host
 * CPU, not only at whether /dev/kvm opens.
 */
#include <stdio.h>
#include <string.h>

#include "engine.h"
#include "engines/bt/bt.h"
#include "engines/interp/interp.h"
#include "engines/kvm/kvm.h"
#include "engines/trap/trap.h"

const struct engine *const engines[] = {
	&engine_kvm,
	&engine_interp,
	&engine_trap,
	&engine_bt,
	NULL,
};

/* Correct software engines, fastest first: bt (binary translation, near
 * native, passes the whole guest kit) where the host allows native 32-bit
 * code (not in the ASan build), else interp. trap is never chosen: it
 * gives wrong answers to the x86 hole's instructions. */
static const struct engine *const software_preference[] = {
	&engine_bt,
	&engine_interp,
	NULL,
};

const struct engine *engine_find(const char *name)
{
	for (int i = 0; engines[i]; i++)
		if (strcmp(engines[i]->name, name) == 0)
			return engines[i];
	return NULL;
}

const struct engine *engine_choose_default(char *reason, size_t reason_len)
{
	char why[160];
	if (engine_kvm.available(why, sizeof why)) {
		if (engine_kvm.fast_here(why, sizeof why)) {
			snprintf(reason, reason_len, "hardware virtualization: %s", why);
			return &engine_kvm;
		}
	}
	char skipped[200] = "";
	for (int i = 0; software_preference[i]; i++) {
		char swhy[160];
		if (software_preference[i]->available(swhy, sizeof swhy)) {
			snprintf(reason, reason_len,
				 "fastest correct software engine here (%s); kvm not chosen: %s%s",
				 software_preference[i]->family, why, skipped);
			return software_preference[i];
		}
		if (!skipped[0])
			snprintf(skipped, sizeof skipped, "; %s not available: %s",
				 software_preference[i]->name, swhy);
	}
	snprintf(reason, reason_len, "no engine can run on this host");
	return NULL;
}
