/*
 * The guest's x87/SSE state kept apart from the VMM's across native runs.
 *
 * Guest code running natively owns the host's x87, MXCSR and XMM
 * registers. Without care they would leak both ways: the guest's control
 * word, rounding mode or FTZ/DAZ would govern the VMM's C code after an
 * exit, and the VMM's XMM contents (pointers, data) would be readable by
 * the guest. So:
 *   - native_enter_asm XSAVEs the VMM's whole state (every XCR0
 *     component) and XRSTORs the guest's from native_guest_xsave, whose
 *     header marks only x87 and SSE present: every other component (AVX
 *     upper halves, ...) enters the guest in its init state;
 *   - the exit stub XRSTORs the VMM's state before any C code runs;
 *   - a signal that interrupts guest code finds the guest's state in its
 *     frame (the kernel saved it, and runs the handler with a clean
 *     state): native_fpu_from_uc copies it to native_guest_xsave before
 *     the engine's callback, which hands it to the CPU core (FSAVE, an
 *     x87 load from MMIO, ... emulated on the guest's real state), and
 *     native_fpu_to_uc puts the possibly updated state back into the
 *     frame when the guest resumes.
 * The legacy area is in the 64-bit FXSAVE format (as a 64-bit kernel
 * saves a frame): FIP and FDP are offsets, FCS and FDS are not kept.
 * Single vCPU per process, like the rest of the native layer.
 *
 * native_fpu_from_uc/to_uc run inside the signal handler: they only copy
 * bytes between the frame and a static buffer that nothing else touches
 * while guest code runs. The handler may use the x87 itself (the engine's
 * core runs x87 instructions on the host's x87): the kernel started it
 * with a clean state and reloads the frame's state on sigreturn, so that
 * use never reaches the guest, and the guest's state reaches the core only
 * through the buffer.
 */
#include <cpuid.h>
#include <string.h>

#include "native.h"

#define XSAVE_AREA_MAX 16384
#define LEGACY_SIZE 512
#define OFF_MXCSR 24
#define OFF_SW_MAGIC 464 /* fpregs->sw_reserved.magic1 */
#define XSTATE_FRAME_MAGIC 0x46505853u
#define OFF_XSTATE_BV 512
#define XFEATURE_X87 1u
#define XFEATURE_SSE 2u

_Alignas(64) uint8_t native_guest_xsave[XSAVE_AREA_MAX];
_Alignas(64) uint8_t native_vmm_xsave[XSAVE_AREA_MAX];

bool native_fpu_probe(char *why, size_t why_len)
{
	unsigned a, b, c, d;
	if (!__get_cpuid(1, &a, &b, &c, &d) || !(c & (1u << 27))) {
		snprintf(why, why_len, "XSAVE not enabled by the host OS (CPUID.1:ECX.OSXSAVE)");
		return false;
	}
	__cpuid_count(0xd, 0, a, b, c, d);
	if (b > XSAVE_AREA_MAX) {
		snprintf(why, why_len, "host XSAVE area of %u bytes is larger than %u", b,
			 XSAVE_AREA_MAX);
		return false;
	}
	return true;
}

/* x87 as after FNINIT, SSE as at process start, nothing else in use. */
static void legacy_init(uint8_t *fx, bool x87, bool sse)
{
	if (x87) {
		memset(fx, 0, 32);
		memset(fx + 32, 0, 128);
		fx[0] = 0x7f, fx[1] = 0x03; /* FCW 0x037f */
	}
	if (sse)
		memset(fx + 160, 0, 256);
}

void native_fpu_reset(void)
{
	memset(native_guest_xsave, 0, LEGACY_SIZE + 64);
	legacy_init(native_guest_xsave, true, true);
	uint32_t mxcsr = 0x1f80;
	memcpy(native_guest_xsave + OFF_MXCSR, &mxcsr, 4);
	native_guest_xsave[OFF_XSTATE_BV] = XFEATURE_X87 | XFEATURE_SSE;
}

/* An engine that enters guest code without native_enter_asm (bt: its
 * translated code never touches the x87 or MXCSR, the guest's FPU state
 * lives in the core) still leaves through the shared exit stub, which
 * restores the VMM's state from native_vmm_xsave: that must hold a valid
 * VMM state, not zeros (XRSTOR of zeros leaves MXCSR 0, every SSE exception
 * unmasked). The VMM's callee-saved FPU state (x87 control word, MXCSR) is
 * constant, so a snapshot taken once is what the stub must restore. */
void native_fpu_save_vmm(void)
{
	__asm__ volatile("xsave64 %0" : "=m"(*(uint8_t(*)[XSAVE_AREA_MAX])native_vmm_xsave)
			 : "a"(~0u), "d"(~0u)
			 : "memory");
}

uint8_t *native_guest_fpu(void)
{
	return native_guest_xsave;
}

static bool frame_is_xsave(const uint8_t *fp)
{
	uint32_t magic;
	memcpy(&magic, fp + OFF_SW_MAGIC, 4);
	return magic == XSTATE_FRAME_MAGIC;
}

void native_fpu_from_uc(const ucontext_t *uc)
{
	const uint8_t *fp = (const uint8_t *)uc->uc_mcontext.fpregs;
	if (!fp)
		return;
	memcpy(native_guest_xsave, fp, LEGACY_SIZE);
	/* A component the frame's header says is in its init state may hold
	 * stale bytes in the legacy area: take the init values instead. */
	if (frame_is_xsave(fp)) {
		uint8_t bv = fp[OFF_XSTATE_BV];
		legacy_init(native_guest_xsave, !(bv & XFEATURE_X87), !(bv & XFEATURE_SSE));
	}
	memset(native_guest_xsave + 464, 0, 48); /* software-reserved: not guest state */
}

void native_fpu_to_uc(ucontext_t *uc)
{
	uint8_t *fp = (uint8_t *)uc->uc_mcontext.fpregs;
	if (!fp)
		return;
	memcpy(fp, native_guest_xsave, 464);
	/* sigreturn's XRSTOR loads the legacy area only for components the
	 * header marks present. */
	if (frame_is_xsave(fp))
		fp[OFF_XSTATE_BV] |= XFEATURE_X87 | XFEATURE_SSE;
}
