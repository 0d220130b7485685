#!/usr/bin/env python3
"""Writes Multiboot kernels that ring ringvm's hypercall doorbell with random
registers, for tests/t_pv.sh.

usage: pv_fuzz_images.py OUTDIR FIRST COUNT
Seed s gives OUTDIR/pvfuzz<s>.bin: an a.out-kludge kernel at 1 MiB whose code
first loads a valid GDT (kernel and user segments, a TSS, an LDT) with one
call, then runs 300 times "mov imm32 to EAX, EBX, ECX, EDX (and sometimes
ESP); out %eax, $0xe4", numbers biased to real calls and arguments biased
to the edges (0, page boundaries, the end of a 16 MiB RAM, all ones) and to
the image's own tables, an IRET frame and a page-table batch, then a
shutdown call. Whatever the calls do to the guest, the VMM must not crash.
"""
import random
import struct
import sys

MAGIC, AOUT_KLUDGE = 0x1BADB002, 1 << 16
LOAD, ENTRY = 0x100000, 0x100020
RAM = 16 << 20
CALLS = 16  # RINGVM_HC_COUNT
DATA = LOAD + 0x3000            # tables, after at most 8 KiB of code
GDT, LDT, TSS, FRAME, OPS = DATA, DATA + 0x100, DATA + 0x200, DATA + 0x300, DATA + 0x400


def flat(access):
    return struct.pack("<II", 0x0000ffff, 0x00cf0000 | (access << 8))


def data_area():
    gdt = (bytes(8) + flat(0x9a) + flat(0x92) + flat(0xfa) + flat(0xf2) +
           struct.pack("<II", ((TSS & 0xffff) << 16) | 103, 0x00008900 | ((TSS >> 16) & 0xff) | (TSS & 0xff000000)) +
           struct.pack("<II", ((LDT & 0xffff) << 16) | 15, 0x00008200 | ((LDT >> 16) & 0xff) | (LDT & 0xff000000)))
    ldt = flat(0xf2) + flat(0xfa)
    frame = struct.pack("<6I", 0x1234, LOAD + 0x10, 0x1b, 0x202, 0x200000, 0x23)
    ops = b"".join(struct.pack("<II", 0x400000 + 4 * i, 0x300003 + (i << 12)) for i in range(8))
    area = bytearray(0x500)
    for off, blob in ((0, gdt), (0x100, ldt), (0x300, frame), (0x400, ops)):
        area[off:off + len(blob)] = blob
    return bytes(area)


def arg(r):
    k = r.randrange(7)
    if k == 6:
        return r.choice([GDT, LDT, TSS, FRAME, OPS, 0x37, 8])
    if k == 0:
        return r.getrandbits(32)
    if k == 1:
        return r.randrange(0x200000)             # low RAM: the image, tables
    if k == 2:
        return (RAM - r.randrange(64)) & 0xffffffff
    if k == 3:
        return r.randrange(1 << 20) & ~0xfff     # page aligned
    if k == 4:
        return r.choice([0, 1, 3, 0x08, 0x10, 0x1b, 0x23, 0x28, 0x30, 0xffff, 0xffffffff])
    return r.randrange(1024)                     # counts and limits


def mov(reg, v):
    return bytes([0xB8 + reg]) + struct.pack("<I", v & 0xffffffff)


out, first, count = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
for seed in range(first, first + count):
    r = random.Random(seed)
    code = mov(0, 7) + mov(3, GDT) + mov(1, 0x37) + b"\xe7\xe4"   # set_gdt
    for _ in range(300):
        nr = r.randrange(CALLS + 2) if r.random() < 0.95 else r.getrandbits(32)
        if nr in (2, 3):       # shutdown, halt: only at the end
            nr = 0
        code += mov(0, nr) + mov(3, arg(r)) + mov(1, arg(r)) + mov(2, arg(r))
        if r.random() < 0.2:                     # ESP: where IRET reads its frame
            code += mov(4, FRAME if r.random() < 0.3 else arg(r))
        code += b"\xe7\xe4"                      # out %eax, $0xe4
    code += mov(0, 2) + mov(3, 0) + b"\xe7\xe4" + b"\xeb\xfe"
    hdr = struct.pack("<8I", MAGIC, AOUT_KLUDGE, (-(MAGIC + AOUT_KLUDGE)) & 0xffffffff,
                      LOAD, LOAD, 0, LOAD + 0x10000, ENTRY)
    assert ENTRY + len(code) <= DATA
    image = hdr + code
    image += bytes(DATA - LOAD - len(image)) + data_area()
    with open(f"{out}/pvfuzz{seed}.bin", "wb") as f:
        f.write(image)
