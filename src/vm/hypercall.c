/*
 * ringvm's hypercalls (include/ringvm/pv.h, docs/08-paravirt.md): one
 * dispatcher for every engine. It sees the guest only as a struct
 * cpu_state (engine get_state/set_state), guest RAM, and the engine's
 * flush_tlb; so what it does is the same under emulation, trap-and-emulate,
 * binary translation and KVM.
 *
 * Every argument is hostile until checked: pointers are walked through the
 * guest's own page tables and must land in guest RAM, page-table writes
 * must be aligned and inside RAM, descriptors must not give the guest a
 * privilege it does not own, batches have a maximum length. A bad call
 * gets a negative error code in EAX and changes nothing.
 *
 * The large buffers are static: one vCPU, and hypercall_handle never runs
 * twice at once (under trap it runs inside the SIGSEGV handler, which does
 * not nest and only fires while guest code, never this code, runs).
 */
#include <stdio.h>
#include <string.h>

#include "cpu/cpu.h"
#include "devices/devices.h"
#include "hypercall.h"
#include "vm.h"

static const char *const hc_names[RINGVM_HC_COUNT + 1] = {
	[RINGVM_HC_VERSION] = "version",
	[RINGVM_HC_CONSOLE_WRITE] = "console_write",
	[RINGVM_HC_SHUTDOWN] = "shutdown",
	[RINGVM_HC_HALT] = "halt",
	[RINGVM_HC_SET_SHARED] = "set_shared",
	[RINGVM_HC_EVENT] = "event",
	[RINGVM_HC_SET_IDT] = "set_idt",
	[RINGVM_HC_SET_GDT] = "set_gdt",
	[RINGVM_HC_SET_LDT] = "set_ldt",
	[RINGVM_HC_LOAD_TR] = "load_tr",
	[RINGVM_HC_SET_KSTACK] = "set_kstack",
	[RINGVM_HC_SET_CR3] = "set_cr3",
	[RINGVM_HC_MMU_UPDATE] = "mmu_update",
	[RINGVM_HC_TLB_FLUSH] = "tlb_flush",
	[RINGVM_HC_IRET] = "iret",
	[RINGVM_HC_READ_STATE] = "read_state",
	[RINGVM_HC_COUNT] = "unknown",
};

/* One call in progress: the guest state it reads and changes. */
struct hc {
	struct vcpu *vcpu;
	struct vm *vm;
	struct cpu_state s;
	bool halt;
	bool keep_eax; /* the call set EAX itself (iret) */
};

/* --- the guest's memory, as its kernel sees it --- */

int pv_lin_to_phys(const uint8_t *ram, uint64_t ram_size, const struct cpu_state *s,
		   uint32_t lin, bool write, uint64_t *pa)
{
	if (!(s->cr0 & CR0_PG)) {
		*pa = lin;
		return 0;
	}
	if (s->cr4 & CR4_PAE)
		return -RINGVM_EFAULT;
	/* CPL 0 writes honour read-only pages only with CR0.WP, as the CPU does. */
	bool check_w = write && (s->cr0 & CR0_WP);
	uint64_t pde_pa = (uint64_t)(s->cr3 & ~0xfffu) + ((lin >> 22) << 2);
	if (pde_pa + 4 > ram_size)
		return -RINGVM_EFAULT;
	uint32_t pde;
	memcpy(&pde, ram + pde_pa, 4);
	if (!(pde & 1) || (check_w && !(pde & 2)))
		return -RINGVM_EFAULT;
	if ((pde & 0x80) && (s->cr4 & CR4_PSE)) {
		*pa = (pde & 0xffc00000u) | (lin & 0x3fffffu);
		return 0;
	}
	uint64_t pte_pa = (uint64_t)(pde & ~0xfffu) + (((lin >> 12) & 0x3ff) << 2);
	if (pte_pa + 4 > ram_size)
		return -RINGVM_EFAULT;
	uint32_t pte;
	memcpy(&pte, ram + pte_pa, 4);
	if (!(pte & 1) || (check_w && !(pte & 2)))
		return -RINGVM_EFAULT;
	*pa = (pte & ~0xfffu) | (lin & 0xfffu);
	return 0;
}

/* Copies len bytes between buf and guest-linear lin, page by page; every
 * page must be mapped and be RAM. Nothing is written unless all of it is. */
static int guest_copy(struct hc *h, uint32_t lin, void *buf, uint32_t len, bool write)
{
	uint8_t *b = buf;
	for (int pass = write ? 0 : 1; pass < 2; pass++) {
		uint32_t l = lin, left = len;
		uint8_t *q = b;
		while (left) {
			uint32_t n = 0x1000 - (l & 0xfffu);
			if (n > left)
				n = left;
			uint64_t pa;
			if (pv_lin_to_phys(h->vm->ram, h->vm->ram_size, &h->s, l, write, &pa) < 0)
				return -RINGVM_EFAULT;
			uint8_t *p = vm_gpa(h->vm, pa, n);
			if (!p)
				return -RINGVM_EFAULT;
			if (pass == 1)
				write ? memcpy(p, q, n) : memcpy(q, p, n);
			l += n; /* wraps at 4 GiB like a linear address */
			q += n;
			left -= n;
		}
	}
	return 0;
}

/* --- descriptors --- */

int pv_check_descriptor(uint32_t lo, uint32_t hi, bool in_ldt)
{
	(void)lo;
	unsigned present = (hi >> 15) & 1, s = (hi >> 12) & 1, type = (hi >> 8) & 0xf;
	unsigned dpl = (hi >> 13) & 3;
	if (!present)
		return 0; /* the CPU never loads it */
	if (s) {
		/* The LDT is the user processes' table: code there runs at
		 * DPL 3 (a DPL 0 data segment is unusable from ring 3 anyway). */
		bool code = type & 8;
		return in_ldt && code && dpl != 3 ? -RINGVM_EINVAL : 0;
	}
	if (in_ldt)
		return -RINGVM_EINVAL; /* no system descriptors or gates in an LDT */
	/* GDT: an LDT or a 32-bit TSS. Call, task, interrupt and trap gates
	 * are ways into another privilege level: a PV kernel has no use for
	 * them in its GDT, so they are refused rather than checked. */
	return type == 2 || type == 9 || type == 0xb ? 0 : -RINGVM_EINVAL;
}

/* Checks every descriptor of a table of limit + 1 bytes at lin. */
static int check_table(struct hc *h, uint32_t lin, uint32_t limit, bool is_ldt)
{
	static uint32_t tbl[0x10000 / 4]; /* one vCPU: one call at a time */
	uint32_t n = (limit + 1) / 8;
	if (n == 0)
		return 0;
	int r = guest_copy(h, lin, tbl, n * 8, false);
	if (r < 0)
		return r;
	for (uint32_t i = is_ldt ? 0 : 1; i < n; i++) /* GDT entry 0 is never used */
		if (pv_check_descriptor(tbl[2 * i], tbl[2 * i + 1], is_ldt) < 0)
			return -RINGVM_EINVAL;
	return 0;
}

/* Reads the descriptor sel names (GDT, or LDT if TI) from the current tables. */
static int desc_fetch(struct hc *h, uint16_t sel, uint32_t d[2])
{
	uint32_t base, limit;
	if (sel & 4) {
		if (h->s.ldtr.unusable || !h->s.ldtr.present)
			return -RINGVM_EINVAL;
		base = h->s.ldtr.base;
		limit = h->s.ldtr.limit;
	} else {
		base = h->s.gdtr.base;
		limit = h->s.gdtr.limit;
	}
	if (!(sel & ~7u) && !(sel & 4))
		return -RINGVM_EINVAL;
	if ((uint32_t)(sel & ~7u) + 7 > limit)
		return -RINGVM_EINVAL;
	return guest_copy(h, base + (sel & ~7u), d, 8, false);
}

/* --- the calls --- */

static int32_t hc_console_write(struct hc *h, uint32_t buf, uint32_t len)
{
	uint8_t b[RINGVM_PV_CONSOLE_MAX];
	if (len > sizeof b)
		return -RINGVM_E2BIG;
	int r = guest_copy(h, buf, b, len, false);
	if (r < 0)
		return r;
	uart_console_write(h->vm, b, len);
	return (int32_t)len;
}

static struct ringvm_pv_shared *shared(struct vm *vm)
{
	return vm->pv.shared_gpa ? (struct ringvm_pv_shared *)(vm->ram + vm->pv.shared_gpa) : NULL;
}

/* Refreshes the pvclock record: version odd while the fields change. */
static void clock_update(struct hc *h)
{
	struct ringvm_pv_shared *sh = shared(h->vm);
	if (!sh)
		return;
	volatile struct ringvm_pv_clock *c = &sh->clock;
	uint32_t mul;
	int8_t shift;
	uint64_t ns;
	c->version = c->version | 1;
	__atomic_thread_fence(__ATOMIC_SEQ_CST);
	pv_clock_now(h->vm, &ns, &mul, &shift);
	c->tsc_timestamp = h->s.tsc;
	c->system_ns = ns;
	c->tsc_to_system_mul = mul;
	c->tsc_shift = shift;
	__atomic_thread_fence(__ATOMIC_SEQ_CST);
	c->version = c->version + 1;
}

static int32_t hc_set_shared(struct hc *h, uint32_t gpa)
{
	if (gpa == 0) {
		h->vm->pv.shared_gpa = 0;
		return 0;
	}
	if (gpa & 0xfffu)
		return -RINGVM_EINVAL;
	if (!vm_gpa(h->vm, gpa, 0x1000))
		return -RINGVM_EFAULT;
	h->vm->pv.shared_gpa = gpa;
	struct ringvm_pv_shared *sh = shared(h->vm);
	/* From here the virtual IF is the guest's: it starts off, and
	 * EFLAGS.IF, which it no longer touches, is on. */
	sh->irq_masked = 1;
	sh->irq_pending = 0;
	h->s.eflags |= EFLAGS_IF;
	clock_update(h);
	return 0;
}

static int32_t hc_halt(struct hc *h)
{
	struct ringvm_pv_shared *sh = shared(h->vm);
	if (sh)
		sh->irq_masked = 0; /* like "sti; hlt": no wake-up lost in between */
	h->s.eflags |= EFLAGS_IF; /* the VMM's own flag: on outside interrupt handlers */
	h->halt = true;
	return 0;
}

static int32_t hc_set_dtr(struct hc *h, struct dtr *d, uint32_t base, uint32_t limit, bool is_gdt)
{
	if (limit > 0xffff)
		return -RINGVM_EINVAL;
	int r = is_gdt ? check_table(h, base, limit, false) : 0;
	if (r < 0)
		return r;
	if (!is_gdt) {
		/* The IDT is not validated (its gates are the guest's own entry
		 * points), but it must be there. */
		uint8_t probe;
		if (guest_copy(h, base, &probe, 1, false) < 0 ||
		    guest_copy(h, base + limit, &probe, 1, false) < 0)
			return -RINGVM_EFAULT;
	}
	d->base = base;
	d->limit = (uint16_t)limit;
	return 0;
}

static int32_t hc_set_ldt(struct hc *h, uint32_t sel)
{
	if (sel > 0xffff)
		return -RINGVM_EINVAL;
	if (!(sel & ~3u)) {
		memset(&h->s.ldtr, 0, sizeof h->s.ldtr);
		h->s.ldtr.unusable = 1;
		return 0;
	}
	if (sel & 4)
		return -RINGVM_EINVAL; /* an LDT descriptor lives in the GDT */
	uint32_t d[2];
	int r = desc_fetch(h, (uint16_t)sel, d);
	if (r < 0)
		return r;
	struct seg sg;
	desc_to_seg(d, (uint16_t)sel, &sg);
	if (sg.s || sg.type != 2 || !sg.present)
		return -RINGVM_EINVAL;
	r = check_table(h, sg.base, sg.limit > 0xffff ? 0xffff : sg.limit, true);
	if (r < 0)
		return r;
	h->s.ldtr = sg;
	return 0;
}

#define TSS32_MIN_LIMIT 103

static int32_t hc_load_tr(struct hc *h, uint32_t sel)
{
	if (sel > 0xffff || !(sel & ~7u) || (sel & 4))
		return -RINGVM_EINVAL;
	uint32_t d[2];
	int r = desc_fetch(h, (uint16_t)sel, d);
	if (r < 0)
		return r;
	struct seg sg;
	desc_to_seg(d, (uint16_t)sel, &sg);
	if (sg.s || sg.type != 9 || !sg.present || sg.limit < TSS32_MIN_LIMIT)
		return -RINGVM_EINVAL;
	d[1] |= 0x200; /* busy, as LTR marks it */
	r = guest_copy(h, h->s.gdtr.base + (sel & ~7u) + 4, &d[1], 4, true);
	if (r < 0)
		return r;
	sg.type = 0xb;
	h->s.tr = sg;
	return 0;
}

static int32_t hc_set_kstack(struct hc *h, uint32_t ss0, uint32_t esp0)
{
	const struct seg *tr = &h->s.tr;
	if (!tr->present || tr->s || (tr->type | 2) != 0xb || tr->limit < TSS32_MIN_LIMIT)
		return -RINGVM_EINVAL; /* no 32-bit TSS loaded */
	if (ss0 > 0xffff || (ss0 & 3))
		return -RINGVM_EINVAL;
	uint32_t d[2];
	int r = desc_fetch(h, (uint16_t)ss0, d);
	if (r < 0)
		return r;
	struct seg sg;
	desc_to_seg(d, (uint16_t)ss0, &sg);
	/* A ring-0 stack: present, writable data, DPL 0. */
	if (!sg.present || !sg.s || (sg.type & 8) || !(sg.type & 2) || sg.dpl != 0)
		return -RINGVM_EINVAL;
	uint32_t v[2] = { esp0, ss0 };
	return guest_copy(h, tr->base + 4, v, sizeof v, true);
}

static int32_t hc_set_cr3(struct hc *h, uint32_t cr3)
{
	if (!vm_gpa(h->vm, cr3 & ~0xfffu, 0x1000))
		return -RINGVM_EFAULT;
	h->s.cr3 = cr3;
	return 0;
}

int pv_check_pte_gpa(uint64_t ram_size, uint32_t pte_gpa)
{
	if (pte_gpa == RINGVM_MMU_INVLPG)
		return 0;
	if (pte_gpa & 3)
		return -RINGVM_EINVAL;
	if ((uint64_t)pte_gpa + 4 > ram_size)
		return -RINGVM_EFAULT;
	return 0;
}

static int32_t flush(struct hc *h, uint32_t lin)
{
	if (!h->vcpu->engine->flush_tlb)
		return -RINGVM_ENOSYS;
	h->vcpu->engine->flush_tlb(h->vcpu, lin, lin == RINGVM_FLUSH_ALL);
	return 0;
}

static int32_t hc_mmu_update(struct hc *h, uint32_t list, uint32_t count)
{
	static struct ringvm_pv_mmu_op ops[RINGVM_PV_MMU_BATCH_MAX];
	if (count > RINGVM_PV_MMU_BATCH_MAX)
		return -RINGVM_E2BIG;
	int r = guest_copy(h, list, ops, count * (uint32_t)sizeof ops[0], false);
	if (r < 0)
		return r;
	/* All or nothing: check the whole batch before the first write. */
	for (uint32_t i = 0; i < count; i++) {
		r = pv_check_pte_gpa(h->vm->ram_size, ops[i].pte_gpa);
		if (r < 0)
			return r;
	}
	if (count && !h->vcpu->engine->flush_tlb)
		return -RINGVM_ENOSYS;
	for (uint32_t i = 0; i < count; i++) {
		if (ops[i].pte_gpa == RINGVM_MMU_INVLPG)
			flush(h, ops[i].val);
		else
			memcpy(h->vm->ram + ops[i].pte_gpa, &ops[i].val, 4);
	}
	return (int32_t)count;
}

/* Loads a segment register of the user context RINGVM_HC_IRET returns to:
 * RPL 3, present, DPL 3, code (for CS) or writable data (for SS). */
static int user_seg(struct hc *h, uint32_t sel, bool code, struct seg *out)
{
	if (sel > 0xffff || (sel & 3) != 3 || !(sel & ~3u))
		return -RINGVM_EINVAL;
	uint32_t d[2];
	int r = desc_fetch(h, (uint16_t)sel, d);
	if (r < 0)
		return r;
	desc_to_seg(d, (uint16_t)sel, out);
	bool is_code = out->s && (out->type & 8);
	bool ok = out->present && out->s && out->dpl == 3 &&
		  (code ? is_code : !is_code && (out->type & 2));
	if (!ok)
		return -RINGVM_EINVAL;
	out->type |= 1; /* accessed */
	return 0;
}

static int32_t hc_iret(struct hc *h)
{
	/* Xen's iret: the frame is on the kernel stack, EAX first because
	 * the call itself needs EAX. */
	struct {
		uint32_t eax;
		struct ringvm_pv_iret_frame f;
	} fr;
	int r = guest_copy(h, h->s.gpr[R_ESP], &fr, sizeof fr, false);
	if (r < 0)
		return r;
	struct seg cs, ss;
	if ((r = user_seg(h, fr.f.cs, true, &cs)) < 0 || (r = user_seg(h, fr.f.ss, false, &ss)) < 0)
		return r;
	const uint32_t user_bits = EFLAGS_ARITH | EFLAGS_TF | EFLAGS_DF | EFLAGS_AC | EFLAGS_ID;
	h->s.eflags = (fr.f.eflags & user_bits) | EFLAGS_IF | EFLAGS_FIXED;
	h->s.eip = fr.f.eip;
	h->s.gpr[R_ESP] = fr.f.esp;
	h->s.gpr[R_EAX] = fr.eax;
	h->s.seg[S_CS] = cs;
	h->s.seg[S_SS] = ss;
	/* As IRET to an outer level: data segments the new CPL may not use
	 * become null. */
	static const int data[] = { S_DS, S_ES, S_FS, S_GS };
	for (unsigned i = 0; i < 4; i++) {
		struct seg *g = &h->s.seg[data[i]];
		bool conforming_code = g->s && (g->type & 0xc) == 0xc;
		if (!g->unusable && !conforming_code && g->dpl < 3) {
			memset(g, 0, sizeof *g);
			g->unusable = 1;
		}
	}
	/* User mode runs with interrupts on. */
	struct ringvm_pv_shared *sh = shared(h->vm);
	if (sh)
		sh->irq_masked = 0;
	h->keep_eax = true;
	return 0;
}

static int32_t hc_read_state(struct hc *h, uint32_t buf)
{
	const struct cpu_state *s = &h->s;
	struct ringvm_pv_sysregs r = {
		.gdt_base = s->gdtr.base, .idt_base = s->idtr.base,
		.gdt_limit = s->gdtr.limit, .idt_limit = s->idtr.limit,
		.ldtr = s->ldtr.unusable ? 0 : s->ldtr.sel, .tr = s->tr.sel,
		.cs = s->seg[S_CS].sel, .ss = s->seg[S_SS].sel,
		.cr0 = s->cr0, .cr3 = s->cr3, .eflags = s->eflags,
	};
	return guest_copy(h, buf, &r, sizeof r, true);
}

static int32_t dispatch(struct hc *h, uint32_t nr)
{
	const uint32_t *g = h->s.gpr;
	uint32_t b = g[R_EBX], c = g[R_ECX];
	switch (nr) {
	case RINGVM_HC_VERSION:
		return RINGVM_PV_VERSION;
	case RINGVM_HC_CONSOLE_WRITE:
		return hc_console_write(h, b, c);
	case RINGVM_HC_SHUTDOWN:
		snprintf(h->vm->pv.why, sizeof h->vm->pv.why,
			 "guest asked for shutdown with status 0x%x (hypercall)", b);
		vm_request_stop(h->vm, (int)((b << 1) | 1), h->vm->pv.why);
		return 0;
	case RINGVM_HC_HALT:
		return hc_halt(h);
	case RINGVM_HC_SET_SHARED:
		return hc_set_shared(h, b);
	case RINGVM_HC_EVENT:
		/* The engine delivers the event when the guest resumes. A
		 * kernel that returned from a handler with POPF (which cannot
		 * restore IF where it does not trap) gets EFLAGS.IF back here. */
		h->s.eflags |= EFLAGS_IF;
		return 0;
	case RINGVM_HC_SET_IDT:
		return hc_set_dtr(h, &h->s.idtr, b, c, false);
	case RINGVM_HC_SET_GDT:
		return hc_set_dtr(h, &h->s.gdtr, b, c, true);
	case RINGVM_HC_SET_LDT:
		return hc_set_ldt(h, b);
	case RINGVM_HC_LOAD_TR:
		return hc_load_tr(h, b);
	case RINGVM_HC_SET_KSTACK:
		return hc_set_kstack(h, b, c);
	case RINGVM_HC_SET_CR3:
		return hc_set_cr3(h, b);
	case RINGVM_HC_MMU_UPDATE:
		return hc_mmu_update(h, b, c);
	case RINGVM_HC_TLB_FLUSH:
		return flush(h, b);
	case RINGVM_HC_IRET:
		return hc_iret(h);
	case RINGVM_HC_READ_STATE:
		return hc_read_state(h, b);
	default:
		return -RINGVM_ENOSYS;
	}
}

bool hypercall_handle(struct vcpu *vcpu)
{
	struct hc h = { .vcpu = vcpu, .vm = vcpu->vm };
	uint64_t t0 = h.vm->cfg.stats ? host_ns() : 0;
	vcpu->hypercall = false;
	vcpu->engine->get_state(vcpu, &h.s);
	uint32_t nr = h.s.gpr[R_EAX];
	h.vm->pv.calls[nr < RINGVM_HC_COUNT ? nr : RINGVM_HC_COUNT]++;
	int32_t r;
	/* CPL is SS.DPL in protected mode; user code never gets here (OUT
	 * faults at IOPL 0), but a kernel that raised IOPL might let it. */
	if (!(h.s.cr0 & CR0_PE) || h.s.seg[S_SS].dpl != 0 || (h.s.eflags & EFLAGS_VM))
		r = -RINGVM_EPERM;
	else
		r = dispatch(&h, nr);
	if (!h.keep_eax)
		h.s.gpr[R_EAX] = (uint32_t)r;
	if (h.vm->cfg.trace)
		fprintf(stderr, "ringvm: hypercall %s -> %d\n",
			hc_names[nr < RINGVM_HC_COUNT ? nr : RINGVM_HC_COUNT], r);
	vcpu->engine->set_state(vcpu, &h.s);
	if (h.halt)
		clock_update(&h); /* a halt is a good moment to resynchronise */
	stats_exit(&h.vm->stats, EXIT_HYPERCALL, h.vm->cfg.stats ? host_ns() - t0 : 0);
	return h.halt;
}

bool pv_irq_accepted(struct vm *vm)
{
	volatile struct ringvm_pv_shared *sh = shared(vm);
	if (!sh)
		return true;
	if (sh->irq_masked) {
		if (!sh->irq_pending) {
			sh->irq_pending = 1;
			vm->pv.held++;
		}
		return false;
	}
	if (sh->irq_pending)
		sh->irq_pending = 0;
	return true;
}

bool pv_cpuid(uint32_t leaf, uint32_t out[4])
{
	if (leaf < RINGVM_PV_CPUID_BASE || leaf > RINGVM_PV_CPUID_BASE + 0xff)
		return false;
	out[0] = out[1] = out[2] = out[3] = 0;
	switch (leaf) {
	case RINGVM_PV_CPUID_BASE:
		out[0] = RINGVM_PV_CPUID_INFO;
		out[1] = RINGVM_PV_SIG_EBX;
		out[2] = RINGVM_PV_SIG_ECX;
		out[3] = RINGVM_PV_SIG_EDX;
		break;
	case RINGVM_PV_CPUID_INFO:
		out[0] = RINGVM_PV_VERSION;
		out[1] = RINGVM_PV_PORT;
		out[2] = RINGVM_PV_F_SHARED | RINGVM_PV_F_CLOCK | RINGVM_PV_F_MMU;
		out[3] = RINGVM_PV_MMU_BATCH_MAX;
		break;
	default:
		break;
	}
	return true;
}

void hypercall_stats_flush(struct vm *vm)
{
	for (unsigned n = 0; n <= RINGVM_HC_COUNT; n++) {
		if (vm->pv.calls[n])
			stats_event_n(&vm->stats, "hypercall", hc_names[n], vm->pv.calls[n]);
		vm->pv.calls[n] = 0;
	}
	if (vm->pv.held)
		stats_event_n(&vm->stats, "pv", "interrupts held by the virtual IF", vm->pv.held);
	vm->pv.held = 0;
}
