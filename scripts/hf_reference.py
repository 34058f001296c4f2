#!/usr/bin/env python3
"""Run a checkpoint through Hugging Face transformers and write what sparsefill is compared against.

The JSON written to --out holds the prompt's token ids, the last prompt token's logits (float32), the
greedy continuation (--new-tokens tokens, default 32, computed with the KV cache and never stopped early by
an end-of-sequence token), and the pre-fill time, with the versions, device, dtype and attention
implementation that produced them.

The prompt is text (--prompt, --prompt-file; encoded with the checkpoint's tokenizer.json through the
`tokenizers` library, as sparsefill does) or --random-tokens N ids drawn with --seed.

Needs torch and transformers (installed on the GPU machine).

Examples:
  scripts/hf_reference.py --model /tmp/llama-small --random-tokens 2048 --out llama-2k.json
  scripts/hf_reference.py --model /tmp/qwen2-small --prompt "the cat sat" --device cpu --out qwen2.json
  scripts/hf_reference.py --model /tmp/llama-small --random-tokens 131072 --new-tokens 0 --out ttft-128k.json
"""

import argparse
import inspect
import json
import os
import sys
import time


def fail(message):
    print(f"error: {message}", file=sys.stderr)
    sys.exit(2)


def parse_args(argv):
    parser = argparse.ArgumentParser(
        description=__doc__.split("\n\n")[0],
        epilog="Examples:" + __doc__.split("Examples:")[1],
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--model", required=True, help="checkpoint directory in Hugging Face layout")
    parser.add_argument("--out", required=True, help="JSON file to write")
    prompt = parser.add_mutually_exclusive_group(required=True)
    prompt.add_argument("--prompt", help="prompt text")
    prompt.add_argument("--prompt-file", help="file holding the prompt text")
    prompt.add_argument("--random-tokens", type=int, metavar="N", help="a prompt of N random token ids")
    parser.add_argument("--seed", type=int, default=0, help="seed for --random-tokens (default 0)")
    parser.add_argument("--new-tokens", type=int, default=32, help="greedy tokens to generate (default 32)")
    parser.add_argument(
        "--repeat-prefill",
        type=int,
        default=0,
        metavar="N",
        help="time the whole pre-fill N more times after the first (first-use costs such as the allocator "
        "growing are paid once); reported as prefill_repeat_seconds (default 0)",
    )
    parser.add_argument("--device", default="cuda", help="torch device (default cuda)")
    parser.add_argument(
        "--dtype", choices=["bfloat16", "float16", "float32"], default="bfloat16", help="compute dtype (default bfloat16)"
    )
    parser.add_argument(
        "--attn", choices=["sdpa", "eager", "flash_attention_2"], default="sdpa", help="attention implementation (default sdpa)"
    )
    args = parser.parse_args(argv)
    if not os.path.isfile(os.path.join(args.model, "config.json")):
        fail(f"--model {args.model}: no config.json there")
    if args.random_tokens is not None and args.random_tokens <= 0:
        fail(f"--random-tokens must be positive; got {args.random_tokens}")
    if args.new_tokens < 0:
        fail(f"--new-tokens must be at least 0; got {args.new_tokens}")
    if args.repeat_prefill < 0:
        fail(f"--repeat-prefill must be at least 0; got {args.repeat_prefill}")
    return args


def prompt_ids(args, config, torch):
    if args.random_tokens is not None:
        generator = torch.Generator().manual_seed(args.seed)
        return torch.randint(0, config.vocab_size, (args.random_tokens,), generator=generator).tolist()
    path = os.path.join(args.model, "tokenizer.json")
    if not os.path.isfile(path):
        fail(f"--model {args.model} has no tokenizer.json; use --random-tokens for a prompt of ids")
    from tokenizers import Tokenizer

    if args.prompt_file is not None:
        try:
            with open(args.prompt_file, encoding="utf-8") as f:
                text = f.read()
        except OSError as e:
            fail(f"cannot read --prompt-file {args.prompt_file}: {e.strerror}")
    else:
        text = args.prompt
    return Tokenizer.from_file(path).encode(text).ids


def synchronize(torch, device):
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def last_position_only(model):
    """The keyword that makes the forward pass compute the last position's logits only, where this version of
    transformers has one, so that a long prompt does not materialize [tokens, vocab] logits."""
    parameters = inspect.signature(model.forward).parameters
    for name in ("logits_to_keep", "num_logits_to_keep"):
        if name in parameters:
            return {name: 1}
    return {}


def main(argv):
    args = parse_args(argv)
    try:
        import torch
        import transformers
        from transformers import AutoConfig, AutoModelForCausalLM
    except ImportError as e:
        fail(f"{e.name} is not installed; this script needs torch and transformers (pip install torch transformers)")

    config = AutoConfig.from_pretrained(args.model)
    device = torch.device(args.device)
    if device.type == "cuda" and not torch.cuda.is_available():
        fail("--device cuda but torch sees no CUDA device; pass --device cpu to run on the host")
    ids = prompt_ids(args, config, torch)
    if len(ids) > config.max_position_embeddings:
        fail(f"the prompt has {len(ids)} tokens but the model takes at most {config.max_position_embeddings}")

    model = AutoModelForCausalLM.from_pretrained(
        args.model, torch_dtype=getattr(torch, args.dtype), attn_implementation=args.attn
    ).to(device)
    model.eval()
    input_ids = torch.tensor([ids], dtype=torch.long, device=device)

    with torch.inference_mode():
        # One short forward first, so the timed pre-fill does not pay for CUDA and library start-up.
        model(input_ids[:, : min(len(ids), 128)], use_cache=True, **last_position_only(model))
        synchronize(torch, device)
        started = time.perf_counter()
        out = model(input_ids, use_cache=True, **last_position_only(model))
        last_logits = out.logits[0, -1].float()
        synchronize(torch, device)
        prefill_seconds = time.perf_counter() - started

        repeats = []
        for _ in range(args.repeat_prefill):
            started = time.perf_counter()
            model(input_ids, use_cache=True, **last_position_only(model))
            synchronize(torch, device)
            repeats.append(time.perf_counter() - started)

        greedy, past, logits = [], out.past_key_values, last_logits
        started = time.perf_counter()
        for step in range(args.new_tokens):
            token = int(torch.argmax(logits))
            greedy.append(token)
            if step + 1 == args.new_tokens or len(ids) + len(greedy) >= config.max_position_embeddings:
                break
            step_out = model(torch.tensor([[token]], device=device), past_key_values=past, use_cache=True)
            past, logits = step_out.past_key_values, step_out.logits[0, -1].float()
        synchronize(torch, device)
        decode_seconds = time.perf_counter() - started

    result = {
        "model": os.path.abspath(args.model),
        "transformers": transformers.__version__,
        "torch": torch.__version__,
        "device": torch.cuda.get_device_name(device) if device.type == "cuda" else str(device),
        "dtype": args.dtype,
        "attn_implementation": args.attn,
        "prompt_tokens": ids,
        "last_logits": last_logits.cpu().tolist(),
        "greedy_tokens": greedy,
        "prefill_seconds": prefill_seconds,
        "prefill_repeat_seconds": repeats,
        "decode_tokens_per_second": (len(greedy) - 1) / decode_seconds if len(greedy) > 1 and decode_seconds > 0 else None,
    }
    with open(args.out, "w", encoding="utf-8") as f:
        json.dump(result, f)
    again = f" (again: {', '.join(f'{r * 1e3:.1f}' for r in repeats)} ms)" if repeats else ""
    print(f"{len(ids)} prompt tokens; pre-fill {prefill_seconds * 1e3:.1f} ms{again}; greedy {greedy[:8]}...; wrote {args.out}")


if __name__ == "__main__":
    main(sys.argv[1:])
