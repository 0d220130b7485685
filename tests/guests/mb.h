/* A Multiboot v1 header for the small test guests (ELF, flags 0). */
#define MB_HEADER                                \
	.section .multiboot, "a";                \
	.balign 4;                               \
	.long 0x1BADB002, 0, -0x1BADB002;        \
	.text
/* Ends the run with QEMU isa-debug-exit status (v << 1) | 1. */
#define DEBUG_EXIT(v) movl $v, %eax; outl %eax, $0xf4
