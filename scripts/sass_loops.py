#!/usr/bin/env python3
"""The loops of a kernel's SASS, each with its size and its instructions by opcode.

    sparsefill compile KERNEL.tile --kernel K ... --emit sass | scripts/sass_loops.py [--top N]

reads `cuobjdump -sass` text (a file argument, or standard input) and prints, for every
backward branch, the range it closes: its first and last offsets, how many instructions
lie between them (nested loops included), and its N most frequent opcodes. A predicated
backward branch is a loop's test; an unconditional one is marked, since it is usually
an out-of-line wait jumping back into the code it left, and its range is no loop. Offsets are cuobjdump's, relative to the
kernel's start, as `scripts/ncu_source.py` prints them.
"""

import argparse
import collections
import os
import re
import sys

# `/*5b10*/   @!P0 BRA 0x3450 ;` and friends: offset, optional predicate, opcode, operands.
LINE = re.compile(r"^\s*/\*([0-9a-f]+)\*/\s+(@!?U?P[0-9T]\s+)?([A-Z][A-Z0-9_.]*)\s*([^;]*);")
TARGET = re.compile(r"0x([0-9a-f]+)\s*$")


class SassError(Exception):
    """Text this script cannot read, with what is wrong in it."""


def instructions(text):
    """(offset, opcode, operands, predicated) of every instruction line."""
    out = []
    for line in text.splitlines():
        m = LINE.match(line)
        if m:
            out.append((int(m.group(1), 16), m.group(3), m.group(4).strip(), m.group(2) is not None))
    if not out:
        raise SassError("no SASS instruction lines (`/*0000*/ OPCODE ...;`): is this cuobjdump -sass output?")
    return out


def loops(listing):
    """(start, end, conditional) of each backward branch: its target, itself, and whether
    it is predicated (a loop's test) or not (a jump back, as an out-of-line wait's
    return into the code it left)."""
    found = []
    for offset, opcode, operands, predicated in listing:
        if opcode.split(".")[0] != "BRA":
            continue
        m = TARGET.search(operands)
        if m and int(m.group(1), 16) <= offset:
            found.append((int(m.group(1), 16), offset, predicated))
    return found


def report(listing, top):
    found = loops(listing)
    if not found:
        return [f"{len(listing)} instructions, no loop"]
    lines = [f"{len(listing)} instructions, {sum(1 for f in found if f[2])} loops"]
    for start, end, conditional in found:
        body = [op.split(".")[0] for offset, op, _, _ in listing if start <= offset <= end]
        common = collections.Counter(body).most_common(top)
        kind = "" if conditional else " (an unconditional jump back, not a loop's test)"
        lines.append(f"{start:6x}..{end:<6x} {len(body):5d} instructions{kind}: " + " ".join(f"{op} {n}" for op, n in common))
    return lines



def emit(text):
    """Prints `text`. A reader that stops early (`| head`) ends the output quietly, as
    command-line tools do, rather than in a traceback."""
    try:
        print(text, flush=True)
    except BrokenPipeError:
        # Python flushes stdout again at exit: point it where that cannot fail.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())

def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("sass", nargs="?", help="cuobjdump -sass output (default: standard input)")
    p.add_argument("--top", type=int, default=8, help="opcodes listed a loop (default 8)")
    args = p.parse_args()
    try:
        if args.top < 1:
            raise SassError(f"--top must be at least 1; got {args.top}")
        if args.sass:
            try:
                with open(args.sass) as f:
                    text = f.read()
            except OSError as e:
                raise SassError(f"cannot read `{args.sass}`: {e.strerror}") from e
        else:
            text = sys.stdin.read()
        emit("\n".join(report(instructions(text), args.top)))
    except SassError as e:
        print(f"sass_loops.py: {e}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
