/* A hostile guest, for the bt engine's sandbox and precision tests, run
 * under interp as the reference. From ring 0 and from ring 3 it tries what
 * would escape a VMM that lets guest code run natively: loading the host's
 * selectors (0x23 0x2b 0x33) and bt's own LDT selectors (0x77 0x7f) with
 * mov/pop/lds/lss, far jmp/call/ret and iret to them, int 0x80, sysenter,
 * syscall, jumps, loads and stores into the VMM window (0xffc00000 up),
 * and a far jump written over code that has already run (translated).
 * Each must end as a fault of the guest's own (the vector is checked). It
 * also checks precise faults (registers at a fault in mid-block), stores
 * into the running block, a page rewritten over and over, that a tight
 * self-loop still takes its timer interrupt, and that 20 timer interrupts
 * landing anywhere in a loop of indirect calls and returns lose no
 * register.
 * One "PASS bt.<name>" / "FAIL bt.<name>: ..." line per check on COM1.
 *
 * GDT: 0x08 kernel code, 0x10 kernel data, 0x1b user code, 0x20/0x28/0x30
 * data descriptors that are not present (so the host's 0x23 0x2b 0x33 are
 * the guest's own non-present segments here), 0x3b user data, 0x40 TSS.
 * Paging: the first 4 MiB identity-mapped, user-accessible; nothing else.
 */
#include "mb.h"
MB_HEADER

#define COM1 0x3f8

/* ARM, the instructions of an attempt, CHECK name, vector: the handler
 * resumes after the attempt (label 9), which checks the vector that hit
 * (-1: none). */
.macro ARM
	movl $-1, got_vec
	movl %esp, saved_esp
	movl $9f, recover
.endm
.macro CHECK name:req, vec:req
9:	movl saved_esp, %esp
	pushl $\vec
	pushl $.Ln\@
	call check
	addl $8, %esp
	.section .rodata
.Ln\@:	.asciz "\name"
	.text
.endm

	.text
	.globl _start
_start:
	movl $kstack_top, %esp
	lgdt gdt_ptr
	ljmp $0x08, $1f
1:	movw $0x10, %ax
	movw %ax, %ds
	movw %ax, %es
	movw %ax, %fs
	movw %ax, %gs
	movw %ax, %ss
	call idt_setup
	lidt idt_ptr
	/* TSS: ring-0 stack for faults from ring 3 */
	movl $tss, %eax
	movw %ax, gdt + 0x42
	shrl $16, %eax
	movb %al, gdt + 0x44
	movb %ah, gdt + 0x47
	movw $0x40, %ax
	ltr %ax
	/* 0x48: a thread block for ring 3's GS, as glibc sets it up */
	movl $tls_tcb, %eax
	movw %ax, gdt + 0x4a
	shrl $16, %eax
	movb %al, gdt + 0x4c
	movb %ah, gdt + 0x4f
	/* paging: 4 MiB identity, user-accessible */
	movl $pt0, %edi
	xorl %ecx, %ecx
2:	movl %ecx, %eax
	shll $12, %eax
	orl $7, %eax
	movl %eax, (%edi,%ecx,4)
	incl %ecx
	cmpl $1024, %ecx
	jne 2b
	movl $pt0, %eax
	orl $7, %eax
	movl %eax, pd0
	/* 0xc0000000: one supervisor page (physical 0x300000), for user
	 * code to reach through a segment it must not reach through */
	movl $0x300003, pt_hi
	movl $pt_hi, %eax
	orl $7, %eax
	movl %eax, pd0 + 768 * 4
	movl $pd0, %eax
	movl %eax, %cr3
	movl %cr0, %eax
	orl $0x80010000, %eax	/* PG, WP */
	movl %eax, %cr0

	/* A MOV to CR3 of the same value flushes the TLB: a PTE changed
	 * without INVLPG is seen after it (Linux flushes so after fork
	 * write-protects the parent). The first load puts the old mapping in
	 * the TLB (bt: in the shadow, natively). */
	movl $0x5a5a0001, 0x300000
	movl $0x5a5a0002, 0x301000
	movl 0x300000, %eax
	movl $0x301007, pt0 + 0x300 * 4
	movl %cr3, %eax
	movl %eax, %cr3
	movl 0x300000, %ebx
	cmpl $0x5a5a0002, %ebx
	jne 1f
	movl $-1, %ebx
1:	movl $0x300007, pt0 + 0x300 * 4
	movl %cr3, %eax
	movl %eax, %cr3
	pushl %ebx
	pushl $name_cr3_flush
	call check_value
	addl $8, %esp

	/* Two address spaces map linear 0x400000 to two code pages with the
	 * same shape (a loop whose back-edge stays in the page): each call
	 * must run its own, however often CR3 switches between them, and a
	 * PTE changed under the same CR3 must take effect at its flush
	 * (bt keeps chains within one page across CR3 writes). */
	movl $code_a, %eax
	orl $3, %eax
	movl %eax, pt_lo_a
	movl $code_b, %eax
	orl $3, %eax
	movl %eax, pt_lo_b
	movl $pt_lo_a, %eax
	orl $3, %eax
	movl %eax, pd0 + 4
	movl $pd0, %esi
	movl $pd_b, %edi
	movl $1024, %ecx
	rep movsl
	movl $pt_lo_b, %eax
	orl $3, %eax
	movl %eax, pd_b + 4
	movl $-1, %ebx
	movl $3, %edx
2:	movl $pd0, %eax
	movl %eax, %cr3
	call call_lo
	cmpl $10, %eax
	jne 8f
	movl $pd_b, %eax
	movl %eax, %cr3
	call call_lo
	cmpl $30, %eax
	jne 8f
	decl %edx
	jnz 2b
	movl $pd0, %eax
	movl %eax, %cr3
	movl $code_b, %eax	/* same CR3, another page under 0x400000 */
	orl $3, %eax
	movl %eax, pt_lo_a
	movl %cr3, %eax
	movl %eax, %cr3
	call call_lo
	cmpl $30, %eax
	jne 8f
	movl $code_a, %eax
	orl $3, %eax
	movl %eax, pt_lo_a
	movl %cr3, %eax
	movl %eax, %cr3
	call call_lo
	cmpl $10, %eax
	je 9f
8:	movl %eax, %ebx
9:	movl $pd0, %eax
	movl %eax, %cr3
	pushl %ebx
	pushl $name_cr3_same_lin
	call check_value
	addl $8, %esp

	/* Global pages (CR4.PGE, G in the PTE) survive a CR3 write in the
	 * TLB, so bt keeps chains into them; INVLPG, and turning PGE off,
	 * must still drop them. Whether a CR3 write alone shows the new
	 * mapping is the CPU's choice, so it is not asserted. */
	movl %cr4, %eax
	orl $0x80, %eax
	movl %eax, %cr4
	movl $-1, %ebx
	movl $code_a, %eax
	orl $0x103, %eax
	movl %eax, pt_lo_a
	invlpg 0x400000
	call call_lo
	cmpl $10, %eax
	jne 8f
	movl $code_b, %eax	/* global too; the same CR3 written, then INVLPG */
	orl $0x103, %eax
	movl %eax, pt_lo_a
	movl %cr3, %eax
	movl %eax, %cr3
	invlpg 0x400000
	call call_lo
	cmpl $30, %eax
	jne 8f
	movl $code_a, %eax	/* back, then PGE off: every global entry goes */
	orl $0x103, %eax
	movl %eax, pt_lo_a
	movl %cr4, %eax
	andl $~0x80, %eax
	movl %eax, %cr4
	call call_lo
	cmpl $10, %eax
	je 9f
8:	movl %eax, %ebx
9:	movl %cr4, %eax
	andl $~0x80, %eax
	movl %eax, %cr4
	movl $code_a, %eax
	orl $3, %eax
	movl %eax, pt_lo_a
	movl %cr3, %eax
	movl %eax, %cr3
	pushl %ebx
	pushl $name_global_invlpg
	call check_value
	addl $8, %esp

	/* --- ring 0 --- */
	ARM
	movw $0x2b, %ax
	movw %ax, %ds
	CHECK k.mov_ds_0x2b, 11
	ARM
	movw $0x33, %ax
	movw %ax, %ds
	CHECK k.mov_ds_0x33, 11
	ARM
	movw $0x23, %ax
	movw %ax, %gs
	CHECK k.mov_gs_0x23, 11
	ARM
	movw $0x2b, %ax
	movw %ax, %ss
	CHECK k.mov_ss_0x2b, 13
	ARM
	pushl $0x23
	popl %es
	CHECK k.pop_es_0x23, 11
	ARM
	pushl $0x33
	popl %ds
	CHECK k.pop_ds_0x33, 11
	ARM
	lds far33, %eax
	CHECK k.lds_0x33, 11
	ARM
	les far2b, %eax
	CHECK k.les_0x2b, 11
	ARM
	lss far2b, %eax
	CHECK k.lss_0x2b, 13
	ARM
	ljmp $0x33, $0
	CHECK k.ljmp_0x33, 13
	ARM
	lcall $0x23, $0
	CHECK k.lcall_0x23, 13
	ARM
	pushl $0x33
	pushl $0
	lret
	CHECK k.lret_0x33, 13
	ARM
	pushfl
	pushl $0x33
	pushl $0
	iret
	CHECK k.iret_0x33, 13
	ARM
	movw $0x77, %ax
	movw %ax, %ds
	CHECK k.mov_ds_bt_data, 13
	ARM
	movw $0x7f, %ax
	movw %ax, %fs
	CHECK k.mov_fs_bt_code, 13
	ARM
	ljmp $0x7f, $0
	CHECK k.ljmp_bt_code, 13
	ARM
	int $0x80
	CHECK k.int80, 0x80
	ARM
	sysenter
	CHECK k.sysenter, 13
	ARM
	syscall
	CHECK k.syscall, 6
	ARM
	movl $0xffc00800, %eax
	jmp *%eax
	CHECK k.jmp_window, 14
	ARM
	movl $0xffd00000, %eax
	call *%eax
	CHECK k.call_window, 14
	ARM
	movl $0x12345678, 0xffc00010
	CHECK k.store_window, 14
	ARM
	movl 0xffc00000, %eax
	CHECK k.load_window, 14
	ARM
	movl $0xffc00000, %edi
	movl $16, %ecx
	rep stosl
	CHECK k.string_window, 14

	/* A data segment whose base is not page-aligned: its limit, clipped
	 * below the VMM window and kept in pages natively, must not round
	 * up into the window (bt's vCPU page, where the 64-bit exit pointer
	 * is at 0xffc00008). */
	movw $0x58, %ax
	movw %ax, %fs
	ARM
	movl $0x12345678, %fs:0xffbff808
	CHECK k.store_window_fs_base, 14
	ARM
	movl %fs:0xffbff808, %eax
	CHECK k.load_window_fs_base, 14
	movw $0x10, %ax
	movw %ax, %fs

	/* A page the core wrote before it held translations (its TLB entry
	 * writable), then translated, then written by the core again: that
	 * write must reach the translation (the core's write permission is
	 * dropped when a page becomes code). bt emulates a GS-override store
	 * of the guest kernel in the core. */
	movw $0x10, %ax
	movw %ax, %gs
	movl $7, %gs:core_written_data
	call core_written
	movl %eax, %ebx
	movb $2, %gs:core_written + 1
	call core_written
	cmpl $1, %ebx
	jne 1f
	cmpl $2, %eax
	jne 1f
	movl $-1, %eax
1:	pushl %eax
	pushl $name_core_write
	call check_value
	addl $8, %esp

	/* A run of segment loads that bt emulates in one VMM call, whose
	 * second load faults (0x2b: not present, #NP): the fault is taken
	 * there, and the loads after it never happen. */
	xorl %eax, %eax
	movw %ax, %fs
	movw %ax, %gs
	movw $0x10, %ax
	movw $0x2b, %bx
	ARM
	movw %ax, %es
	movw %bx, %ds
	movw %ax, %fs
	movw %ax, %gs
	CHECK k.batch_fault_mid, 11
	movw $0x10, %ax
	movw %ax, %ds
	movw %fs, %bx
	movw %gs, %cx
	orw %cx, %bx
	movzwl %bx, %ebx
	testl %ebx, %ebx
	jnz 1f
	movl $-1, %ebx
1:	pushl %ebx
	pushl $name_batch_after
	call check_value
	addl $8, %esp

	/* Control register reads of the guest kernel (bt: inline, from the
	 * vCPU page): the value just written by the VMM, in a later block. */
	movl $0x12345000, %eax
	movl %eax, %cr2
	nop
	movl %cr2, %ebx
	cmpl $0x12345000, %ebx
	jne 1f
	movl %cr3, %ebx
	cmpl $pd0, %ebx
	jne 1f
	movl %cr0, %ebx
	andl $0x80010001, %ebx
	cmpl $0x80010001, %ebx
	jne 1f
	movl $-1, %ebx
1:	pushl %ebx
	pushl $name_cr_read
	call check_value
	addl $8, %esp
	ARM
	.byte 0x0f, 0x20, 0xc8	/* mov %cr1, %eax */
	CHECK k.mov_from_cr1, 6

	/* A descriptor changed after its segment was loaded (bt has an LDT
	 * slot for it by then): the loaded segment keeps the old base until
	 * it is loaded again, then it has the new one. */
	movw $0x68, %ax
	movw %ax, %fs
	movl %fs:0x300000, %ebx
	cmpl $0x5a5a0001, %ebx
	jne 1f
	movb $0x10, gdt + 0x68 + 3	/* base 0x1000 */
	movl %fs:0x300000, %ebx
	cmpl $0x5a5a0001, %ebx
	jne 1f
	movw %ax, %fs
	movl %fs:0x300000, %ebx
	cmpl $0x5a5a0002, %ebx
	jne 1f
	/* More distinct segments than bt has LDT slots for (8176): each
	 * base i*4, loaded into FS and read through it while DS, ES and SS
	 * keep working. A slot reused under a live segment register would
	 * read through a stale base. */
	xorl %esi, %esi
2:	leal (,%esi,4), %ecx
	movw %cx, gdt + 0x68 + 2
	movb $0, gdt + 0x68 + 4
	movw $0x68, %ax
	movw %ax, %fs
	movl $0x300000, %edx
	subl %ecx, %edx
	movl %fs:(%edx), %ebx
	cmpl $0x5a5a0001, %ebx
	jne 1f
	cmpl $0x5a5a0001, 0x300000
	jne 1f
	incl %esi
	cmpl $9000, %esi
	jne 2b
	movl $-1, %ebx
1:	movw $0x10, %ax
	movw %ax, %fs
	pushl %ebx
	pushl $name_desc_changed
	call check_value
	addl $8, %esp

	/* Inline segment loads (bt: a guest kernel's mov sreg, r16 and pop
	 * sreg compare the selector and the guest's descriptor bytes with
	 * what the VMM saw at the last load there, and load its host
	 * selector only if all match). Each site below is warmed first
	 * (loaded three times: the first fills it, the next run inline),
	 * then its descriptor or table is made bad: the load must end in
	 * the guest's own fault, and a changed descriptor must be seen. */
	movl $0x70, %eax
	call segsite_warm
	cmpl $0x5a5a0002, %ebx		/* base 0x1000 */
	jne 1f
	movb $0x00, gdt + 0x70 + 3	/* base 0 */
	call site_ds
	cmpl $0x5a5a0001, %ebx
	jne 1f
	movb $0x10, gdt + 0x70 + 3	/* base 0x1000 again */
	call site_ds
	cmpl $0x5a5a0002, %ebx
	jne 1f
	movl $-1, %ebx
1:	pushl %ebx
	pushl $name_segsite_base
	call check_value
	addl $8, %esp

	movl $0x70, %eax
	call segsite_warm
	andb $0x7f, gdt + 0x70 + 5	/* not present */
	ARM
	call site_ds
	CHECK k.segsite_not_present, 11
	orb $0x80, gdt + 0x70 + 5
	movl got_err, %ebx
	cmpl $0x70, %ebx
	jne 1f
	movl $-1, %ebx
1:	pushl %ebx
	pushl $name_segsite_err
	call check_value
	addl $8, %esp

	movl $0x70, %eax
	call segsite_warm
	movb $0x98, gdt + 0x70 + 5	/* execute-only code: no data load */
	ARM
	call site_ds
	CHECK k.segsite_wrong_type, 13
	movb $0x92, gdt + 0x70 + 5

	movb $0xf2, gdt + 0x70 + 5	/* DPL 3: RPL 3 may load it */
	movl $0x73, %eax
	call segsite_warm
	movb $0x92, gdt + 0x70 + 5	/* DPL 0 < RPL 3 */
	ARM
	call site_ds
	CHECK k.segsite_dpl_below_rpl, 13

	/* the pop form */
	movl $0x70, %eax
	call site_pop_es
	call site_pop_es
	call site_pop_es
	andb $0x7f, gdt + 0x70 + 5
	ARM
	call site_pop_es
	CHECK k.segsite_pop_not_present, 11
	orb $0x80, gdt + 0x70 + 5

	/* A selector beyond a new, shorter GDT limit. */
	movl $0x70, %eax
	call segsite_warm
	lgdt gdt_short_ptr
	ARM
	call site_ds
	CHECK k.segsite_beyond_gdt_limit, 13
	lgdt gdt_ptr

	/* Another GDT (a copy whose 0x70 has base 0): the descriptor at
	 * the new table's address is the one loaded. */
	movl $gdt, %esi
	movl $gdt2, %edi
	movl $(gdt_end - gdt), %ecx
	rep movsb
	movb $0x00, gdt2 + 0x70 + 3
	movl $0x70, %eax
	call segsite_warm
	lgdt gdt2_ptr
	call site_ds
	lgdt gdt_ptr
	cmpl $0x5a5a0001, %ebx
	jne 1f
	call site_ds
	cmpl $0x5a5a0002, %ebx
	jne 1f
	movl $-1, %ebx
1:	pushl %ebx
	pushl $name_segsite_gdt_moved
	call check_value
	addl $8, %esp

	/* A warm site given the host's and bt's own selector values: the
	 * guest's own (absent) descriptors answer. */
	movl $0x70, %eax
	call segsite_warm
	movl $0x77, %eax
	ARM
	call site_ds
	CHECK k.segsite_bt_data_sel, 13
	movl $0x2b, %eax
	ARM
	call site_ds
	CHECK k.segsite_host_0x2b, 11

	/* GS is virtual in the guest kernel under bt (the host's holds the
	 * VMM's page): an inline load must still be what a GS override
	 * reads through and what mov r, gs gives; FS loaded inline must
	 * survive a VMM call (cpuid) in between. */
	movl $0x70, %eax
	call site_gs_fs
	call site_gs_fs
	call site_gs_fs
	cmpl $0x5a5a0002, %ebx
	jne 1f
	cmpl $0x5a5a0002, %esi
	jne 1f
	cmpl $0x70, %edx
	jne 1f
	movl $-1, %ebx
1:	pushl %ebx
	pushl $name_segsite_gs_fs
	call check_value
	addl $8, %esp

	/* 20 timer interrupts landing anywhere in a loop of inline segment
	 * loads: segments and registers intact. */
	movl $20, ticks_left
	call pit_start
	movl $0x70, %eax
	movl $0x5555aaaa, %ecx
	ARM
	sti
7:	movw %ax, %fs
	pushl %eax
	popl %fs
	movl %fs:0x300000, %ebx
	cmpl $0x5a5a0002, %ebx
	jne 8f
	cmpl $0x5555aaaa, %ecx
	jne 8f
	movw %fs, %dx
	cmpw $0x70, %dx
	jne 8f
	jmp 7b
8:	movl $0x99, got_vec
	CHECK k.irq_in_segload_loop, 0x20
	cli
	movl $0, ticks_left
	movw $0x10, %ax
	movw %ax, %fs
	movw %ax, %gs

	/* INT n and IRET (bt: straight into the core's delivery and return,
	 * falling back to the ordinary emulation on any fault): gates and
	 * frames a hostile kernel builds. Gates 0x81-0x84 copy 0x80's and
	 * spoil one thing each. */
	movl idt + 0x80 * 8, %eax
	movl idt + 0x80 * 8 + 4, %edx
	movl %eax, idt + 0x81 * 8
	movl %edx, idt + 0x81 * 8 + 4
	andl $~0x8000, idt + 0x81 * 8 + 4	/* not present */
	movl %eax, idt + 0x82 * 8
	movl %edx, idt + 0x82 * 8 + 4
	andl $~0x6000, idt + 0x82 * 8 + 4	/* DPL 0: ring 3 may not */
	movl %eax, idt + 0x83 * 8
	movl %edx, idt + 0x83 * 8 + 4
	movw $0x33, idt + 0x83 * 8 + 2		/* target CS: the host's 0x33 */
	movl %eax, idt + 0x84 * 8
	movl %edx, idt + 0x84 * 8 + 4
	movw $0x7f, idt + 0x84 * 8 + 2		/* target CS: bt's code slot */
	ARM
	int $0x81
	CHECK k.int_gate_not_present, 11
	movl got_err, %ebx
	cmpl $(0x81 * 8 + 2), %ebx
	jne 1f
	movl $-1, %ebx
1:	pushl %ebx
	pushl $name_int_gate_err
	call check_value
	addl $8, %esp
	ARM
	int $0x83
	CHECK k.int_gate_cs_0x33, 13
	ARM
	int $0x84
	CHECK k.int_gate_cs_bt_code, 13
	ARM
	int $0x82
	CHECK k.int_gate_dpl0_from_ring0, 0x80	/* ring 0 may */
	/* IRET in ring 0 to the host's and bt's selectors, and to a
	 * not-present code segment. */
	ARM
	pushfl
	pushl $0x77
	pushl $9f
	iret
	CHECK k.iret_frame_0x77, 13
	ARM
	pushfl
	pushl $0x33
	pushl $9f
	iret
	CHECK k.iret_frame_0x33, 13
	andb $0x7f, gdt + 0x08 + 8 * 2 + 5	/* 0x18, user code: not present */
	ARM
	pushl $0x3b
	pushl $ustack_top
	pushfl
	pushl $0x1b
	pushl $9f
	iret
	CHECK k.iret_cs_not_present, 11
	orb $0x80, gdt + 0x08 + 8 * 2 + 5
	/* A same-ring IRET that works, many times (bt: the fast return):
	 * EFLAGS and registers as pushed. */
	movl $1000, %esi
2:	movl $0x8d5, %ebx		/* OF DF SF ZF AF PF CF */
	pushl %ebx
	pushl $0x08
	pushl $3f
	iret
3:	pushfl
	popl %eax
	andl $0x8d5, %eax
	cld
	cmpl %ebx, %eax
	jne 4f
	decl %esi
	jnz 2b
	movl $-1, %eax
4:	pushl %eax
	pushl $name_iret_flags
	call check_value
	addl $8, %esp
	/* The same-ring IRET's kept answer (bt) is for CS 0x78 after these
	 * three; then 0x78 is made not present: the guest's #NP. */
	movl $3, %esi
2:	pushfl
	pushl $0x78
	pushl $3f
	iret
3:	ljmp $0x08, $4f
4:	decl %esi
	jnz 2b
	andb $0x7f, gdt + 0x78 + 5
	ARM
	pushfl
	pushl $0x78
	pushl $9f
	iret
	CHECK k.iret_cached_cs_not_present, 11
	orb $0x80, gdt + 0x78 + 5
	/* gate 0x85: 0x80's, with the handler on CS 0x78 (for ring 3) */
	movl idt + 0x80 * 8, %eax
	movl idt + 0x80 * 8 + 4, %edx
	movl %eax, idt + 0x85 * 8
	movl %edx, idt + 0x85 * 8 + 4
	movw $0x78, idt + 0x85 * 8 + 2

	/* A divide site that keeps dividing by zero (bt: adapted into a VMM
	 * call, then its #DE delivered with the core's kept answer): the
	 * handler sees the div's EIP each time; a divisor that is not 0
	 * still divides; a spoiled gate 0 gives the guest's #NP. */
	call div_warm
	pushl %eax
	pushl $name_div_warm
	call check_value
	addl $8, %esp
	movl $-1, %eax
	cmpl $div_at, got_eip
	je 1f
	movl got_eip, %eax
1:	pushl %eax
	pushl $name_div_eip
	call check_value
	addl $8, %esp
	movl $0, div_q
	ARM
	movl $7, %ebx
	call div_site
	movl %eax, div_q
	movl %edx, div_r
	CHECK k.div_cached_site_no_fault, -1
	movl div_q, %eax
	cmpl $14, %eax
	jne 1f
	cmpl $2, div_r
	jne 1f
	movl $-1, %eax
1:	pushl %eax
	pushl $name_div_nonzero
	call check_value
	addl $8, %esp
	call div_warm
	andb $0x7f, idt + 5
	ARM
	xorl %ebx, %ebx
	call div_site
	CHECK k.div_cached_gate_not_present, 8	/* #NP while delivering #DE: a double fault */
	orb $0x80, idt + 5

	/* A far jump written over code that already ran (translated). */
	movl $1, %eax
	call victim
	movl $victim, %edi
	movl $escape_bytes, %esi
	movl $7, %ecx
	rep movsb
	ARM
	call victim
	CHECK k.smc_far_jump, 13

	/* A store into the running block: the next instruction is new. */
	call selfmod
	movl %eax, %ebx
	movb $1, selfmod_imm + 1
	call selfmod
	pushl %ebx
	pushl %eax
	call check_selfmod
	addl $8, %esp

	/* The same past a conditional branch that falls through: bt's block
	 * goes on past it (a superblock), and the store still lands before
	 * the instruction it patches runs. */
	call selfmod_sb
	movl %eax, %ebx
	movb $1, selfmod_sb_imm + 1
	call selfmod_sb
	cmpl $2, %eax
	jne 1f
	cmpl $2, %ebx
	jne 2f
	movl $-1, %eax
	jmp 1f
2:	movl %ebx, %eax
1:	pushl %eax
	pushl $name_selfmod_sb
	call check_value
	addl $8, %esp

	/* A page written again and again: every version runs correctly. */
	xorl %ebx, %ebx
3:	movb %bl, rewrite + 1
	call rewrite
	cmpl %ebx, %eax
	jne 4f
	incl %ebx
	cmpl $40, %ebx
	jne 3b
	pushl $-1
	jmp 5f
4:	pushl %ebx
5:	pushl $name_rewrite
	call check_value
	addl $8, %esp

	/* Precise fault: registers at a fault in the middle of a block. */
	movl $0x11111111, %ebx
	movl $0x22222222, %esi
	movl $0x33333333, %edi
	ARM
	addl $1, %ebx
	incl %esi
precise_at:	movl 0x800000, %ecx
	incl %edi
	CHECK k.precise_fault, 14
	call check_precise

	/* A tight self-loop still takes its timer interrupt. */
	call pit_start
	ARM
	sti
6:	jmp 6b
	CHECK k.tight_loop_irq, 0x20
	cli

	/* Timer interrupts landing anywhere in a loop of indirect calls and
	 * returns (bt's spill and lookup sequences): after 20 of them the
	 * registers the loop keeps must be intact. */
	movl $20, ticks_left
	call pit_start
	movl $inc_eax, %esi
	movl $0x5555aaaa, %ecx
	movl $0x66669999, %edx
	xorl %eax, %eax
	ARM
	sti
7:	call *%esi
	cmpl $0x5555aaaa, %ecx
	jne 8f
	cmpl $0x66669999, %edx
	jne 8f
	jmp 7b
8:	movl $0x99, got_vec	/* a register was lost */
	CHECK k.irq_in_indirect_loop, 0x20
	cli
	movl $0, ticks_left

	movl 0xc0000000, %eax	/* the supervisor page, in the TLB (bt: mapped natively) */

	/* --- ring 3 (IOPL 3, so that it can print) --- */
	movw $0x3b, %ax
	movw %ax, %ds
	movw %ax, %es
	pushl $0x3b
	pushl $ustack_top
	pushl $0x3002
	pushl $0x1b
	pushl $user
	iret

user:
	ARM
	movw $0x2b, %ax
	movw %ax, %ds
	CHECK u.mov_ds_0x2b, 11
	ARM
	movw $0x33, %ax
	movw %ax, %ds
	CHECK u.mov_ds_0x33, 11
	ARM
	pushl $0x23
	popl %fs
	CHECK u.pop_fs_0x23, 11
	ARM
	lds far33, %eax
	CHECK u.lds_0x33, 11
	ARM
	lss far2b, %eax
	CHECK u.lss_0x2b, 12
	ARM
	ljmp $0x33, $0
	CHECK u.ljmp_0x33, 13
	ARM
	lcall $0x23, $0
	CHECK u.lcall_0x23, 13
	ARM
	pushl $0x33
	pushl $0
	lret
	CHECK u.lret_0x33, 13
	ARM
	pushfl
	pushl $0x33
	pushl $0
	iret
	CHECK u.iret_0x33, 13
	ARM
	movw $0x77, %ax
	movw %ax, %gs
	CHECK u.mov_gs_bt_data, 13
	ARM
	ljmp $0x7f, $0
	CHECK u.ljmp_bt_code, 13
	ARM
	ljmp $0x08, $user
	CHECK u.ljmp_kernel_cs, 13
	ARM
	int $0x80
	CHECK u.int80, 0x80
	ARM
	int $0x82
	CHECK u.int_gate_dpl0, 13
	ARM
	int $0x81
	CHECK u.int_gate_not_present, 11
	/* INT 0x85 again and again (bt keeps the core's answer with the
	 * bytes it depended on), then its gate and its handler's CS spoiled
	 * from ring 3 (the tables are user-writable in this guest). */
	call int85_warm
	andb $0x7f, idt + 0x85 * 8 + 5
	ARM
	int $0x85
	CHECK u.int_cached_gate_not_present, 11
	orb $0x80, idt + 0x85 * 8 + 5
	call int85_warm
	andb $0x7f, gdt + 0x78 + 5
	ARM
	int $0x85
	CHECK u.int_cached_cs_not_present, 11
	orb $0x80, gdt + 0x78 + 5
	call int85_warm
	pushl %eax
	pushl $name_int85_warm
	call check_value
	addl $8, %esp
	/* A user read that keeps faulting (bt: adapted into a VMM call, its
	 * #PF then delivered by bt, from the core's kept answer): vector,
	 * CR2 and EIP each time; then gate 14 pointed at vector 13's stub
	 * (an error code too): that handler runs. */
	call upf_warm
	pushl %eax
	pushl $name_upf_warm
	call check_value
	addl $8, %esp
	movl $stub13, %eax
	movw %ax, idt + 14 * 8
	shrl $16, %eax
	movw %ax, idt + 14 * 8 + 6
	ARM
	call upf_site
	CHECK u.pf_cached_gate_changed, 13
	movl $stub14, %eax
	movw %ax, idt + 14 * 8
	shrl $16, %eax
	movw %ax, idt + 14 * 8 + 6
	call upf_warm
	pushl %eax
	pushl $name_upf_again
	call check_value
	addl $8, %esp
	/* The return to ring 3 on user stack segment 0x83 (bt keeps the
	 * core's answer after these three), then 0x83 made not present: the
	 * handler's IRET raises #SS in ring 0, whose handler resumes here in
	 * ring 0; back to ring 3 by hand. */
	movw $0x83, %ax
	movw %ax, %ss
	movl $0x80, %eax
	call int_warm
	andb $0x7f, gdt + 0x80 + 5
	ARM
	int $0x80
	CHECK u.iret_cached_ss_not_present, 12
	orb $0x80, gdt + 0x80 + 5
	movl got_err, %ebx
	cmpl $0x80, %ebx
	jne 2f
	movl $-1, %ebx
2:	movl %esp, %eax
	pushl $0x3b
	pushl %eax
	pushfl
	pushl $0x1b
	pushl $1f
	iret
1:	pushl %ebx
	pushl $name_iret_ss_err
	call check_value
	addl $8, %esp
	ARM
	sysenter
	CHECK u.sysenter, 13
	ARM
	syscall
	CHECK u.syscall, 6
	ARM
	movl $0xffc00800, %eax
	jmp *%eax
	CHECK u.jmp_window, 14
	ARM
	movl $0x12345678, 0xffc00010
	CHECK u.store_window, 14
	ARM
	movl %cr2, %eax
	CHECK u.mov_from_cr2, 13
	ARM
	movl %cr3, %eax
	CHECK u.mov_from_cr3, 13
	/* A user segment whose base is not page-aligned: its limit, clipped
	 * below the kernel's half and kept in pages natively, must not round
	 * up into the supervisor page at 0xc0000000. */
	movw $0x63, %ax
	movw %ax, %fs
	ARM
	movl %fs:0xbffff808, %eax
	CHECK u.load_kernel_half_fs_base, 14
	movw $0x3b, %ax
	movw %ax, %fs
	/* glibc's TLS: GS based at the thread block, variables at negative
	 * offsets that wrap around 4 GiB. Natively that is beyond bt's
	 * truncated limit: every access faults or is a VMM call, and must
	 * read the right word each of 20,000 times (bt rebases GS for it). */
	movw $0x4b, %ax
	movw %ax, %gs
	call tls_sum
	pushl $20000 * 3
	pushl $name_tls
	call check_sum
	addl $8, %esp
	/* The same with GS based at 0x1000: %gs:-4 is linear 0xffc. Too low
	 * to rebase (bt_priv.h), so natively every access faults though the
	 * guest sees none (t_bt.sh: adaptive translation must settle). */
	movw $0x53, %ax
	movw %ax, %gs
	movl $5, %gs:-4
	call tls_sum
	pushl $20000 * 5
	pushl $name_tls_low
	call check_sum
	addl $8, %esp
	DEBUG_EXIT(0)
	hlt

/* --- checks and output (callable from both rings) --- */

/* check(name, want): PASS if the vector that hit is want. */
check:
	movl 8(%esp), %eax
	cmpl got_vec, %eax
	jne 1f
	pushl 4(%esp)
	call pass
	addl $4, %esp
	ret
1:	pushl 4(%esp)
	call fail_head
	addl $4, %esp
	movl $str_vec, %esi
	call puts
	movl got_vec, %eax
	call puthex
	movl $str_want, %esi
	call puts
	movl 8(%esp), %eax
	call puthex
	movl $str_nl, %esi
	call puts
	ret

/* tls_sum: the TLS word at %gs:-4, added up 20,000 times (in %eax). */
tls_sum:
	xorl %eax, %eax
	movl $20000, %ecx
1:	movl %gs:-4, %edx
	addl %edx, %eax
	decl %ecx
	jnz 1b
	ret

/* check_sum(name, want): check_value on %eax, PASS if it is want. */
check_sum:
	cmpl 8(%esp), %eax
	jne 1f
	movl $-1, %eax
1:	pushl %eax
	pushl 8(%esp)
	call check_value
	addl $8, %esp
	ret

/* check_value(name, bad): PASS if bad is -1, else FAIL naming it. */
check_value:
	cmpl $-1, 8(%esp)
	jne 1f
	pushl 4(%esp)
	call pass
	addl $4, %esp
	ret
1:	pushl 4(%esp)
	call fail_head
	addl $4, %esp
	movl $str_at, %esi
	call puts
	movl 8(%esp), %eax
	call puthex
	movl $str_nl, %esi
	call puts
	ret

/* check_selfmod(second, first): selfmod returns 2 both times (the store
 * lands before the instruction it patches runs) */
check_selfmod:
	movl $-1, %eax
	cmpl $2, 4(%esp)
	jne 1f
	cmpl $2, 8(%esp)
	je 2f
1:	movl 4(%esp), %eax
2:	pushl %eax
	pushl $name_selfmod
	call check_value
	addl $8, %esp
	ret

check_precise:
	movl $-1, %eax
	cmpl $0x11111112, got_ebx
	jne 1f
	cmpl $0x22222223, got_esi
	jne 1f
	cmpl $0x33333333, got_edi
	jne 1f
	cmpl $precise_at, got_eip
	jne 1f
	cmpl $0x800000, got_cr2
	je 2f
1:	movl got_ebx, %eax
2:	pushl %eax
	pushl $name_precise
	call check_value
	addl $8, %esp
	ret

pass:
	movl $str_pass, %esi
	call puts
	movl 4(%esp), %esi
	call puts
	movl $str_nl, %esi
	call puts
	ret

fail_head:
	movl $str_fail, %esi
	call puts
	movl 4(%esp), %esi
	call puts
	movl $str_colon, %esi
	call puts
	ret

puts:
	movw $COM1, %dx
1:	lodsb
	testb %al, %al
	jz 2f
	outb %al, %dx
	jmp 1b
2:	ret

puthex:
	movl %eax, %ebx
	movl $8, %ecx
	movw $COM1, %dx
1:	roll $4, %ebx
	movl %ebx, %eax
	andl $15, %eax
	movb hexdig(%eax), %al
	outb %al, %dx
	loop 1b
	ret

/* --- code that the tests rewrite --- */

inc_eax:
	incl %eax
	ret

victim:
	movl $1, %eax
	ret
	.fill 8, 1, 0x90

/* Returns 2, not the 1 it was translated with: the store patches the
 * immediate of the very next instruction, in the block that is running. */
selfmod:
	movb $2, selfmod_imm + 1
selfmod_imm:
	movl $1, %eax
	ret

selfmod_sb:
	xorl %ecx, %ecx
	jnz 1f			/* never taken: the block goes on */
	movb $2, selfmod_sb_imm + 1
selfmod_sb_imm:
	movl $1, %eax
1:	ret

/* Returns its own immediate byte, which the caller rewrites each time
 * (alone on its page, which ends up interpreted, not translated). */
	.data
	.balign 4096
rewrite:
	movl $0, %eax
	ret
	.balign 4096
/* Returns its immediate; written by the core (a GS-override store, which
 * bt emulates) before and after it is translated, on a page of its own. */
core_written:
	movl $1, %eax
	ret
core_written_data:
	.long 0
	.balign 4096
	.text

/* PIT channel 0 at ~1 kHz, IRQ0 -> vector 0x20, only IRQ0 unmasked. */
pit_start:
	movb $0x11, %al
	outb %al, $0x20
	movb $0x20, %al
	outb %al, $0x21
	movb $0x04, %al
	outb %al, $0x21
	movb $0x01, %al
	outb %al, $0x21
	movb $0xfe, %al
	outb %al, $0x21
	movb $0x34, %al
	outb %al, $0x43
	movb $0xa9, %al
	outb %al, $0x40
	movb $0x04, %al
	outb %al, $0x40
	ret

/* --- exceptions and interrupts --- */

.macro STUB n, err=0
stub\n:
	.if \err == 0
	pushl $0
	.endif
	pushl $\n
	jmp common
.endm
	STUB 0
	STUB 1
	STUB 2
	STUB 3
	STUB 4
	STUB 5
	STUB 6
	STUB 7
	STUB 8, 1
	STUB 9
	STUB 10, 1
	STUB 11, 1
	STUB 12, 1
	STUB 13, 1
	STUB 14, 1
	STUB 15
	STUB 16
	STUB 17, 1
	STUB 18
	STUB 19
	STUB 32
	STUB 128

/* Records vector, error code, EIP, CR2 and some registers, resumes at
 * 'recover'. The timer (vector 32) also acknowledges the PIC and masks it. */
common:
	pusha
	movw %ds, %ax
	pushl %eax
	movw $0x10, %ax
	movw %ax, %ds
	movw %ax, %es
	movl 36(%esp), %eax
	movl %eax, got_vec
	movl 40(%esp), %eax
	movl %eax, got_err
	movl 44(%esp), %eax
	movl %eax, got_eip
	movl %cr2, %eax
	movl %eax, got_cr2
	movl 20(%esp), %eax
	movl %eax, got_ebx
	movl 8(%esp), %eax
	movl %eax, got_esi
	movl 4(%esp), %eax
	movl %eax, got_edi
	cmpl $32, got_vec
	jne 1f
	movb $0x20, %al		/* EOI */
	outb %al, $0x20
	cmpl $0, ticks_left	/* the loop test: back to the loop until the last */
	je 2f
	decl ticks_left
	jz 2f
	popl %eax
	movw %ax, %ds
	movw %ax, %es
	popa
	addl $8, %esp
	iret
2:	movb $0xff, %al		/* mask the timer */
	outb %al, $0x21
1:	movl recover, %eax
	movl %eax, 44(%esp)
	andl $~0x200, 52(%esp)	/* resume with interrupts off */
	popl %eax
	movw %ax, %ds
	movw %ax, %es
	popa
	addl $8, %esp
	iret

idt_setup:
	movl $0, %ecx
1:	movl stub_table(,%ecx,8), %eax
	movl stub_table+4(,%ecx,8), %edx
	testl %eax, %eax
	jz 2f
	movw %ax, idt(,%edx,8)
	movw $0x08, idt+2(,%edx,8)
	movw $0xee00, idt+4(,%edx,8)	/* interrupt gate, DPL 3 */
	shrl $16, %eax
	movw %ax, idt+6(,%edx,8)
	incl %ecx
	jmp 1b
2:	ret

	.data
	.balign 8
stub_table:
	.long stub0, 0, stub1, 1, stub2, 2, stub3, 3, stub4, 4, stub5, 5, stub6, 6, stub7, 7
	.long stub8, 8, stub9, 9, stub10, 10, stub11, 11, stub12, 12, stub13, 13, stub14, 14
	.long stub15, 15, stub16, 16, stub17, 17, stub18, 18, stub19, 19, stub32, 32
	.long stub128, 128, 0, 0
	.balign 8
gdt:
	.quad 0
	.quad 0x00cf9a000000ffff	/* 0x08 kernel code */
	.quad 0x00cf92000000ffff	/* 0x10 kernel data */
	.quad 0x00cffa000000ffff	/* 0x18 user code */
	.quad 0x00cf72000000ffff	/* 0x20 not present */
	.quad 0x00cf72000000ffff	/* 0x28 not present */
	.quad 0x00cf72000000ffff	/* 0x30 not present */
	.quad 0x00cff2000000ffff	/* 0x38 user data */
	.quad 0x0000890000000067	/* 0x40 TSS (base filled in) */
	.quad 0x00cff2000000ffff	/* 0x48 user TLS data, 4 GiB (base filled in) */
	.quad 0x00cff2001000ffff	/* 0x50 user data, base 0x1000, 4 GiB */
	.quad 0x00cf92000800ffff	/* 0x58 kernel data, base 0x800 */
	.quad 0x00cff2000800ffff	/* 0x60 user data, base 0x800 */
	.quad 0x00cf92000000ffff	/* 0x68 kernel data, base rewritten by the tests */
	.quad 0x00cf92001000ffff	/* 0x70 kernel data, base 0x1000 (inline segment loads) */
	.quad 0x00cf9a000000ffff	/* 0x78 kernel code, a copy of 0x08 (cached INT/IRET) */
	.quad 0x00cff2000000ffff	/* 0x80 user data, a copy of 0x38 (a user stack) */
gdt_end:
gdt_ptr:
	.word gdt_end - gdt - 1
	.long gdt
gdt_short_ptr:			/* without 0x70 */
	.word 0x70 - 1
	.long gdt
gdt2_ptr:
	.word gdt_end - gdt - 1
	.long gdt2
idt_ptr:
	.word 256 * 8 - 1
	.long idt
far33:	.long 0
	.word 0x33
far2b:	.long 0
	.word 0x2b
escape_bytes:
	.byte 0xea, 0, 0, 0, 0, 0x33, 0	/* ljmp $0x33, $0 */
hexdig:	.ascii "0123456789abcdef"
str_pass: .asciz "PASS bt."
str_fail: .asciz "FAIL bt."
str_colon: .asciz ": "
str_vec: .asciz "vector "
str_want: .asciz ", expected "
str_at: .asciz "wrong at "
str_nl: .asciz "\n"
name_selfmod: .asciz "k.smc_running_block"
name_selfmod_sb: .asciz "k.smc_running_block_past_jcc"
name_rewrite: .asciz "k.smc_page_rewritten"
name_cr3_flush:	.asciz "k.cr3_same_value_flush"
name_cr3_same_lin: .asciz "k.cr3_same_linear_other_code"
name_global_invlpg: .asciz "k.global_code_dropped_by_invlpg_and_pge"
name_precise: .asciz "k.precise_registers"
name_batch_after: .asciz "k.batch_stops_at_fault"
name_core_write: .asciz "k.smc_core_write_after_translation"
name_cr_read: .asciz "k.cr_read_after_write"
name_desc_changed: .asciz "k.descriptor_changed_and_slots_reused"
name_segsite_base: .asciz "k.segsite_descriptor_changed"
name_int_gate_err: .asciz "k.int_gate_not_present_error_code"
name_iret_flags: .asciz "k.iret_same_ring_flags"
name_int85_warm: .asciz "u.int_cached_after_restore"
name_upf_warm: .asciz "u.pf_cached_fault"
name_upf_again: .asciz "u.pf_cached_after_restore"
name_div_warm: .asciz "k.div_cached_divide_error"
name_div_eip: .asciz "k.div_cached_fault_eip"
name_div_nonzero: .asciz "k.div_cached_site_still_divides"
name_iret_ss_err: .asciz "u.iret_cached_ss_error_code"
name_segsite_err: .asciz "k.segsite_not_present_error_code"
name_segsite_gdt_moved: .asciz "k.segsite_gdt_moved"
name_segsite_gs_fs: .asciz "k.segsite_gs_fs_after_call"
name_tls: .asciz "u.tls_negative_offset"
name_tls_low: .asciz "u.tls_low_base"
	.balign 4
	.balign 4
	.long 3			/* the TLS variable at %gs:-4 */
tls_tcb: .long 0
tss:
	.long 0, kstack_top, 0x10
	.fill 22, 4, 0
	.word 0, 104

	.text
/* div_site: 100 / %ebx (quotient %eax, remainder %edx) */
div_site:
	xorl %edx, %edx
	movl $100, %eax
div_at:	divl %ebx
	ret
/* div_warm: 10 divisions by zero at div_site; %eax -1 if each raised #DE */
div_warm:
	movl $10, %ecx
1:	movl $-1, got_vec
	movl %esp, saved_esp
	movl $2f, recover
	xorl %ebx, %ebx
	call div_site
2:	movl saved_esp, %esp
	movl got_vec, %eax
	testl %eax, %eax
	jnz 3f
	decl %ecx
	jnz 1b
	movl $-1, %eax
3:	ret

/* upf_site: a read of unmapped 0x800000 (#PF) */
upf_site:
upf_at:	movl 0x800000, %eax
	ret
/* upf_warm: 8 faulting reads at upf_site from ring 3; %eax -1 if each was
 * #PF with CR2 0x800000 and the read's EIP, else what was wrong */
upf_warm:
	movl $8, %ecx
1:	movl $-1, got_vec
	movl %esp, saved_esp
	movl $2f, recover
	call upf_site
2:	movl saved_esp, %esp
	movl got_vec, %eax
	cmpl $14, %eax
	jne 3f
	movl got_cr2, %eax
	cmpl $0x800000, %eax
	jne 3f
	movl got_eip, %eax
	cmpl $upf_at, %eax
	jne 3f
	decl %ecx
	jnz 1b
	movl $-1, %eax
3:	ret

/* INT \vec three times from ring 3, each resumed by the handler; %eax:
 * -1 if each was vector 0x80's handler (the stub's number), else the
 * vector that hit. One INT site per use: bt keeps an answer per site. */
.macro int_warm_body vec
	movl $3, %ecx
1:	movl $-1, got_vec
	movl %esp, saved_esp
	movl $2f, recover
	int $\vec
2:	movl saved_esp, %esp
	movl got_vec, %eax
	cmpl $0x80, %eax
	jne 3f
	decl %ecx
	jnz 1b
	movl $-1, %eax
3:	ret
.endm
int85_warm:
	int_warm_body 0x85
int_warm:
	int_warm_body 0x80

/* The inline segment load tests' sites (ring 0). site_ds: DS = %ax, the
 * dword at DS:0x300000 in %ebx, DS back to 0x10. */
site_ds:
	movw %ax, %ds
	movl 0x300000, %ebx
	movw %ss, %cx
	movw %cx, %ds
	ret
segsite_warm:
	call site_ds
	call site_ds
	call site_ds
	ret
/* site_pop_es: the same through pop %es and ES */
site_pop_es:
	pushl %eax
	popl %es
	movl %es:0x300000, %ebx
	pushl %ss
	popl %es
	ret
/* site_gs_fs: GS and FS = %ax; %ebx: GS:0x300000, %esi: FS:0x300000 read
 * after a cpuid, %edx: mov r, gs; both back to 0x10. */
site_gs_fs:
	movw %ax, %gs
	movw %ax, %fs
	movl %gs:0x300000, %ebx
	pushl %eax
	pushl %ebx
	xorl %eax, %eax
	cpuid
	popl %ebx
	popl %eax
	movl %fs:0x300000, %esi
	xorl %edx, %edx
	movw %gs, %dx
	movw %ss, %cx
	movw %cx, %gs
	movw %cx, %fs
	ret

/* One call site for every call above, so that its chain into the code at
 * 0x400000 is made once and must be undone (or not) at each CR3 write. */
call_lo:
	call 0x400000
	ret
/* A code page of one shape, whatever the step: 10 times step, by a loop
 * whose back-edge stays in the page. */
.macro sum_page step
	xorl %eax, %eax
	movl $10, %ecx
1:	addl $\step, %eax
	decl %ecx
	jnz 1b
	ret
	.balign 4096
.endm
	.balign 4096
code_a:	sum_page 1	/* at 0x400000 under pd0: returns 10 */
code_b:	sum_page 3	/* at 0x400000 under pd_b: returns 30 */

	.bss
	.balign 4096
pd0:	.skip 4096
pt0:	.skip 4096
pd_b:	.skip 4096
pt_lo_a: .skip 4096
pt_lo_b: .skip 4096
pt_hi:	.skip 4096
	.balign 8
gdt2:	.skip 256
idt:	.skip 2048
	.skip 4096
kstack_top:
	.skip 4096
ustack_top:
got_vec: .long 0
got_err: .long 0
got_eip: .long 0
got_cr2: .long 0
got_ebx: .long 0
got_esi: .long 0
got_edi: .long 0
recover: .long 0
div_q:	.long 0
div_r:	.long 0
ticks_left: .long 0
saved_esp: .long 0
