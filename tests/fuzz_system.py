#!/usr/bin/env python3
"""Writes random *system-level* guests for the fuzz tests.

usage: fuzz_system.py OUTDIR FIRST COUNT
Seeds FIRST .. FIRST+COUNT-1 give OUTDIR/sys<seed>.elf: a Multiboot ELF
that first builds a working machine (GDT with ring-0 and ring-3 segments,
a TSS, an LDT, an IDT whose 256 gates all lead to one handler, sometimes
paging with 4 MiB pages), then runs SLOTS slots of random system
instructions (control and debug registers, segment loads, far transfers,
IRET to ring 3, INT n, descriptor-table instructions, MSRs, port I/O,
page-table writes, host selectors such as 0x33, a few random bytes...).

A slot records its number (through SS, which is valid at any CPL) before it
runs; the handler (ring 0) counts events and resumes at the next slot, so
one fault does not end the image: most random images die at their first
instruction without such a frame. After EVENT_LIMIT events or the last slot
the handler writes to the debug-exit port. A seed always gives the same
image, so a failure can be replayed.
"""
import os
import random
import subprocess
import sys
import tempfile

SLOTS = 48
EVENT_LIMIT = 3000

SELECTORS = [0, 3, 0x08, 0x10, 0x1b, 0x23, 0x28, 0x30, 0x3b, 0x0c, 0x17, 0xffff]
# The host's own GDT selectors (trap cannot virtualize code that reaches
# them: it stops the guest), kept rare so that images get deep.
HOST_SELECTORS = [0x2b, 0x33]
PORTS = [0x20, 0x21, 0xa0, 0xa1, 0x40, 0x41, 0x42, 0x43, 0x60, 0x61, 0x64, 0x70, 0x71,
         0x80, 0x3f8, 0x3f9, 0x3fb, 0x3fd, 0x2f8, 0xcf8, 0x92]
MSRS = [0x10, 0x1b, 0x174, 0x175, 0x176, 0x277, 0xc0000080, 0xc0000081, 0xc0000082,
        0xc0000100, 0x40000000, 0x4b564d00, 0xdeadbeef]


def rnd32(r):
    return r.choice([0, 1, 0xffffffff, 0x80000000, r.getrandbits(32), r.getrandbits(12),
                     0x100000 + r.getrandbits(16)])


def sel(r):
    x = r.random()
    if x < 0.01:
        return r.choice(HOST_SELECTORS)
    return r.choice(SELECTORS) if x < 0.85 else r.getrandbits(16)


def slot_insns(r, k, paging):
    """Random system instructions (assembly lines) for slot k."""
    nxt = f"slot{k + 1}"
    c = r.randrange(40)
    if c == 0:
        return [r.choice(["cli", "sti", "clts", "wbinvd", "invd", "rdtsc", "rdpmc", "int3",
                          "into", "ud2", "sysenter", "sysexit", "syscall", "cpuid", "hlt"])]
    if c == 1:
        return [f"pushl ${rnd32(r):#x}", "popfl"]
    if c == 2:
        return [f"{r.choice(['sgdt', 'sidt'])} scratch",
                f"{r.choice(['sldt', 'str', 'smsw'])} %ax"]
    if c == 3:
        v = rnd32(r) | (1 if r.random() < 0.8 else 0)
        return [f"movl ${v:#x}, %eax", "lmsw %ax"]
    if c in (4, 5):
        n = r.choice([0, 0, 2, 3, 4, 4])
        v = rnd32(r)
        if n == 0 and r.random() < 0.8:
            v |= 1  # mostly stay in protected mode
        return [f"movl ${v:#x}, %eax", f"movl %eax, %cr{n}"]
    if c == 6:
        return [f"movl %cr{r.choice([0, 2, 3, 4])}, %eax"]
    if c == 7:
        n = r.choice([0, 1, 2, 3, 6, 7])
        return [f"movl ${rnd32(r):#x}, %eax", f"movl %eax, %dr{n}", f"movl %dr{r.choice([0, 6, 7])}, %ebx"]
    if c in (8, 9):
        sreg = r.choice(["ds", "es", "fs", "gs", "ss"])
        return [f"movw ${sel(r):#x}, %ax", f"movw %ax, %{sreg}"]
    if c == 10:
        sreg = r.choice(["ds", "es", "fs", "gs"])
        return [f"pushl ${sel(r):#x}", f"popl %{sreg}", f"movw %{sreg}, %bx"]
    if c == 11:
        return [f"ljmp ${sel(r):#x}, ${nxt}"]
    if c == 12:
        return [f"lcall ${sel(r):#x}, ${nxt}"]
    if c == 13:
        return [f"pushl ${sel(r):#x}", f"pushl ${nxt}", "lret"]
    if c in (14, 15):
        # IRET, often to ring 3 with a ring-3 stack.
        ring3 = r.random() < 0.7
        cs = 0x1b if ring3 and r.random() < 0.8 else sel(r)
        ss = 0x23 if r.random() < 0.8 else sel(r)
        fl = r.choice([0x202, 0x2, 0x3202, 0x102, 0x20202, rnd32(r)])
        if ring3 or r.random() < 0.5:
            return [f"pushl ${ss:#x}", "pushl $stack_top", f"pushl ${fl:#x}",
                    f"pushl ${cs:#x}", f"pushl ${nxt}", "iret"]
        return [f"pushl ${fl:#x}", f"pushl ${cs:#x}", f"pushl ${nxt}", "iret"]
    if c in (16, 17):
        return [f"int ${r.choice([0x80, 0x20, 0x21, 0x0d, 0x0e, 0x08, 1, 3, r.randrange(256)]):#x}"]
    if c == 18:
        op = r.choice(["lar", "lsl"])
        return [f"movw ${sel(r):#x}, %ax", f"{op} %ax, %ebx"]
    if c == 19:
        return [f"movw ${sel(r):#x}, %ax", f"{r.choice(['verr', 'verw'])} %ax"]
    if c == 20:
        return [f"movw ${r.choice([0x28, 0x30, 0, 0x10, sel(r)]):#x}, %ax",
                f"{r.choice(['ltr', 'lldt'])} %ax"]
    if c == 21:
        return [f"invlpg {r.choice(['scratch', '0x100000', '0x400000', '0xc0000000'])}"]
    if c == 22:
        msr = r.choice(MSRS)
        if r.random() < 0.5:
            return [f"movl ${msr:#x}, %ecx", "rdmsr"]
        return [f"movl ${msr:#x}, %ecx", f"movl ${rnd32(r):#x}, %eax",
                f"movl ${rnd32(r):#x}, %edx", "wrmsr"]
    if c == 23:
        return [f"movl ${r.choice([0, 1, 7, 0xd, 0x40000000, 0x80000001, rnd32(r)]):#x}, %eax",
                "xorl %ecx, %ecx", "cpuid"]
    if c in (24, 25):
        p = r.choice(PORTS) if r.random() < 0.9 else r.getrandbits(16)
        if p == 0xf4:
            p = 0x80
        v = r.getrandbits(8)
        if r.random() < 0.5:
            return [f"movw ${p:#x}, %dx", f"movl ${v:#x}, %eax",
                    f"{r.choice(['outb %al', 'outw %ax', 'outl %eax'])}, %dx"]
        return [f"movw ${p:#x}, %dx", f"{r.choice(['inb %dx, %al', 'inw %dx, %ax', 'inl %dx, %eax'])}"]
    if c == 26:
        p = r.choice(PORTS)
        n = r.choice([1, 3, 16, 100, 4096, 0x10000])
        op = r.choice(["insb", "outsb", "insl", "outsw"])
        d = r.choice(["cld", "std"])
        return [d, f"movw ${p:#x}, %dx", f"movl ${n}, %ecx", "movl $scratch, %edi",
                "movl $scratch, %esi", f"rep {op}", "cld"]
    if c == 27:
        n = r.choice([1, 100, 4096, 0x20000])
        dst = r.choice(["$scratch", "$0xf0000000", "$0xfee00000", "$0xa0000"])
        return [f"movl {dst}, %edi", f"movl ${n}, %ecx", f"movl ${rnd32(r):#x}, %eax",
                f"rep {r.choice(['stosb', 'stosl', 'movsb'])}"]
    if c == 28:
        return ["xorl %ecx, %ecx", "divl %ecx"]
    if c == 29:
        return [f"movl ${rnd32(r):#x}, {r.choice(['0xf0000000', '0xfec00000', '0xb8000', '0x3ff000'])}"]
    if c == 30:
        if paging:
            i = r.randrange(8)
            v = r.choice([0, 0x83, 0x87, 0x81, 0x85, (i << 22) | 0x87, rnd32(r)])
            tail = r.choice([[], [f"invlpg {i << 22:#x}"], ["movl %cr3, %eax", "movl %eax, %cr3"]])
            return [f"movl ${v:#x}, %ss:pd + {4 * i}"] + tail
        return ["movl %cr3, %eax", "movl %eax, %cr3"]
    if c == 31:
        return [r.choice(["lgdt gdtr", "lidt idtr", "lidt bad_dtr", "lgdt bad_dtr"])]
    if c == 32:
        return [f"pushl ${sel(r):#x}", f"popl %{r.choice(['ds', 'es', 'ss'])}"]
    if c == 33 and r.random() < 0.1:
        return [f"ljmp $0x33, ${nxt}"]  # the host's 64-bit selector
    if c == 34:
        return [f"movl ${rnd32(r):#x}, %esp", "pushl %eax", "popl %eax"]
    if c == 35:
        return [f"movw ${sel(r):#x}, %ax", "movw %ax, %fs", f"movl %fs:{r.choice([0, 4, 0x1000])}, %eax"]
    if c == 36:
        return ["pushl $0x23", "pushl $stack_top", "pushl $0x3202", "pushl $0x1b",
                f"pushl ${nxt}", "iret"]
    if c == 37:
        return ["movl $0x1b, %eax", "movl %eax, %ss:tss + 4"]  # corrupt esp0
    return [".byte " + ", ".join(f"{r.getrandbits(8):#x}" for _ in range(r.randrange(1, 9)))]


def image(seed):
    r = random.Random(seed)
    paging = r.random() < 0.5
    gates_dpl3 = r.random() < 0.8
    out = []
    w = out.append
    # The Multiboot header first in .text: within the first 8 KiB.
    w(".text\n.code32\n.balign 4\n.long 0x1BADB002, 0, -0x1BADB002\n.globl _start\n_start:")
    w("lgdt gdtr\nljmp $0x08, $1f\n1:")
    w("movw $0x10, %ax\nmovw %ax, %ds\nmovw %ax, %es\nmovw %ax, %fs\nmovw %ax, %gs\nmovw %ax, %ss")
    w("movl $stack0_top, %esp")
    # TSS descriptor base, LDT descriptor base (patched at run time).
    w("movl $tss, %eax\nmovw %ax, gdt + 0x28 + 2\nshrl $16, %eax\nmovb %al, gdt + 0x28 + 4\nmovb %ah, gdt + 0x28 + 7")
    w("movl $ldt, %eax\nmovw %ax, gdt + 0x30 + 2\nshrl $16, %eax\nmovb %al, gdt + 0x30 + 4\nmovb %ah, gdt + 0x30 + 7")
    w("movl $stack0_top, tss + 4\nmovl $0x10, tss + 8\nmovw $0x28, %ax\nltr %ax")
    w("movw $0x30, %ax\nlldt %ax")
    # 256 gates to stub<v>.
    gate_type = 0xee00 if gates_dpl3 else 0x8e00
    w(f"movl $idt, %edi\nmovl $stubs, %esi\nmovl $256, %ecx\n2:\nmovl %esi, %eax\nmovw %ax, (%edi)\n"
      f"movw $0x08, 2(%edi)\nmovw ${gate_type:#x}, 4(%edi)\nshrl $16, %eax\nmovw %ax, 6(%edi)\n"
      f"addl $8, %edi\naddl $16, %esi\nloop 2b")
    w("lidt idtr")
    if paging:
        pse_bits = r.choice([0x87, 0x87, 0x83])
        w(f"movl $pd, %edi\nmovl ${pse_bits:#x}, %eax\nmovl $4, %ecx\n3:\nmovl %eax, (%edi)\n"
          f"addl $0x400000, %eax\naddl $4, %edi\nloop 3b")
        w("movl %cr4, %eax\norl $0x10, %eax\nmovl %eax, %cr4\nmovl $pd, %eax\nmovl %eax, %cr3")
        cr0 = 0x80000001 | (0x10000 if r.random() < 0.5 else 0)
        w(f"movl %cr0, %eax\norl ${cr0:#x}, %eax\nmovl %eax, %cr0")
    w("jmp slot0")
    # The handler: every event comes here with the vector pushed last.
    w(".balign 16\nstubs:")
    for v in range(256):
        has_err = v in (8, 10, 11, 12, 13, 14, 17)
        body = ("" if has_err else "pushl $0\n") + f"pushl ${v}\njmp handler"
        w(f".balign 16\n{body}")
    w("handler:")
    w("movw $0x10, %ax\nmovw %ax, %ds\nmovw %ax, %es")
    w(f"incl events\ncmpl ${EVENT_LIMIT}, events\njae done")
    w(f"movl slot_var, %eax\nincl %eax\ncmpl ${SLOTS}, %eax\njae done")
    w("movl %eax, slot_var\nmovl slot_table(,%eax,4), %eax\nmovl %eax, 8(%esp)")
    w("addl $8, %esp\niret")
    w("done:\nmovw $0x10, %ax\nmovw %ax, %ds\nmovl $0x10, %eax\noutl %eax, $0xf4\n4:\ncli\nhlt\njmp 4b")
    for k in range(SLOTS):
        w(f"slot{k}:\nmovl ${k}, %ss:slot_var\nmovl $stack_top, %esp")
        for line in slot_insns(r, k, paging):
            w(line)
    w(f"slot{SLOTS}:\njmp done")
    w(".data\n.balign 8\ngdt:\n.quad 0")
    w(".quad 0x00cf9a000000ffff\n.quad 0x00cf92000000ffff")  # 0x08 code0, 0x10 data0
    w(".quad 0x00cffa000000ffff\n.quad 0x00cff2000000ffff")  # 0x18 code3, 0x20 data3
    w(".quad 0x0000890000000067\n.quad 0x0000820000000017")  # 0x28 TSS, 0x30 LDT
    w(".quad 0x000f9a000000ffff")  # 0x38 16-bit code
    w("gdt_end:\ngdtr:\n.word gdt_end - gdt - 1\n.long gdt")
    w("idtr:\n.word 256 * 8 - 1\n.long idt")
    w(f"bad_dtr:\n.word {r.getrandbits(16):#x}\n.long {rnd32(r):#x}")
    w(".balign 8\nldt:\n.quad 0x00cffa000000ffff\n.quad 0x00cff2000000ffff\n.quad 0")
    w("slot_table:\n" + "\n".join(f".long slot{k}" for k in range(SLOTS + 1)))
    w("slot_var: .long 0\nevents: .long 0")
    w(".bss\n.balign 4096\npd: .skip 4096\nidt: .skip 2048\ntss: .skip 104\n.balign 16\nscratch: .skip 4096")
    w(".skip 8192\nstack0_top:\n.skip 8192\nstack_top:\n.skip 64")
    return "\n".join(out) + "\n"


def main():
    outdir, first, count = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
    with tempfile.TemporaryDirectory() as tmp:
        for seed in range(first, first + count):
            s = os.path.join(tmp, f"sys{seed}.s")
            o = os.path.join(tmp, f"sys{seed}.o")
            with open(s, "w") as f:
                f.write(image(seed))
            subprocess.run(["as", "--32", "-o", o, s], check=True)
            subprocess.run(["ld", "-m", "elf_i386", "-N", "--no-warn-rwx-segments", "-e", "_start",
                            "-Ttext=0x100000", "-o", os.path.join(outdir, f"sys{seed}.elf"), o],
                           check=True)


if __name__ == "__main__":
    main()
