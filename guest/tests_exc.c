/* exc.*: provoke exceptions in ring 0 on purpose. trap_expect makes the
 * handler record the vector, error code, EIP and CR2, and resume at the
 * label after the faulting instruction. Each asm block stores the address
 * of the faulting instruction (label 1) and of the resume point (label 2). */
#include "kit.h"

#define PF_P 0x1u
#define PF_W 0x2u
#define PF_U 0x4u

/* Compares what the handler saw with what was expected. */
static void check(const char *name, uint32_t vec, uint32_t eip, int check_err, uint32_t err,
		  int check_cr2, uint32_t cr2)
{
	struct trap_expect *t = &trap_expect;
	trap_expect.armed = 0;
	if (!t->hit)
		test_fail(name, "no exception (expected vector %u)", vec);
	else if (t->got_vector != vec || t->got_eip != eip)
		test_fail(name, "vector %u eip 0x%08x, expected vector %u eip 0x%08x", t->got_vector,
			  t->got_eip, vec, eip);
	else if (check_err && t->got_err != err)
		test_fail(name, "error code 0x%x, expected 0x%x", t->got_err, err);
	else if (check_cr2 && t->got_cr2 != cr2)
		test_fail(name, "cr2 0x%08x, expected 0x%08x", t->got_cr2, cr2);
	else
		test_pass(name);
}

static void test_de(void)
{
	uint32_t at, eax = 1, ecx = 0;
	trap_arm(0);
	__asm__ volatile("movl $2f, %[res]\n\t"
			 "movl $1f, %[at]\n\t"
			 "xorl %%edx, %%edx\n"
			 "1:\tdivl %%ecx\n"
			 "2:\n"
			 : [res] "=m"(trap_expect.resume), [at] "=&r"(at), "+a"(eax), "+c"(ecx)
			 : : "edx", "memory", "cc");
	check("exc.de", 0, at, 0, 0, 0, 0);
}

static void test_ud(void)
{
	uint32_t at;
	trap_arm(6);
	__asm__ volatile("movl $2f, %[res]\n\t"
			 "movl $1f, %[at]\n"
			 "1:\tud2\n"
			 "2:\n"
			 : [res] "=m"(trap_expect.resume), [at] "=&r"(at) : : "memory");
	check("exc.ud", 6, at, 0, 0, 0, 0);
}

/* Loading DS with a selector past the GDT limit: #GP with the selector
 * (index, TI=0) as error code. DS is left as it was. */
static void test_gp(void)
{
	uint32_t at, sel = GDT_ENTRIES * 8 + 8;
	trap_arm(13);
	__asm__ volatile("movl $2f, %[res]\n\t"
			 "movl $1f, %[at]\n"
			 "1:\tmovw %w[sel], %%ds\n"
			 "2:\n"
			 : [res] "=m"(trap_expect.resume), [at] "=&r"(at)
			 : [sel] "r"(sel) : "memory");
	check("exc.gp", 13, at, 1, sel, 0, 0);
}

static uint32_t pf_access(uint32_t addr, int write)
{
	uint32_t at;
	trap_arm(14);
	if (write)
		__asm__ volatile("movl $2f, %[res]\n\t"
				 "movl $1f, %[at]\n"
				 "1:\tmovl $0x5a5a5a5a, (%[p])\n"
				 "2:\n"
				 : [res] "=m"(trap_expect.resume), [at] "=&r"(at)
				 : [p] "r"(addr) : "memory");
	else
		__asm__ volatile("movl $2f, %[res]\n\t"
				 "movl $1f, %[at]\n"
				 "1:\tmovl (%[p]), %%eax\n"
				 "2:\n"
				 : [res] "=m"(trap_expect.resume), [at] "=&r"(at)
				 : [p] "r"(addr) : "eax", "memory");
	return at;
}

/* Not-present read (P=0 W=0 U=0), then a write to a present read-only page
 * from ring 0, which faults only because CR0.WP=1 (P=1 W=1 U=0). */
static void test_pf(void)
{
	uint32_t kpd = virt_to_phys(kernel_pd);
	uint32_t absent = KTEST_VA + 0x1234;
	uint32_t at = pf_access(absent, 0);
	struct trap_expect t1 = trap_expect;
	if (!t1.hit || t1.got_vector != 14 || t1.got_eip != at || t1.got_err != 0 || t1.got_cr2 != absent) {
		trap_expect.armed = 0;
		test_fail("exc.pf", "not-present read: hit=%d vector %u err 0x%x eip 0x%08x cr2 0x%08x, "
			  "expected vector 14 err 0x0 eip 0x%08x cr2 0x%08x", t1.hit, t1.got_vector,
			  t1.got_err, t1.got_eip, t1.got_cr2, at, absent);
		return;
	}
	if (!(read_cr0() & CR0_WP)) {
		test_fail("exc.pf", "CR0.WP is clear (cr0=0x%08x)", read_cr0());
		return;
	}
	uint32_t ro = KTEST_VA + 0x2000;
	map_page(kpd, ro, frame_alloc(), 0);   /* present, read-only, supervisor */
	at = pf_access(ro + 8, 1);
	unmap_page(kpd, ro);
	check("exc.pf", 14, at, 1, PF_P | PF_W, 1, ro + 8);
}

void tests_exc(void)
{
	if (test_wanted("exc.de"))
		test_de();
	if (test_wanted("exc.ud"))
		test_ud();
	if (test_wanted("exc.gp"))
		test_gp();
	if (test_wanted("exc.pf"))
		test_pf();
}
