/*
 * The shadow MMU (virtual TLB) of the native engines: see shadow.h.
 */
#include <stdlib.h>
#include <string.h>

#include "cpu/cpu.h"
#include "native/shadow.h"

#define PAGES (1u << 20)

int shadow_init(struct shadow *s, struct native_host *nh, int memfd, uint64_t ram_size,
		uint32_t user_top)
{
	memset(s, 0, sizeof *s);
	s->nh = nh;
	s->memfd = memfd;
	s->ram_size = ram_size;
	s->user_top = user_top;
	/* calloc of these sizes comes from fresh zero pages: only the pages
	 * the guest touches cost memory. */
	s->pst = calloc(PAGES, sizeof *s->pst);
	s->ppn = calloc(PAGES, sizeof *s->ppn);
	if (!s->pst || !s->ppn) {
		shadow_fini(s);
		return -1;
	}
	return 0;
}

void shadow_fini(struct shadow *s)
{
	free(s->pst);
	free(s->ppn);
	free(s->mapped.v);
	free(s->priv.v);
	free(s->kexec.v);
	free(s->code);
	memset(s, 0, sizeof *s);
}

static void list_add(struct shadow_list *l, uint32_t x)
{
	if (l->n == l->cap) {
		size_t nc = l->cap ? l->cap * 2 : 1024;
		uint32_t *p = realloc(l->v, nc * sizeof *p);
		if (!p)
			return; /* the page stays mapped until the next full flush */
		l->v = p;
		l->cap = nc;
	}
	l->v[l->n++] = x;
}

bool shadow_mapped(const struct shadow *s, uint32_t lin)
{
	return s->pst[lin >> 12] & SHADOW_PS_MAPPED;
}

void shadow_drop(struct shadow *s, uint32_t lin)
{
	uint32_t page = lin >> 12;
	if (!(s->pst[page] & SHADOW_PS_MAPPED))
		return;
	native_unmap(s->nh, page << 12, 0x1000);
	s->pst[page] = 0;
	s->drops++;
}

void shadow_flush(struct shadow *s, bool keep_global)
{
	size_t kept = 0;
	uint32_t run_start = 0, run_len = 0;
	for (size_t k = 0; k < s->mapped.n; k++) {
		uint32_t p = s->mapped.v[k];
		uint8_t st = s->pst[p];
		if (!(st & SHADOW_PS_MAPPED))
			continue;
		if (keep_global && (st & SHADOW_PS_GLOBAL)) {
			s->mapped.v[kept++] = p;
			continue;
		}
		s->pst[p] = 0;
		s->drops++;
		/* One munmap per run of contiguous pages. */
		if (run_len && p == run_start + run_len) {
			run_len++;
			continue;
		}
		if (run_len)
			native_unmap(s->nh, run_start << 12, run_len << 12);
		run_start = p;
		run_len = 1;
	}
	if (run_len)
		native_unmap(s->nh, run_start << 12, run_len << 12);
	s->mapped.n = kept;
	s->priv.n = 0;
}

static bool page_has_code(const struct shadow *s, uint64_t ppage)
{
	return s->code && s->code[ppage >> 12];
}

/* Is a mapped page executable natively now? Pages below user_top always
 * (user code runs on a flat segment); kernel-half pages only once the
 * guest kernel fetched from them, and only while it runs. */
static bool page_exec(const struct shadow *s, uint32_t page)
{
	return (page << 12) < s->user_top ||
	       ((s->pst[page] & SHADOW_PS_EXEC) && s->cpl != 3);
}

/* Would guest user mode get the same mapping of lin (a user page, and
 * user-writable if it is mapped writable)? Then the switch to user mode
 * need not drop it: a system call that touched user memory leaves it
 * mapped. The walk sets no bit the kernel's walk has not set. */
static bool user_same(struct cpu *c, uint32_t lin, bool writable)
{
	volatile bool same = false;
	if (_setjmp(c->jb))
		return false;
	bool w = false;
	paging_translate(c, lin, false, true, false, &w);
	same = !writable || w;
	return same;
}

enum shadow_result shadow_fill(struct shadow *s, struct cpu *c, uint32_t lin, bool write,
			       bool fetch)
{
	bool user = c->cpl == 3;
	if ((uint32_t)(s->nh->base + lin) < 0x1000 || (user && lin >= s->user_top))
		return SHADOW_EMULATE;
	volatile bool wok = false;
	volatile uint32_t pa = 0;
	if (_setjmp(c->jb))
		return SHADOW_EMULATE; /* not present / no permission: the core delivers #PF */
	bool w;
	pa = paging_translate(c, lin, write, user, false, &w);
	wok = w;
	uint64_t ppage = pa & ~0xfffu;
	if (ppage + 0x1000 > c->ram_size)
		return SHADOW_MMIO;
	uint32_t page = lin >> 12;
	if (wok && page_has_code(s, ppage)) {
		/* Translated code lives on this page: it stays read-only until
		 * the engine has dropped the translations. A read or fetch maps
		 * it read-only; a write asks the engine. */
		if (!write)
			wok = false;
		else if (s->code_written && s->code_written(s, ppage, s->opaque))
			s->code[ppage >> 12] = 0;
		else
			return SHADOW_EMULATE;
	}
	bool kexec = lin >= s->user_top && (fetch || (s->pst[page] & SHADOW_PS_EXEC));
	if (native_map_prot(s->nh, lin, s->memfd, ppage, wok, lin < s->user_top || kexec) < 0)
		return SHADOW_EMULATE;
	uint8_t st = SHADOW_PS_MAPPED | (wok ? SHADOW_PS_WRITE : 0) |
		     (paging_global(c, lin) ? SHADOW_PS_GLOBAL : 0) | (kexec ? SHADOW_PS_EXEC : 0);
	if (kexec && !(s->pst[page] & SHADOW_PS_EXEC))
		list_add(&s->kexec, page);
	if (!(s->pst[page] & SHADOW_PS_MAPPED))
		list_add(&s->mapped, page);
	s->pst[page] = st;
	s->ppn[page] = (uint32_t)(ppage >> 12);
	s->maps++;
	if (!user && lin < s->user_top && !user_same(c, lin, wok))
		list_add(&s->priv, page);
	return SHADOW_MAPPED;
}

/* Makes the kernel-half pages the guest kernel executes from executable
 * (guest kernel mode) or not (guest user mode), one mprotect per run of
 * contiguous pages. This, not a code-segment limit, keeps user code from
 * running supervisor code: on this host a 32-bit CS whose limit is not
 * 4 GiB slows all fetches by ~16% (docs/06-trap.md). */
static void kexec_set(struct shadow *s, bool exec)
{
	size_t kept = 0;
	uint32_t start = 0, len = 0;
	bool wr = false;
	for (size_t k = 0; k < s->kexec.n; k++) {
		uint32_t p = s->kexec.v[k];
		uint8_t st = s->pst[p];
		if (!(st & SHADOW_PS_MAPPED) || !(st & SHADOW_PS_EXEC))
			continue; /* dropped since: forget it */
		s->kexec.v[kept++] = p;
		bool pw = st & SHADOW_PS_WRITE;
		if (len && p == start + len && pw == wr) {
			len++;
			continue;
		}
		if (len)
			native_protect(s->nh, start << 12, len << 12, wr, exec);
		start = p;
		len = 1;
		wr = pw;
	}
	if (len)
		native_protect(s->nh, start << 12, len << 12, wr, exec);
	s->kexec.n = kept;
}

void shadow_note_mode(struct shadow *s, uint8_t cpl)
{
	if (cpl == 3 && s->cpl != 3) {
		/* Whatever the kernel mapped below user_top may be a
		 * supervisor page (or writable only to the kernel). */
		for (size_t k = 0; k < s->priv.n; k++)
			shadow_drop(s, s->priv.v[k] << 12);
		s->priv.n = 0;
		kexec_set(s, false);
	} else if (cpl != 3 && s->cpl == 3) {
		kexec_set(s, true);
	}
	s->cpl = cpl;
}

void shadow_track(struct shadow *s, const struct cpu *c, const uint32_t *invlpg)
{
	const uint32_t pgbits = CR0_PG | CR0_WP | CR0_PE;
	const uint32_t cr4bits = CR4_PSE | CR4_PGE | CR4_PAE;
	if (((c->cr0 ^ s->cr0) & pgbits) || ((c->cr4 ^ s->cr4) & cr4bits))
		shadow_flush(s, false);
	else if (c->cr3 != s->cr3 || c->cr3_loads != s->cr3_loads)
		shadow_flush(s, true);
	else if (invlpg)
		shadow_drop(s, *invlpg);
	s->cr0 = c->cr0;
	s->cr3 = c->cr3;
	s->cr3_loads = c->cr3_loads;
	s->cr4 = c->cr4;
	shadow_note_mode(s, c->cpl);
}

void shadow_reset(struct shadow *s, const struct cpu *c)
{
	shadow_flush(s, false);
	s->cr0 = c->cr0;
	s->cr3 = c->cr3;
	s->cr3_loads = c->cr3_loads;
	s->cr4 = c->cr4;
	s->cpl = c->cpl;
}

int shadow_code_set(struct shadow *s, uint64_t gpa_page, bool code)
{
	uint64_t ppn = gpa_page >> 12;
	if (gpa_page >= s->ram_size)
		return 0; /* not RAM: never mapped natively anyway */
	if (!s->code) {
		if (!code)
			return 0;
		s->code = calloc(s->ram_size >> 12, 1);
		if (!s->code)
			return -1;
	}
	s->code[ppn] = code;
	if (!code)
		return 0; /* the next write fault maps it writable */
	for (size_t k = 0; k < s->mapped.n; k++) {
		uint32_t p = s->mapped.v[k];
		uint8_t st = s->pst[p];
		if ((st & SHADOW_PS_MAPPED) && (st & SHADOW_PS_WRITE) && s->ppn[p] == ppn) {
			native_protect(s->nh, p << 12, 0x1000, false, page_exec(s, p));
			s->pst[p] = st & ~SHADOW_PS_WRITE;
		}
	}
	return 0;
}
