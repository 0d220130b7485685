#!/usr/bin/env python3
"""Writes random-code Multiboot kernels for the fuzz tests.

usage: fuzz_images.py OUTDIR FIRST COUNT
Seeds FIRST .. FIRST+COUNT-1 give OUTDIR/fuzz<seed>.bin: an a.out-kludge
kernel loaded at 1 MiB (64 KiB with bss), entered at 0x100020, whose
4 KiB image is random bytes after the header. A seed always gives the same
image, so a failure can be replayed.
"""
import random
import struct
import sys

MAGIC, AOUT_KLUDGE = 0x1BADB002, 1 << 16
LOAD, ENTRY = 0x100000, 0x100020

out, first, count = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
for seed in range(first, first + count):
    r = random.Random(seed)
    hdr = struct.pack("<8I", MAGIC, AOUT_KLUDGE, (-(MAGIC + AOUT_KLUDGE)) & 0xffffffff,
                      LOAD, LOAD, 0, LOAD + 0x10000, ENTRY)
    body = bytes(r.getrandbits(8) for _ in range(4096 - len(hdr)))
    with open(f"{out}/fuzz{seed}.bin", "wb") as f:
        f.write(hdr + body)
