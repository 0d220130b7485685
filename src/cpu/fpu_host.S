/*
 * The host's own x87 executes the guest's x87 instructions (exec_fpu.c):
 * the guest state goes in with FRSTOR, one instruction runs, the state
 * comes back with FNSAVE. So rounding, precision control, denormals, NaN
 * and indefinite rules, C0-C3 and the tag word are the hardware's, bit for
 * bit. In 64-bit mode FRSTOR/FNSAVE without REX.W use the 108-byte 32-bit
 * protected-mode image.
 *
 * uint64_t fpu_host_run(void *img, void *mem, unsigned idx, uint64_t flags)
 *   img   108-byte FSAVE image, read and written back;
 *   mem   the memory operand of a memory form (a host buffer): [rsi];
 *   idx   which instruction: (opcode & 7) << 6 | (modrm & 63) for the
 *         register forms (modrm >= 0xc0), 512 + ((opcode & 7) << 3 | reg)
 *         for the memory forms;
 *   flags the guest's arithmetic EFLAGS (FCMOVcc reads them); only bits
 *         0x8d5 may be set, so POPFQ changes nothing but those.
 * Returns the host RFLAGS after the instruction (FCOMI and friends set
 * ZF PF CF), or FPU_HOST_PENDING when the loaded state had an unmasked
 * exception pending (ES) and the instruction is a waiting one: it was not
 * run, as running it would raise #MF in the VMM itself. The caller says
 * whether it waits (bit 31 of idx set: no-wait).
 *
 * Invariants: the x87 is left as FNSAVE leaves it (FNINIT state: empty
 * stack, control word 0x37f), which is what the x86-64 ABI expects at a
 * call boundary; DF stays clear; nothing else is touched (MXCSR, XMM).
 * Each stub is 8 bytes: the two instruction bytes, then a jump to the tail.
 */
#define PENDING_BIT 63

	.text
	.globl fpu_host_run
	.type fpu_host_run, @function
fpu_host_run:
	fnclex			/* FRSTOR waits: nothing may be pending here */
	frstor (%rdi)
	btr $31, %edx
	jc 1f			/* no-wait: runs whatever is pending */
	fnstsw %ax
	test $0x80, %al
	jnz 2f
1:	push %rcx
	popfq
	lea fpu_host_stubs(%rip), %rax
	lea (%rax,%rdx,8), %rax
	jmp *%rax
fpu_host_tail:
	pushfq
	pop %rax
	fnsave (%rdi)
	ret
2:	fninit			/* leave the ABI's clean state */
	xor %eax, %eax
	bts $PENDING_BIT, %rax
	ret
	.size fpu_host_run, .-fpu_host_run

/* void fpu_host_normalize(void *img): FRSTOR then FNSAVE, nothing in
 * between: the image comes back in the hardware's own canonical form
 * (tag word recomputed from the registers, reserved bits as it stores them). */
	.globl fpu_host_normalize
	.type fpu_host_normalize, @function
fpu_host_normalize:
	fnclex
	frstor (%rdi)
	fnsave (%rdi)
	ret
	.size fpu_host_normalize, .-fpu_host_normalize

	.balign 8
fpu_host_stubs:
	.set op, 0
	.rept 8
	.set lo, 0
	.rept 64
	.byte 0xd8 + op, 0xc0 + lo
	.byte 0xe9		/* jmp rel32: fixed size */
	.long fpu_host_tail - . - 4
	.byte 0xcc
	.set lo, lo + 1
	.endr
	.set op, op + 1
	.endr
	/* memory forms: modrm mod=00 rm=110, [rsi] in 64-bit mode */
	.set op, 0
	.rept 8
	.set reg, 0
	.rept 8
	.byte 0xd8 + op, (reg << 3) | 6
	.byte 0xe9		/* jmp rel32: fixed size */
	.long fpu_host_tail - . - 4
	.byte 0xcc
	.set reg, reg + 1
	.endr
	.set op, op + 1
	.endr
fpu_host_stubs_end:
	/* 576 stubs of 8 bytes: a stub that grew would shift every index */
	.if fpu_host_stubs_end - fpu_host_stubs - 576 * 8
	.error "fpu_host_stubs: every stub must be 8 bytes"
	.endif

	.section .note.GNU-stack,"",@progbits
