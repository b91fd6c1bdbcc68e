#!/usr/bin/env python3
"""Where the instructions of one kernel benchmark figure go, function by function.

    tests/ktest/profile-bench.py IMAGE_DIR KERNEL_ELF USER_ELF KEY [--runs A B] [--top N]
                                 [--annotate FUNCTION]

Boots `ktest test=bench only=KEY runs=A`, then `runs=B`, under `-icount shift=0,align=off` with
QEMU's execution log on (`-d in_asm,exec,nochain`: every translated block's instructions once,
and every block executed, one line each), counts the guest instructions each function executed,
and prints the difference of the two runs divided by B - A: the instructions one operation costs
in each function, set-up and warm-up cancelled out. KEY is a bench figure key (`null`, `lookup`,
`local`, `remote`, `wake`). `--annotate` also lists every instruction of the functions whose name
contains FUNCTION with its count per operation and its source line (addr2line).

Debian's QEMU ships no TCG plugins (no libinsn/libexeclog), so the log is the instruction counter:
a block's executed instructions are the ones its translation listed, cut to the instruction budget
QEMU's icount put in the block's cflags when it translated a shorter block.
"""
import argparse
import bisect
import collections
import os
import re
import subprocess
import sys
import tempfile

# QEMU 7.2: the low 9 bits of a block's cflags limit its instruction count (0: no limit).
CF_COUNT_MASK = 0x1FF
TRACE = re.compile(r"^Trace \d+: 0x[0-9a-f]+ \[[0-9a-f]+/([0-9a-f]+)/[0-9a-f]+/([0-9a-f]+)\]")
INSTRUCTION = re.compile(r"^0x([0-9a-f]+):")


def symbols(elf):
    """Sorted (address, name) of the function symbols of an ELF file."""
    out = subprocess.run(["nm", "-C", "--defined-only", elf], check=True,
                         capture_output=True, text=True).stdout
    table = []
    for line in out.splitlines():
        parts = line.split(" ", 2)
        if len(parts) == 3 and parts[1] in "tTwW":
            table.append((int(parts[0], 16), parts[2]))
    table.sort()
    return table


class Symbolizer:
    def __init__(self, elves):
        self.table = sorted(entry for elf in elves for entry in symbols(elf))
        self.addresses = [a for a, _ in self.table]
        self.cache = {}

    def name(self, address):
        if address not in self.cache:
            i = bisect.bisect_right(self.addresses, address) - 1
            self.cache[address] = self.table[i][1] if i >= 0 else f"?{address:#x}"
        return self.cache[address]


def profile(image, key, runs, symbolizer, seconds):
    """Instructions executed per function in one boot of `only=key runs=runs`."""
    with tempfile.TemporaryDirectory() as tmp:
        log = os.path.join(tmp, "exec.log")
        # One core: the single-core figures, with no other core's timer in the count.
        command = ["scripts/qemu.sh", "--icount", "--smp", "1", "--seconds", str(seconds),
                   "--root-args", f"test=bench only={key} runs={runs}",
                   "--qemu-arg", "-d", "--qemu-arg", "in_asm,exec,nochain",
                   "--qemu-arg", "-D", "--qemu-arg", log, image]
        console = subprocess.run(command, capture_output=True, text=True).stdout
        if "ktest: PASS bench" not in console:
            sys.exit(f"profile-bench: the benchmark did not pass:\n{console[-2000:]}")
        blocks = {}  # block start -> the instruction addresses of its longest translation
        counts = collections.Counter()
        by_address = collections.Counter()
        text = {}  # instruction address -> its disassembly
        current = None
        with open(log, errors="replace") as lines:
            for line in lines:
                if line.startswith("IN:"):
                    current = []
                    continue
                if current is not None:
                    match = INSTRUCTION.match(line)
                    if match:
                        address = int(match.group(1), 16)
                        current.append(address)
                        text[address] = line.split(":", 1)[1].strip()
                        continue
                    if current:
                        if len(current) > len(blocks.get(current[0], ())):
                            blocks[current[0]] = current
                    current = None
                match = TRACE.match(line)
                if match:
                    pc, cflags = int(match.group(1), 16), int(match.group(2), 16)
                    instructions = blocks.get(pc, ())
                    limit = cflags & CF_COUNT_MASK
                    if limit:
                        instructions = instructions[:limit]
                    for address in instructions:
                        counts[symbolizer.name(address)] += 1
                        by_address[address] += 1
        figures = [line for line in console.splitlines() if line.startswith("bench:")]
        return counts, figures, by_address, text


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("image")
    parser.add_argument("kernel_elf")
    parser.add_argument("user_elf")
    parser.add_argument("key")
    parser.add_argument("--runs", nargs=2, type=int, default=[200, 1200])
    parser.add_argument("--top", type=int, default=40)
    parser.add_argument("--seconds", type=int, default=300)
    parser.add_argument("--annotate", default=None)
    args = parser.parse_args()
    small, large = args.runs
    symbolizer = Symbolizer([args.kernel_elf, args.user_elf])
    base, _, base_addresses, _ = profile(args.image, args.key, small, symbolizer, args.seconds)
    more, figures, more_addresses, text = profile(args.image, args.key, large, symbolizer,
                                                  args.seconds)
    per_op = {name: (more[name] - base.get(name, 0)) / (large - small)
              for name in set(more) | set(base)}
    total = sum(per_op.values())
    for line in figures:
        print(line)
    print(f"profile: {args.key}: {total:.0f} instructions per operation "
          f"(runs {large} - {small}), by function:")
    for name, count in sorted(per_op.items(), key=lambda item: -item[1])[:args.top]:
        if abs(count) >= 0.5:
            print(f"profile: {count:8.1f}  {name}")
    if args.annotate:
        annotate(args, symbolizer, base_addresses, more_addresses, text, large - small)


def annotate(args, symbolizer, base, more, text, runs):
    """Every instruction of the functions named like args.annotate, with its
    count per operation and source line."""
    addresses = sorted(a for a in set(more) | set(base)
                       if args.annotate in symbolizer.name(a))
    elf = args.kernel_elf if addresses and addresses[0] >= 1 << 63 else args.user_elf
    lines = subprocess.run(["addr2line", "-e", elf, "-i"] + [hex(a) for a in addresses[:1]],
                           capture_output=True, text=True).stdout if False else ""
    sources = {}
    if addresses:
        out = subprocess.run(["addr2line", "-e", elf] + [hex(a) for a in addresses],
                             capture_output=True, text=True).stdout.splitlines()
        sources = dict(zip(addresses, out))
    for address in addresses:
        count = (more.get(address, 0) - base.get(address, 0)) / runs
        if abs(count) < 0.5:
            continue
        source = sources.get(address, "?").rsplit("/", 2)[-2:]
        print(f"annotate: {count:6.1f}  {address:#x}  {text.get(address, '?'):40.40}  "
              f"{'/'.join(source)}")


if __name__ == "__main__":
    main()
