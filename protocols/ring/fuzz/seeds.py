#!/usr/bin/env python3
"""Writes the hand-made seed inputs of both fuzz targets into corpus/.

attach_consume input: a mode byte (bit 0: test the owner side instead of the
borrower; bit 1: overlay the first 64 bytes onto the header), then 6-byte
steps: opcode (mod 5: 0-1 peer writes a word, 2 receive, 3 release, 4 send a
held buffer back), word selector (0-15 header, 16-23 control words, 24+
descriptor words), little-endian u32 value. See ward_ring::hostile.
"""
import os
import struct

HERE = os.path.dirname(os.path.abspath(__file__))
SLOT = 256
LEND_HEAD, RETURN_HEAD = 16, 20
LEND_DESC, RETURN_DESC = 24, 24 + 8 * 4


def step(op, word, value):
    return struct.pack("<BBI", op, word, value & 0xFFFFFFFF)


def lend(i, slot, length, offset_in_slot=0, base=LEND_DESC):
    words = [slot * SLOT + offset_in_slot, length, 0x1000 + i, 0]
    return b"".join(step(0, base + (i % 8) * 4 + k, w) for k, w in enumerate(words))


def write(name, target, data):
    with open(os.path.join(HERE, "corpus", target, name), "wb") as f:
        f.write(data)


# Borrower: an honest owner lends three buffers, the borrower takes and returns them.
honest = bytes([0]) + lend(0, 3, 100) + lend(1, 4, 256) + lend(2, 5, 0, 8) + step(0, LEND_HEAD, 3)
honest += step(2, 0, 0) * 4 + step(3, 0, 0) + step(4, 0, 60) * 3
write("borrower-honest", "attach_consume", honest)

# Borrower: head jumps past the capacity, then backwards.
write("borrower-index-jump", "attach_consume", bytes([0]) + step(0, LEND_HEAD, 9) + step(2, 0, 0) + step(0, LEND_HEAD, 0xFFFFFFFF) + step(2, 0, 0))

# Borrower: a descriptor outside the pool, misaligned, across a slot end, and a duplicate.
bad = bytes([0]) + lend(0, 30, 10) + lend(1, 2, 10, 3) + lend(2, 2, 200, 64) + lend(3, 1, 10) + lend(4, 1, 10)
bad += step(0, LEND_HEAD, 5) + step(2, 0, 0) * 6
write("borrower-bad-descriptors", "attach_consume", bad)

# Borrower: wrap-around of the free-running indices (head and tail near 2^32).
wrap = bytes([0]) + step(0, LEND_HEAD, 0xFFFFFFFE) + step(2, 0, 0) + step(0, 18, 0xFFFFFFFE)
write("borrower-wrap", "attach_consume", wrap)

# Owner: lends buffers, the peer returns one honestly and one twice.
owner = bytes([1]) + step(4, 0, 10) + step(4, 0, 20) + step(4, 0, 30)
owner += lend(0, 0, 10, base=RETURN_DESC) + lend(1, 0, 10, base=RETURN_DESC) + step(0, RETURN_HEAD, 2)
owner += step(2, 0, 0) * 3 + step(3, 0, 0) + step(0, 18, 2) + step(4, 0, 5)
write("owner-double-return", "attach_consume", owner)

# Header overlays: garbage, and a header that is right except for the capacity.
write("header-garbage", "attach_consume", bytes([2]) + bytes(range(64)))
header = struct.pack("<16I", 0x474E5257, 1, 9 * 128, 16, 16, SLOT, 24, 8, 1, 0b1111, 0, 0, 0, 0, 0, 0)
write("header-wrong-capacity", "attach_consume", bytes([2]) + header + step(2, 0, 0))

# decode_messages: one valid message of each format.
ctl = lambda kind, body: struct.pack("<4I", kind, 1, 7, len(body)) + body
write("link", "decode_messages", ctl(0x100, struct.pack("<4I", 1, 1000, 1, 0)))
write("mac", "decode_messages", ctl(0x101, bytes([0x52, 0x54, 0, 0x12, 0x34, 0x56, 0, 0])))
write("stats", "decode_messages", ctl(0x102, struct.pack("<8Q", 1, 2, 3, 4, 5, 6, 7, 8)))
write("promisc", "decode_messages", ctl(0x203, struct.pack("<2I", 1, 0)))
sock = lambda op, rid, s, status, addr, port, proto, arg, payload: struct.pack(
    "<HHIII4sHBBII", op, 0, rid, s, status, bytes(addr), port, proto, 0, arg, len(payload)) + payload
write("sock-open", "decode_messages", sock(1, 1, 0, 0, [0] * 4, 0, 2, 0, b""))
write("sock-send", "decode_messages", sock(6, 2, 3, 0, [10, 0, 2, 2], 53, 0, 0, b"query"))
write("sock-received", "decode_messages", sock(0x8007, 3, 3, 0, [10, 0, 2, 2], 53, 0, 0, b"answer"))
write("sock-error", "decode_messages", sock(0x8003, 4, 3, 3, [0] * 4, 0, 0, 0, b""))
write("fault-dma", "decode_messages", struct.pack("<6I4Q", 0x300, 2, 3, 5, 1, 0, 0x18, 6, 0xdead0000, 0))
write("restart", "decode_messages", struct.pack("<6I", 0x301, 2, 3, 4, 1, 0))
