#!/usr/bin/env python3
"""Writes random x87 Multiboot kernels: two engines must end in the same state.

usage: x87_fuzz_images.py OUTDIR FIRST COUNT
Seed s gives OUTDIR/x87fuzz<s>.bin, an a.out-kludge kernel at 1 MiB: it loads
its own GDT and an IDT whose every exception handler resumes at the next
16-byte slot, sets CR0.NE (and sometimes MP), then runs 1,500 slots of one
random x87 instruction each (register and memory forms, FWAIT and operand-size
prefixes, memory operands on the stack page, near the end of RAM, in MMIO,
anywhere), then FNSAVEs the state, prints the 108-byte image in hex on COM1
and writes 5 to the debug-exit port (status 11).

Left out, as the trap engine cannot match them (docs/06-trap.md): FISTTP (an
SSE3 instruction the CPU model does not report, which the host executes),
FNSTENV and FNSAVE (they store the last-instruction pointers, which an AMD
host does not keep across a trip through the VMM), CR0.TS/EM (the host's CR0
is its own), CR0.NE=0 (FERR# waits for an interrupt that never comes with
IF=0). The comparison leaves out the pointers of the final image too.
"""
import random
import struct
import sys

MAGIC, AOUT_KLUDGE = 0x1BADB002, 1 << 16
LOAD, ENTRY = 0x100000, 0x100020
SLOTS, SLOTS_END = 0x100100, 0x106000
GDT, IDT, HANDLERS = 0x107000, 0x108000, 0x109000

# fnsave [0x10e000]; print the 108 bytes in hex on COM1; newline; out 0xf4
TAIL = bytes.fromhex(
    "dd3500e01000be00e01000b96c00000066baf803ac88c4c0e804e81200000088e0240fe8"
    "09000000e2eab00aeeb005e6f43c0a1c692feec3")


def prologue(r):
    c = bytearray(b"\x0f\x01\x15" + struct.pack("<I", HANDLERS + 0x100))   # lgdt
    c += b"\xea" + struct.pack("<IH", ENTRY + len(c) + 7, 8)              # ljmp 8:next
    c += b"\x66\xb8\x10\x00\x8e\xd8\x8e\xc0\x8e\xd0\x8e\xe0\x8e\xe8"       # data segs
    c += b"\xbc" + struct.pack("<I", 0x10f000)                            # esp
    c += b"\x0f\x01\x1d" + struct.pack("<I", HANDLERS + 0x108)            # lidt
    c += b"\x0f\x20\xc0\x0d" + struct.pack("<I", r.choice([0x20, 0x22]))  # cr0 |= NE (MP)
    c += b"\x0f\x22\xc0"
    c += b"\xe9" + struct.pack("<i", SLOTS - (ENTRY + len(c) + 5))
    return c


def slot(r):
    while True:
        op, m = r.randrange(8), r.getrandbits(8)
        reg = (m >> 3) & 7
        if m >= 0xc0:
            break
        if not (op in (3, 5, 7) and reg == 1) and not (op in (1, 5) and reg == 6):
            break  # not FISTTP, FNSTENV, FNSAVE
    s = bytearray()
    if r.random() < 0.1:
        s.append(0x66)
    if r.random() < 0.1:
        s.append(0x9b)
    s += bytes([0xd8 + op, m])
    mod, rm = m >> 6, m & 7
    if mod != 3 and rm == 4:
        s.append(r.getrandbits(8))
    if mod == 1:
        s.append(r.getrandbits(8))
    elif mod == 2 or (mod == 0 and rm == 5):
        s += struct.pack("<I", r.choice([0x10f800, 0x10fff8, 0x10fffc, 0xfee00000,
                                         0x00fffffa, 0xfffffffc, r.getrandbits(32)]))
    if r.random() < 0.2:
        s.append(0x9b)
    return bytes(s + b"\x90" * (16 - len(s)))


def image(seed):
    r = random.Random(seed)
    img = bytearray(0x10000)
    img[0:32] = struct.pack("<8I", MAGIC, AOUT_KLUDGE, (-(MAGIC + AOUT_KLUDGE)) & 0xffffffff,
                            LOAD, LOAD, 0, LOAD + 0x10000, ENTRY)
    p = prologue(r)
    img[0x20:0x20 + len(p)] = p
    off = SLOTS - LOAD
    while off < SLOTS_END - LOAD:
        img[off:off + 16] = slot(r)
        off += 16
    img[off:off + len(TAIL)] = TAIL
    g = GDT - LOAD
    img[g:g + 24] = struct.pack("<QQQ", 0, 0x00cf9a000000ffff, 0x00cf92000000ffff)
    # handlers: round the return EIP up to the next slot; IRET (and drop an error code)
    h = HANDLERS - LOAD
    noerr = b"\x83\x04\x24\x10\x83\x24\x24\xf0\xcf"
    img[h:h + len(noerr)] = noerr
    img[h + 0x40:h + 0x43 + len(noerr)] = b"\x83\xc4\x04" + noerr
    img[h + 0x100:h + 0x106] = struct.pack("<HI", 23, GDT)
    img[h + 0x108:h + 0x10e] = struct.pack("<HI", 32 * 8 - 1, IDT)
    i = IDT - LOAD
    for v in range(32):
        t = HANDLERS + (0x40 if v in (8, 10, 11, 12, 13, 14, 17) else 0)
        img[i + 8 * v:i + 8 * v + 8] = struct.pack("<HHHH", t & 0xffff, 8, 0x8e00, t >> 16)
    return bytes(img)


out, first, count = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
for seed in range(first, first + count):
    with open(f"{out}/x87fuzz{seed}.bin", "wb") as f:
        f.write(image(seed))
