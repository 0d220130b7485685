/*
 * Host mechanics for native guest execution: see native.h.
 */
#include <asm/ldt.h>
#include <errno.h>
#include <linux/audit.h>
#include <linux/filter.h>
#include <linux/seccomp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/auxv.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "native/native.h"
#include "vm/sandbox.h"

#define HOST_USER_CS 0x33
#define HOST_USER_DS 0x2b
#define HOST_USER32_CS 0x23
#define UC_SS_FLAGS 0x6 /* UC_SIGCONTEXT_SS | UC_STRICT_RESTORE_SS */

int native_exit_code;
uint16_t native_resume_sel[6];
extern uint64_t native_host_rsp, native_vmm_fsbase, native_vmm_gsbase;
extern char native_window_start[], native_iret[], native_bail[], native_exit_stub[];
int native_enter_asm(const struct native_regs *r, volatile sig_atomic_t *kick);
void native_sig_entry(int sig, siginfo_t *si, void *uc);
int native_sig_c(int sig, siginfo_t *si, ucontext_t *uc);

static struct native_host *cur;
static bool seccomp_on;
static const int trap_sigs[] = { SIGSEGV, SIGBUS, SIGILL, SIGFPE, SIGTRAP, SIGSYS };
#define NSIGS (int)(sizeof trap_sigs / sizeof trap_sigs[0])

bool native_probe(char *why, size_t why_len)
{
#if defined(__SANITIZE_ADDRESS__)
	snprintf(why, why_len,
		 "ASan build: its shadow memory occupies the low 4 GiB that guest code must own "
		 "(use the non-ASan build)");
	return false;
#endif
	if (!(getauxval(AT_HWCAP2) & 2)) {
		snprintf(why, why_len, "FSGSBASE not enabled for user space (AT_HWCAP2 bit 1)");
		return false;
	}
	struct user_ldt_desc_probe {
		struct user_desc d;
	} p;
	memset(&p, 0, sizeof p);
	p.d.entry_number = NATIVE_LDT_FIRST + 7;
	p.d.seg_32bit = 1;
	p.d.limit = 0xfffff;
	p.d.limit_in_pages = 1;
	p.d.seg_not_present = 1; /* harmless probe entry */
	p.d.read_exec_only = 1;
	if (syscall(SYS_modify_ldt, 1, &p.d, sizeof p.d) != 0) {
		snprintf(why, why_len, "modify_ldt refused: %s", strerror(errno));
		return false;
	}
	if (!native_fpu_probe(why, why_len))
		return false;
	if (prctl(PR_GET_SECCOMP, 0, 0, 0, 0) < 0) {
		snprintf(why, why_len, "seccomp unavailable: %s", strerror(errno));
		return false;
	}
	FILE *f = fopen("/proc/self/maps", "r");
	if (f) {
		unsigned long lo, hi;
		char line[512];
		while (fgets(line, sizeof line, f)) {
			if (sscanf(line, "%lx-%lx", &lo, &hi) == 2 && lo < (1ul << 32) &&
			    !strstr(line, "[ringvm-native]")) {
				/* Our own reservation shows as anonymous: tolerated
				 * when already ours (cur != NULL). */
				if (cur)
					continue;
				snprintf(why, why_len,
					 "host memory below 4 GiB is in use (%lx-%lx): guest linear "
					 "space cannot be placed there",
					 lo, hi);
				fclose(f);
				return false;
			}
		}
		fclose(f);
	}
	snprintf(why, why_len, "modify_ldt, FSGSBASE and seccomp available");
	return true;
}

static int install_one(int sig)
{
	struct sigaction sa;
	memset(&sa, 0, sizeof sa);
	sa.sa_sigaction = (void (*)(int, siginfo_t *, void *))native_sig_entry;
	sa.sa_flags = SA_SIGINFO | SA_ONSTACK;
	sigemptyset(&sa.sa_mask);
	/* No nesting: a signal during the handler would see half-restored
	 * segment state. The mask is lifted atomically by sigreturn. */
	for (int k = 0; k < NSIGS; k++)
		sigaddset(&sa.sa_mask, trap_sigs[k]);
	if (cur)
		sigaddset(&sa.sa_mask, cur->kick_sig);
	return sigaction(sig, &sa, NULL);
}

int native_install(struct native_host *h)
{
	cur = h;
	if (!h->altstack) {
		h->altstack_size = 1u << 20;
		h->altstack = mmap(NULL, h->altstack_size, PROT_READ | PROT_WRITE,
				   MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
		if (h->altstack == MAP_FAILED) {
			h->altstack = NULL;
			return -1;
		}
	}
	stack_t ss = { .ss_sp = h->altstack, .ss_size = h->altstack_size, .ss_flags = 0 };
	if (sigaltstack(&ss, NULL) < 0)
		return -1;
	for (int k = 0; k < NSIGS; k++)
		if (install_one(trap_sigs[k]) < 0)
			return -1;
	return native_install_kick(h);
}

int native_install_kick(struct native_host *h)
{
	if (!h->kick_sig)
		return 0;
	return install_one(h->kick_sig);
}

void native_uninstall(struct native_host *h)
{
	for (int k = 0; k < NSIGS; k++)
		signal(trap_sigs[k], SIG_DFL);
	stack_t ss = { .ss_flags = SS_DISABLE };
	sigaltstack(&ss, NULL);
	if (h->altstack)
		munmap(h->altstack, h->altstack_size);
	free(h->ldt);
	h->ldt = NULL;
	h->altstack = NULL;
	if (cur == h)
		cur = NULL;
}

void native_block_vmm_signals(sigset_t *saved)
{
	sigset_t vmm_only;
	sigemptyset(&vmm_only);
	sigaddset(&vmm_only, SIGINT);
	sigaddset(&vmm_only, SIGTERM);
	sigaddset(&vmm_only, SIGHUP);
	sigaddset(&vmm_only, SIGQUIT);
	sigprocmask(SIG_BLOCK, &vmm_only, saved);
}

int native_seccomp_install(char *why, size_t why_len)
{
	if (seccomp_on)
		return 0;
	/* Two walls, both SIGSYS (SECCOMP_RET_TRAP: the call never runs):
	 *  - any system call made from an instruction pointer below 4 GiB,
	 *    whatever its ABI: only guest code (and bt's translated code)
	 *    lives there, and guest code that far-jumped to the host's 64-bit
	 *    selector 0x33 can execute a 64-bit SYSCALL;
	 *  - any system call that is not x86-64 ABI (int 0x80, sysenter,
	 *    SYSCALL from compatibility mode): the host kernel reports those
	 *    at its vDSO landing pad, above 4 GiB.
	 * seccomp_data: nr at 0, arch at 4, instruction_pointer at 8 (its
	 * high half at 12, little-endian). */
	struct sock_filter f[] = {
		BPF_STMT(BPF_LD | BPF_W | BPF_ABS, 12 /* instruction_pointer >> 32 */),
		BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, 0, 5, 0),
		BPF_STMT(BPF_LD | BPF_W | BPF_ABS, 4 /* arch */),
		BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, AUDIT_ARCH_X86_64, 0, 3),
		BPF_STMT(BPF_LD | BPF_W | BPF_ABS, 0 /* nr */),
		BPF_JUMP(BPF_JMP | BPF_JGE | BPF_K, 0x40000000u /* x32 */, 1, 0),
		BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW),
		BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_TRAP),
	};
	struct sock_fprog prog = { .len = (unsigned short)(sizeof f / sizeof f[0]), .filter = f };
	if (syscall(SYS_seccomp, SECCOMP_SET_MODE_FILTER, 0, &prog) != 0) {
		/* Without CAP_SYS_ADMIN the kernel wants no_new_privs first. */
		if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0 ||
		    syscall(SYS_seccomp, SECCOMP_SET_MODE_FILTER, 0, &prog) != 0) {
			snprintf(why, why_len, "seccomp filter refused: %s", strerror(errno));
			return -1;
		}
	}
	seccomp_on = true;
	return 0;
}

bool native_seccomp_active(void)
{
	return seccomp_on;
}

int native_ldt_set(struct native_host *h, unsigned idx, const struct seg *g, uint32_t limit_max)
{
	if (idx >= NATIVE_LDT_SLOTS) {
		errno = EINVAL;
		return -1;
	}
	if (!h->ldt) {
		h->ldt = calloc(NATIVE_LDT_SLOTS, sizeof *h->ldt);
		if (!h->ldt)
			return -1;
	}
	uint32_t base = h->base + g->base;
	uint32_t limit = g->limit;
	if (limit > limit_max)
		limit = limit_max;
	uint8_t contents, ro;
	bool code = g->type & 8;
	if (code) {
		/* Linux refuses a present conforming code segment in the LDT
		 * (contents 3). At host CPL 3 with DPL 3 conforming changes
		 * nothing natively (privilege transitions are emulated), so it
		 * is described as non-conforming. */
		contents = 2;
		ro = !(g->type & 2); /* execute-only */
	} else {
		contents = (g->type & 4) ? 1 : 0; /* expand-down : up */
		ro = !(g->type & 2);		  /* read-only */
	}
	/* In pages, the CPU's limit is (raw << 12) | 0xfff: round a clipped
	 * limit down to a page, never up, or a segment whose base is not
	 * page-aligned would reach up to 4095 bytes past limit_max (into
	 * bt's vCPU page, or a guest kernel's half from user mode). The
	 * guest's own limits in pages end in 0xfff and stay as they are; the
	 * bytes cut off fault natively and are emulated. */
	uint8_t pages = limit > 0xfffff;
	uint32_t limit_raw = pages ? limit >> 12 : limit;
	if (pages && (limit & 0xfff) != 0xfff)
		limit_raw--;
	uint8_t present = g->present && !g->unusable;
	struct native_ldt_entry *e = &h->ldt[idx];
	e->guest_sel = g->sel;
	if (e->valid && e->base == base && e->limit_raw == limit_raw && e->contents == contents &&
	    e->ro == ro && e->db == g->db && e->pages == pages && e->present == present)
		return 0;
	struct user_desc d;
	memset(&d, 0, sizeof d);
	d.entry_number = idx;
	d.base_addr = base;
	d.limit = limit_raw;
	d.seg_32bit = g->db;
	d.contents = contents;
	d.read_exec_only = ro;
	d.limit_in_pages = pages;
	d.seg_not_present = !present;
	d.useable = 1;
	/* modify_ldt returns its result as an unsigned int: an error comes
	 * back as a large positive value that libc does not turn into errno. */
	long rc = syscall(SYS_modify_ldt, 1, &d, sizeof d);
	if (rc != 0) {
		errno = rc < 0 ? errno : -(int)(unsigned int)rc;
		return -1;
	}
	h->ldt_writes++;
	e->valid = true;
	e->base = base;
	e->limit_raw = limit_raw;
	e->contents = contents;
	e->ro = ro;
	e->db = g->db;
	e->pages = pages;
	e->present = present;
	return 0;
}

int native_enter(struct native_host *h, const struct native_regs *r)
{
	cur = h;
	native_exit_code = 0;
	return native_enter_asm(r, h->kick);
}

uint16_t native_uc_cs(const ucontext_t *uc)
{
	return (uint16_t)(uc->uc_mcontext.gregs[REG_CSGSFS] & 0xffff);
}

static bool uc_rip_low(const ucontext_t *uc)
{
	return (uint64_t)uc->uc_mcontext.gregs[REG_RIP] < (1ull << 32);
}

bool native_uc_compat_syscall(const ucontext_t *uc)
{
	return native_uc_cs(uc) == HOST_USER32_CS && !uc_rip_low(uc);
}

bool native_uc_host_selector(const ucontext_t *uc)
{
	return !(native_uc_cs(uc) & 4) && uc_rip_low(uc);
}

bool native_uc_is_guest(const ucontext_t *uc)
{
	/* An LDT code selector: only guest code runs there. An instruction
	 * pointer below 4 GiB: only guest code lives there (the VMM's code,
	 * stacks and libraries are above: native_probe), whatever selector
	 * it far-jumped to. The host's flat 32-bit selector above 4 GiB: a
	 * guest compatibility-mode SYSCALL reported at the host's landing
	 * pad (the VMM never runs 32-bit code of its own). */
	return (native_uc_cs(uc) & 4) != 0 || uc_rip_low(uc) || native_uc_compat_syscall(uc);
}

static const int greg_of[8] = { REG_RAX, REG_RCX, REG_RDX, REG_RBX,
				REG_RSP, REG_RBP, REG_RSI, REG_RDI };

void native_regs_from_uc(const ucontext_t *uc, struct native_regs *r)
{
	for (int k = 0; k < 8; k++)
		r->gpr[k] = (uint32_t)uc->uc_mcontext.gregs[greg_of[k]];
	r->eip = (uint32_t)uc->uc_mcontext.gregs[REG_RIP];
	r->eflags = (uint32_t)uc->uc_mcontext.gregs[REG_EFL];
	uint64_t csgsfs = (uint64_t)uc->uc_mcontext.gregs[REG_CSGSFS];
	r->sel[1] = (uint16_t)csgsfs;
	r->sel[2] = (uint16_t)(csgsfs >> 48);
	/* DS ES FS GS are not in the frame: the prologue leaves them live. */
	uint16_t v;
	__asm__ volatile("mov %%ds, %0" : "=r"(v));
	r->sel[3] = v;
	__asm__ volatile("mov %%es, %0" : "=r"(v));
	r->sel[0] = v;
	__asm__ volatile("mov %%fs, %0" : "=r"(v));
	r->sel[4] = v;
	__asm__ volatile("mov %%gs, %0" : "=r"(v));
	r->sel[5] = v;
	if (native_uc_compat_syscall(uc)) {
		/* A compatibility-mode SYSCALL. The host kernel's compat entry
		 * follows its vDSO convention: it stored the guest's EBP as
		 * ECX, loaded EBP from [ESP] (or returned -EFAULT in EAX when
		 * that is unmapped), and replaced the return RIP (the only copy
		 * of the guest's EIP) with its vDSO landing pad. EIP is lost. */
		r->eip = 0;
	}
}

void native_regs_to_uc(ucontext_t *uc, const struct native_regs *r)
{
	for (int k = 0; k < 8; k++)
		uc->uc_mcontext.gregs[greg_of[k]] = (greg_t)r->gpr[k];
	uc->uc_mcontext.gregs[REG_RIP] = (greg_t)r->eip;
	uint64_t fl = (uint64_t)uc->uc_mcontext.gregs[REG_EFL];
	fl = (fl & ~0x240cd5ull) | (r->eflags & 0x240cd5u);
	fl &= ~0x100ull; /* no TF */
	uc->uc_mcontext.gregs[REG_EFL] = (greg_t)fl;
	uint64_t csgsfs = (uint64_t)uc->uc_mcontext.gregs[REG_CSGSFS];
	csgsfs = (csgsfs & 0x0000ffffffff0000ull) | r->sel[1] | ((uint64_t)r->sel[2] << 48);
	uc->uc_mcontext.gregs[REG_CSGSFS] = (greg_t)csgsfs;
	uc->uc_flags |= UC_SS_FLAGS;
	memcpy(native_resume_sel, r->sel, sizeof native_resume_sel);
}

static void to_exit_stub(ucontext_t *uc)
{
	uc->uc_mcontext.gregs[REG_RIP] = (greg_t)(uintptr_t)native_exit_stub;
	uc->uc_mcontext.gregs[REG_RSP] = (greg_t)native_host_rsp;
	uc->uc_mcontext.gregs[REG_EFL] = 0x202;
	uint64_t csgsfs = (uint64_t)uc->uc_mcontext.gregs[REG_CSGSFS];
	csgsfs = (csgsfs & 0x0000ffffffff0000ull) | HOST_USER_CS | ((uint64_t)HOST_USER_DS << 48);
	uc->uc_mcontext.gregs[REG_CSGSFS] = (greg_t)csgsfs;
}

/* Would the host load these selectors? LAR reads a descriptor as the CPU
 * sees it from CPL 3 (ZF clear: not accessible). */
static bool sel_rights(uint16_t sel, uint32_t *ar)
{
	uint32_t v = 0;
	uint8_t ok;
	__asm__("lar %2, %0; setz %1" : "=r"(v), "=q"(ok) : "r"((uint32_t)sel) : "cc");
	*ar = v;
	return ok;
}

static bool resume_sels_ok(const ucontext_t *uc)
{
	uint32_t ar;
	uint64_t csgsfs = (uint64_t)uc->uc_mcontext.gregs[REG_CSGSFS];
	uint16_t cs = (uint16_t)csgsfs, ss = (uint16_t)(csgsfs >> 48);
	/* CS: present code (bit 15 P, bit 12 S, bit 11 code). */
	if (!sel_rights(cs, &ar) || (ar & 0x9800) != 0x9800)
		return false;
	/* SS: present writable data. */
	if (!sel_rights(ss, &ar) || (ar & 0x9a00) != 0x9200)
		return false;
	static const int data[] = { 0, 3, 4, 5 }; /* ES DS FS GS */
	for (int k = 0; k < 4; k++) {
		uint16_t sel = native_resume_sel[data[k]];
		if (!(sel & ~3u))
			continue;
		/* Present, and data or readable code. */
		if (!sel_rights(sel, &ar) || !(ar & 0x8000) || !(ar & 0x1000) ||
		    ((ar & 0x0800) && !(ar & 0x0200)))
			return false;
	}
	return true;
}

/* Returns 0: resume as interrupted, 1: resume guest (load data
 * selectors), 2: return to the exit stub. */
int native_sig_c(int sig, siginfo_t *si, ucontext_t *uc)
{
	struct native_host *h = cur;
	bool guest = native_uc_is_guest(uc);
	bool trap_sig = false;
	for (int k = 0; k < NSIGS; k++)
		trap_sig |= sig == trap_sigs[k];
	if (!trap_sig && (!h || sig != h->kick_sig))
		return 0; /* a kick after the engine went away: nothing to do */
	if (h && !guest && h->kick_sig && sig == h->kick_sig) {
		if (h->kick)
			*h->kick = 1;
		uintptr_t rip = (uintptr_t)uc->uc_mcontext.gregs[REG_RIP];
		if (rip >= (uintptr_t)native_window_start && rip <= (uintptr_t)native_iret)
			uc->uc_mcontext.gregs[REG_RIP] = (greg_t)(uintptr_t)native_bail;
		return 0;
	}
	uintptr_t rip = (uintptr_t)uc->uc_mcontext.gregs[REG_RIP];
	if (h && !guest && trap_sig && rip >= (uintptr_t)native_window_start &&
	    rip <= (uintptr_t)native_iret) {
		/* The entry itself faulted (a data selector load or the IRETQ
		 * refused the guest state): not a VMM crash, a state the
		 * engine should not have entered natively. */
		native_exit_code = NATIVE_STOP_ENTRY_FAULT;
		to_exit_stub(uc);
		return 2;
	}
	enum native_verdict v = NATIVE_PASS;
	if (h && h->cb && guest) {
		native_fpu_from_uc(uc); /* the guest's x87/SSE state, for the callback */
		v = h->cb(sig, si, uc, guest, h->opaque);
	}
	switch (v) {
	case NATIVE_RESUME:
		if (resume_sels_ok(uc)) {
			native_fpu_to_uc(uc);
			return 1;
		}
		/* The epilogue or sigreturn would fault in the VMM's own
		 * context (where the host kills it): end the run instead. */
		native_exit_code = NATIVE_STOP_ENTRY_FAULT;
		to_exit_stub(uc);
		return 2;
	case NATIVE_EXIT:
		to_exit_stub(uc);
		return 2;
	default:
		break;
	}
	/* Not guest code. The VMM itself made a system call a seccomp
	 * filter refuses: say which, as the sandbox does (status 8).
	 * Otherwise a VMM bug: let the default action report it. Either way
	 * the terminal is restored first (h->fatal_cleanup). Only
	 * async-signal-safe calls from here on. */
	if (h && h->fatal_cleanup)
		h->fatal_cleanup();
	if (sig == SIGSYS)
		sandbox_report_blocked(si);
	signal(sig, SIG_DFL);
	if (sig == SIGSYS || sig == SIGTRAP)
		raise(sig);
	return 0;
}

int native_map_prot(struct native_host *h, uint32_t lin, int fd, uint64_t gpa_page,
		    bool writable, bool exec)
{
	void *a = native_host_addr(h, lin & ~0xfffu);
	int prot = PROT_READ | (exec ? PROT_EXEC : 0) | (writable ? PROT_WRITE : 0);
	void *p = mmap(a, 0x1000, prot, MAP_SHARED | MAP_FIXED, fd, (off_t)gpa_page);
	return p == a ? 0 : -1;
}

int native_map(struct native_host *h, uint32_t lin, int fd, uint64_t gpa_page, bool writable)
{
	return native_map_prot(h, lin, fd, gpa_page, writable, true);
}

int native_protect(struct native_host *h, uint32_t lin, uint32_t len, bool writable, bool exec)
{
	int prot = PROT_READ | (exec ? PROT_EXEC : 0) | (writable ? PROT_WRITE : 0);
	return mprotect(native_host_addr(h, lin & ~0xfffu), len, prot);
}

int native_unmap(struct native_host *h, uint32_t lin, uint32_t len)
{
	void *a = native_host_addr(h, lin & ~0xfffu);
	if ((uintptr_t)a < 0x1000) {
		if (len <= 0x1000)
			return 0;
		len -= 0x1000;
		a = (char *)a + 0x1000;
	}
	void *p = mmap(a, len, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED | MAP_NORESERVE,
		       -1, 0);
	return p == a ? 0 : -1;
}

int native_reserve(struct native_host *h)
{
	/* The window is [B, 2^32) followed by [0, B) (wrapped). */
	uint64_t lo = 0x1000;
	void *p = mmap((void *)(uintptr_t)lo, (1ull << 32) - lo, PROT_NONE,
		       MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED_NOREPLACE | MAP_NORESERVE, -1, 0);
	if (p == MAP_FAILED)
		return -1;
	if (p != (void *)(uintptr_t)lo) {
		munmap(p, (1ull << 32) - lo);
		errno = EEXIST;
		return -1;
	}
	(void)h;
	return 0;
}

void native_release(struct native_host *h)
{
	(void)h;
	munmap((void *)(uintptr_t)0x1000, (1ull << 32) - 0x1000);
}
