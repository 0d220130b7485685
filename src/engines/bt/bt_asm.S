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
	movd %xmm0, bt_xmm+0(%rip)	/* spills of a lookup miss */
	movd %xmm1, bt_xmm+4(%rip)
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
	/* The guest's DF, AC, NT (an inline POPF of the guest kernel sets
	 * those natively) must not reach C code (string functions,
	 * alignment checks, IRETQ): flags as the VMM's, 0x202 but for the
	 * arithmetic ones, which C does not assume. POPFQ is slow: only
	 * when needed. */
	andl $~0x8d5, %eax
	cmpl $0x202, %eax
	je 1f
	pushq $0x202
	popfq
1:
	/* The guest's selectors stay in DS ES FS GS SS: 64-bit code ignores
	 * their bases and limits, and loading a segment register costs ~250
	 * cycles here. Only the FS/GS bases matter (TLS): the VMM's again. */
	mov native_vmm_fsbase(%rip), %rax
	wrfsbase %rax
	mov $3, %eax		/* BT_STOP_CALL */
	pop %r15
	pop %r14
	pop %r13
	pop %r12
	pop %rbx
	pop %rbp
	ret
	.size bt_exit64, .-bt_exit64

/*
 * int bt_enter_asm(const struct bt_entry *e): into translated code. Saves
 * what the shared exit paths restore (the same frame and variables as
 * native_enter_asm, so a signal that ends the run through native's exit
 * stub returns from here), loads only the data selectors that differ from
 * the live ones (an unchanged FS/GS gets its guest base by wrfsbase: the
 * VMM's own base replaced it at the last exit), sets the guest's ESP and
 * loads the guest's flags (only movs follow) and far-jumps to the 32-bit
 * entry trampoline in the VMM window, which checks for a kick without
 * touching the flags, loads the guest's registers from the vCPU page and
 * jumps to the block. struct bt_entry: sel[6] at 0 (Sreg order), fs base
 * 12, gs base 16, esp 20, eflags 24, reload (byte) 28.
 */
	.globl bt_enter_asm
	.type bt_enter_asm, @function
/* Loads segment register \sreg from the selector at \off(%rdi) unless it
 * already holds it and its LDT slot was not rewritten (bit \off/2 of the
 * byte at 28(%rdi)); jumps to \loaded after a load, falls through
 * otherwise. */
.macro LOADSEG sreg, off, loaded
	movzwl \off(%rdi), %eax
	testb $(1 << (\off / 2)), 28(%rdi)
	jnz 3f
	mov %\sreg, %ecx
	cmp %ax, %cx
	je 4f
3:	mov %eax, %\sreg
	jmp \loaded
4:
.endm

bt_enter_asm:
	push %rbp
	push %rbx
	push %r12
	push %r13
	push %r14
	push %r15
	mov %rsp, native_host_rsp(%rip)
	mov native_vmm_fsbase(%rip), %rax	/* the VMM's TLS base: read once */
	test %rax, %rax
	jnz 1f
	rdfsbase %rax
	mov %rax, native_vmm_fsbase(%rip)
1:	LOADSEG es, 0, 1f
1:	LOADSEG ss, 4, 1f
1:	LOADSEG ds, 6, 1f
1:	LOADSEG fs, 8, 1f
	movl 12(%rdi), %eax	/* unchanged: the VMM's base replaced the guest's */
	wrfsbase %rax
	/* GS: the VMM never uses it, so nothing here or at the exit writes
	 * its base while the selector stays. The shared signal prologue
	 * writes native_vmm_gsbase into the GS base on every signal, kicks
	 * that land in the VMM included (it returns to the VMM without
	 * reloading GS). Invariant: native_vmm_gsbase is the base the live
	 * GS selector gives, so that write changes nothing; hence it is
	 * stored *before* the load. Stored after, a kick between the two
	 * left the VMM data segment's selector with the guest's old base
	 * (0): the bail-out path re-entered with the same selector, which
	 * is not reloaded, and the next GS store of the guest kernel's
	 * translated code faulted at address 0x28. */
1:	movzwl 10(%rdi), %eax
	testb $(1 << 5), 28(%rdi)
	jnz 3f
	mov %gs, %ecx
	cmp %ax, %cx
	je 1f
3:	movl 16(%rdi), %ecx
	mov %rcx, native_vmm_gsbase(%rip)
	mov %eax, %gs
1:	testl $0x40400, 24(%rdi)	/* DF or AC: popfq here, else sahf in the trampoline */
	jz 1f
	movl 24(%rdi), %eax
	push %rax
	popfq
1:	movl 20(%rdi), %esp
	ljmp *bt_tramp_far(%rip)
	.size bt_enter_asm, .-bt_enter_asm

	.bss
	.align 16
	.globl bt_gregs, bt_gflags
bt_gregs: .zero 32
bt_gflags: .long 0
	.globl bt_xmm
bt_xmm: .zero 8

	.data
	.align 8
	.globl bt_tramp_far
bt_tramp_far: .long 0	/* offset, selector: set by bt_create */
	.word 0

	.section .note.GNU-stack,"",@progbits
