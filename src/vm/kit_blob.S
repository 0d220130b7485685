/* The guest kit, embedded as ringvm's default guest (see guest/). */
	.section .rodata
	.balign 16
	.global guest_kit_elf, guest_kit_elf_end
guest_kit_elf:
	.incbin KIT_PATH
guest_kit_elf_end:
	.section .note.GNU-stack,"",@progbits
