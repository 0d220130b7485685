/* The higher-half kernel's entry (from boot.S, paging on, identity map
 * gone): bring up the machine, then run the tests or the benchmark. */
#include "kit.h"
#include "bench.h"

void kmain(uint32_t magic, uint32_t mbi_phys);

void kmain(uint32_t magic, uint32_t mbi_phys)
{
	serial_init();
	bootinfo_parse(magic, mbi_phys, KBASE);
	pv_init();
	print_banner();
	gdt_init();
	idt_init();
	paging_init();
	pic_init();
	pit_init(100);
	sched_init();
	syscall_init();
	irq_on();

	/* "crash": an exception nobody expects, to see the fatal path. */
	if (cmdline_has("crash"))
		__asm__ volatile("ud2");
	if (bench_mode()) {
		bench_run();
		tests_finish();
	}
	tests_exc();
	tests_sensitive();
	tests_timer();
	tests_user();
	tests_fpu();
	tests_pv();
	tests_kvmclock();
	tests_modes();
	tests_platform();
	tests_finish();
}
