#!/usr/bin/env python3
"""Write a small random-weight LLaMA, Qwen2 or Mistral checkpoint in Hugging Face layout.

The directory gets config.json, the weights as safetensors (sharded with model.safetensors.index.json
when --shards > 1), tokenizer.json (a byte-level BPE over the 256 bytes, three merges, <s> and </s>) and
tokenizer_config.json. Nothing is downloaded. The same layout is what sparsefill-model's
`synthetic::write_checkpoint` writes from Rust; this script exists so that transformers and sparsefill can
be compared on the same files (see scripts/hf_reference.py) at sizes worth benchmarking.

Needs torch and safetensors (installed on the GPU machine).

Examples:
  scripts/make_checkpoint.py --arch llama --out /tmp/llama-small
  scripts/make_checkpoint.py --arch qwen2 --preset tiny --out /tmp/qwen2-tiny
"""

import argparse
import json
import math
import os
import sys

# Sizes per preset; every value can be overridden by its flag. "small" has head_dim 128, GQA 4:1 and room
# for 128K positions, the shapes the long pre-fill benchmarks use, at a size that loads in seconds.
PRESETS = {
    "tiny": dict(hidden=64, intermediate=160, layers=2, heads=4, kv_heads=2, vocab=288, max_positions=256),
    "small": dict(hidden=1024, intermediate=3584, layers=4, heads=8, kv_heads=2, vocab=32768, max_positions=131072),
}

ARCHITECTURES = {
    "llama": ("LlamaForCausalLM", "llama"),
    "qwen2": ("Qwen2ForCausalLM", "qwen2"),
    "mistral": ("MistralForCausalLM", "mistral"),
}

DTYPES = {"bfloat16": "bfloat16", "float16": "float16", "float32": "float32"}

MERGES = [("t", "h"), ("th", "e"), ("\u0120", "the")]
BYTE_TOKENS = 256
BOS_ID = BYTE_TOKENS + len(MERGES)
EOS_ID = BOS_ID + 1
TOKENIZER_VOCAB = EOS_ID + 1


def fail(message):
    print(f"error: {message}", file=sys.stderr)
    sys.exit(2)


def parse_args(argv):
    parser = argparse.ArgumentParser(
        description=__doc__.split("\n\n")[0], epilog=__doc__.split("Examples:")[1], formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--arch", required=True, choices=sorted(ARCHITECTURES), help="model family")
    parser.add_argument("--out", required=True, help="directory to write (created; must be empty if it exists)")
    parser.add_argument("--preset", choices=sorted(PRESETS), default="small", help="base sizes (default: small)")
    parser.add_argument("--hidden", type=int, help="hidden_size")
    parser.add_argument("--intermediate", type=int, help="intermediate_size")
    parser.add_argument("--layers", type=int, help="num_hidden_layers")
    parser.add_argument("--heads", type=int, help="num_attention_heads")
    parser.add_argument("--kv-heads", type=int, help="num_key_value_heads")
    parser.add_argument("--vocab", type=int, help=f"vocab_size (at least {TOKENIZER_VOCAB}, the tokenizer's ids)")
    parser.add_argument("--max-positions", type=int, help="max_position_embeddings")
    parser.add_argument("--rope-theta", type=float, help="rope_theta (default 500000 for llama, 1000000 otherwise)")
    parser.add_argument(
        "--rope-scaling",
        choices=["none", "llama3"],
        help="llama3: Llama 3.1 scaling (factor 8, bands 1 and 4, original length 8192); default llama3 for llama",
    )
    parser.add_argument("--sliding-window", type=int, help="mistral only: sliding_window (default: none)")
    parser.add_argument(
        "--tie-embeddings", choices=["yes", "no"], help="tie lm_head to the embedding (default: yes for qwen2, else no)"
    )
    parser.add_argument("--dtype", choices=sorted(DTYPES), default="bfloat16", help="weight dtype (default bfloat16)")
    parser.add_argument("--shards", type=int, default=2, help="safetensors files to split the weights over (default 2)")
    parser.add_argument("--seed", type=int, default=0, help="random seed (default 0)")
    args = parser.parse_args(argv)

    for key, value in PRESETS[args.preset].items():
        if getattr(args, key) is None:
            setattr(args, key, value)
    for key in ("hidden", "intermediate", "layers", "heads", "kv_heads", "vocab", "max_positions", "shards"):
        if getattr(args, key) <= 0:
            fail(f"--{key.replace('_', '-')} must be positive; got {getattr(args, key)}")
    if args.hidden % args.heads:
        fail(f"--hidden ({args.hidden}) must be a multiple of --heads ({args.heads})")
    if (args.hidden // args.heads) % 2:
        fail(f"head_dim (--hidden / --heads = {args.hidden // args.heads}) must be even for rotary embeddings")
    if args.heads % args.kv_heads:
        fail(f"--heads ({args.heads}) must be a multiple of --kv-heads ({args.kv_heads})")
    if args.vocab < TOKENIZER_VOCAB:
        fail(f"--vocab must be at least {TOKENIZER_VOCAB} (the tokenizer's ids); got {args.vocab}")
    if args.sliding_window is not None and args.arch != "mistral":
        fail(f"--sliding-window applies to mistral only; got --arch {args.arch}")
    if args.rope_scaling is None:
        args.rope_scaling = "llama3" if args.arch == "llama" else "none"
    if args.rope_theta is None:
        args.rope_theta = 500000.0 if args.arch == "llama" else 1000000.0
    if args.tie_embeddings is None:
        args.tie_embeddings = "yes" if args.arch == "qwen2" else "no"
    args.tie_embeddings = args.tie_embeddings == "yes"
    return args


def config_json(args):
    architecture, model_type = ARCHITECTURES[args.arch]
    config = {
        "architectures": [architecture],
        "model_type": model_type,
        "vocab_size": args.vocab,
        "hidden_size": args.hidden,
        "intermediate_size": args.intermediate,
        "num_hidden_layers": args.layers,
        "num_attention_heads": args.heads,
        "num_key_value_heads": args.kv_heads,
        "head_dim": args.hidden // args.heads,
        "hidden_act": "silu",
        "max_position_embeddings": args.max_positions,
        "rms_norm_eps": 1e-5,
        "rope_theta": args.rope_theta,
        "rope_scaling": None,
        "tie_word_embeddings": args.tie_embeddings,
        "torch_dtype": DTYPES[args.dtype],
        "bos_token_id": BOS_ID,
        "eos_token_id": EOS_ID,
        "initializer_range": 0.02,
        "use_cache": True,
    }
    if args.rope_scaling == "llama3":
        config["rope_scaling"] = {
            "rope_type": "llama3",
            "factor": 8.0,
            "low_freq_factor": 1.0,
            "high_freq_factor": 4.0,
            "original_max_position_embeddings": 8192,
        }
    if args.arch == "llama":
        config.update(attention_bias=False, mlp_bias=False)
    elif args.arch == "qwen2":
        config.update(use_sliding_window=False, sliding_window=None, max_window_layers=args.layers)
    else:
        config.update(sliding_window=args.sliding_window)
    return config


def tensor_shapes(args):
    """Every weight the model has, in Hugging Face's names, embedding first."""
    hidden, head_dim = args.hidden, args.hidden // args.heads
    q, kv = args.heads * head_dim, args.kv_heads * head_dim
    shapes = [("model.embed_tokens.weight", (args.vocab, hidden))]
    for i in range(args.layers):
        p = f"model.layers.{i}"
        if args.arch == "qwen2":
            shapes += [(f"{p}.self_attn.q_proj.bias", (q,)), (f"{p}.self_attn.k_proj.bias", (kv,))]
            shapes += [(f"{p}.self_attn.v_proj.bias", (kv,))]
        shapes += [
            (f"{p}.input_layernorm.weight", (hidden,)),
            (f"{p}.self_attn.q_proj.weight", (q, hidden)),
            (f"{p}.self_attn.k_proj.weight", (kv, hidden)),
            (f"{p}.self_attn.v_proj.weight", (kv, hidden)),
            (f"{p}.self_attn.o_proj.weight", (hidden, q)),
            (f"{p}.post_attention_layernorm.weight", (hidden,)),
            (f"{p}.mlp.gate_proj.weight", (args.intermediate, hidden)),
            (f"{p}.mlp.up_proj.weight", (args.intermediate, hidden)),
            (f"{p}.mlp.down_proj.weight", (hidden, args.intermediate)),
        ]
    shapes.append(("model.norm.weight", (hidden,)))
    if not args.tie_embeddings:
        shapes.append(("lm_head.weight", (args.vocab, hidden)))
    return shapes


def random_tensor(torch, generator, name, shape):
    """Uniform values scaled so activations stay of order one: projections by 1/sqrt(fan_in), norms near 1."""
    u = torch.rand(shape, generator=generator, dtype=torch.float32) * 2 - 1
    if name.endswith("norm.weight"):
        return 1 + 0.2 * u
    if name.endswith(".bias"):
        return 0.2 * u
    if name == "model.embed_tokens.weight":
        return u
    return u * math.sqrt(3.0 / shape[-1])


def bytes_to_unicode():
    """GPT-2's printable stand-in for each byte."""
    printable = list(range(ord("!"), ord("~") + 1)) + list(range(0xA1, 0xAD)) + list(range(0xAE, 0x100))
    chars = {b: chr(b) for b in printable}
    shifted = 0
    for b in range(256):
        if b not in chars:
            chars[b] = chr(256 + shifted)
            shifted += 1
    return chars


def tokenizer_json():
    vocab = {char: byte for byte, char in bytes_to_unicode().items()}
    for i, (a, b) in enumerate(MERGES):
        vocab[a + b] = BYTE_TOKENS + i
    vocab["<s>"], vocab["</s>"] = BOS_ID, EOS_ID
    byte_level = {"type": "ByteLevel", "add_prefix_space": False, "trim_offsets": True, "use_regex": True}
    special = lambda id, content: {
        "id": id, "content": content, "single_word": False, "lstrip": False, "rstrip": False,
        "normalized": False, "special": True,
    }
    return {
        "version": "1.0",
        "truncation": None,
        "padding": None,
        "added_tokens": [special(BOS_ID, "<s>"), special(EOS_ID, "</s>")],
        "normalizer": None,
        "pre_tokenizer": byte_level,
        "post_processor": {
            "type": "TemplateProcessing",
            "single": [{"SpecialToken": {"id": "<s>", "type_id": 0}}, {"Sequence": {"id": "A", "type_id": 0}}],
            "pair": [
                {"SpecialToken": {"id": "<s>", "type_id": 0}},
                {"Sequence": {"id": "A", "type_id": 0}},
                {"Sequence": {"id": "B", "type_id": 1}},
            ],
            "special_tokens": {"<s>": {"id": "<s>", "ids": [BOS_ID], "tokens": ["<s>"]}},
        },
        "decoder": byte_level,
        "model": {
            "type": "BPE", "dropout": None, "unk_token": None, "continuing_subword_prefix": None,
            "end_of_word_suffix": None, "fuse_unk": False, "byte_fallback": False, "ignore_merges": False,
            "vocab": vocab, "merges": [[a, b] for a, b in MERGES],
        },
    }


def write_json(path, value):
    with open(path, "w", encoding="utf-8") as f:
        json.dump(value, f, indent=2, ensure_ascii=False)
        f.write("\n")


def main(argv):
    args = parse_args(argv)
    try:
        import torch
        from safetensors.torch import save_file
    except ImportError as e:
        fail(f"{e.name} is not installed; this script needs torch and safetensors (pip install torch safetensors)")

    if os.path.exists(args.out) and (not os.path.isdir(args.out) or os.listdir(args.out)):
        fail(f"--out {args.out} exists and is not an empty directory")
    os.makedirs(args.out, exist_ok=True)

    shapes = tensor_shapes(args)
    if args.shards > len(shapes):
        fail(f"--shards must be at most the tensor count ({len(shapes)}); got {args.shards}")
    dtype = getattr(torch, DTYPES[args.dtype])
    generator = torch.Generator().manual_seed(args.seed)

    weight_map, total_size = {}, 0
    for shard in range(args.shards):
        part = shapes[shard * len(shapes) // args.shards : (shard + 1) * len(shapes) // args.shards]
        name = "model.safetensors" if args.shards == 1 else f"model-{shard + 1:05d}-of-{args.shards:05d}.safetensors"
        tensors = {}
        for n, s in part:
            # An untied lm_head is the embedding's rows in a random order. Random heads give
            # flat logits (top two 0.06 apart, the size of bf16's error), so greedy decoding
            # compared across implementations flips between near-ties. A head made of
            # embedding rows gives decisive ones, as a tied model's do; permuted, the most
            # likely next token need not be the current one, and greedy text need not repeat it.
            if n == "lm_head.weight":
                tensors[n] = embedding[torch.randperm(s[0], generator=generator)].contiguous()
            else:
                tensors[n] = random_tensor(torch, generator, n, s).to(dtype).contiguous()
            if n == "model.embed_tokens.weight":
                embedding = tensors[n]
        save_file(tensors, os.path.join(args.out, name), metadata={"format": "pt"})
        for n, t in tensors.items():
            weight_map[n] = name
            total_size += t.numel() * t.element_size()
    if args.shards > 1:
        write_json(os.path.join(args.out, "model.safetensors.index.json"),
                   {"metadata": {"total_size": total_size}, "weight_map": weight_map})

    write_json(os.path.join(args.out, "config.json"), config_json(args))
    write_json(os.path.join(args.out, "tokenizer.json"), tokenizer_json())
    write_json(os.path.join(args.out, "tokenizer_config.json"),
               {"tokenizer_class": "PreTrainedTokenizerFast", "bos_token": "<s>", "eos_token": "</s>",
                "model_max_length": args.max_positions})
    params = sum(math.prod(s) for _, s in shapes)
    print(f"wrote {args.arch} ({params / 1e6:.1f}M parameters, {args.dtype}, {args.shards} shard(s)) to {args.out}")


if __name__ == "__main__":
    main(sys.argv[1:])
