#!/usr/bin/env python3
"""dsatrain's logits against Hugging Face transformers' LlamaForCausalLM on the same tokens.

Proves that an exported checkpoint (`dsatrain export`, docs/design.md §6) is the model dsatrain trained:
loads the export with transformers.LlamaForCausalLM in float32 (TF32 off, eager attention), runs
the tokens that `dsatrain eval --checkpoint C --dump-logits FILE --windows 1` wrote (the first
window of the validation split: "inputs" I32 [1, T], "logits" F32 [1, T, V]) and compares:

    max |hf - dsatrain|, rel = ||hf - dsatrain|| / ||dsatrain||, argmax agreement
    PASS when rel <= --tol (1e-4: two float32 computations of the same function differ ~1e-6)

Both sides are also compared with the same Hugging Face model run in float64 on the CPU, which
says which side is off when they disagree. With --val SHARD the dumped inputs are checked against
the shard's first T tokens. Needs torch, transformers, numpy (the GPU machine has them; the CPU
machines have no transformers). Ends with one line:
    hf_check: max_abs_diff=<x> rel_err=<x> argmax_agree=<x> tokens=<T> result=PASS|FAIL
Usage: python3 tools/hf_check.py --export DIR --logits FILE [--val SHARD] [--device cuda|cpu]
"""
import argparse
import json
import os
import struct
import sys


def read_safetensors(path):
    """{name: numpy array} from a safetensors file (little-endian), with numpy only."""
    import numpy as np
    dtypes = {"F32": "<f4", "F64": "<f8", "I32": "<i4", "I64": "<i8", "F16": "<f2", "U16": "<u2", "U32": "<u4"}
    with open(path, "rb") as f:
        (header_len,) = struct.unpack("<Q", f.read(8))
        header = json.loads(f.read(header_len))
        data = f.read()
    out = {}
    for name, info in header.items():
        if name == "__metadata__":
            continue
        begin, end = info["data_offsets"]
        if info["dtype"] not in dtypes:
            sys.exit(f"hf_check: {path}: tensor {name} has dtype {info['dtype']}, not handled here")
        out[name] = np.frombuffer(data[begin:end], dtype=dtypes[info["dtype"]]).reshape(info["shape"])
    return out


def read_shard_head(path, count):
    """The first `count` tokens of an llm.c shard (docs/design.md §6: 256 int32 header, uint16/uint32)."""
    import numpy as np
    with open(path, "rb") as f:
        header = np.frombuffer(f.read(256 * 4), dtype="<i4")
        magic, version, total = int(header[0]), int(header[1]), int(header[2])
        width = {(20240520, 1): "<u2", (20240801, 7): "<u4"}.get((magic, version))
        if width is None:
            sys.exit(f"hf_check: {path}: magic {magic} version {version} is not an llm.c shard")
        n = min(count, total)
        return np.frombuffer(f.read(n * np.dtype(width).itemsize), dtype=width).astype(np.int64)


def load_hf_model(export_dir, torch):
    from transformers import LlamaForCausalLM
    try:
        model = LlamaForCausalLM.from_pretrained(export_dir, attn_implementation="eager")
    except TypeError:  # transformers without attn_implementation
        model = LlamaForCausalLM.from_pretrained(export_dir)
    return model.float().eval()


def compare(name, got, ref):
    import numpy as np
    diff = got.astype(np.float64) - ref.astype(np.float64)
    max_abs = float(np.abs(diff).max())
    rel = float(np.linalg.norm(diff) / max(np.linalg.norm(ref.astype(np.float64)), 1e-300))
    if not np.isfinite(got).all():
        rel = max_abs = float("inf")
    print(f"hf_check: {name}: max_abs_diff={max_abs:.3e} rel_err={rel:.3e}")
    return max_abs, rel


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--export", required=True, help="folder with model.safetensors + config.json (dsatrain export)")
    ap.add_argument("--logits", required=True, help="safetensors from dsatrain eval --dump-logits")
    ap.add_argument("--val", help="validation shard whose first window the inputs should be")
    ap.add_argument("--device", default="cuda", choices=["cuda", "cpu"])
    ap.add_argument("--tol", type=float, default=1e-4, help="pass at rel_err <= tol")
    ap.add_argument("--no-f64", action="store_true", help="skip the float64 CPU reference")
    a = ap.parse_args()

    import numpy as np
    import torch
    import transformers
    print(f"hf_check: torch {torch.__version__} transformers {transformers.__version__} device {a.device}")
    if a.device == "cuda" and not torch.cuda.is_available():
        sys.exit("hf_check: --device cuda but torch.cuda.is_available() is False")
    torch.backends.cuda.matmul.allow_tf32 = False
    torch.backends.cudnn.allow_tf32 = False

    dumped = read_safetensors(a.logits)
    inputs, ours = dumped["inputs"].astype(np.int64), dumped["logits"].astype(np.float32)
    if inputs.ndim != 2 or ours.ndim != 3 or inputs.shape[1] != ours.shape[1]:
        sys.exit(f"hf_check: {a.logits}: inputs {inputs.shape} and logits {ours.shape} are not [1, T] and [1, T, V]")
    T = inputs.shape[1]
    with open(os.path.join(a.export, "config.json")) as f:
        cfg = json.load(f)
    print(f"hf_check: export {a.export}: V={cfg.get('vocab_size')} D={cfg.get('hidden_size')} "
          f"N={cfg.get('num_hidden_layers')} H={cfg.get('num_attention_heads')} "
          f"Hkv={cfg.get('num_key_value_heads')} F={cfg.get('intermediate_size')} "
          f"tied={cfg.get('tie_word_embeddings')}; tokens T={T}")
    if a.val:
        first = read_shard_head(a.val, T)
        same = first.size == T and bool((first == inputs[0]).all())
        print(f"hf_check: inputs {'are' if same else 'are NOT'} the first {T} tokens of {a.val}")

    model = load_hf_model(a.export, torch)
    ids = torch.from_numpy(inputs)
    with torch.no_grad():
        theirs = model.to(a.device)(input_ids=ids.to(a.device)).logits.float().cpu().numpy()
    if theirs.shape != ours.shape:
        sys.exit(f"hf_check: transformers gives logits {theirs.shape}, dsatrain {ours.shape}")
    max_abs, rel = compare(f"transformers fp32 ({a.device}) vs dsatrain", theirs, ours)
    agree = float((theirs.argmax(-1) == ours.argmax(-1)).mean())
    if not a.no_f64:
        with torch.no_grad():
            exact = model.to("cpu").double()(input_ids=ids).logits.numpy()
        compare("dsatrain vs transformers float64 (cpu)", ours, exact)
        compare(f"transformers fp32 ({a.device}) vs transformers float64 (cpu)", theirs, exact)
    ok = rel <= a.tol
    print(f"hf_check: max_abs_diff={max_abs:.3e} rel_err={rel:.3e} argmax_agree={agree:.4f} "
          f"tokens={T} result={'PASS' if ok else 'FAIL'} (tol {a.tol:g})")
    sys.exit(0 if ok else 1)


if __name__ == "__main__":
    main()
