/* The CPU-modes tests' code that C cannot express (tests_modes.c):
 *   rm_blob    a trip to real mode and back, copied to RM_BASE and run there
 *              with that page identity-mapped;
 *   v86_blob   the 8086 program run in virtual-8086 mode at V86_SEG:0;
 *   v86_enter / v86_resume   IRET into v8086 and the way back from the
 *              monitor (the #GP hook sends HLT here);
 *   task2_entry  the second task of the task-switch test;
 *   callgate_entry  the ring-0 side of the call-gate test. */
#include "layout.h"
#include "modes.h"

#define OFF(x) ((x) - rm_blob_start)
#define RES(n) (RM_RESULTS + 2 * (n))

	.section .rodata
	.globl rm_blob_start, rm_blob_end
	.code32
/* Called from C at RM_BASE: paging on (this page identity-mapped),
 * interrupts off, GDTR = the low copy at RM_GDT. Returns with everything
 * as it was except GDTR and IDTR (the caller restores them). */
rm_blob_start:
	pushal
	movl %esp, RM_BASE + OFF(rm_save_esp)
	movl %cr3, %eax
	movl %eax, RM_BASE + OFF(rm_save_cr3)
	movl %cr0, %eax
	movl %eax, RM_BASE + OFF(rm_save_cr0)
	andl $0x7fffffff, %eax
	movl %eax, %cr0                 /* paging off: linear = physical here */
	ljmp $SEL_CODE16, $(RM_BASE + OFF(rm_pm16))
	.code16
rm_pm16:                                /* 16-bit protected mode: 64 KiB segments */
	movw $SEL_DATA16, %ax
	movw %ax, %ds
	movw %ax, %es
	movw %ax, %fs
	movw %ax, %gs
	movw %ax, %ss
	movl %cr0, %eax
	andl $0xfffffffe, %eax
	movl %eax, %cr0                 /* PE off */
	ljmp $RM_SEG, $OFF(rm_real)
rm_real:                                /* real mode */
	xorw %ax, %ax
	movw %ax, %ds
	movw %ax, %es
	movw %ax, %fs
	movw %ax, %gs
	movw $RM_STACK_SEG, %ax
	movw %ax, %ss
	movw $0x0ff0, %sp
	lidtw %cs:OFF(rm_ivt_desc)      /* the IVT at RM_IVT, not at 0 */
	movw $OFF(rm_de), RM_IVT + 0 * 4
	movw %cs, RM_IVT + 0 * 4 + 2
	movw $OFF(rm_irq0), RM_IVT + 0x20 * 4
	movw %cs, RM_IVT + 0x20 * 4 + 2
	movw $OFF(rm_int30), RM_IVT + 0x30 * 4
	movw %cs, RM_IVT + 0x30 * 4 + 2

	/* INT n through the IVT, with IF set (the handler must see it clear) */
	movw $0x1234, %ax
	sti
	int $0x30
	cli
	movw %ax, RES(RMR_INT)

	/* an exception through the IVT: #DE, whose handler skips the DIV */
	xorb %cl, %cl
	movw $1, %ax
	divb %cl                        /* 2 bytes: f6 f1 */

	/* segment arithmetic: 0410:0000 and 0400:0100 are the same byte */
	movw $0x0410, %ax
	movw %ax, %es
	movw $0xbeef, %es:0
	movw $0x0400, %ax
	movw %ax, %es
	movw %es:0x100, %ax
	movw %ax, RES(RMR_WRAP)
	/* A20 on: FFFF:0010 is 1 MiB, not 0 */
	movw $0xffff, %ax
	movw %ax, %es
	movw %es:0x10, %ax
	movw %ax, RES(RMR_A20)
	xorw %ax, %ax
	movw %ax, %es

	/* a hardware interrupt: IRQ 0 through IVT vector 0x20 */
	movw $2000, %cx
	sti
1:	hlt
	cmpw $0, RES(RMR_IRQ)
	jne 2f
	loop 1b
2:	cli

	movw $0x600d, RES(RMR_DONE)
	/* back to protected mode, then paging */
	movl %cr0, %eax
	orl $1, %eax
	movl %eax, %cr0
	ljmpl $SEL_KCODE, $(RM_BASE + OFF(rm_pm32))
	.code32
rm_pm32:
	movw $SEL_KDATA, %ax
	movw %ax, %ds
	movw %ax, %es
	movw %ax, %fs
	movw %ax, %gs
	movw %ax, %ss
	movl RM_BASE + OFF(rm_save_cr3), %eax
	movl %eax, %cr3
	movl RM_BASE + OFF(rm_save_cr0), %eax
	movl %eax, %cr0
	movl RM_BASE + OFF(rm_save_esp), %esp
	popal
	ret

	.code16
rm_int30:
	addw $0x1111, %ax
	pushw %bp
	movw %sp, %bp
	pushfw
	popw %bx
	movw %bx, RES(RMR_FLAGS)        /* IF clear inside */
	movw 6(%bp), %bx
	movw %bx, RES(RMR_PUSHED)       /* IF set in the pushed FLAGS */
	movw 4(%bp), %bx
	movw %bx, RES(RMR_INT_CS)
	popw %bp
	iret

rm_de:
	pushw %bp
	movw %sp, %bp
	addw $2, 2(%bp)                 /* past the DIV */
	movw $1, RES(RMR_DE)
	popw %bp
	iret

rm_irq0:
	incw RES(RMR_IRQ)
	pushw %ax
	movb $0x20, %al
	outb %al, $0x20                 /* EOI */
	popw %ax
	iret

	.align 4
rm_save_esp: .long 0
rm_save_cr3: .long 0
rm_save_cr0: .long 0
rm_ivt_desc: .word 0x3ff
	.long RM_IVT
rm_blob_end:

/* The v8086 program, at V86_SEG:0 with DS = V86_DATA_SEG, IOPL 0, IF set,
 * and a TSS I/O bitmap that allows port 0x21 only. At the end it waits
 * (boundedly) for the monitor to report a timer interrupt taken in v8086
 * by writing DS:4. */
	.globl v86_blob_start, v86_blob_end
	.code16
v86_blob_start:
	inb $0x21, %al                  /* allowed: the PIC's mask register */
	movb %al, 0                     /* DS:0 */
	outb %al, $0x80                 /* denied: #GP, the monitor skips it */
	inw $0x20, %ax                  /* 0x20 denied, 0x21 allowed: denied */
	int $0x31                       /* IOPL < 3: #GP */
	movw $0x7777, 2                 /* DS:2: ran past all of them */
	movl $0x1000000, %ecx
1:	cmpw $0, 4
	jne 2f
	addr32 loop 1b
2:	hlt                             /* #GP: the monitor ends the run */
v86_blob_end:

	.text
	.code32
/* void v86_enter(const uint32_t frame[9]): EIP CS EFLAGS ESP SS ES DS FS GS.
 * Returns when the monitor sends the v8086 program to v86_resume. */
	.globl v86_enter, v86_resume
v86_enter:
	pushl %ebp
	pushl %ebx
	pushl %esi
	pushl %edi
	movl %esp, v86_saved_esp
	movl 20(%esp), %esi
	pushl 32(%esi)
	pushl 28(%esi)
	pushl 24(%esi)
	pushl 20(%esi)
	pushl 16(%esi)
	pushl 12(%esi)
	pushl 8(%esi)
	pushl 4(%esi)
	pushl 0(%esi)
	iret
v86_resume:
	movl v86_saved_esp, %esp
	popl %edi
	popl %esi
	popl %ebx
	popl %ebp
	ret

/* The second task: counts its runs, records EFLAGS (NT must be set) and
 * TR, then returns to the task that called it with IRET. The next switch
 * to it resumes after the IRET. */
	.globl task2_entry
task2_entry:
	incl task2_runs
	pushfl
	popl task2_eflags
	str task2_tr
	movl $0x7a5c0001, %eax          /* saved in its TSS by the switch back */
	iret
	jmp task2_entry

/* A far CALL's target for the cost comparison in modes.task_call. */
	.globl far_ret_stub
far_ret_stub:
	lret

/* Reached from ring 3 through the call gate (2 parameters): EIP, CS, the
 * parameters, ESP, SS on the ring-0 stack. Returns EAX = first pushed -
 * second pushed, ECX = the pushed CS << 16 | the pushed SS, EDX = the
 * pushed ESP, EBX = this ESP (the kernel stack from the TSS). Nothing
 * here reads a segment register: under trap that is the x86 hole. */
	.globl callgate_entry
callgate_entry:
	movl 12(%esp), %eax
	subl 8(%esp), %eax
	movl 4(%esp), %ecx
	shll $16, %ecx
	movw 20(%esp), %cx
	movl 16(%esp), %edx
	movl %esp, %ebx
	lret $8

	.bss
	.align 4
v86_saved_esp: .long 0
