/* The public decode/classify API (src/cpu/insn.h): lengths, classes,
 * branch targets and effective addresses of hand-assembled instructions. */
#include "check.h"
#include "cpu/insn.h"
#include "vm/cpustate.h"

static struct insn_info dec(const uint8_t *b, unsigned n, uint32_t eip)
{
	struct insn_info i;
	insn_decode(b, n, eip, false, &i);
	return i;
}

int main(void)
{
	static const uint8_t add[] = { 0x01, 0xd8 };		 /* add eax, ebx */
	static const uint8_t cli[] = { 0xfa };
	static const uint8_t movds[] = { 0x8e, 0xd8 };		 /* mov ds, ax */
	static const uint8_t movcs[] = { 0x8c, 0xc8 };		 /* mov eax, cs */
	static const uint8_t jz[] = { 0x74, 0x10 };		 /* jz +16 */
	static const uint8_t call[] = { 0xe8, 0x00, 0x01, 0x00, 0x00 }; /* call +0x100 */
	static const uint8_t ret8[] = { 0xc2, 0x08, 0x00 };	 /* ret 8 */
	static const uint8_t jmpind[] = { 0xff, 0x64, 0x24, 0x04 }; /* jmp [esp+4] */
	static const uint8_t csload[] = { 0x2e, 0x8b, 0x03 };	 /* mov eax, cs:[ebx] */
	static const uint8_t ljmp[] = { 0xea, 0, 0, 0, 0, 0x33, 0 }; /* jmp 0x33:0 */
	static const uint8_t mov_lea[] = { 0x8b, 0x84, 0x8b, 0x10, 0, 0, 0 }; /* mov eax,[ebx+ecx*4+16] */
	static const uint8_t int80[] = { 0xcd, 0x80 };
	static const uint8_t sysenter[] = { 0x0f, 0x34 };
	static const uint8_t loop[] = { 0xe2, 0xfe };		 /* loop self */
	static const uint8_t bad[] = { 0x0f, 0xff };		 /* ud0 needs modrm: truncated */

	struct insn_info i = dec(add, sizeof add, 0);
	CHECK("insn.add_innocuous", i.cls == INSN_INNOCUOUS && i.len == 2, "cls %d len %u", i.cls, i.len);
	i = dec(cli, sizeof cli, 0);
	CHECK("insn.cli_sensitive", i.cls == INSN_SENSITIVE && i.sens == SENS_CLI, "cls %d sens %d", i.cls, i.sens);
	i = dec(movds, sizeof movds, 0);
	CHECK("insn.mov_sreg_load", i.cls == INSN_SENSITIVE && i.sens == SENS_SREG_LOAD, "sens %d", i.sens);
	i = dec(movcs, sizeof movcs, 0);
	CHECK("insn.mov_from_cs", i.cls == INSN_SENSITIVE && i.sens == SENS_SREG_READ, "sens %d", i.sens);
	i = dec(jz, sizeof jz, 0x1000);
	CHECK("insn.jcc_target", i.cls == INSN_BRANCH && i.branch == BR_JCC && i.target == 0x1012 && i.cc == 4,
	      "branch %d target %x cc %u", i.branch, i.target, i.cc);
	i = dec(call, sizeof call, 0x2000);
	CHECK("insn.call_target", i.branch == BR_CALL && i.target == 0x2105 && i.len == 5, "target %x", i.target);
	i = dec(ret8, sizeof ret8, 0);
	CHECK("insn.ret_imm", i.branch == BR_RET && i.ret_imm == 8, "branch %d imm %u", i.branch, i.ret_imm);
	i = dec(jmpind, sizeof jmpind, 0);
	uint32_t g[8] = { 0, 0, 0, 0, 0x9000, 0, 0, 0 };
	CHECK("insn.jmp_ind", i.branch == BR_JMP_IND && i.has_mem && insn_ea(&i, g) == 0x9004 &&
			      i.mem.seg == S_SS && i.modrm_off == 1,
	      "branch %d ea %x seg %u modrm %u", i.branch, insn_ea(&i, g), i.mem.seg, i.modrm_off);
	i = dec(csload, sizeof csload, 0);
	CHECK("insn.cs_override", i.cls == INSN_SENSITIVE && i.sens == SENS_CS_MEM, "cls %d sens %d", i.cls, i.sens);
	i = dec(ljmp, sizeof ljmp, 0);
	CHECK("insn.far_jmp", i.cls == INSN_SENSITIVE && i.sens == SENS_FAR, "sens %d", i.sens);
	i = dec(mov_lea, sizeof mov_lea, 0);
	uint32_t g2[8] = { 0, 3, 0, 0x100, 0, 0, 0, 0 };
	CHECK("insn.ea_sib", insn_ea(&i, g2) == 0x100 + 12 + 16 && i.mem.seg == S_DS, "ea %x", insn_ea(&i, g2));
	i = dec(int80, sizeof int80, 0);
	CHECK("insn.int80", i.sens == SENS_INT, "sens %d", i.sens);
	i = dec(sysenter, sizeof sysenter, 0);
	CHECK("insn.sysenter", i.sens == SENS_SYSCALL, "sens %d", i.sens);
	i = dec(loop, sizeof loop, 0x500);
	CHECK("insn.loop", i.branch == BR_LOOP && i.target == 0x500, "branch %d target %x", i.branch, i.target);
	static const uint8_t pushes[][2] = { { 0x50, 0 }, { 0x9c, 0 }, { 0x1e, 0 }, { 0xa4, 0 } };
	i = dec(pushes[0], 1, 0);
	CHECK("insn.push_reg_innocuous", i.cls == INSN_INNOCUOUS && !i.has_mem, "cls %d has_mem %d", i.cls, i.has_mem);
	i = dec(pushes[1], 1, 0);
	CHECK("insn.pushf_sensitive", i.sens == SENS_PUSHF, "sens %d", i.sens);
	i = dec(pushes[2], 1, 0);
	CHECK("insn.push_ds_sensitive", i.sens == SENS_SREG_READ, "sens %d", i.sens);
	i = dec(pushes[3], 1, 0);
	CHECK("insn.movsb_innocuous", i.cls == INSN_INNOCUOUS, "cls %d sens %d", i.cls, i.sens);
	static const uint8_t iret[] = { 0xcf };
	i = dec(iret, 1, 0);
	CHECK("insn.iret_sensitive", i.cls == INSN_SENSITIVE && i.sens == SENS_FAR && i.branch == BR_NONE,
	      "cls %d sens %d branch %d", i.cls, i.sens, i.branch);
	struct insn_info b;
	int r = insn_decode(bad, sizeof bad, 0, false, &b);
	CHECK("insn.truncated_invalid", r < 0 && b.cls == INSN_INVALID, "r %d cls %d", r, b.cls);
	CHECK_DONE();
}
