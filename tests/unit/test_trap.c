/* The trap engine end to end: the guest kit's smoke mode and its full test
 * run under --engine trap. Every non-sensitive test must pass; the
 * sensitive group must fail exactly where x86 is not classically
 * virtualizable (docs/06-trap.md). Needs the non-ASan build to run. */
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "check.h"
#include "engines/trap/trap.h"
#include "loaders/loader.h"
#include "vm/run.h"
#include "vm/vm.h"

extern const uint8_t guest_kit_elf[], guest_kit_elf_end[];

/* Runs the kit with append; COM1 output (stdout) lands in out[]. */
static int run_kit(const char *append, char *out, size_t out_len, struct stats *st)
{
	static struct vm vm;
	struct vm_config cfg;
	memset(&cfg, 0, sizeof cfg);
	cfg.engine = "trap";
	cfg.mem_size = 64ull << 20;
	cfg.append = append;
	if (vm_create(&vm, &cfg) < 0)
		return -1;
	struct image kernel = { guest_kit_elf, (size_t)(guest_kit_elf_end - guest_kit_elf),
				"ringvm-guest-kit", NULL };
	char cmdline[256];
	snprintf(cmdline, sizeof cmdline, "%s %s", kernel.name, append);
	struct cpu_state entry;
	memset(&entry, 0, sizeof entry);
	if (multiboot_load(&vm, &kernel, NULL, cmdline, &entry) < 0) {
		vm_destroy(&vm);
		return -1;
	}
	struct vcpu vcpu = { .vm = &vm, .engine = &engine_trap };
	if (engine_trap.create(&vcpu) < 0) {
		vm_destroy(&vm);
		return -1;
	}
	engine_trap.set_state(&vcpu, &entry);
	fflush(stdout);
	int saved = dup(1);
	int fd = memfd_create("com1", 0);
	dup2(fd, 1);
	int status = vcpu_run_loop(&vcpu);
	fflush(stdout);
	dup2(saved, 1);
	close(saved);
	ssize_t n = pread(fd, out, out_len - 1, 0);
	out[n > 0 ? n : 0] = 0;
	close(fd);
	*st = vm.stats;
	engine_trap.destroy(&vcpu);
	vm_destroy(&vm);
	return status;
}

static uint64_t named(const struct stats *st, const char *key)
{
	for (unsigned i = 0; i < st->n_named; i++)
		if (strcmp(st->named[i].name, key) == 0)
			return st->named[i].count;
	return 0;
}

int main(void)
{
	char why[256];
	if (!engine_trap.available(why, sizeof why)) {
		SKIP("trap_engine", "%s", why);
		return 0;
	}
	static char out[1 << 16];
	struct stats st;
	/* nopv: the full-virtualization path (the PV kit fails no hole). */
	int status = run_kit("smoke nopv", out, sizeof out, &st);
	CHECK("trap_smoke", status == 1 && strstr(out, "SUMMARY passed=5 failed=0"),
	      "status %d, output:\n%s", status, out);
	CHECK("trap_stats_by_reason", named(&st, "trap: instruction") > 0,
	      "no 'trap: instruction' events");

	status = run_kit("nopv", out, sizeof out, &st);
	/* The sensitive instructions that do not trap, and the x87's #NM that
	 * the guest's CR0.TS/EM/MP cannot produce natively, and ring-3 RDTSC
	 * under the guest's CR4.TSD (docs/06-trap.md). */
	static const char *const expected_fail[] = {
		"sensitive.sgdt", "sensitive.sidt", "sensitive.sldt", "sensitive.str",
		"sensitive.smsw", "sensitive.pushf_iopl", "sensitive.popf_if",
		"sensitive.mov_cs", "sensitive.mov_ss", "sensitive.lar", "sensitive.lsl",
		"sensitive.verr", "sensitive.verw", "fpu.nm_ts", "fpu.nm_em",
		"fpu.nm_wait_mp_ts", "user.rdtsc_tsd", NULL,
	};
	int bad = 0, fails = 0, passes = 0;
	for (char *l = out; l && *l; l = strchr(l, '\n') ? strchr(l, '\n') + 1 : NULL) {
		if (strncmp(l, "PASS ", 5) == 0)
			passes++;
		if (strncmp(l, "FAIL ", 5) != 0)
			continue;
		fails++;
		bool ok = false;
		for (int k = 0; expected_fail[k]; k++) {
			size_t n = strlen(expected_fail[k]);
			if (strncmp(l + 5, expected_fail[k], n) == 0 && l[5 + n] == ':')
				ok = true;
		}
		if (!ok) {
			bad++;
			printf("# unexpected: %.*s\n", (int)(strchr(l, '\n') ? strchr(l, '\n') - l : 80), l);
		}
	}
	CHECK("trap_kit_non_sensitive_pass", bad == 0 && passes >= 10,
	      "%d unexpected failures, %d passes", bad, passes);
	int holes = (int)(sizeof expected_fail / sizeof expected_fail[0]) - 1;
	CHECK("trap_kit_sensitive_fail_exactly", fails == holes, "%d FAIL lines (want %d)", fails, holes);
	CHECK("trap_kit_syscalls_trapped", named(&st, "trap: system call") > 0,
	      "guest int 0x80 not seen as a trap");
	CHECK_DONE();
}
