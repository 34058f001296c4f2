#!/usr/bin/env python3
"""Compare `sparsefill generate --logits-out OURS.json` with `scripts/hf_reference.py --out THEIRS.json`.

Prints the largest absolute and relative error of the last prompt token's logits (relative to the largest
|logit| of THEIRS), whether the two argmaxes agree, and the first index where the generated tokens differ.
Exits 0 when the prompts are the same, the logits are within tolerance, the argmaxes agree and the generated
tokens agree over the shorter of the two lists (sparsefill stops at an end-of-sequence token,
hf_reference.py never does); 1 otherwise; 2 when a file cannot be read.

Tolerance: max |ours - theirs| <= 0.05 * max |theirs|. Both sides keep weights and activations in bf16, whose
rounding step is 2^-8 of a value; the two differ in the order of every sum (cuBLAS and the .tile kernels
against PyTorch's kernels) and each rounds after every operation, so each layer adds errors of a few bf16
steps to the residual stream. Over a model's layers that compounds to about 1-2% of the largest logit on the
checkpoints we compare; 5% leaves room for long prompts while a real bug (a wrong RoPE, a dropped bias, a
mis-mapped head) moves logits by tens of percent.

Example:
  scripts/compare_hf.py ours.json theirs.json
"""

import json
import sys

TOLERANCE = 0.05


def load(path):
    try:
        with open(path, encoding="utf-8") as f:
            record = json.load(f)
    except (OSError, ValueError) as e:
        print(f"error: cannot read {path}: {e}", file=sys.stderr)
        sys.exit(2)
    for key in ("prompt_tokens", "last_logits", "greedy_tokens"):
        if not isinstance(record.get(key), list):
            print(f"error: {path} has no list `{key}`", file=sys.stderr)
            sys.exit(2)
    return record


def argmax(values):
    return max(range(len(values)), key=lambda i: values[i])


def main(argv):
    if len(argv) != 2:
        print(__doc__, file=sys.stderr)
        return 2
    ours, theirs = load(argv[0]), load(argv[1])
    ok = True
    if ours["prompt_tokens"] != theirs["prompt_tokens"]:
        print(f"prompts differ: {len(ours['prompt_tokens'])} tokens against {len(theirs['prompt_tokens'])}")
        return 1
    a, b = ours["last_logits"], theirs["last_logits"]
    if len(a) != len(b) or not a:
        print(f"logit counts differ: {len(a)} against {len(b)}")
        return 1
    scale = max(abs(x) for x in b) or 1.0
    max_abs = max(abs(x - y) for x, y in zip(a, b))
    print(f"logits: max abs error {max_abs:.4g}, max relative error {max_abs / scale:.4g} (of max |logit| {scale:.4g}; tolerance {TOLERANCE})")
    ok &= max_abs <= TOLERANCE * scale
    same_argmax = argmax(a) == argmax(b)
    print(f"argmax: ours {argmax(a)}, theirs {argmax(b)}: {'agree' if same_argmax else 'DIFFER'}")
    ok &= same_argmax
    ga, gb = ours["greedy_tokens"], theirs["greedy_tokens"]
    common = min(len(ga), len(gb))
    first = next((i for i in range(common) if ga[i] != gb[i]), None)
    if first is None:
        print(f"generated tokens: the first {common} agree (ours {len(ga)}, theirs {len(gb)})")
    else:
        print(f"generated tokens: first difference at index {first}: ours {ga[first]}, theirs {gb[first]}")
        ok = False
    print("PASS" if ok else "FAIL")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
