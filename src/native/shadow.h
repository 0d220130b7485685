/*
 * The shadow MMU, kept like a virtual TLB, shared by the native engines
 * (trap, bt). Guest linear page x is present at host address B + x only
 * while the guest's own TLB could hold it: mapped from the RAM memfd on
 * the first native fault after a walk of the guest's page tables (setting
 * A, and D on a write; read-only until the first write), dropped on INVLPG
 * and CR3 writes, even of the same value (global pages survive CR3), all
 * dropped when paging control bits change. x86 caches no not-present entries and every fault
 * is re-walked, so guest page tables need no write protection.
 *
 * Supervisor protection: guest user mode runs with data segments clipped
 * below user_top, and on a flat code segment; so on every switch to guest
 * user mode the shadow drops what the guest kernel mapped below user_top
 * (it may be a supervisor page) and makes the kernel-half pages the guest
 * kernel executes from non-executable (shadow_note_mode).
 *
 * Translated code (bt): a guest physical page can be flagged as holding
 * code (shadow_code_set). Every shadow mapping of it is then read-only,
 * and a native write to it calls code_written() before anything is
 * mapped writable.
 *
 * Everything here may run inside the native signal handler (alternate
 * stack, VMM FS/GS restored): it calls only mmap/mprotect and, for its
 * page lists, realloc. realloc is not async-signal-safe in general; it is
 * safe here because the native signal handlers only ever interrupt guest
 * code (never the VMM inside malloc): a signal taken in VMM code is not
 * dispatched to the engine (native.c).
 */
#ifndef RINGVM_NATIVE_SHADOW_H
#define RINGVM_NATIVE_SHADOW_H

#include <stdbool.h>
#include <stdint.h>

#include "native/native.h"

struct cpu;
struct shadow;

/* Called when a native guest write hits a guest physical page flagged as
 * holding translated code. Return true to let the write happen natively
 * (the flag is cleared and the page mapped writable: the engine has
 * dropped its translations), false to keep the page read-only (shadow_fill
 * then answers SHADOW_EMULATE and the engine emulates the write). */
typedef bool (*shadow_code_cb)(struct shadow *s, uint64_t gpa_page, void *opaque);

struct shadow_list {
	uint32_t *v; /* linear page numbers; may hold stale entries */
	size_t n, cap;
};

struct shadow {
	struct native_host *nh;
	int memfd;
	uint64_t ram_size;
	uint32_t user_top;	/* guest user mode never reaches linear >= this natively */
	uint8_t *pst;		/* per guest linear page: SHADOW_PS_* */
	uint32_t *ppn;		/* per guest linear page: guest physical page it maps */
	struct shadow_list mapped; /* pages with SHADOW_PS_MAPPED */
	struct shadow_list priv;   /* below user_top, mapped while the guest kernel ran */
	struct shadow_list kexec;  /* kernel-half pages the guest kernel executes from */
	uint8_t *code;		/* per guest physical page: holds translated code (lazy) */
	shadow_code_cb code_written;
	void *opaque;
	/* The guest state the mappings were made for (shadow_track). */
	uint32_t cr0, cr3, cr4;
	uint32_t cr3_loads;	/* the cpu's count when last followed */
	uint8_t cpl;
	uint64_t maps, drops;	/* statistics */
};

#define SHADOW_PS_MAPPED 1u
#define SHADOW_PS_WRITE 2u
#define SHADOW_PS_GLOBAL 4u
#define SHADOW_PS_EXEC 8u /* kernel-half page the guest kernel executes from */

/* What a native page fault comes to. */
enum shadow_result {
	SHADOW_MAPPED,	/* the page is mapped now: restart the access natively */
	SHADOW_EMULATE, /* emulate the access: it raises the guest's #PF, or the
			   host cannot make it natively */
	SHADOW_MMIO,	/* not RAM: emulate the access as MMIO */
};

/* Returns 0, or -1 (out of memory). */
int shadow_init(struct shadow *s, struct native_host *nh, int memfd, uint64_t ram_size,
		uint32_t user_top);
void shadow_fini(struct shadow *s);

/* A native #PF at linear lin (write: a write access; fetch: an instruction
 * fetch) with the virtual CPU c in its faulting state. */
enum shadow_result shadow_fill(struct shadow *s, struct cpu *c, uint32_t lin, bool write,
			       bool fetch);
/* Drops every mapping (keep_global: mappings of global pages survive). */
void shadow_flush(struct shadow *s, bool keep_global);
/* Drops the mapping of one linear page (INVLPG). */
void shadow_drop(struct shadow *s, uint32_t lin);
/* The guest's CPL changed to cpl: protect the guest kernel from its user
 * mode, or give the kernel its code back. */
void shadow_note_mode(struct shadow *s, uint8_t cpl);
/* After the virtual CPU ran (emulated) anything: brings the shadow in line
 * with what changed in CR0/CR3/CR4 and the CPL. invlpg: the linear address
 * of an INVLPG just executed, or NULL. */
void shadow_track(struct shadow *s, const struct cpu *c, const uint32_t *invlpg);
/* The virtual CPU was replaced wholesale (set_state): flush, adopt c. */
void shadow_reset(struct shadow *s, const struct cpu *c);
/* Is linear page lin mapped natively? */
bool shadow_mapped(const struct shadow *s, uint32_t lin);

/* bt: flag (or unflag) a guest physical page as holding translated code.
 * Setting it makes every current mapping of the page read-only. Returns 0
 * or -1 (out of memory). */
int shadow_code_set(struct shadow *s, uint64_t gpa_page, bool code);

#endif
