/* The shadow MMU shared by the native engines (src/native/shadow.c): pages
 * mapped on demand from the guest's page tables (A and D set as the
 * hardware would), read-only until the first write, dropped on CR3 writes
 * except global ones, on INVLPG and on entry to guest user mode; MMIO and
 * not-present pages left to emulation; and the hook binary translation
 * needs: pages holding translated code stay read-only and a write to one
 * asks the engine first. Checked against /proc/self/maps. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "check.h"
#include "cpu/cpu.h"
#include "native/native.h"
#include "native/shadow.h"

#define RAM (8u << 20)

static struct native_host H;
static int written_calls;
static uint64_t written_gpa;
static bool allow_write;

static bool on_code_written(struct shadow *s, uint64_t gpa_page, void *opaque)
{
	(void)s;
	(void)opaque;
	written_calls++;
	written_gpa = gpa_page;
	return allow_write;
}

/* The permissions /proc/self/maps shows for host address a ("----" if
 * not found). */
static const char *perms(uintptr_t a)
{
	static char p[5];
	strcpy(p, "----");
	FILE *f = fopen("/proc/self/maps", "r");
	if (!f)
		return p;
	char line[512];
	unsigned long lo, hi;
	char pm[5];
	while (fgets(line, sizeof line, f))
		if (sscanf(line, "%lx-%lx %4s", &lo, &hi, pm) == 3 && lo <= a && a < hi) {
			memcpy(p, pm, 4);
			break;
		}
	fclose(f);
	return p;
}

static bool readable(uint32_t lin) { return perms(lin)[0] == 'r'; }
static bool writable(uint32_t lin) { return perms(lin)[1] == 'w'; }

static uint32_t rd32(const uint8_t *ram, uint32_t pa)
{
	uint32_t v;
	memcpy(&v, ram + pa, 4);
	return v;
}

static void wr32(uint8_t *ram, uint32_t pa, uint32_t v)
{
	memcpy(ram + pa, &v, 4);
}

int main(void)
{
	char why[256];
	if (!native_probe(why, sizeof why)) {
		SKIP("native_shadow", "%s", why);
		return 0;
	}
	int memfd = memfd_create("ram", 0);
	if (memfd < 0 || ftruncate(memfd, RAM) < 0) {
		SKIP("native_shadow", "memfd: %s", strerror(errno));
		return 0;
	}
	uint8_t *ram = mmap(NULL, RAM, PROT_READ | PROT_WRITE, MAP_SHARED, memfd, 0);
	static struct cpu c;
	CHECK("native_shadow_setup",
	      ram != MAP_FAILED && cpu_init(&c, ram, RAM, NULL) == 0 && native_reserve(&H) == 0,
	      "%s", strerror(errno));
	/* Page directory at 0x1000, 4 MiB pages: 0-4M -> 0 (not global),
	 * 4M-8M -> 4M (global), 8M-12M -> 256M (not RAM), 12M: not present.
	 * A second copy at 0x2000 for a CR3 switch. */
	wr32(ram, 0x1000 + 0, 0x00000083);
	wr32(ram, 0x1000 + 4, 0x00400183);
	wr32(ram, 0x1000 + 8, 0x10000083);
	memcpy(ram + 0x2000, ram + 0x1000, 16);
	c.cr0 = CR0_PE | CR0_PG;
	c.cr4 = CR4_PSE | CR4_PGE;
	c.cr3 = 0x1000;
	c.cpl = 0;
	struct shadow s;
	CHECK("native_shadow_init", shadow_init(&s, &H, memfd, RAM, 0xC0000000u) == 0, "oom");
	shadow_reset(&s, &c);
	s.code_written = on_code_written;

	/* A read maps the page read-only (D not yet set) and sets A. */
	wr32(ram, 0x200000, 0x5eed1234);
	enum shadow_result r = shadow_fill(&s, &c, 0x200000, false, false);
	CHECK("native_shadow_fill_read", r == SHADOW_MAPPED && readable(0x200000) &&
						 !writable(0x200000) &&
						 *(volatile uint32_t *)(uintptr_t)0x200000 == 0x5eed1234 &&
						 (rd32(ram, 0x1000) & 0x20),
	      "r=%d perms=%s pde=%#x", r, perms(0x200000), rd32(ram, 0x1000));
	/* The first write re-walks, sets D and maps it writable. */
	r = shadow_fill(&s, &c, 0x200000, true, false);
	CHECK("native_shadow_fill_write_sets_dirty",
	      r == SHADOW_MAPPED && writable(0x200000) && (rd32(ram, 0x1000) & 0x40),
	      "r=%d perms=%s pde=%#x", r, perms(0x200000), rd32(ram, 0x1000));

	/* Translated code on that physical page: its mapping turns
	 * read-only at once; a write asks the engine. Refused: emulate. */
	CHECK("native_shadow_code_protects",
	      shadow_code_set(&s, 0x200000, true) == 0 && readable(0x200000) && !writable(0x200000),
	      "perms=%s", perms(0x200000));
	allow_write = false;
	r = shadow_fill(&s, &c, 0x200000, true, false);
	CHECK("native_shadow_code_write_refused",
	      r == SHADOW_EMULATE && written_calls == 1 && written_gpa == 0x200000 &&
		      !writable(0x200000),
	      "r=%d calls=%d gpa=%#llx perms=%s", r, written_calls,
	      (unsigned long long)written_gpa, perms(0x200000));
	/* A read of a code page maps it, read-only, without asking. */
	shadow_drop(&s, 0x200000);
	r = shadow_fill(&s, &c, 0x200000, false, false);
	CHECK("native_shadow_code_read_maps_readonly",
	      r == SHADOW_MAPPED && written_calls == 1 && !writable(0x200000),
	      "r=%d calls=%d perms=%s", r, written_calls, perms(0x200000));
	allow_write = true;
	r = shadow_fill(&s, &c, 0x200000, true, false);
	CHECK("native_shadow_code_write_allowed",
	      r == SHADOW_MAPPED && written_calls == 2 && writable(0x200000) &&
		      shadow_fill(&s, &c, 0x200000, true, false) == SHADOW_MAPPED &&
		      written_calls == 2,
	      "r=%d calls=%d perms=%s", r, written_calls, perms(0x200000));

	/* CR3 write: everything but global pages goes. */
	r = shadow_fill(&s, &c, 0x500000, false, false);
	c.cr3 = 0x2000;
	shadow_track(&s, &c, NULL);
	CHECK("native_shadow_cr3_keeps_global",
	      r == SHADOW_MAPPED && !readable(0x200000) && readable(0x500000) &&
		      !shadow_mapped(&s, 0x200000) && shadow_mapped(&s, 0x500000),
	      "r=%d perms %s %s", r, perms(0x200000), perms(0x500000));
	uint32_t inv = 0x500000;
	shadow_track(&s, &c, &inv);
	CHECK("native_shadow_invlpg_drops", !readable(0x500000) && !shadow_mapped(&s, 0x500000),
	      "perms %s", perms(0x500000));

	/* Not RAM: MMIO; not present: the core raises the guest's #PF. */
	CHECK("native_shadow_mmio", shadow_fill(&s, &c, 0x800000, false, false) == SHADOW_MMIO,
	      "not MMIO");
	CHECK("native_shadow_not_present",
	      shadow_fill(&s, &c, 0xC00000, false, false) == SHADOW_EMULATE && !readable(0xC00000),
	      "mapped");

	/* What the guest kernel mapped below user_top is gone once the guest
	 * enters user mode (it may be a supervisor page). */
	r = shadow_fill(&s, &c, 0x300000, false, false);
	c.cpl = 3;
	shadow_track(&s, &c, NULL);
	CHECK("native_shadow_user_entry_drops_kernel_pages",
	      r == SHADOW_MAPPED && !readable(0x300000), "r=%d perms %s", r, perms(0x300000));
	/* A user access above user_top is never mapped. */
	CHECK("native_shadow_user_top",
	      shadow_fill(&s, &c, 0xC0001000u, false, false) == SHADOW_EMULATE, "mapped");

	/* A paging-mode change flushes everything, global pages too. */
	c.cpl = 0;
	shadow_track(&s, &c, NULL);
	shadow_fill(&s, &c, 0x500000, false, false);
	c.cr4 &= ~CR4_PGE;
	shadow_track(&s, &c, NULL);
	CHECK("native_shadow_mode_change_flushes_all", !readable(0x500000), "perms %s",
	      perms(0x500000));

	shadow_fini(&s);
	native_release(&H);
	cpu_fini(&c);
	CHECK_DONE();
}
