/*
 * The whole-VMM sandbox: a seccomp allowlist installed once the guest is
 * loaded and the engine created (QEMU's -sandbox on, Firecracker's
 * filters). From then on the VMM can make only the system calls its run
 * loop, devices, exit path and engine need; anything else ends the run with
 * one line, "ringvm: sandbox: blocked system call N (name)", and status
 * RINGVM_EXIT_SANDBOX.
 */
#ifndef RINGVM_SANDBOX_H
#define RINGVM_SANDBOX_H

#include <signal.h>
#include <stddef.h>

/* What an engine needs beyond the VMM's own calls (struct engine's
 * sandbox_needs). A new engine names its needs here, not by name in
 * sandbox.c; bt, like trap, runs guest code natively. */
enum sandbox_needs {
	/* KVM ioctls (type 0xAE) on the engine's /dev/kvm descriptors. */
	SANDBOX_KVM = 1u << 0,
	/* Guest code runs natively in this process: guest pages are mapped,
	 * unmapped and (re)protected executable on demand, LDT entries
	 * written, and the engine's signal handlers own SIGSYS for system
	 * calls made by guest code. */
	SANDBOX_NATIVE_CODE = 1u << 1,
};

/* Installs the allowlist for every thread of the process (TSYNC). Returns 0,
 * or -1 with why[] saying why not. Installs the SIGSYS reporter too, unless
 * the engine already handles SIGSYS itself. Irrevocable. */
int sandbox_install(unsigned needs, char *why, size_t why_len);

/* Installs the reporter for SIGSYS unless someone else handles it: after a
 * native engine that owned SIGSYS is destroyed, a blocked call must still
 * give its line rather than a silent kill. */
void sandbox_catch_sigsys(void);

/* Reports a blocked call from si (a SIGSYS with si_code SYS_SECCOMP) on
 * stderr, restores the terminal and ends the process with status
 * RINGVM_EXIT_SANDBOX. Async-signal-safe: for the SIGSYS handler of any
 * engine that owns SIGSYS, when the call did not come from guest code. */
__attribute__((noreturn)) void sandbox_report_blocked(const siginfo_t *si);

#endif
