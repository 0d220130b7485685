/* Multiboot v1 information: command line and memory size. The structure
 * is read through `virt_offset`, which is 0 before paging (smoke mode) and
 * KBASE in the higher-half kernel. */
#include "kit.h"

struct bootinfo boot;

struct mb_info {
	uint32_t flags, mem_lower, mem_upper, boot_device, cmdline;
};
#define MBI_MEM     0x001u
#define MBI_CMDLINE 0x004u

void bootinfo_parse(uint32_t magic, uint32_t mbi_phys, uint32_t virt_offset)
{
	boot.magic = magic;
	if (magic != MB_MAGIC || !mbi_phys)
		return;
	const struct mb_info *mbi = (const void *)(mbi_phys + virt_offset);
	if (mbi->flags & MBI_MEM) {
		boot.mem_upper_kb = mbi->mem_upper;
		boot.mem_kb = 1024 + mbi->mem_upper;   /* RAM up to the end of upper memory */
	}
	if ((mbi->flags & MBI_CMDLINE) && mbi->cmdline) {
		const char *c = (const char *)(mbi->cmdline + virt_offset);
		uint32_t i = 0;
		for (; c[i] && i + 1 < sizeof boot.cmdline; i++)
			boot.cmdline[i] = c[i];
		boot.cmdline[i] = 0;
	}
}

/* Finds the word starting with `prefix` (whole word if exact). */
static const char *find_word(const char *prefix, int exact)
{
	uint32_t n = strlen(prefix);
	const char *p = boot.cmdline;
	while (*p) {
		while (*p == ' ')
			p++;
		const char *w = p;
		while (*p && *p != ' ')
			p++;
		uint32_t len = (uint32_t)(p - w);
		if (len >= n && !strncmp(w, prefix, n) && (!exact || len == n))
			return w;
	}
	return NULL;
}

int cmdline_has(const char *word)
{
	return find_word(word, 1) != NULL;
}

int cmdline_value(const char *key, char *out, uint32_t size)
{
	char prefix[32];
	ksnprintf(prefix, sizeof prefix, "%s=", key);
	const char *w = find_word(prefix, 0);
	if (!w)
		return 0;
	w += strlen(prefix);
	uint32_t i = 0;
	for (; w[i] && w[i] != ' ' && i + 1 < size; i++)
		out[i] = w[i];
	out[i] = 0;
	return 1;
}

uint32_t parse_u32(const char *s)
{
	uint32_t v = 0;
	for (; *s >= '0' && *s <= '9'; s++)
		v = v * 10 + (uint32_t)(*s - '0');
	return v;
}

void print_banner(void)
{
	uint32_t a, b, c, d;
	char vendor[13];
	kprintf("ringvm-guest-kit: cmdline=\"%s\" mem=%uK\n", boot.cmdline, boot.mem_kb);
	if (boot.magic != MB_MAGIC)
		kprintf("# warning: boot magic %x, not a Multiboot loader\n", boot.magic);
	cpuid(0, &a, &b, &c, &d);
	memcpy(vendor, &b, 4);
	memcpy(vendor + 4, &d, 4);
	memcpy(vendor + 8, &c, 4);
	vendor[12] = 0;
	kprintf("cpu: vendor=\"%s\" max_leaf=%u\n", vendor, a);
	/* What the CPU model says (leaf 1, and the hypervisor leaf when the
	 * hypervisor bit is set), for the tests that check it per engine. */
	cpuid(1, &a, &b, &c, &d);
	char hv[13] = "";
	if (c & 0x80000000u) {
		uint32_t m, x, y, z;
		cpuid(0x40000000u, &m, &x, &y, &z);
		memcpy(hv, &x, 4);
		memcpy(hv + 4, &y, 4);
		memcpy(hv + 8, &z, 4);
		hv[12] = 0;
	}
	kprintf("cpu: signature=0x%x features=0x%08x ecx=0x%08x hypervisor=\"%s\"\n", a, d, c, hv);
	kprintf("# pv: %s\n", pv_active ? "ringvm paravirtual ABI in use" : "off (full virtualization path)");
}
