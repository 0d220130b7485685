/*
 * The exchanged vCPU state: the Multiboot entry state every engine starts
 * from, and the one-block register dump printed on fatal guest errors.
 */
#include <string.h>

#include "vm/cpustate.h"

void cpu_state_flat_seg(struct seg *s, uint16_t sel, uint8_t type, uint8_t dpl)
{
	memset(s, 0, sizeof *s);
	s->sel = sel;
	s->limit = 0xffffffffu;
	s->type = type;
	s->s = 1;
	s->dpl = dpl;
	s->present = 1;
	s->db = 1;
	s->g = 1;
}

void cpu_state_fpu_init(struct cpu_state *s)
{
	memset(s->fpu, 0, sizeof s->fpu);
	s->fpu[0] = 0x7f; /* FCW 0x037f */
	s->fpu[1] = 0x03;
	s->fpu[8] = 0xff; /* FTW: all empty */
	s->fpu[9] = 0xff;
}

void cpu_state_multiboot_entry(struct cpu_state *s, uint32_t entry, uint32_t mbi)
{
	memset(s, 0, sizeof *s);
	/* Multiboot v1 guarantees flat 4 GiB code and data segments but not
	 * their selectors; 0x08/0x10 are what GRUB and QEMU use. */
	cpu_state_flat_seg(&s->seg[S_CS], 0x08, 0xb, 0); /* execute/read, accessed */
	for (int i = 0; i < SREG_COUNT; i++)
		if (i != S_CS)
			cpu_state_flat_seg(&s->seg[i], 0x10, 0x3, 0); /* read/write, accessed */
	s->ldtr.unusable = 1;
	s->ldtr.type = 2;
	s->ldtr.limit = 0xffff;
	s->tr.type = 0xb; /* busy 32-bit TSS, as after reset: base 0 */
	s->tr.present = 1;
	s->tr.limit = 0xffff;
	s->gdtr.limit = 0xffff;
	s->idtr.limit = 0xffff;
	s->cr0 = 0x00000011u; /* PE | ET */
	s->eflags = EFLAGS_FIXED;
	s->gpr[R_EAX] = 0x2BADB002u;
	s->gpr[R_EBX] = mbi;
	s->eip = entry;
	cpu_state_fpu_init(s);
}

static void eflags_decode(uint32_t f, char *buf, size_t len)
{
	static const struct {
		uint32_t bit;
		const char *name;
	} names[] = {
		{ EFLAGS_CF, "CF" }, { EFLAGS_PF, "PF" }, { EFLAGS_AF, "AF" }, { EFLAGS_ZF, "ZF" },
		{ EFLAGS_SF, "SF" }, { EFLAGS_TF, "TF" }, { EFLAGS_IF, "IF" }, { EFLAGS_DF, "DF" },
		{ EFLAGS_OF, "OF" }, { EFLAGS_NT, "NT" }, { EFLAGS_RF, "RF" }, { EFLAGS_VM, "VM" },
		{ EFLAGS_AC, "AC" }, { EFLAGS_ID, "ID" },
	};
	size_t n = 0;
	buf[0] = 0;
	for (size_t i = 0; i < sizeof names / sizeof names[0]; i++)
		if ((f & names[i].bit) && n + 4 < len)
			n += (size_t)snprintf(buf + n, len - n, "%s ", names[i].name);
	snprintf(buf + n, len - n, "IOPL=%u", (f >> 12) & 3);
}

static void seg_dump(FILE *out, const char *name, const struct seg *s)
{
	fprintf(out, "  %-4s sel=%04x base=%08x limit=%08x type=%x s=%u dpl=%u p=%u db=%u g=%u%s\n",
		name, s->sel, s->base, s->limit, s->type, s->s, s->dpl, s->present, s->db, s->g,
		s->unusable ? " unusable" : "");
}

void cpu_state_dump(const struct cpu_state *s, FILE *out)
{
	static const char *const gname[] = { "EAX", "ECX", "EDX", "EBX", "ESP", "EBP", "ESI", "EDI" };
	static const char *const sname[] = { "ES", "CS", "SS", "DS", "FS", "GS" };
	char fl[96];
	eflags_decode(s->eflags, fl, sizeof fl);
	fprintf(out, "--- vCPU state ---\n");
	for (int i = 0; i < GPR_COUNT; i++)
		fprintf(out, "  %s=%08x%s", gname[i], s->gpr[i], i % 4 == 3 ? "\n" : "");
	fprintf(out, "  EIP=%08x EFLAGS=%08x [%s]\n", s->eip, s->eflags, fl);
	for (int i = 0; i < SREG_COUNT; i++)
		seg_dump(out, sname[i], &s->seg[i]);
	seg_dump(out, "LDTR", &s->ldtr);
	seg_dump(out, "TR", &s->tr);
	fprintf(out, "  GDTR base=%08x limit=%04x  IDTR base=%08x limit=%04x\n", s->gdtr.base,
		s->gdtr.limit, s->idtr.base, s->idtr.limit);
	fprintf(out, "  CR0=%08x CR2=%08x CR3=%08x CR4=%08x EFER=%llx TSC=%llu\n", s->cr0, s->cr2,
		s->cr3, s->cr4, (unsigned long long)s->efer, (unsigned long long)s->tsc);
	fprintf(out, "  SYSENTER_CS=%08x SYSENTER_ESP=%08x SYSENTER_EIP=%08x\n", s->sysenter_cs,
		s->sysenter_esp, s->sysenter_eip);
	/* x87: the FSAVE image's control, status and tag words, last pointers
	 * (an engine that does not exchange the x87 state leaves it zero) */
	uint32_t w[7];
	memcpy(w, s->fpu, sizeof w);
	bool any = false;
	for (size_t i = 0; i < sizeof s->fpu; i++)
		any |= s->fpu[i] != 0;
	if (any)
		fprintf(out, "  FCW=%04x FSW=%04x FTW=%04x FIP=%04x:%08x FOP=%03x FDP=%04x:%08x\n",
			w[0] & 0xffff, w[1] & 0xffff, w[2] & 0xffff, w[4] & 0xffff, w[3],
			(w[4] >> 16) & 0x7ff, w[6] & 0xffff, w[5]);
}
