/* Interrupt entry stubs. Each pushes a dummy error code where the CPU does
 * not push one, then its vector, so that every frame is a struct regs.
 * trap_dispatch returns the frame to resume, which is how the timer
 * interrupt switches processes: it returns another process's frame, on
 * that process's kernel stack. */

/* Exceptions that push an error code: #DF #TS #NP #SS #GP #PF #AC #CP #VC #SX */
#define HAS_ERR(v) ((v) == 8 || ((v) >= 10 && (v) <= 14) || (v) == 17 || (v) == 21 || (v) == 29 || (v) == 30)

	.text
	.macro stub v
	.align 8
isr_stub_\v:
	.if (HAS_ERR(\v)) == 0
	pushl $0
	.endif
	pushl $\v
	jmp isr_common
	.endm

	.altmacro
	.set v, 0
	.rept 96
	stub %v
	.set v, v + 1
	.endr

	.globl isr_stub_syscall
	.align 8
isr_stub_syscall:
	pushl $0
	pushl $0x80
	jmp isr_common

isr_common:
	pushal
	pushl %ds
	pushl %es
	pushl %fs
	pushl %gs
	movl $0x10, %eax        /* SEL_KDATA */
	movw %ax, %ds
	movw %ax, %es
	movw %ax, %fs
	movw %ax, %gs
	cld                     /* C code assumes DF=0; the frame keeps the caller's */
	pushl %esp
	call trap_dispatch
	movl %eax, %esp         /* maybe another process's frame */
	popl %gs
	popl %fs
	popl %es
	popl %ds
	popal
	addl $8, %esp           /* vector, error code */
#ifdef KIT_LOW
	/* The smoke build never leaves ring 0, so it returns with POPF and a
	 * far RET instead: the same effect as IRET for a same-privilege
	 * return. The instruction emulator of the Linux KVM behind a software
	 * /dev/kvm (PVM, see docs) runs smoke-mode guests and cannot emulate a
	 * protected-mode IRET ("emulation failure"). An interrupt that arrives
	 * between the POPF and the RET nests harmlessly on this stack.
	 * Paravirtual, EFLAGS.IF is the VMM's, and POPF cannot give it back
	 * where POPF does not trap (trap): the event call does, first. */
	cmpl $0, pv_active
	je 1f
	pushl %eax
	movl $5, %eax           /* RINGVM_HC_EVENT */
	outl %eax, $0xe4
	popl %eax
1:	pushl 8(%esp)           /* the frame's EFLAGS */
	popfl
	lret $4                 /* EIP, CS, then drop EFLAGS */
#else
	/* Paravirtual, a return to ring 3 is the VMM's iret hypercall: the
	 * frame is EAX then what IRET would pop (pv.c checks the numbers). */
	testl $3, 4(%esp)       /* the frame's CS: RPL 3? */
	jz 1f
	cmpl $0, pv_active
	je 1f
	pushl %eax
	movl $14, %eax          /* RINGVM_HC_IRET */
	outl %eax, $0xe4        /* RINGVM_PV_PORT; returns only if refused */
	popl %eax
1:	iret
#endif

	.section .rodata
	.globl isr_stub_table
	.align 4
isr_stub_table:
	.macro stubaddr v
	.long isr_stub_\v
	.endm
	.set v, 0
	.rept 96
	stubaddr %v
	.set v, v + 1
	.endr
