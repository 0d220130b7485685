/*
 * ringvm: one virtual machine monitor, every way of virtualizing an x86 CPU.
 * A table of subcommands, kvmtool style; `run` reads like the init order of
 * a VM: options, engine, RAM and devices, image, vCPU, run loop.
 */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cpu/cpumodel.h"
#include "devices/devices.h"
#include "loaders/loader.h"
#include "vm/run.h"
#include "vm/sandbox.h"
#include "vm/vm.h"

#define RINGVM_VERSION "0.1.0"

extern const uint8_t guest_kit_elf[], guest_kit_elf_end[];

static void usage(FILE *out)
{
	fprintf(out,
		"usage: ringvm <command> [options]\n"
		"\n"
		"commands:\n"
		"  run       boot a guest (default: the built-in guest kit)\n"
		"  engines   list the engines and whether each can run on this host\n"
		"  help      this text\n"
		"\n"
		"ringvm run [--engine E] [--mem SIZE] [--kernel FILE] [--initrd FILE]\n"
		"           [--append STR] [--cpu MODEL] [--machine M] [--drive file=IMG[,readonly]]\n"
		"           [--stats] [--trace] [--sandbox S]\n"
		"  --engine E     interp, trap, bt, kvm (default: the fastest correct engine here)\n"
		"  --mem SIZE     guest RAM, e.g. 64M, 1G (plain number: MiB; 2M..3G; default 128M)\n"
		"  --kernel FILE  a Multiboot v1 kernel (32-bit ELF or a.out kludge) or a\n"
		"                 Linux bzImage (boot protocol 2.07+)\n"
		"  --initrd FILE  Linux's initrd, or Multiboot module 0\n"
		"  --append STR   the kernel command line (the guest kit takes: smoke, bench,\n"
		"                 only=GROUP, rounds=N)\n"
		"  --cpu MODEL    the CPU the guest sees (CPUID, MSRs); --cpu help lists them;\n"
		"                 MODEL,-kvmclock hides KVM's kvm-clock from a Linux guest\n"
		"  --machine M    isapc (default: PICs, PIT, UART, CMOS) or pc (isapc + local\n"
		"                 APIC, IOAPIC, PCI, ACPI and MP tables; software engines only);\n"
		"                 --machine help lists them\n"
		"  --drive file=IMG[,readonly]  a raw disk image as an ATA disk; up to 4, in\n"
		"                 the order primary master, primary slave, secondary master, slave\n"
		"  --stats        print exits by reason, time and events when the guest ends\n"
		"  --trace        print every exit to stderr\n"
		"  --sandbox S    on (default): once the guest is loaded, the VMM may make\n"
		"                 only the system calls it needs; off: no allowlist (debugging)\n"
		"\n"
		"exit status: the guest's debug-exit status ((v << 1) | 1 for a write of v to\n"
		"port 0xf4, truncated to 8 bits, as QEMU's isa-debug-exit), else 0 guest reset\n"
		"or powered off (halt with interrupts off), 2 bad usage or input, 4 guest died\n"
		"(triple fault, halt that nothing can wake), 6 host failure (engine unavailable,\n"
		"output could not be written), 8 the sandbox blocked a system call of the VMM\n"
		"itself (a ringvm bug).\n");
}

/* Parses 64M, 1G, 512K, 1048576B or a plain number of MiB. */
static int parse_mem(const char *s, uint64_t *out)
{
	char *end;
	errno = 0;
	unsigned long long v = strtoull(s, &end, 10);
	if (end == s || (errno && errno != ERANGE) || s[0] == '-') {
		fprintf(stderr, "ringvm: --mem %s: not a size (try 128M or 1G)\n", s);
		return -1;
	}
	unsigned shift = 20;
	switch (*end) {
	case 'b': case 'B': shift = 0; end++; break;
	case 'k': case 'K': shift = 10; end++; break;
	case 'm': case 'M': shift = 20; end++; break;
	case 'g': case 'G': shift = 30; end++; break;
	case 't': case 'T': shift = 40; end++; break;
	case '\0': break;
	default: shift = 64;
	}
	if (shift == 64 || (*end && strcmp(end, "iB") && strcmp(end, "B"))) {
		fprintf(stderr, "ringvm: --mem %s: not a size (try 128M or 1G)\n", s);
		return -1;
	}
	if (errno == ERANGE || v > (VM_MEM_MAX >> shift)) { /* VM_MEM_MAX is a multiple of 1 GiB: no overflow */
		fprintf(stderr, "ringvm: --mem %s: too large; at most %llu MiB (32-bit guests: RAM "
				"must end below the MMIO window under 4 GiB)\n",
			s, VM_MEM_MAX >> 20);
		return -1;
	}
	if ((v << shift) < VM_MEM_MIN) {
		fprintf(stderr, "ringvm: --mem %s: too small; at least %llu MiB\n", s,
			VM_MEM_MIN >> 20);
		return -1;
	}
	*out = (v << shift) & ~0xfffull;
	return 0;
}

/* Commands without options refuse every argument but --help: a typo must
 * not pass for a command that worked. Returns 0 to go on, 1 after printing
 * the help, -1 after one line on stderr. */
static int no_arguments(int argc, char **argv)
{
	if (argc < 2)
		return 0;
	if (argc == 2 && (!strcmp(argv[1], "--help") || !strcmp(argv[1], "-h"))) {
		usage(stdout);
		return 1;
	}
	fprintf(stderr, "ringvm %s: unexpected argument %s (see ringvm --help)\n", argv[0], argv[1]);
	return -1;
}

static int cmd_engines(int argc, char **argv)
{
	int a = no_arguments(argc, argv);
	if (a)
		return a < 0 ? RINGVM_EXIT_USAGE : 0;
	char reason[512];
	const struct engine *def = engine_choose_default(reason, sizeof reason);
	for (int i = 0; engines[i]; i++) {
		const struct engine *e = engines[i];
		char why[256] = "";
		bool ok = e->available(why, sizeof why);
		printf("%-8s %-22s %s", e->name, e->family, ok ? "available" : "unavailable: ");
		if (!ok)
			printf("%s", why);
		else if (e->fast_here) {
			char fwhy[256] = "";
			bool fast = e->fast_here(fwhy, sizeof fwhy);
			printf(" (%s: %s)", fast ? "fast" : "slow here", fwhy);
		}
		if (e->caveat)
			printf("; %s", e->caveat);
		printf("%s\n", e == def ? "  [default]" : "");
	}
	if (def)
		printf("default: %s (%s)\n", def->name, reason);
	return 0;
}

static const struct option run_options[] = {
	{ "engine", required_argument, 0, 'e' }, { "mem", required_argument, 0, 'm' },
	{ "kernel", required_argument, 0, 'k' }, { "initrd", required_argument, 0, 'i' },
	{ "append", required_argument, 0, 'a' }, { "stats", no_argument, 0, 's' },
	{ "trace", no_argument, 0, 't' },	 { "help", no_argument, 0, 'h' },
	{ "cpu", required_argument, 0, 'c' },	 { "sandbox", required_argument, 0, 'S' },
	{ "machine", required_argument, 0, 'M' }, { "drive", required_argument, 0, 'D' },
	{ 0, 0, 0, 0 },
};

/* An option that takes a value, given twice, is a mistake (which one did
 * the user mean?): refuse it rather than let the last one win silently. */
static int once(int c, unsigned *seen)
{
	const struct option *o = run_options;
	while (o->name && o->val != c)
		o++;
	if (!o->name || o->has_arg == no_argument || c == 'D') /* --drive: one per disk */
		return 0;
	unsigned bit = 1u << (o - run_options);
	if (*seen & bit) {
		fprintf(stderr, "ringvm run: --%s given twice\n", o->name);
		return -1;
	}
	*seen |= bit;
	return 0;
}

static int parse_sandbox(const char *v, bool *off)
{
	if (!strcmp(v, "on") || !strcmp(v, "off")) {
		*off = !strcmp(v, "off");
		return 0;
	}
	fprintf(stderr, "ringvm run: --sandbox %s: expected on or off\n", v);
	return -1;
}

static int parse_run_args(int argc, char **argv, struct vm_config *cfg)
{
	memset(cfg, 0, sizeof *cfg);
	cfg->mem_size = VM_MEM_DEFAULT;
	cfg->append = "";
	int c;
	unsigned seen = 0;
	opterr = 0;
	optind = 1;
	while ((c = getopt_long(argc, argv, ":e:m:k:i:a:c:sthS:M:D:", run_options, NULL)) != -1) {
		if (once(c, &seen) < 0)
			return -1;
		switch (c) {
		case 'e': cfg->engine = optarg; break;
		case 'm': if (parse_mem(optarg, &cfg->mem_size) < 0) return -1; break;
		case 'k': cfg->kernel = optarg; break;
		case 'i': cfg->initrd = optarg; break;
		case 'a': cfg->append = optarg; break;
		case 'M': {
			int m = machine_parse(optarg, &cfg->machine);
			if (m)
				return m; /* -1 error, 1 "help" was answered */
			break;
		}
		case 'D':
			if (cfg->n_drives == VM_DRIVES_MAX) {
				fprintf(stderr, "ringvm run: --drive %s: at most %d drives\n", optarg,
					VM_DRIVES_MAX);
				return -1;
			}
			if (drive_parse(optarg, &cfg->drive[cfg->n_drives]) < 0)
				return -1;
			cfg->n_drives++;
			break;
		case 'S': if (parse_sandbox(optarg, &cfg->sandbox_off) < 0) return -1; break;
		case 's': cfg->stats = true; break;
		case 't': cfg->trace = true; break;
		case 'c':
			if (!strcmp(optarg, "help")) {
				cpu_model_list(stdout);
				return 1;
			}
			if (!cpu_model_parse(optarg, NULL)) {
				fprintf(stderr, "ringvm run: --cpu %s: unknown CPU model or option "
					"(ringvm run --cpu help lists them)\n", optarg);
				return -1;
			}
			cfg->cpu = optarg;
			break;
		case 'h': usage(stdout); return 1;
		case ':':
			fprintf(stderr, "ringvm run: %s needs a value\n", argv[optind - 1]);
			return -1;
		default:
			/* getopt sets optopt to the option's value when a flag
			 * was given a value (--stats=yes) */
			for (const struct option *o = run_options; o->name && optopt; o++) {
				if (o->val == optopt && o->has_arg == no_argument) {
					fprintf(stderr, "ringvm run: --%s takes no value\n", o->name);
					return -1;
				}
			}
			fprintf(stderr, "ringvm run: unknown option %s (see ringvm --help)\n",
				argv[optind - 1]);
			return -1;
		}
	}
	if (optind < argc) {
		fprintf(stderr, "ringvm run: unexpected argument %s (see ringvm --help)\n", argv[optind]);
		return -1;
	}
	return 0;
}

/* Picks the engine; says why in choice[] (printed once the guest is loaded,
 * so that a bad input file gets exactly one line). */
static const struct engine *pick_engine(const char *name, char *choice, size_t len)
{
	char why[512];
	if (!name) {
		const struct engine *e = engine_choose_default(why, sizeof why);
		if (!e)
			fprintf(stderr, "ringvm: %s\n", why);
		else
			snprintf(choice, len, "ringvm: engine %s (%s)", e->name, why);
		return e;
	}
	const struct engine *e = engine_find(name);
	if (!e) {
		fprintf(stderr, "ringvm: unknown engine '%s' (ringvm engines lists them)\n", name);
		return NULL;
	}
	if (!e->available(why, sizeof why)) {
		fprintf(stderr, "ringvm: engine %s unavailable: %s\n", name, why);
		return NULL;
	}
	snprintf(choice, len, "ringvm: engine %s (chosen with --engine)", e->name);
	return e;
}

static int load_guest(struct vm *vm, struct cpu_state *entry)
{
	const struct vm_config *cfg = &vm->cfg;
	struct image kernel, initrd;
	memset(&initrd, 0, sizeof initrd);
	if (cfg->kernel) {
		if (image_read(&kernel, cfg->kernel, vm->ram_size, "kernel") < 0)
			return -1;
	} else {
		kernel = (struct image){ guest_kit_elf, (size_t)(guest_kit_elf_end - guest_kit_elf),
					 "ringvm-guest-kit", NULL };
	}
	if (cfg->initrd && image_read(&initrd, cfg->initrd, vm->ram_size, "initrd") < 0) {
		image_free(&kernel);
		return -1;
	}
	if (linux_is_bzimage(&kernel)) {
		int lr = linux_load(vm, &kernel, cfg->initrd ? &initrd : NULL, cfg->append, entry);
		image_free(&kernel);
		image_free(&initrd);
		return lr;
	}
	/* Like QEMU and GRUB, the Multiboot command line starts with the
	 * kernel's own name. */
	size_t n = strlen(kernel.name) + strlen(cfg->append) + 2;
	char *cmdline = malloc(n);
	int r = -1;
	if (cmdline) {
		snprintf(cmdline, n, "%s%s%s", kernel.name, cfg->append[0] ? " " : "", cfg->append);
		r = multiboot_load(vm, &kernel, cfg->initrd ? &initrd : NULL, cmdline, entry);
	}
	free(cmdline);
	image_free(&kernel);
	image_free(&initrd);
	return r;
}

static int cmd_run(int argc, char **argv)
{
	struct vm_config cfg;
	int p = parse_run_args(argc, argv, &cfg);
	if (p)
		return p < 0 ? RINGVM_EXIT_USAGE : 0;
	char choice[640];
	const struct engine *e = pick_engine(cfg.engine, choice, sizeof choice);
	if (!e)
		return cfg.engine && !engine_find(cfg.engine) ? RINGVM_EXIT_USAGE : RINGVM_EXIT_HOST;

	if (cfg.machine == MACHINE_PC && !strcmp(e->name, "kvm")) {
		/* KVM answers IA32_APIC_BASE and CPUID itself: its local APIC
		 * would not be the one the tables describe. */
		fprintf(stderr, "ringvm run: --machine pc needs a software engine (interp, trap, bt); "
			"kvm runs isapc\n");
		return RINGVM_EXIT_USAGE;
	}
	static struct vm vm;
	if (vm_create(&vm, &cfg) < 0)
		return vm.init_status ? vm.init_status : RINGVM_EXIT_HOST;
	struct cpu_state entry;
	memset(&entry, 0, sizeof entry);
	if (load_guest(&vm, &entry) < 0) {
		vm_destroy(&vm);
		return RINGVM_EXIT_USAGE;
	}
	fprintf(stderr, "%s\n", choice);
	if (e->caveat)
		fprintf(stderr, "ringvm: %s: %s\n", e->name, e->caveat);
	struct vcpu vcpu = { .vm = &vm, .engine = e };
	if (e->create(&vcpu) < 0) {
		vm_destroy(&vm);
		return RINGVM_EXIT_HOST;
	}
	e->set_state(&vcpu, &entry);
	/* From here on the guest is running: the VMM may make only the system
	 * calls it needs to (src/vm/sandbox.c). */
	char why[256];
	if (!cfg.sandbox_off && sandbox_install(e->sandbox_needs, why, sizeof why) < 0) {
		fprintf(stderr, "ringvm: sandbox: %s (--sandbox off runs without it)\n", why);
		e->destroy(&vcpu);
		vm_destroy(&vm);
		return RINGVM_EXIT_HOST;
	}
	int status = vcpu_run_loop(&vcpu);
	devices_restore_terminal();
	fprintf(stderr, "ringvm: %s: exit status %d\n", vm.stop_why ? vm.stop_why : "stopped", status);
	if (vm.output_errno) {
		fprintf(stderr, "ringvm: guest serial output lost: stdout: %s\n",
			strerror(vm.output_errno));
		status = RINGVM_EXIT_HOST;
	}
	if (cfg.stats)
		stats_print(&vm.stats, e->name, stderr);
	e->destroy(&vcpu);
	/* The engine may have owned SIGSYS (native engines): a blocked call
	 * on the way out must still be reported, not kill us silently. */
	if (!cfg.sandbox_off)
		sandbox_catch_sigsys();
	vm_destroy(&vm);
	return status;
}

static int cmd_help(int argc, char **argv)
{
	int a = no_arguments(argc, argv);
	if (a)
		return a < 0 ? RINGVM_EXIT_USAGE : 0;
	usage(stdout);
	return 0;
}

static int cmd_version(int argc, char **argv)
{
	int a = no_arguments(argc, argv);
	if (a)
		return a < 0 ? RINGVM_EXIT_USAGE : 0;
	printf("ringvm %s\n", RINGVM_VERSION);
	return 0;
}

static const struct {
	const char *name;
	int (*fn)(int argc, char **argv);
} commands[] = {
	{ "run", cmd_run },
	{ "engines", cmd_engines },
	{ "help", cmd_help },
	{ "--help", cmd_help },
	{ "-h", cmd_help },
	{ "version", cmd_version },
	{ "--version", cmd_version },
};

/* Descriptors 0, 1 and 2 are stdin, stdout and stderr to all the code in
 * here. Started without one of them, the next descriptor opened (the guest
 * RAM memfd) would take its number: serial output and ringvm's messages
 * would land in guest RAM, and serial input would read it. So a missing
 * one is opened on /dev/null first, as if the user had redirected it there. */
static int std_fds_open(void)
{
	for (int fd = 0; fd <= 2; fd++) {
		if (fcntl(fd, F_GETFD) >= 0 || errno != EBADF)
			continue;
		/* open() returns the lowest free number: fd itself, since the
		 * ones below it are open by now. */
		int n = open("/dev/null", fd == 0 ? O_RDONLY : O_WRONLY);
		if (n != fd) {
			if (n >= 0)
				close(n);
			return -1;
		}
	}
	return 0;
}

/* Output that could not be written (a full disk, a closed descriptor) is a
 * failure like any other: one line if stderr still works, and status 6
 * instead of a silent 0. A reader that went away (EPIPE) already ended us
 * with SIGPIPE, or, under `run`, only cost the guest its output. */
static int output_status(int status)
{
	if (fflush(stdout) != 0 || ferror(stdout)) {
		fprintf(stderr, "ringvm: cannot write to stdout: %s\n",
			errno ? strerror(errno) : "write error");
		return RINGVM_EXIT_HOST;
	}
	if (ferror(stderr))
		return RINGVM_EXIT_HOST; /* nowhere left to say it */
	return status;
}

int main(int argc, char **argv)
{
	if (std_fds_open() < 0)
		return RINGVM_EXIT_HOST; /* no /dev/null: no way to say so either */
	if (argc < 2) {
		usage(stderr);
		return output_status(RINGVM_EXIT_USAGE);
	}
	for (size_t i = 0; i < sizeof commands / sizeof commands[0]; i++)
		if (!strcmp(argv[1], commands[i].name))
			return output_status(commands[i].fn(argc - 1, argv + 1));
	fprintf(stderr, "ringvm: unknown command '%s' (see ringvm --help)\n", argv[1]);
	return output_status(RINGVM_EXIT_USAGE);
}
