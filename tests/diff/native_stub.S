/*
 * Native side of the differential test (i386).  diff_run_native() loads the
 * eight GPRs and EFLAGS from in[0..8] (gpr[] in ModRM order, then EFLAGS) and
 * jumps to diff_entry; the case's code ends with a jump to diff_capture,
 * which stores the GPRs and EFLAGS into diff_cap[0..8] without touching the
 * guest stack, and returns to diff_run_native's caller.
 */
	.text
	.globl diff_run_native
	.type diff_run_native, @function
diff_run_native:
	pushl %ebp
	pushl %ebx
	pushl %esi
	pushl %edi
	movl %esp, diff_saved_esp
	movl 20(%esp), %eax
	pushl 32(%eax)
	popfl
	movl 4(%eax), %ecx
	movl 8(%eax), %edx
	movl 12(%eax), %ebx
	movl 20(%eax), %ebp
	movl 24(%eax), %esi
	movl 28(%eax), %edi
	movl 16(%eax), %esp
	movl 0(%eax), %eax
	jmp *diff_entry

	.globl diff_capture
	.type diff_capture, @function
diff_capture:
	movl %esp, diff_cap+16
	movl $diff_cap_stack_top, %esp
	pushfl
	popl diff_cap+32
	cld
	movl %eax, diff_cap+0
	movl %ecx, diff_cap+4
	movl %edx, diff_cap+8
	movl %ebx, diff_cap+12
	movl %ebp, diff_cap+20
	movl %esi, diff_cap+24
	movl %edi, diff_cap+28
	movl diff_saved_esp, %esp
	popl %edi
	popl %esi
	popl %ebx
	popl %ebp
	ret

	.bss
	.align 16
	.globl diff_cap
diff_cap:
	.space 64
diff_saved_esp:
	.space 4
	.align 16
diff_cap_stack:
	.space 256
diff_cap_stack_top:

	.data
	.globl diff_entry
diff_entry:
	.long 0x00200000

	.section .note.GNU-stack,"",@progbits
