/*
 * Assembly half of native.c: entry into 32-bit compatibility mode, the exit
 * stub back to the VMM's 64-bit context, and the signal prologue that
 * restores the VMM's FS/GS bases before any C code runs.
 * struct native_regs: gpr[8] at 0, eip 32, eflags 36, sel[6] at 40.
 */
#define R_EIP 32
#define R_EFL 36
#define R_SEL 40

	.text

/* int native_enter_asm(const struct native_regs *r, volatile int *kick) */
	.globl native_enter_asm
	.type native_enter_asm, @function
native_enter_asm:
	push %rbp
	push %rbx
	push %r12
	push %r13
	push %r14
	push %r15
	pushfq			/* no NT in the VMM's flags: see native_sig_entry */
	andl $~0x4000, (%rsp)
	popfq
	mov %rsp, native_host_rsp(%rip)
	rdfsbase %rax
	mov %rax, native_vmm_fsbase(%rip)
	rdgsbase %rax
	mov %rax, native_vmm_gsbase(%rip)
	mov %rdi, %r15
	.globl native_window_start
native_window_start:
	/* A kick that lands from here up to the iretq is redirected to
	 * native_bail by the signal handler. */
	cmpl $0, (%rsi)
	jne native_bail
	movzwl R_SEL+4(%r15), %eax	/* SS */
	push %rax
	movl 16(%r15), %eax		/* ESP */
	push %rax
	movl R_EFL(%r15), %eax
	and $0x240cd5, %eax		/* arithmetic flags, DF, AC, ID */
	or $0x202, %eax
	push %rax
	movzwl R_SEL+2(%r15), %eax	/* CS */
	push %rax
	movl R_EIP(%r15), %eax
	push %rax
	movw R_SEL+0(%r15), %ax
	mov %ax, %es
	movw R_SEL+6(%r15), %ax
	mov %ax, %ds
	movw R_SEL+8(%r15), %ax
	mov %ax, %fs
	movw R_SEL+10(%r15), %ax
	mov %ax, %gs
	movl 0(%r15), %eax
	movl 4(%r15), %ecx
	movl 8(%r15), %edx
	movl 12(%r15), %ebx
	movl 20(%r15), %ebp
	movl 24(%r15), %esi
	movl 28(%r15), %edi
	.globl native_iret
native_iret:
	iretq
	.size native_enter_asm, .-native_enter_asm

	.globl native_bail
	.type native_bail, @function
native_bail:
	movl $2, native_exit_code(%rip)
	/* fall through */
	.globl native_exit_stub
native_exit_stub:
	mov native_host_rsp(%rip), %rsp
	xor %eax, %eax
	mov %eax, %fs
	mov %eax, %gs
	mov %eax, %ds
	mov %eax, %es
	mov native_vmm_fsbase(%rip), %rax
	wrfsbase %rax
	mov native_vmm_gsbase(%rip), %rax
	wrgsbase %rax
	movl native_exit_code(%rip), %eax
	pop %r15
	pop %r14
	pop %r13
	pop %r12
	pop %rbx
	pop %rbp
	ret
	.size native_bail, .-native_bail

/* The sa_sigaction of every native signal: (sig, info, uc) in rdi rsi rdx. */
	.globl native_sig_entry
	.type native_sig_entry, @function
native_sig_entry:
	/* Guest code may have set AC or NT (POPF). With CR0.AM the VMM's own
	 * unaligned accesses would raise #AC. NT is worse: rt_sigreturn
	 * takes NT from the flags the handler has when it returns, not from
	 * the ucontext, so a guest's NT would reach the VMM through the exit
	 * stub, and the next IRETQ into guest code (a task return in 64-bit
	 * mode) would raise #GP in the VMM. The kernel clears DF and TF on
	 * signal delivery, not AC or NT. */
	pushfq
	andl $~0x44000, (%rsp)
	popfq
	mov native_vmm_fsbase(%rip), %rax
	test %rax, %rax
	jz 2f			/* never entered yet: bases are still the VMM's */
	wrfsbase %rax
	mov native_vmm_gsbase(%rip), %rax
	wrgsbase %rax
2:	sub $8, %rsp
	call native_sig_c
	add $8, %rsp
	cmp $1, %eax
	jne 1f
	movw native_resume_sel+0(%rip), %ax
	mov %ax, %es
	movw native_resume_sel+6(%rip), %ax
	mov %ax, %ds
	movw native_resume_sel+8(%rip), %ax
	mov %ax, %fs
	movw native_resume_sel+10(%rip), %ax
	mov %ax, %gs
1:	ret
	.size native_sig_entry, .-native_sig_entry

	.bss
	.align 8
	.globl native_host_rsp, native_vmm_fsbase, native_vmm_gsbase
native_host_rsp: .quad 0
native_vmm_fsbase: .quad 0
native_vmm_gsbase: .quad 0

	.section .note.GNU-stack,"",@progbits
