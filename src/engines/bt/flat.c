/*
 * bt_run_flat: the bt engine on a bare buffer, for the differential test
 * against the host CPU (tests/unit/test_bt_diff.c). One VM and one engine
 * for the whole process, reused case after case: each case gets the
 * buffer copied into guest RAM, a fresh flat CPL-3 state, an empty
 * translation cache and shadow, and the core's decoded copy of the code
 * dropped (the code changes from case to case at the same address).
 */
#include <signal.h>
#include <string.h>
#include <time.h>

#include "bt.h"
#include "bt_priv.h"
#include "vm/vm.h"

static struct vm flat_vm;
static struct vcpu flat_vcpu;
static bool flat_ready;
static timer_t flat_timer;

static int flat_init(uint32_t mem_len)
{
	struct vm_config cfg = { .engine = "bt" };
	cfg.mem_size = mem_len < VM_MEM_MIN ? VM_MEM_MIN : ((uint64_t)mem_len + 0xfffff) & ~0xfffffull;
	if (vm_create(&flat_vm, &cfg) < 0)
		return -1;
	flat_vcpu.vm = &flat_vm;
	flat_vcpu.engine = &engine_bt;
	if (engine_bt.create(&flat_vcpu) < 0)
		return -1;
	/* A runaway case (a loop the budget would end in the emulator) is
	 * ended by a kick, as the run loop's timer would. */
	struct sigevent sev;
	memset(&sev, 0, sizeof sev);
	sev.sigev_notify = SIGEV_SIGNAL;
	sev.sigev_signo = SIGRTMIN;
	if (timer_create(CLOCK_MONOTONIC, &sev, &flat_timer) < 0)
		return -1;
	flat_ready = true;
	return 0;
}

int bt_run_flat(struct cpu_state *st, uint8_t *mem, uint32_t mem_len, uint32_t stop_eip,
		uint64_t max_insns)
{
	if (!flat_ready && flat_init(mem_len) < 0)
		return -2;
	if ((uint64_t)mem_len > flat_vm.ram_size)
		return -2;
	struct bt *t = flat_vcpu.priv;
	struct cpu *c = &t->cpu;
	memcpy(flat_vm.ram, mem, mem_len);
	struct cpu_state s = *st;
	/* The selectors and CR0.NE of a 32-bit Linux process, as emu_flat
	 * has them (the x87's FCS/FDS images show them). */
	cpu_state_flat_seg(&s.seg[S_CS], 0x23, 0xb, 3);
	for (int k = 0; k < SREG_COUNT; k++)
		if (k != S_CS)
			cpu_state_flat_seg(&s.seg[k], 0x2b, 0x3, 3);
	s.cr0 = CR0_PE | CR0_ET | CR0_NE;
	s.cr4 = 0;
	s.eflags = (s.eflags | EFLAGS_FIXED) & ~(EFLAGS_VM | EFLAGS_IOPL);
	engine_bt.set_state(&flat_vcpu, &s);
	/* Every case writes new code at the same addresses: start empty. */
	bt_flush(t);
	shadow_reset(&t->sh, c);
	c->ram_size = mem_len; /* beyond: not RAM, #PF (strict_mem) */
	for (uint32_t p = 0; p < (mem_len >> 12); p++)
		if (c->code_page[p])
			code_page_written(c, p); /* the core's decoded copies */
	memset(t->adapt, 0, sizeof t->adapt); /* every case runs its code natively */
	c->strict_mem = true;
	c->exc_return = true;
	c->stop_eip = stop_eip;
	c->halted = false;
	flat_vm.kick = 0;
	BT_VPAGE_PTR->kick = 0;
	/* ~max_insns at emulator speed, at least 0.2 s */
	uint64_t ns = max_insns * 10 < 200000000ull ? 200000000ull : max_insns * 10;
	struct itimerspec its = { .it_value = { (time_t)(ns / 1000000000ull), (long)(ns % 1000000000ull) } };
	timer_settime(flat_timer, 0, &its, NULL);
	native_install_kick(&t->nh);
	int r = bt_run_loop(t);
	struct itimerspec off = { { 0, 0 }, { 0, 0 } };
	timer_settime(flat_timer, 0, &off, NULL);
	int ret;
	if (r == BT_FLAT_EXC)
		ret = c->exc_vec;
	else if (r == BT_FLAT_STOP)
		ret = -1;
	else
		ret = -2;
	c->stop_eip = ~0u;
	c->exc_return = false;
	c->strict_mem = false;
	c->ram_size = flat_vm.ram_size;
	engine_bt.get_state(&flat_vcpu, st);
	memcpy(mem, flat_vm.ram, mem_len);
	return ret;
}
