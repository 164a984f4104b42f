#!/usr/bin/python3
"""PyTorch peer of `dsatrain bench --attention`: attention forward + backward alone, float32, CPU or CUDA.

Shapes: B = 1, H heads, Dh head dims, separate q/k/v [T, H, Dh] tensors with requires_grad.
  dense:  cpu: S = q k^T / sqrt(Dh) per head, causal mask (masked_fill -inf), softmax, P v
          cuda: torch.nn.functional.scaled_dot_product_attention(is_causal=True) (whichever fp32
          kernel torch picks; the cpu formulation where torch has no SDPA)
  sparse: gather-based attention over the SAME index lists dsatrain used: dsatrain writes them as
          raw int32 [T, k] files <kind>_T<T>_k<k>.i32 (kind = random | window) into --lists;
          -1 padding is masked. K and V rows are gathered per (query, slot): [T, k, H, Dh].
          The queries run in chunks so the gathered tensors stay under --chunk-bytes; each chunk
          does its forward (timed as forward) and its backward (timed as backward), and dq, dk, dv
          accumulate in the leaves as autograd does.
Every row: 1 warm-up, then --reps timed reps, the best kept (cuda: the median, as dsatrain's GPU
rows); on the CPU a row whose first run takes over --slow seconds is timed by that run alone (no warm-up) to
keep the peer's run short. Rows whose tensors would exceed --max-bytes are reported as skipped
(memory). --device cuda (what dsatrain passes when its rows ran on the GPU): the tensors and lists
live on the GPU, TF32 is off, and every timed interval starts and ends with torch.cuda.synchronize().
One line per row:
    attention_ref: T=<T> k=<k> kind=<kind> fwd_ms=<x> bwd_ms=<x>      (dense: k=0)
    attention_ref: T=<T> k=<k> kind=<kind> skipped (memory: <estimate>)

Run it on Debian's interpreter with OpenBLAS (OpenMP build) first on the library path:
  LD_LIBRARY_PATH=/usr/lib/x86_64-linux-gnu/openblas-openmp /usr/bin/python3 tools/attention_ref.py --lists DIR
On a GPU machine: python3 tools/attention_ref.py --lists DIR --device cuda
"""
import argparse
import math
import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from pyensure import ensure  # noqa: E402

ensure("attention_ref", ["numpy", "torch"], ["python3-torch", "python3-numpy", "libopenblas0-openmp"])
import numpy as np  # noqa: E402
import torch  # noqa: E402


def gib(x):
    return f"{x / 2**30:.1f} GiB"


def now(device):
    """perf_counter, after the GPU's queued work when the tensors are on the GPU."""
    if device.type == "cuda":
        torch.cuda.synchronize()
    return time.perf_counter()


def median(values):
    values = sorted(values)
    n = len(values)
    return values[n // 2] if n % 2 else 0.5 * (values[n // 2 - 1] + values[n // 2])


def dense_sdpa_once(q, k, v, dout):
    """CUDA dense peer: PyTorch's fused causal attention."""
    for x in (q, k, v):
        x.grad = None
    t0 = now(q.device)
    qh, kh, vh = (x.transpose(0, 1).unsqueeze(0) for x in (q, k, v))  # [1, H, T, Dh]
    out = torch.nn.functional.scaled_dot_product_attention(qh, kh, vh, is_causal=True)
    out = out.squeeze(0).transpose(0, 1)
    t1 = now(q.device)
    out.backward(dout)
    t2 = now(q.device)
    return t1 - t0, t2 - t1


def dense_once(q, k, v, dout, mask):
    T, H, Dh = q.shape
    for x in (q, k, v):
        x.grad = None
    t0 = now(q.device)
    qh, kh, vh = q.transpose(0, 1), k.transpose(0, 1), v.transpose(0, 1)  # [H, T, Dh]
    s = torch.matmul(qh, kh.transpose(1, 2)) / math.sqrt(Dh)
    s = s.masked_fill(mask, float("-inf"))
    p = torch.softmax(s, dim=-1)
    out = torch.matmul(p, vh).transpose(0, 1)
    t1 = now(q.device)
    out.backward(dout)
    t2 = now(q.device)
    return t1 - t0, t2 - t1


def sparse_once(q, k, v, dout, idx, valid, chunk):
    T, H, Dh = q.shape
    for x in (q, k, v):
        x.grad = None
    fwd = bwd = 0.0
    scale = 1.0 / math.sqrt(Dh)
    for start in range(0, T, chunk):
        end = min(T, start + chunk)
        t0 = now(q.device)
        ix = idx[start:end]                       # [c, W], padding clamped to 0
        rows = ix.reshape(-1)                     # index_select: its backward is index_add_
        kg = k.view(T, H * Dh).index_select(0, rows).view(end - start, -1, H, Dh)  # [c, W, H, Dh]
        vg = v.view(T, H * Dh).index_select(0, rows).view(end - start, -1, H, Dh)
        kg, vg = kg.permute(0, 2, 3, 1), vg.permute(0, 2, 1, 3)   # [c, H, Dh, W], [c, H, W, Dh]
        s = torch.matmul(q[start:end].unsqueeze(2), kg).squeeze(2) * scale  # [c, H, W]
        s = s.masked_fill(~valid[start:end].unsqueeze(1), float("-inf"))
        p = torch.softmax(s, dim=-1)
        out = torch.matmul(p.unsqueeze(2), vg).squeeze(2)         # [c, H, Dh]
        t1 = now(q.device)
        out.backward(dout[start:end])
        t2 = now(q.device)
        fwd += t1 - t0
        bwd += t2 - t1
    return fwd, bwd


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--lists", required=True, help="folder of <kind>_T<T>_k<k>.i32 index lists")
    ap.add_argument("--t", default="1024,2048,4096,8192")
    ap.add_argument("--k", default="64,256,512")
    ap.add_argument("--heads", type=int, default=8)
    ap.add_argument("--head-dim", type=int, default=64)
    ap.add_argument("--reps", type=int, default=1)
    ap.add_argument("--threads", type=int, default=os.cpu_count(),
                    help="torch intra-op threads (dsatrain passes its own thread count)")
    ap.add_argument("--slow", type=float, default=None,
                    help="seconds: a row whose run takes longer is timed once, without a warm-up "
                         "(default: 1 on the CPU; off on cuda, whose first runs include lazy initialisation)")
    ap.add_argument("--max-bytes", type=float, default=None,
                    help="skip a row whose estimated peak tensor bytes exceed this "
                         "(default: 10 GiB on the CPU, 40%% of the GPU's memory on cuda)")
    ap.add_argument("--chunk-bytes", type=float, default=None,
                    help="sparse: query chunk size so a gathered K (or V) chunk stays under this "
                         "(default: 256 MiB on the CPU, 1 GiB on cuda)")
    ap.add_argument("--device", choices=("cpu", "cuda"), default="cpu",
                    help="where the tensors live and the peer runs (dsatrain passes the device of its rows)")
    args = ap.parse_args()
    torch.manual_seed(0)
    torch.set_num_threads(args.threads)
    device = torch.device(args.device)
    if device.type == "cuda":
        if not torch.cuda.is_available():
            print(f"attention_ref: --device cuda, but torch {torch.__version__} sees no GPU "
                  f"(torch.cuda.is_available() is False)", flush=True)
            sys.exit(1)
        torch.backends.cuda.matmul.allow_tf32 = False  # fp32 against dsatrain's fp32 kernels
        torch.backends.cudnn.allow_tf32 = False
    if args.max_bytes is None:
        args.max_bytes = (0.4 * torch.cuda.get_device_properties(0).total_memory if device.type == "cuda"
                          else 10 * 2**30)
    if args.slow is None:
        args.slow = float("inf") if device.type == "cuda" else 1.0
    if args.chunk_bytes is None:
        args.chunk_bytes = 2**30 if device.type == "cuda" else 256 * 2**20
    sdpa = device.type == "cuda" and hasattr(torch.nn.functional, "scaled_dot_product_attention")
    stat = median if device.type == "cuda" else min
    H, Dh = args.heads, args.head_dim
    if device.type == "cuda":
        where = f"cuda ({torch.cuda.get_device_name(0)}, TF32 off, median)"
    else:
        where = "cpu"
    print(f"attention_ref: torch {torch.__version__} threads={torch.get_num_threads()} "
          f"dense={'scaled_dot_product_attention(is_causal)' if sdpa else 'matmul+mask+softmax+matmul'} "
          f"sparse=gather (chunked queries) float32 {where}", flush=True)
    for T in [int(x) for x in args.t.split(",")]:
        g = torch.Generator().manual_seed(T)
        q, k, v, dout = (torch.randn(T, H, Dh, generator=g).to(device) for _ in range(4))
        for x in (q, k, v):
            x.requires_grad_(True)
        rows = [("dense", 0)] + [(kind, w) for w in [int(x) for x in args.k.split(",")]
                                 for kind in ("random", "window")]
        for kind, w in rows:
            if kind == "dense":
                # scores, masked scores, P, dP, dS: ~5 H x T x T float tensors alive at the peak
                # (SDPA's fused kernels need far less; its math fallback about as much)
                need = 5 * H * T * T * 4
                if need > args.max_bytes:
                    print(f"attention_ref: T={T} k=0 kind=dense skipped (memory: {gib(need)})", flush=True)
                    continue
                if sdpa:
                    run = lambda: dense_sdpa_once(q, k, v, dout)  # noqa: E731
                else:
                    mask = torch.ones(T, T, dtype=torch.bool, device=device).triu(1)
                    run = lambda: dense_once(q, k, v, dout, mask)  # noqa: E731
            else:
                path = os.path.join(args.lists, f"{kind}_T{T}_k{w}.i32")
                lists = np.fromfile(path, dtype=np.int32)
                assert lists.size == T * w, f"{path}: {lists.size} entries, expected {T * w}"
                lists = torch.from_numpy(lists.astype(np.int64)).view(T, w).to(device)
                valid = lists >= 0
                idx = lists.clamp(min=0)
                row_bytes = w * H * Dh * 4
                chunk = max(1, min(T, int(args.chunk_bytes // row_bytes)))
                # per chunk: gathered K, V, their grads, ~2 more of the same for einsum temporaries
                need = 6 * chunk * row_bytes
                if need > args.max_bytes:
                    print(f"attention_ref: T={T} k={w} kind={kind} skipped (memory: {gib(need)})", flush=True)
                    continue
                run = lambda: sparse_once(q, k, v, dout, idx, valid, chunk)  # noqa: E731
            fwds, bwds = [], []
            for rep in range(1 + args.reps):
                f, b = run()
                if rep > 0 or f + b > args.slow:  # a slow first run counts (its warm-up is noise)
                    fwds.append(f)
                    bwds.append(b)
                if f + b > args.slow:
                    break
            digits = 3 if device.type == "cuda" else 2
            print(f"attention_ref: T={T} k={w} kind={kind} fwd_ms={1e3 * stat(fwds):.{digits}f} "
                  f"bwd_ms={1e3 * stat(bwds):.{digits}f}", flush=True)


if __name__ == "__main__":
    main()
