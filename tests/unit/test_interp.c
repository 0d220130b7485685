/*
 * Unit tests of the interp engine glue (src/engines/interp/) and a
 * micro-benchmark of the emulator: an integer loop in guest RAM, reported
 * in millions of guest instructions per second (MIPS). Under ASan/UBSan
 * the number is several times lower than in build/ringvm.
 */
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "check.h"
#include "engines/interp/interp.h"
#include "vm/vm.h"

#define RAM_SIZE (4u << 20)
#define CODE 0x100000u

static struct vm vm;
static struct vcpu vcpu;

static void put_bytes(uint32_t a, const char *hex)
{
	while (*hex) {
		while (*hex == ' ')
			hex++;
		if (!*hex)
			break;
		vm.ram[a++] = (uint8_t)strtoul(hex, (char **)&hex, 16);
	}
}

static double now(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + ts.tv_nsec * 1e-9;
}

int main(void)
{
	char why[160];
	vm.ram = aligned_alloc(4096, RAM_SIZE);
	memset(vm.ram, 0, RAM_SIZE);
	vm.ram_size = RAM_SIZE;
	vcpu.vm = &vm;
	vcpu.engine = &engine_interp;
	CHECK("interp.identity", strcmp(engine_interp.name, "interp") == 0 &&
		      strcmp(engine_interp.family, "emulation") == 0 &&
		      engine_interp.available(why, sizeof why) && engine_interp.fast_here == NULL,
	      "name=%s", engine_interp.name);
	CHECK("interp.create", engine_interp.create(&vcpu) == 0, "create failed");

	struct cpu_state s;
	cpu_state_multiboot_entry(&s, CODE, 0x9000);
	engine_interp.set_state(&vcpu, &s);
	struct cpu_state g;
	engine_interp.get_state(&vcpu, &g);
	CHECK("interp.multiboot_state", g.eip == CODE && g.gpr[R_EAX] == 0x2BADB002u &&
		      g.gpr[R_EBX] == 0x9000 && g.seg[S_CS].sel == 0x08 && g.seg[S_DS].sel == 0x10 &&
		      g.cr0 == 0x11 && g.eflags == 0x2, "eip=%#x cr0=%#x", g.eip, g.cr0);
	CHECK("interp.irq_window_closed_when_if0", !engine_interp.irq_window_open(&vcpu), "open");

	/* mov ecx,N; mov ebx,0x20000; L: add eax,ecx; xor edx,eax;
	 * mov [ebx],edx; add ebx,4; and ebx,0x2fffc; dec ecx; jnz L; hlt */
	const uint32_t iters = 20000000;
	put_bytes(CODE, "b9 00 2d 31 01  bb 00 00 02 00  01 c8  31 c2  89 13  83 c3 04"
			"  81 e3 fc ff 02 00  49  75 ee  f4");
	struct vcpu_exit ex;
	memset(&ex, 0, sizeof ex);
	double t0 = now();
	int rc;
	do {
		rc = engine_interp.run(&vcpu, &ex);
	} while (rc == 0 && ex.reason == EXIT_NONE);
	double dt = now() - t0;
	engine_interp.get_state(&vcpu, &g);
	uint64_t want = 2 + 7ull * iters + 1;
	CHECK("interp.loop_runs_to_hlt", rc == 0 && ex.reason == EXIT_HLT && vcpu.halted &&
		      g.eip == CODE + 29 && g.gpr[R_ECX] == 0,
	      "rc=%d reason=%d eip=%#x ecx=%u", rc, ex.reason, g.eip, g.gpr[R_ECX]);
	CHECK("interp.guest_insns_counted", vm.stats.guest_insns == want,
	      "counted %llu, want %llu", (unsigned long long)vm.stats.guest_insns,
	      (unsigned long long)want);
	printf("# interp.mips: %.1f million guest instructions/s (%llu in %.3f s)\n",
	       vm.stats.guest_insns / dt / 1e6, (unsigned long long)vm.stats.guest_insns, dt);

	/* Halted with IF=0: the next run returns EXIT_HLT at once. */
	rc = engine_interp.run(&vcpu, &ex);
	CHECK("interp.halted_stays_halted", rc == 0 && ex.reason == EXIT_HLT, "reason=%d",
	      ex.reason);

	/* The kick ends a run with EXIT_NONE, and is left set. */
	put_bytes(CODE + 0x1000, "eb fe"); /* jmp $ */
	cpu_state_multiboot_entry(&s, CODE + 0x1000, 0);
	engine_interp.set_state(&vcpu, &s);
	vcpu.halted = false;
	vm.kick = 1;
	rc = engine_interp.run(&vcpu, &ex);
	CHECK("interp.kick_returns_none", rc == 0 && ex.reason == EXIT_NONE && vm.kick == 1,
	      "reason=%d", ex.reason);

	engine_interp.destroy(&vcpu);
	free(vm.ram);
	CHECK_DONE();
}
