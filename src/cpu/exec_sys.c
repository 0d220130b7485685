/*
 * System instructions: segment-register moves, port IO, interrupt flag,
 * control/debug registers, descriptor tables, MSRs, CPUID, RDTSC,
 * SYSENTER/SYSEXIT, LAR/LSL/VERR/VERW.
 */
#include "cpumodel.h"
#include "exec.h"
#include "vm/vm.h"

#define SEL_ERR(sel) ((uint32_t)((sel) & 0xfffc))

static void need_cpl0(struct cpu *c)
{
	if (c->cpl != 0)
		cpu_raise(c, EXC_GP, 0);
}

/* LAR, LSL, VERR, VERW, ARPL, SLDT, STR, LLDT, LTR: #UD in real mode and
 * in v8086. */
static void need_pmode(struct cpu *c)
{
	if (cpu_real_mode(c) || cpu_v86_mode(c))
		cpu_raise(c, EXC_UD, 0);
}

H(h_ud)
{
	cpu_raise(c, EXC_UD, 0);
}

H(h_too_long)
{
	cpu_raise(c, EXC_GP, 0);
}

H(h_unimpl)
{
	cpu_unimplemented(c, NULL);
	cpu_raise(c, EXC_UD, 0);
}

H(h_mov_to_sreg)
{
	seg_load(c, i->sub, (uint16_t)op_read(c, &i->op[1]));
	if (i->sub == S_SS)
		c->shadow = c->db_inhibit = true;
	NEXT(c, i);
}

H(h_mov_from_sreg)
{
	op_write(c, &i->op[0], c->seg[i->sub].sel);
	NEXT(c, i);
}

/* LDS/LES/LFS/LGS/LSS r, m16:32 */
H(h_lxs)
{
	uint32_t ea = ea_of(c, &i->op[1]);
	uint32_t off = mem_read(c, i->op[1].seg, ea, i->osize);
	uint16_t sel = (uint16_t)mem_read(c, i->op[1].seg, ea + i->osize, 2);
	seg_load(c, i->sub, sel);
	reg_write(c, &i->op[0], off);
	NEXT(c, i);
}

H(h_hlt)
{
	need_cpl0(c);
	NEXT(c, i);
	c->halted = true;
	c->exit = EXIT_HLT;
}

H(h_cli)
{
	io_permission(c);
	c->eflags &= ~EFLAGS_IF;
	NEXT(c, i);
}

H(h_sti)
{
	io_permission(c);
	if (!(c->eflags & EFLAGS_IF))
		c->shadow = true;
	c->eflags |= EFLAGS_IF;
	c->irq_check = true;
	NEXT(c, i);
}

static uint16_t io_port(struct cpu *c, const struct opnd *o)
{
	return o->kind == OK_IMM ? (uint16_t)o->disp : c->r.r16[R_EDX * 2];
}

H(h_in)
{
	uint8_t buf[4] = { 0 };
	unsigned n = i->op[0].size;
	uint16_t port = io_port(c, &i->op[1]);
	io_port_check(c, port, n);
	cpu_pio(c, port, buf, n, false);
	store_n(c->r.r8, n, load_n(buf, n));
	NEXT(c, i);
}

H(h_out)
{
	uint8_t buf[4];
	unsigned n = i->op[1].size;
	uint16_t port = io_port(c, &i->op[0]);
	io_port_check(c, port, n);
	store_n(buf, n, load_n(c->r.r8, n));
	cpu_pio(c, port, buf, n, true);
	NEXT(c, i);
}

H(h_mov_to_cr)
{
	need_cpl0(c);
	uint32_t v = c->r.r32[i->op[1].reg >> 2];
	switch (i->sub) {
	case 0: cr0_write(c, v); break;
	case 2: c->cr2 = v; break;
	case 3: cr3_write(c, v); break;
	case 4: cr4_write(c, v); break;
	default: cpu_raise(c, EXC_UD, 0);
	}
	NEXT(c, i);
}

H(h_mov_from_cr)
{
	need_cpl0(c);
	uint32_t v;
	switch (i->sub) {
	case 0: v = c->cr0; break;
	case 2: v = c->cr2; break;
	case 3: v = c->cr3; break;
	case 4: v = c->cr4; break;
	default: cpu_raise(c, EXC_UD, 0);
	}
	c->r.r32[i->op[0].reg >> 2] = v;
	NEXT(c, i);
}

/* DR4 and DR5 are aliases of DR6 and DR7, as with CR4.DE clear (with DE
 * set the CPU raises #UD instead; not modelled). */
static unsigned dr_index(const struct insn *i)
{
	return i->sub == 4 || i->sub == 5 ? i->sub + 2u : i->sub;
}

/* Debug registers hold their values; breakpoints are not implemented. */
H(h_mov_to_dr)
{
	need_cpl0(c);
	unsigned n = dr_index(i);
	c->dr[n] = c->r.r32[i->op[1].reg >> 2];
	NEXT(c, i);
}

H(h_mov_from_dr)
{
	need_cpl0(c);
	unsigned n = dr_index(i);
	uint32_t v = c->dr[n];
	if (n == 6)
		v |= 0xffff0ff0u;
	else if (n == 7)
		v |= 0x400;
	c->r.r32[i->op[0].reg >> 2] = v;
	NEXT(c, i);
}

static void dt_load(struct cpu *c, const struct insn *i, struct dtr *t)
{
	need_cpl0(c);
	if (i->op[0].kind != OK_MEM)
		cpu_raise(c, EXC_UD, 0);
	uint32_t ea = ea_of(c, &i->op[0]);
	uint16_t limit = (uint16_t)mem_read(c, i->op[0].seg, ea, 2);
	uint32_t base = mem_read(c, i->op[0].seg, ea + 2, 4);
	if (i->osize == 2)
		base &= 0xffffff;
	t->limit = limit;
	t->base = base;
	NEXT(c, i);
}

static void dt_store(struct cpu *c, const struct insn *i, const struct dtr *t)
{
	if (i->op[0].kind != OK_MEM)
		cpu_raise(c, EXC_UD, 0);
	uint32_t ea = ea_of(c, &i->op[0]);
	mem_probe_write(c, i->op[0].seg, ea, 6);
	mem_write(c, i->op[0].seg, ea, 2, t->limit);
	mem_write(c, i->op[0].seg, ea + 2, 4, t->base);
	NEXT(c, i);
}

H(h_lgdt)
{
	dt_load(c, i, &c->gdtr);
}

H(h_lidt)
{
	dt_load(c, i, &c->idtr);
}

H(h_sgdt)
{
	dt_store(c, i, &c->gdtr);
}

H(h_sidt)
{
	dt_store(c, i, &c->idtr);
}

H(h_lldt)
{
	need_pmode(c);
	need_cpl0(c);
	uint16_t sel = (uint16_t)op_read(c, &i->op[0]);
	if (!(sel & ~3u)) {
		memset(&c->ldtr, 0, sizeof c->ldtr);
		c->ldtr.sel = sel;
		c->ldtr.unusable = 1;
		NEXT(c, i);
		return;
	}
	uint32_t d[2];
	if (sel & 4)
		cpu_raise(c, EXC_GP, SEL_ERR(sel));
	desc_read_or_fault(c, sel, d, EXC_GP, SEL_ERR(sel));
	struct seg sg;
	desc_to_seg(d, sel, &sg);
	if (sg.s || sg.type != 2)
		cpu_raise(c, EXC_GP, SEL_ERR(sel));
	if (!sg.present)
		cpu_raise(c, EXC_NP, SEL_ERR(sel));
	c->ldtr = sg;
	NEXT(c, i);
}

H(h_ltr)
{
	need_pmode(c);
	need_cpl0(c);
	uint16_t sel = (uint16_t)op_read(c, &i->op[0]);
	if (!(sel & ~3u))
		cpu_raise(c, EXC_GP, 0);
	uint32_t d[2];
	if (sel & 4)
		cpu_raise(c, EXC_GP, SEL_ERR(sel));
	desc_read_or_fault(c, sel, d, EXC_GP, SEL_ERR(sel));
	struct seg sg;
	desc_to_seg(d, sel, &sg);
	if (sg.s || (sg.type != 1 && sg.type != 9))
		cpu_raise(c, EXC_GP, SEL_ERR(sel));
	if (!sg.present)
		cpu_raise(c, EXC_NP, SEL_ERR(sel));
	d[1] |= 0x200; /* busy */
	sys_write(c, c->gdtr.base + (sel & ~7u) + 5, 1, (d[1] >> 8) & 0xff);
	sg.type |= 2;
	c->tr = sg;
	NEXT(c, i);
}

/* Selector stores to a 32-bit register zero-extend; to memory, 16 bits. */
static void store_sel(struct cpu *c, const struct insn *i, uint32_t v)
{
	struct opnd o = i->op[0];
	if (o.kind == OK_MEM)
		o.size = 2;
	op_write(c, &o, v & size_mask(o.size));
	NEXT(c, i);
}

H(h_sldt)
{
	need_pmode(c);
	store_sel(c, i, c->ldtr.sel);
}

H(h_str)
{
	need_pmode(c);
	store_sel(c, i, c->tr.sel);
}

H(h_smsw)
{
	store_sel(c, i, c->cr0);
}

H(h_lmsw)
{
	need_cpl0(c);
	uint32_t v = op_read(c, &i->op[0]) & 0xf;
	/* LMSW can set PE but never clear it. */
	uint32_t cr0 = (c->cr0 & ~0xeu) | v | (c->cr0 & CR0_PE);
	cr0_write(c, cr0);
	NEXT(c, i);
}

H(h_clts)
{
	need_cpl0(c);
	c->cr0 &= ~CR0_TS;
	NEXT(c, i);
}

H(h_invlpg)
{
	need_cpl0(c);
	uint32_t lin = c->seg[i->op[0].seg].base + ea_of(c, &i->op[0]);
	tlb_flush_page(c, lin);
	NEXT(c, i);
}

H(h_wbinvd)
{
	need_cpl0(c);
	NEXT(c, i);
}

H(h_rdmsr)
{
	need_cpl0(c);
	uint64_t v = 0;
	if (!msr_read(c, c->r.r32[R_ECX], &v))
		cpu_raise(c, EXC_GP, 0);
	c->r.r32[R_EAX] = (uint32_t)v;
	c->r.r32[R_EDX] = (uint32_t)(v >> 32);
	NEXT(c, i);
}

H(h_wrmsr)
{
	need_cpl0(c);
	uint64_t v = ((uint64_t)c->r.r32[R_EDX] << 32) | c->r.r32[R_EAX];
	if (!msr_write(c, c->r.r32[R_ECX], v))
		cpu_raise(c, EXC_GP, 0);
	NEXT(c, i);
}

H(h_cpuid)
{
	uint32_t out[4];
	cpuid_query(c, c->r.r32[R_EAX], c->r.r32[R_ECX], out);
	c->r.r32[R_EAX] = out[0];
	c->r.r32[R_EBX] = out[1];
	c->r.r32[R_ECX] = out[2];
	c->r.r32[R_EDX] = out[3];
	NEXT(c, i);
}

H(h_rdtsc)
{
	if ((c->cr4 & CR4_TSD) && c->cpl != 0)
		cpu_raise(c, EXC_GP, 0);
	uint64_t t = tsc_read(c);
	c->r.r32[R_EAX] = (uint32_t)t;
	c->r.r32[R_EDX] = (uint32_t)(t >> 32);
	NEXT(c, i);
}

static void flat_seg(struct seg *s, uint16_t sel, uint8_t type, int dpl)
{
	memset(s, 0, sizeof *s);
	s->sel = sel;
	s->limit = 0xffffffffu;
	s->type = type;
	s->s = 1;
	s->dpl = (uint8_t)dpl;
	s->present = 1;
	s->db = 1;
	s->g = 1;
}

/* SYSENTER/SYSEXIT exist only on models that report sep, and raise
 * #GP(0) in real mode (SYSENTER works from v8086). */
static void need_sep(struct cpu *c)
{
	if (!(c->features & CPUID_SEP))
		cpu_raise(c, EXC_UD, 0);
	if (cpu_real_mode(c))
		cpu_raise(c, EXC_GP, 0);
}

H(h_sysenter)
{
	need_sep(c);
	uint16_t cs = (uint16_t)(c->sysenter_cs & 0xfffc);
	if (!cs)
		cpu_raise(c, EXC_GP, 0);
	flags_materialize(c);
	c->eflags &= ~(EFLAGS_VM | EFLAGS_IF | EFLAGS_RF);
	flat_seg(&c->seg[S_CS], cs, 0xb, 0);
	flat_seg(&c->seg[S_SS], (uint16_t)(cs + 8), 0x3, 0);
	c->r.r32[R_ESP] = c->sysenter_esp;
	c->eip = c->sysenter_eip;
	cpu_set_cpl(c, 0);
	cpu_mode_changed(c);
}

H(h_sysexit)
{
	need_sep(c);
	uint16_t cs = (uint16_t)(c->sysenter_cs & 0xfffc);
	if (!cs || c->cpl != 0)
		cpu_raise(c, EXC_GP, 0);
	flat_seg(&c->seg[S_CS], (uint16_t)((cs + 16) | 3), 0xb, 3);
	flat_seg(&c->seg[S_SS], (uint16_t)((cs + 24) | 3), 0x3, 3);
	c->r.r32[R_ESP] = c->r.r32[R_ECX];
	c->eip = c->r.r32[R_EDX];
	cpu_set_cpl(c, 3);
	cpu_mode_changed(c);
}

/* LAR/LSL/VERR/VERW: is the descriptor visible at this CPL and RPL? */
static bool desc_visible(struct cpu *c, uint16_t sel, uint32_t d[2], struct seg *sg, bool lsl)
{
	if (!(sel & ~3u) || !desc_read(c, sel, d))
		return false;
	desc_to_seg(d, sel, sg);
	if (!sg->s) {
		static const uint8_t lar_ok[16] = { 0, 1, 1, 1, 1, 1, 0, 0, 0, 1, 0, 1, 1, 0, 0, 0 };
		static const uint8_t lsl_ok[16] = { 0, 1, 1, 1, 0, 0, 0, 0, 0, 1, 0, 1, 0, 0, 0, 0 };
		if (!(lsl ? lsl_ok : lar_ok)[sg->type])
			return false;
	}
	bool conforming_code = sg->s && (sg->type & 0xc) == 0xc;
	if (!conforming_code && (sg->dpl < c->cpl || sg->dpl < (sel & 3)))
		return false;
	return true;
}

static void set_zf(struct cpu *c, bool on)
{
	flags_materialize(c);
	if (on)
		c->eflags |= EFLAGS_ZF;
	else
		c->eflags &= ~EFLAGS_ZF;
}

H(h_lar)
{
	need_pmode(c);
	uint32_t d[2];
	struct seg sg;
	bool ok = desc_visible(c, (uint16_t)op_read(c, &i->op[1]), d, &sg, false);
	if (ok)
		reg_write(c, &i->op[0], (d[1] & 0x00ffff00u) & size_mask(i->op[0].size));
	set_zf(c, ok);
	NEXT(c, i);
}

H(h_lsl)
{
	need_pmode(c);
	uint32_t d[2];
	struct seg sg;
	bool ok = desc_visible(c, (uint16_t)op_read(c, &i->op[1]), d, &sg, true);
	if (ok)
		reg_write(c, &i->op[0], sg.limit & size_mask(i->op[0].size));
	set_zf(c, ok);
	NEXT(c, i);
}

static void verify(struct cpu *c, const struct insn *i, bool write)
{
	uint32_t d[2];
	struct seg sg;
	bool ok = desc_visible(c, (uint16_t)op_read(c, &i->op[0]), d, &sg, false) && sg.s;
	if (ok) {
		bool code = sg.type & 8;
		ok = write ? !code && (sg.type & 2) : !code || (sg.type & 2);
	}
	set_zf(c, ok);
	NEXT(c, i);
}

H(h_verr)
{
	need_pmode(c);
	verify(c, i, false);
}

H(h_verw)
{
	need_pmode(c);
	verify(c, i, true);
}

H(h_arpl)
{
	need_pmode(c);
	struct loc l;
	uint32_t src = reg_read(c, &i->op[1]);
	uint32_t dst = loc_open(c, &i->op[0], &l);
	bool adj = (dst & 3) < (src & 3);
	if (adj)
		loc_store(c, &l, (dst & ~3u) | (src & 3));
	set_zf(c, adj);
	NEXT(c, i);
}
