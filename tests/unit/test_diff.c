/*
 * Differential test of the instruction emulator against the real CPU.
 *
 * build/tests/diff_native (tests/diff/native_runner.c, a 32-bit Linux
 * program; path from RINGVM_DIFF_NATIVE) generates the cases and runs them on
 * the host CPU; this program replays each case through emu_run_flat() with
 * the same registers and memory and compares the defined part of the result:
 * the end (stop or exception vector, and EIP), all 8 GPRs, EFLAGS less the
 * bits the case leaves undefined, and the 16 KiB data area.
 *
 * One PASS/FAIL line per instruction form, then "diff: N cases, N forms,
 * N mismatches".
 *
 * Environment: RINGVM_DIFF_NATIVE (runner path), RINGVM_DIFF_SEED (PRNG seed),
 * RINGVM_DIFF_FORM (only forms whose name contains this), RINGVM_DIFF_ALL=1
 * (print every mismatching case, not only the first per form),
 * RINGVM_DIFF_TRACE=1 (print each case before running it).
 */
#include <inttypes.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>

#include <Zydis/Zydis.h>

#include "check.h"
#include "../diff/diff_format.h"

#if __has_include("cpu/emu_flat.h")
#include "cpu/emu_flat.h"
#else
#include "vm/cpustate.h"
int emu_run_flat(struct cpu_state *st, uint8_t *mem, uint32_t mem_len, uint32_t stop_eip,
		 uint64_t max_insns);
#endif
/* test_bt_diff.c reuses this file for the bt engine under another prefix. */
#ifndef DIFF_PREFIX
#define DIFF_PREFIX "diff."
#endif
/* Weak, so that this test builds (and SKIPs) before the emulator exists. */
#pragma weak emu_run_flat

static const char *const gpr_names[8] = { "eax", "ecx", "edx", "ebx", "esp", "ebp", "esi", "edi" };

static uint8_t *read_all(FILE *f, size_t *len)
{
	size_t cap = 1 << 20, n = 0;
	uint8_t *buf = malloc(cap);
	for (;;) {
		if (!buf)
			return NULL;
		size_t got = fread(buf + n, 1, cap - n, f);
		n += got;
		if (got == 0)
			break;
		if (n == cap) {
			cap *= 2;
			uint8_t *nb = realloc(buf, cap);
			if (!nb)
				free(buf);
			buf = nb;
		}
	}
	*len = n;
	return buf;
}

/* Intel syntax of the case's code, "; "-separated; false if it does not decode
 * into instructions that exactly cover the bytes. */
static bool disasm(const struct diff_case *c, char *out, size_t outlen)
{
	size_t off = 0, used = 0;
	bool ok = true;
	out[0] = 0;
	while (off < c->code_len) {
		ZydisDisassembledInstruction insn;
		if (!ZYAN_SUCCESS(ZydisDisassembleIntel(ZYDIS_MACHINE_MODE_LEGACY_32,
							DIFF_CODE_ADDR + off, c->code + off,
							c->code_len - off, &insn))) {
			ok = false;
			snprintf(out + used, outlen - used, "%s(bad)", used ? "; " : "");
			break;
		}
		int k = snprintf(out + used, outlen - used, "%s%s", used ? "; " : "", insn.text);
		if (k > 0 && (size_t)k < outlen - used)
			used += (size_t)k;
		off += insn.info.length;
	}
	return ok && off == c->code_len;
}

static int append(char *buf, size_t len, size_t *used, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));
static int append(char *buf, size_t len, size_t *used, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	int k = vsnprintf(buf + *used, len - *used, fmt, ap);
	va_end(ap);
	if (k > 0)
		*used = *used + (size_t)k < len ? *used + (size_t)k : len - 1;
	return k;
}

struct result {
	int ret;
	struct cpu_state st;
};

/* Compares one case; on mismatch writes a description into msg. */
static bool compare(const struct diff_case *c, const struct result *r, const uint8_t *data,
		    const uint8_t *expect, char *msg, size_t msglen)
{
	size_t used = 0;
	bool ok = true;
	char dis[256];
	/* An encoding Zydis refuses is a generator bug, unless the CPU refused
	 * it too (LOCK on a register form, over 15 bytes: #UD / #GP). */
	bool dec = disasm(c, dis, sizeof dis) || c->vector == 6 || c->vector == 13;

	int want_ret = c->vector < 0 ? -1 : c->vector;
	bool end_ok = r->ret == want_ret && r->st.eip == c->out_eip;
	uint32_t fmask = DIFF_EFLAGS_CMP & ~c->flags_undef;
	bool flags_ok = ((r->st.eflags ^ c->out_eflags) & fmask) == 0;
	bool gpr_ok = true;
	for (int i = 0; i < 8; i++)
		if ((r->st.gpr[i] ^ c->out_gpr[i]) & c->gpr_mask[i])
			gpr_ok = false;
	int mem_bad = -1, nbad = 0;
	for (uint32_t i = 0; i < DIFF_DATA_SIZE; i++)
		if (data[i] != expect[i]) {
			if (mem_bad < 0)
				mem_bad = (int)i;
			nbad++;
		}
	/* a reserved encoding need not disassemble if the CPU said #UD */
	if (c->vector == 6)
		dec = true;
	ok = dec && end_ok && flags_ok && gpr_ok && mem_bad < 0;
	if (ok)
		return true;

	char det[1024];
	size_t dused = 0;
	det[0] = 0;
	append(det, sizeof det, &dused, "\n    in:     ");
	for (int i = 0; i < 8; i++)
		append(det, sizeof det, &dused, "%s=%08x ", gpr_names[i], c->in_gpr[i]);
	append(det, sizeof det, &dused, "efl=%08x", c->in_eflags);
	append(det, sizeof det, &dused, "\n    native: ");
	for (int i = 0; i < 8; i++)
		append(det, sizeof det, &dused, "%s=%08x ", gpr_names[i], c->out_gpr[i]);
	append(det, sizeof det, &dused, "efl=%08x %s eip=%08x", c->out_eflags,
	       c->vector < 0 ? "stop" : c->vector == 0 ? "#DE" : "vector", c->out_eip);
	append(det, sizeof det, &dused, "\n    emu:    ");
	for (int i = 0; i < 8; i++)
		append(det, sizeof det, &dused, "%s=%08x ", gpr_names[i], r->st.gpr[i]);
	append(det, sizeof det, &dused, "efl=%08x ret=%d eip=%08x", r->st.eflags, r->ret, r->st.eip);

	append(msg, msglen, &used, "code");
	for (int i = 0; i < c->code_len; i++)
		append(msg, msglen, &used, " %02x", c->code[i]);
	append(msg, msglen, &used, " (%s)%s differs:", dis, dec ? "" : " [encoding does not decode]");
	if (!end_ok)
		append(msg, msglen, &used, " end(native %d@%08x, emu %d@%08x)", want_ret,
		       c->out_eip, r->ret, r->st.eip);
	for (int i = 0; i < 8; i++)
		if ((r->st.gpr[i] ^ c->out_gpr[i]) & c->gpr_mask[i])
			append(msg, msglen, &used, " %s(native %08x emu %08x)", gpr_names[i],
			       c->out_gpr[i], r->st.gpr[i]);
	if (!flags_ok)
		append(msg, msglen, &used, " eflags(native %08x emu %08x, differing bits %08x)",
		       c->out_eflags & fmask, r->st.eflags & fmask,
		       (r->st.eflags ^ c->out_eflags) & fmask);
	if (mem_bad >= 0) {
		append(msg, msglen, &used, " memory(%d bytes, first at %08x: native", nbad,
		       DIFF_DATA_ADDR + (uint32_t)mem_bad);
		for (int i = mem_bad; i < mem_bad + 8 && i < (int)DIFF_DATA_SIZE; i++)
			append(msg, msglen, &used, " %02x", expect[i]);
		append(msg, msglen, &used, ", emu");
		for (int i = mem_bad; i < mem_bad + 8 && i < (int)DIFF_DATA_SIZE; i++)
			append(msg, msglen, &used, " %02x", data[i]);
		append(msg, msglen, &used, ")");
	}
	if (!dec)
		append(msg, msglen, &used, " encoding");
	if (c->flags_undef)
		append(msg, msglen, &used, "; undefined flags %03x", c->flags_undef);
	for (int i = 0; i < 8; i++)
		if (c->gpr_mask[i] != 0xffffffffu)
			append(msg, msglen, &used, "; %s undefined bits %08x", gpr_names[i],
			       ~c->gpr_mask[i]);
	append(msg, msglen, &used, "%s", det);
	return false;
}

int main(void)
{
	if (!emu_run_flat) {
		SKIP("diff", "emu_run_flat is not linked in (src/cpu/emu_flat.h not there yet)");
		return 0;
	}
	const char *native = getenv("RINGVM_DIFF_NATIVE");
	if (!native || !*native)
		native = "build/tests/diff_native";
	const char *seed = getenv("RINGVM_DIFF_SEED");
	const char *only = getenv("RINGVM_DIFF_FORM");
	bool all = getenv("RINGVM_DIFF_ALL") && *getenv("RINGVM_DIFF_ALL") == '1';
	bool trace = getenv("RINGVM_DIFF_TRACE") && *getenv("RINGVM_DIFF_TRACE") == '1';

	char cmd[1024];
	int k = snprintf(cmd, sizeof cmd, "'%s' --out -", native);
	if (seed && *seed)
		k += snprintf(cmd + k, sizeof cmd - (size_t)k, " --seed '%s'", seed);
	if (only && *only)
		snprintf(cmd + k, sizeof cmd - (size_t)k, " --form '%s'", only);
	FILE *p = popen(cmd, "r");
	if (!p) {
		CHECK("diff.native_runner", 0, "cannot run %s", native);
		CHECK_DONE();
	}
	size_t len = 0;
	uint8_t *buf = read_all(p, &len);
	int status = pclose(p);
	CHECK("diff.native_runner", status == 0 && buf,
	      "%s exited with status %d (missing? see its stderr above)", native,
	      WIFEXITED(status) ? WEXITSTATUS(status) : -1);
	struct diff_header h;
	if (!buf || len < sizeof h) {
		printf("diff: no cases\n");
		free(buf);
		CHECK_DONE();
	}
	memcpy(&h, buf, sizeof h);
	size_t need = sizeof h + (size_t)h.nforms * DIFF_NAME_LEN +
		      (size_t)h.ncases * sizeof(struct diff_case);
	if (h.magic != DIFF_MAGIC || h.version != DIFF_VERSION ||
	    h.case_size != sizeof(struct diff_case) || len != need) {
		CHECK("diff.format", 0, "bad case stream (magic %08x version %u case size %u, %zu bytes)",
		      h.magic, h.version, h.case_size, len);
		free(buf);
		CHECK_DONE();
	}
	const char (*names)[DIFF_NAME_LEN] = (const void *)(buf + sizeof h);
	struct diff_case *cases = malloc((size_t)h.ncases * sizeof *cases);
	if (!cases) {
		free(buf);
		return 1;
	}
	memcpy(cases, buf + sizeof h + (size_t)h.nforms * DIFF_NAME_LEN,
	       (size_t)h.ncases * sizeof *cases);

	uint8_t *mem = calloc(1, DIFF_MEM_LEN);
	uint8_t *expect = malloc(DIFF_DATA_SIZE);
	uint8_t *code = malloc(DIFF_CODE_SIZE);
	uint32_t *fcases = calloc(h.nforms, sizeof *fcases);
	uint32_t *fbad = calloc(h.nforms, sizeof *fbad);
	char **fmsg = calloc(h.nforms, sizeof *fmsg);
	if (!mem || !expect || !code || !fcases || !fbad || !fmsg)
		return 1;

	uint32_t mismatches = 0, forms_run = 0;
	char msg[4096];
	for (uint32_t i = 0; i < h.ncases; i++) {
		const struct diff_case *c = &cases[i];
		if (c->form >= h.nforms)
			continue;
		if (trace) {
			printf("case %u %s:", i, names[c->form]);
			for (int j = 0; j < c->code_len; j++)
				printf(" %02x", c->code[j]);
			printf("\n");
			fflush(stdout);
		}
		/* memory: code, then HLT padding; the data area; nothing else */
		memset(code, 0xf4, DIFF_CODE_SIZE);
		memcpy(code, c->code, c->code_len);
		memcpy(mem + DIFF_CODE_ADDR, code, DIFF_CODE_SIZE);
		diff_initial_data(c, mem + DIFF_DATA_ADDR);
		memcpy(expect, mem + DIFF_DATA_ADDR, DIFF_DATA_SIZE);
		for (unsigned j = 0; j < c->nchg; j++)
			expect[c->chg[j].off] = c->chg[j].val;

		struct result r;
		memset(&r, 0, sizeof r);
		memcpy(r.st.gpr, c->in_gpr, sizeof c->in_gpr);
		r.st.eip = DIFF_CODE_ADDR;
		r.st.eflags = c->in_eflags;
		for (int s = 0; s < SREG_COUNT; s++)
			cpu_state_flat_seg(&r.st.seg[s], 0x23, 0x3, 3);
		cpu_state_flat_seg(&r.st.seg[S_CS], 0x23, 0xb, 3);
		r.st.seg[S_CS].sel = 0x1b;
		r.st.cr0 = CR0_PE | CR0_ET;
		r.ret = emu_run_flat(&r.st, mem, DIFF_MEM_LEN, DIFF_CODE_ADDR + c->code_len, 100000);

		fcases[c->form]++;
		msg[0] = 0;
		bool ok = compare(c, &r, mem + DIFF_DATA_ADDR, expect, msg, sizeof msg);
		if (ok && memcmp(mem + DIFF_CODE_ADDR, code, DIFF_CODE_SIZE) != 0) {
			ok = false;
			snprintf(msg, sizeof msg, "the emulator wrote into the code page");
		}
		if (!ok) {
			mismatches++;
			if (fbad[c->form]++ == 0)
				fmsg[c->form] = strdup(msg);
			else if (all)
				printf("   also %s: %s\n", names[c->form], msg);
		}
	}
	for (uint32_t f = 0; f < h.nforms; f++) {
		char name[DIFF_NAME_LEN + 8 + 8];
		if (!fcases[f])
			continue;
		forms_run++;
		snprintf(name, sizeof name, DIFF_PREFIX "%.*s", DIFF_NAME_LEN, names[f]);
		CHECK(name, fbad[f] == 0, "%u of %u cases mismatch; first: %s", fbad[f], fcases[f],
		      fmsg[f] ? fmsg[f] : "");
		free(fmsg[f]);
	}
	printf("diff: %u cases, %u forms, %u mismatches (seed %#x)\n", h.ncases, forms_run,
	       mismatches, h.seed);
	free(fmsg);
	free(fbad);
	free(fcases);
	free(code);
	free(expect);
	free(mem);
	free(cases);
	free(buf);
	CHECK_DONE();
}
