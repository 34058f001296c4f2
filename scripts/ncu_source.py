#!/usr/bin/env python3
"""Where a kernel's warps stall, per SASS instruction, from Nsight Compute's source page.

Reads the CSV that

    ncu --section WarpStateStats --section SourceCounters -k regex:KERNEL -c 1 -o REPORT ...
    ncu --import REPORT.ncu-rep --page source --csv --print-source sass > SOURCE.csv

writes (docs/gpu.md, "Where a kernel stalls"), and prints one of:

    hot SOURCE.csv [--top N]
        the N instructions with the most warp stall samples, each with its offset in the
        kernel, its share of all samples, how often it ran and its three main stall reasons;
    regions SOURCE.csv --cuts 3450,53b0,... --names prologue,masked,walk,...
        samples, instructions executed and the main stall reasons summed over address
        ranges: the cuts are hex offsets where a range starts, the first range starts at 0,
        so there is one name more than cuts;
    listing SOURCE.csv --from 53b0 --to 6900
        every instruction in [from, to] with its samples and main stall reasons.

Offsets (and branch targets) are relative to the kernel's first instruction, as
cuobjdump -sass prints them.
Only the standard library is used, so it runs wherever the CSV is copied to.
"""

import argparse
import csv
import os
import re
import sys

ABSOLUTE = re.compile(r"0x([0-9a-f]{9,})")
ADDRESS = "Address"
SOURCE = "Source"
SAMPLES = "Warp Stall Sampling (All Samples)"
EXECUTED = "Instructions Executed"
REQUIRED = (ADDRESS, SOURCE, SAMPLES, EXECUTED)


class SourceError(Exception):
    """A source page this script cannot read, with what is wrong in it."""


def number(text):
    """A count as ncu prints it ("1,234", "" or "-" for none)."""
    text = text.replace(",", "").strip()
    if text in ("", "-"):
        return 0
    try:
        return int(float(text))
    except ValueError as e:
        raise SourceError(f"`{text}` is not a count") from e


def hex_offset(text, what):
    try:
        return int(text, 16)
    except ValueError as e:
        raise SourceError(f"{what} `{text}` is not a hex offset (e.g. 53b0)") from e


class Instruction:
    def __init__(self, offset, text, samples, executed, stalls):
        self.offset = offset
        self.text = text
        self.samples = samples
        self.executed = executed
        self.stalls = stalls


def read(path):
    """The instructions of the first kernel in `path`, offsets from its first one."""
    try:
        with open(path, newline="") as f:
            rows = list(csv.reader(f))
    except OSError as e:
        raise SourceError(f"cannot read `{path}`: {e.strerror}") from e
    header_at = next((i for i, row in enumerate(rows) if ADDRESS in row and SOURCE in row), None)
    if header_at is None:
        raise SourceError(f"`{path}` has no header row with `{ADDRESS}` and `{SOURCE}`: is it ncu's --page source --csv?")
    header = rows[header_at]
    missing = [c for c in REQUIRED if c not in header]
    if missing:
        raise SourceError(
            f"`{path}` lacks the column(s) {', '.join(missing)}: profile with --section SourceCounters "
            "and export with --print-source sass"
        )
    col = {name: header.index(name) for name in REQUIRED}
    stall_cols = [(h[len("stall_"):], i) for i, h in enumerate(header) if h.startswith("stall_") and "Not Issued" not in h]
    instructions = []
    base = None
    for row in rows[header_at + 1 :]:
        if len(row) < len(header) or not row[col[ADDRESS]].startswith("0x"):
            continue
        address = int(row[col[ADDRESS]], 16)
        base = address if base is None else base
        stalls = {name: number(row[i]) for name, i in stall_cols}
        # Branch targets are printed as absolute addresses: give them as offsets too.
        text = ABSOLUTE.sub(lambda m: hex(int(m.group(1), 16) - base), " ".join(row[col[SOURCE]].split()))
        instructions.append(
            Instruction(
                address - base,
                text,
                number(row[col[SAMPLES]]),
                number(row[col[EXECUTED]]),
                stalls,
            )
        )
    if not instructions:
        raise SourceError(f"`{path}` lists no instructions")
    return instructions


def main_stalls(stalls, total, count=3):
    top = sorted(((v, k) for k, v in stalls.items() if v), reverse=True)[:count]
    return " ".join(f"{k}:{100 * v / total:.1f}%" for v, k in top)


def hot(instructions, top):
    total = sum(i.samples for i in instructions) or 1
    lines = [f"{total} samples over {len(instructions)} instructions"]
    for i in sorted(instructions, key=lambda i: -i.samples)[:top]:
        lines.append(f"{i.offset:6x} {100 * i.samples / total:5.2f}% ran {i.executed:<10d} {i.text[:60]:<60} {main_stalls(i.stalls, total)}")
    return lines


def regions(instructions, cuts, names):
    if len(names) != len(cuts) + 1:
        raise SourceError(f"{len(cuts)} cuts make {len(cuts) + 1} ranges, but {len(names)} names were given")
    if cuts != sorted(cuts) or len(set(cuts)) != len(cuts):
        raise SourceError("the cuts must ascend, each once: " + ",".join(f"{c:x}" for c in cuts))
    total = sum(i.samples for i in instructions) or 1
    sums = [{"samples": 0, "executed": 0, "stalls": {}} for _ in names]
    for i in instructions:
        at = sum(1 for c in cuts if i.offset >= c)
        s = sums[at]
        s["samples"] += i.samples
        s["executed"] += i.executed
        for k, v in i.stalls.items():
            s["stalls"][k] = s["stalls"].get(k, 0) + v
    width = max(len(n) for n in names)
    lines = []
    for name, s in zip(names, sums):
        line = f"{name:<{width}} {100 * s['samples'] / total:5.1f}% of samples, {s['executed']} warp instructions"
        reasons = main_stalls(s["stalls"], total, 6)
        lines.append(f"{line}; {reasons}" if reasons else line)
    return lines


def listing(instructions, start, end):
    if start > end:
        raise SourceError(f"--from {start:x} lies after --to {end:x}")
    total = sum(i.samples for i in instructions) or 1
    return [
        f"{i.offset:5x} {i.samples:7d} {i.text[:60]:<60} {main_stalls(i.stalls, total, 2)}"
        for i in instructions
        if start <= i.offset <= end
    ]


def parse_args(argv):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    sub = p.add_subparsers(dest="command", required=True)
    h = sub.add_parser("hot", help="the instructions with the most stall samples")
    h.add_argument("source")
    h.add_argument("--top", type=int, default=40)
    r = sub.add_parser("regions", help="samples summed over address ranges")
    r.add_argument("source")
    r.add_argument("--cuts", required=True, help="hex offsets where ranges start, comma-separated")
    r.add_argument("--names", required=True, help="one name a range, comma-separated")
    l = sub.add_parser("listing", help="every instruction in an address range")
    l.add_argument("source")
    l.add_argument("--from", dest="start", required=True)
    l.add_argument("--to", dest="end", required=True)
    return p.parse_args(argv)


def run(argv):
    args = parse_args(argv)
    if args.command == "hot" and args.top < 1:
        raise SourceError(f"--top must be at least 1; got {args.top}")
    instructions = read(args.source)
    if args.command == "hot":
        return hot(instructions, args.top)
    if args.command == "regions":
        cuts = [hex_offset(c, "cut") for c in args.cuts.split(",") if c]
        return regions(instructions, cuts, [n for n in args.names.split(",")])
    return listing(instructions, hex_offset(args.start, "--from"), hex_offset(args.end, "--to"))



def emit(text):
    """Prints `text`. A reader that stops early (`| head`) ends the output quietly, as
    command-line tools do, rather than in a traceback."""
    try:
        print(text, flush=True)
    except BrokenPipeError:
        # Python flushes stdout again at exit: point it where that cannot fail.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())

def main():
    try:
        lines = run(sys.argv[1:])
    except SourceError as e:
        print(f"ncu_source.py: {e}", file=sys.stderr)
        return 1
    emit("\n".join(lines))
    return 0


if __name__ == "__main__":
    sys.exit(main())
