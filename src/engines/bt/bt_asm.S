/*
 * The 64-bit side of a VMM call from translated code. An exit snippet in
 * the cache (64-bit code below 4 GiB, reached by a far jump to 0x33) has
 * stored its exit id in the vCPU page and jumps here with the guest's
 * registers still live in the low halves of the host's. Nothing here
 * touches the guest's stack: the registers go to bt_gregs, then the VMM's
 * stack is back and the shared exit stub restores the VMM's segments and
 * FS/GS bases and returns from native_enter() with BT_STOP_CALL.
 */
	.text
	.globl bt_exit64
	.type bt_exit64, @function
bt_exit64:
	movl %eax, bt_gregs+0(%rip)
	movl %ecx, bt_gregs+4(%rip)
	movl %edx, bt_gregs+8(%rip)
	movl %ebx, bt_gregs+12(%rip)
	movl %esp, bt_gregs+16(%rip)
	movl %ebp, bt_gregs+20(%rip)
	movl %esi, bt_gregs+24(%rip)
	movl %edi, bt_gregs+28(%rip)
	mov native_host_rsp(%rip), %rsp
	pushfq
	popq %rax
	movl %eax, bt_gflags(%rip)
	/* The guest's DF and AC must not reach C code (string functions,
	 * alignment checks). */
	pushq $0x202
	popfq
	mov $0x2b, %eax		/* the host's data selector: SS was the guest's */
	mov %eax, %ss
	movl $3, native_exit_code(%rip)	/* BT_STOP_CALL */
	jmp native_exit_stub
	.size bt_exit64, .-bt_exit64

	.bss
	.align 16
	.globl bt_gregs, bt_gflags
bt_gregs: .zero 32
bt_gflags: .long 0

	.section .note.GNU-stack,"",@progbits
