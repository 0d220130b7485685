/* Loading guest images into guest RAM. Each loader checks its input and
 * says what is wrong in one line on stderr. */
#ifndef RINGVM_LOADER_H
#define RINGVM_LOADER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "vm/cpustate.h"
#include "vm/vm.h"

struct image {
	const uint8_t *data;
	size_t len;
	const char *name; /* for messages and the Multiboot command line */
	uint8_t *owned;	  /* freed by image_free when read from a file */
};

/* Reads a whole file; refuses a missing file, a directory, an empty file or
 * one larger than max_len. */
int image_read(struct image *img, const char *path, uint64_t max_len, const char *what);
void image_free(struct image *img);

/* Multiboot v1: loads the kernel (ELF32 or the a.out kludge), places the
 * optional module (ringvm's --initrd) page-aligned after it, builds the
 * Multiboot information structure and fills in the entry state. */
int multiboot_load(struct vm *vm, const struct image *kernel, const struct image *module,
		   const char *cmdline, struct cpu_state *entry);

/* Linux bzImage, 32-bit boot protocol (2.07+): told apart from Multiboot
 * by "HdrS" at 0x202. --initrd becomes the initrd, --append the command
 * line; the e820 map follows the VM's RAM size. */
bool linux_is_bzimage(const struct image *kernel);
int linux_load(struct vm *vm, const struct image *kernel, const struct image *initrd,
	       const char *cmdline, struct cpu_state *entry);

#endif
