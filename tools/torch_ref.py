#!/usr/bin/python3
"""PyTorch peer for the benchmarks: the docs/design.md §3 dense model, trained the natural fast eager way.

Same math as dsatrain (RMSNorm, half-split RoPE, causal GQA attention, SwiGLU, tied embeddings),
float32 (or bf16 autocast on CUDA), AdamW (lr 3e-3, betas 0.9/0.95, weight decay 0.1 on the
projection matrices only — like dsatrain's default, norms and embeddings are not decayed), global
gradient clipping at 1.0, docs/design.md §3 init. Defaults are the quick-start model.

Benchmark mode (default): --warmup untimed steps, then --steps timed steps on random windows of an
llm.c token shard (--data; random tokens when absent), ending with exactly one line
    torch_ref: tokens_per_s=<x> step_ms=<x> loss=<x> threads=<n> device=<d> dtype=<t> blas=<lib>

Training mode (--train-minutes M --val PATH): trains for M minutes with a linear warm-up of 30 steps
and a cosine decay to 10% of the peak over the steps planned from the measured step time, then
reports the loss over the whole validation shard.

Run it on Debian's interpreter: /usr/bin/python3 tools/torch_ref.py --help
"""
import argparse
import contextlib
import ctypes
import inspect
import math
import os
import re
import signal
import sys
import time

TOOLS_DIR = os.path.dirname(os.path.abspath(__file__))


from pyensure import ensure  # noqa: E402

ensure("torch_ref", ["numpy", "torch"], ["python3-torch", "python3-numpy", "libopenblas0-openmp"])
import numpy as np  # noqa: E402
import torch  # noqa: E402
import torch.nn as nn  # noqa: E402
import torch.nn.functional as F  # noqa: E402

HAS_SDPA = hasattr(F, "scaled_dot_product_attention")

# ---- arguments ---------------------------------------------------------------------------------

MODEL_DEFAULTS = dict(vocab=4096, d_model=256, layers=4, heads=8, kv_heads=0, d_ff=688, seq=256,
                      batch=16)  # = configs/quickstart.yaml; kv_heads 0 = heads (no GQA)
# dsatrain config key (section.key) -> our argument
CONFIG_KEYS = {"model.vocab_size": "vocab", "model.d_model": "d_model", "model.n_layers": "layers",
               "model.n_heads": "heads", "model.n_kv_heads": "kv_heads", "model.d_ff": "d_ff",
               "model.seq_len": "seq", "train.batch_size": "batch",
               "model.tie_embeddings": "tie", "model.rope_theta": "rope_theta",
               "model.norm_eps": "norm_eps"}


def parse_args():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0],
                                 formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    m = ap.add_argument_group("model (defaults: the quick-start model)")
    m.add_argument("--config", help="read model.* and train.batch_size from a dsatrain YAML "
                   "(follows include:); explicit flags still win")
    for name, default in MODEL_DEFAULTS.items():
        m.add_argument("--" + name.replace("_", "-"), type=int, default=None,
                       help=f"(default {default})")
    m.add_argument("--untied", dest="tie", action="store_false", default=None,
                   help="separate lm_head instead of tied embeddings")
    m.add_argument("--rope-theta", type=float, default=None, help="(default 10000)")
    m.add_argument("--norm-eps", type=float, default=None, help="(default 1e-5)")
    t = ap.add_argument_group("training")
    t.add_argument("--steps", type=int, default=10, help="timed steps")
    t.add_argument("--warmup", type=int, default=3, help="untimed steps before the timed ones")
    t.add_argument("--lr", type=float, default=3e-3)
    t.add_argument("--weight-decay", type=float, default=0.1)
    t.add_argument("--decay-embeddings", action="store_true",
                   help="also weight-decay the embedding / lm_head (dsatrain's default: no)")
    t.add_argument("--grad-clip", type=float, default=1.0)
    t.add_argument("--seed", type=int, default=1337)
    t.add_argument("--data", help="llm.c token shard to train on (default: random tokens)")
    t.add_argument("--train-minutes", type=float, default=0.0,
                   help="training mode: train this long with warm-up + cosine, then evaluate --val")
    t.add_argument("--val", help="llm.c validation shard for --train-minutes")
    t.add_argument("--val-bytes", type=int, default=0,
                   help="bytes the validation tokens decode to: also report bits per byte")
    t.add_argument("--lr-warmup", type=int, default=30, help="training mode: warm-up steps")
    t.add_argument("--min-lr-ratio", type=float, default=0.1, help="training mode: cosine floor")
    t.add_argument("--log-every", type=int, default=25, help="training mode: progress every n steps")
    r = ap.add_argument_group("runtime")
    r.add_argument("--threads", type=int, default=0, help="torch.set_num_threads; 0 = leave default")
    r.add_argument("--device", choices=["cpu", "cuda"], default="cpu")
    r.add_argument("--dtype", choices=["fp32", "bf16"], default="fp32",
                   help="bf16 = autocast (bf16 matmuls, fp32 weights and optimizer)")
    r.add_argument("--attn", choices=["auto", "sdpa", "manual"], default="auto",
                   help="auto: F.scaled_dot_product_attention when this torch has it")
    r.add_argument("--compile", action="store_true", help="torch.compile the model")
    r.add_argument("--compile-timeout", type=float, default=300.0,
                   help="seconds the first (compiling) step may take before falling back to eager")
    r.add_argument("--tf32", action="store_true", help="allow TF32 matmuls on CUDA")
    r.add_argument("--check-golden", metavar="FILE",
                   help="only check this model against a tests/golden fixture (float64): "
                   "loss and every gradient")
    args = ap.parse_args()

    merged = dict(MODEL_DEFAULTS, tie=True, rope_theta=10000.0, norm_eps=1e-5)
    if args.config:
        merged.update(read_dsatrain_config(args.config))
    for key in merged:
        if getattr(args, key) is None:
            setattr(args, key, merged[key])
    if args.kv_heads <= 0:
        args.kv_heads = args.heads
    if args.d_model % args.heads or (args.d_model // args.heads) % 2 or args.heads % args.kv_heads:
        ap.error("need d_model % heads == 0, an even head dim and heads % kv_heads == 0")
    if args.train_minutes > 0 and not (args.data and args.val):
        ap.error("--train-minutes needs --data (train shard) and --val (validation shard)")
    if args.steps < 1:
        ap.error("--steps must be >= 1")
    return args


def read_dsatrain_config(path, depth=0):
    """The keys of CONFIG_KEYS from a dsatrain YAML, following `include:` (later keys win)."""
    try:
        import yaml
    except ImportError:
        sys.exit("torch_ref: --config needs python3-yaml (apt-get install -y python3-yaml)")
    if depth > 8:
        sys.exit(f"torch_ref: {path}: include: nested too deep")
    with open(path) as f:
        doc = yaml.safe_load(f) or {}
    out = {}
    inc = doc.get("include", [])
    for sub in [inc] if isinstance(inc, str) else inc:
        out.update(read_dsatrain_config(os.path.join(os.path.dirname(path), sub), depth + 1))
    for dotted, arg in CONFIG_KEYS.items():
        section, key = dotted.split(".")
        if isinstance(doc.get(section), dict) and key in doc[section]:
            out[arg] = doc[section][key]
    return out


# ---- the model (docs/design.md §3) ---------------------------------------------------------------------

def upcast(x):
    """Half-precision activations (autocast) go to float32 for norms, softmax and the loss."""
    return x.float() if x.dtype in (torch.bfloat16, torch.float16) else x


class RMSNorm(nn.Module):
    def __init__(self, dim, eps):
        super().__init__()
        self.eps = eps
        self.weight = nn.Parameter(torch.ones(dim))

    def forward(self, x):
        xf = upcast(x)
        return (xf * torch.rsqrt(xf.pow(2).mean(-1, keepdim=True) + self.eps)).to(x.dtype) * self.weight


def rope_tables(T, Dh, theta):
    """cos, sin [T, 1, Dh/2] for angle t * theta^(-2i/Dh) (broadcast over heads)."""
    inv_freq = theta ** (-torch.arange(0, Dh // 2, dtype=torch.float64) * 2.0 / Dh)
    angle = torch.arange(T, dtype=torch.float64)[:, None] * inv_freq[None, :]
    dt = torch.get_default_dtype()  # float32, or float64 under --check-golden
    return torch.cos(angle).to(dt)[:, None, :], torch.sin(angle).to(dt)[:, None, :]


def apply_rope(x, cos, sin):
    """Half-split (HF Llama rotate_half) RoPE on x [B, T, H, Dh]: pairs (i, i + Dh/2)."""
    T, half = x.shape[1], x.shape[-1] // 2
    cos, sin = cos[:T], sin[:T]
    x1, x2 = x[..., :half], x[..., half:]
    return torch.cat([x1 * cos - x2 * sin, x2 * cos + x1 * sin], dim=-1).to(x.dtype)


class Block(nn.Module):
    def __init__(self, a):
        super().__init__()
        self.H, self.Hkv, self.Dh = a.heads, a.kv_heads, a.d_model // a.heads
        self.use_sdpa = a.attn == "sdpa" or (a.attn == "auto" and HAS_SDPA)
        self.attn_norm = RMSNorm(a.d_model, a.norm_eps)
        self.qkv = nn.Linear(a.d_model, (self.H + 2 * self.Hkv) * self.Dh, bias=False)  # fused
        self.o_proj = nn.Linear(a.d_model, a.d_model, bias=False)
        self.mlp_norm = RMSNorm(a.d_model, a.norm_eps)
        self.gate_up = nn.Linear(a.d_model, 2 * a.d_ff, bias=False)  # fused gate | up
        self.down_proj = nn.Linear(a.d_ff, a.d_model, bias=False)

    def attention(self, q, k, v):
        """q [B, H, T, Dh], k, v [B, Hkv, T, Dh] -> [B, H, T, Dh]; query head j reads kv j // rep."""
        rep = self.H // self.Hkv
        if rep > 1:
            k, v = k.repeat_interleave(rep, dim=1), v.repeat_interleave(rep, dim=1)
        if self.use_sdpa:
            return F.scaled_dot_product_attention(q, k, v, is_causal=True)
        T = q.shape[2]
        scores = (q @ k.transpose(-1, -2)) * (1.0 / math.sqrt(self.Dh))
        future = torch.ones(T, T, dtype=torch.bool, device=q.device).triu_(1)
        scores = scores.masked_fill(future, float("-inf"))
        return torch.softmax(upcast(scores), dim=-1).to(v.dtype) @ v

    def forward(self, x, cos, sin):
        B, T, D = x.shape
        qkv = self.qkv(self.attn_norm(x))
        q, k, v = qkv.split([self.H * self.Dh, self.Hkv * self.Dh, self.Hkv * self.Dh], dim=-1)
        q = apply_rope(q.view(B, T, self.H, self.Dh), cos, sin).transpose(1, 2)
        k = apply_rope(k.view(B, T, self.Hkv, self.Dh), cos, sin).transpose(1, 2)
        v = v.view(B, T, self.Hkv, self.Dh).transpose(1, 2)
        o = self.attention(q, k, v).transpose(1, 2).reshape(B, T, D)
        x = x + self.o_proj(o)
        gate, up = self.gate_up(self.mlp_norm(x)).chunk(2, dim=-1)
        return x + self.down_proj(F.silu(gate) * up)


class LlamaRef(nn.Module):
    def __init__(self, a):
        super().__init__()
        self.embed = nn.Embedding(a.vocab, a.d_model)
        self.blocks = nn.ModuleList(Block(a) for _ in range(a.layers))
        self.norm = RMSNorm(a.d_model, a.norm_eps)
        self.lm_head = None if a.tie else nn.Linear(a.d_model, a.vocab, bias=False)
        cos, sin = rope_tables(a.seq, a.d_model // a.heads, a.rope_theta)
        self.register_buffer("rope_cos", cos, persistent=False)
        self.register_buffer("rope_sin", sin, persistent=False)
        # docs/design.md §3 init: normal(0, 0.02) for E and every W, Wo and Wdown scaled by 1/sqrt(2N).
        for p in self.parameters():
            if p.dim() == 2:
                nn.init.normal_(p, 0.0, 0.02)
        with torch.no_grad():
            for b in self.blocks:
                b.o_proj.weight.mul_(1.0 / math.sqrt(2 * a.layers))
                b.down_proj.weight.mul_(1.0 / math.sqrt(2 * a.layers))

    def forward(self, tokens, targets):
        x = self.embed(tokens)
        for b in self.blocks:
            x = b(x, self.rope_cos, self.rope_sin)
        x = self.norm(x)
        logits = F.linear(x, self.embed.weight if self.lm_head is None else self.lm_head.weight)
        return F.cross_entropy(upcast(logits).view(-1, logits.shape[-1]), targets.reshape(-1))


def make_optimizer(model, a, device):
    """AdamW; weight decay on the projection matrices only (not norms, not embeddings)."""
    embed_ids = {id(model.embed.weight)} | ({id(model.lm_head.weight)} if model.lm_head else set())
    decay, no_decay = [], []
    for p in model.parameters():
        is_matrix = p.dim() == 2 and (a.decay_embeddings or id(p) not in embed_ids)
        (decay if is_matrix else no_decay).append(p)
    groups = [{"params": decay, "weight_decay": a.weight_decay},
              {"params": no_decay, "weight_decay": 0.0}]
    kw = dict(lr=a.lr, betas=(0.9, 0.95), eps=1e-8)
    sig = inspect.signature(torch.optim.AdamW).parameters
    if device == "cuda" and "fused" in sig:
        kw["fused"] = True
    elif "foreach" in sig:
        kw["foreach"] = True
    return torch.optim.AdamW(groups, **kw), ("fused" if kw.get("fused") else
                                             "foreach" if kw.get("foreach") else "for-loop")


def clip_grad_norm(params, max_norm):
    if max_norm <= 0:
        return
    if "foreach" in inspect.signature(torch.nn.utils.clip_grad_norm_).parameters:
        torch.nn.utils.clip_grad_norm_(params, max_norm, foreach=True)
    else:
        torch.nn.utils.clip_grad_norm_(params, max_norm)


# ---- data --------------------------------------------------------------------------------------

def read_shard(path):
    """llm.c token shard (docs/design.md §6): 256 int32 header [magic, version, count, ...], then tokens."""
    header = np.fromfile(path, dtype="<i4", count=256)
    if header.size < 256:
        sys.exit(f"torch_ref: {path}: shorter than the 1024-byte shard header")
    magic, version, count = int(header[0]), int(header[1]), int(header[2])
    if (magic, version) == (20240520, 1):
        dtype = "<u2"
    elif (magic, version) == (20240801, 7):
        dtype = "<u4"
    else:
        sys.exit(f"torch_ref: {path}: magic {magic} version {version} is not an llm.c shard "
                 "(want 20240520/1 for uint16 or 20240801/7 for uint32 tokens)")
    tokens = np.memmap(path, dtype=dtype, mode="r", offset=1024)
    if tokens.size != count:
        sys.exit(f"torch_ref: {path}: header says {count} tokens, file holds {tokens.size}")
    return tokens


class Batches:
    """Random windows of T+1 tokens from a shard, or random tokens when there is no shard."""

    def __init__(self, a, path, device):
        self.B, self.T, self.V, self.device = a.batch, a.seq, a.vocab, device
        self.rng = np.random.default_rng(a.seed)
        self.tokens = read_shard(path) if path else None
        if self.tokens is not None:
            if self.tokens.size < self.T + 2:
                sys.exit(f"torch_ref: {path}: {self.tokens.size} tokens, need > seq + 1")
            top = int(self.tokens.max())
            if top >= self.V:
                sys.exit(f"torch_ref: {path}: token id {top} >= vocab {self.V} (wrong --vocab?)")

    def next(self):
        if self.tokens is None:
            w = self.rng.integers(0, self.V, size=(self.B, self.T + 1))
        else:
            starts = self.rng.integers(0, self.tokens.size - self.T - 1, size=self.B)
            w = np.stack([self.tokens[s:s + self.T + 1] for s in starts])
        w = torch.from_numpy(w.astype(np.int64))
        if self.device == "cuda":
            w = w.pin_memory().to(self.device, non_blocking=True)
        return w[:, :-1], w[:, 1:]


# ---- environment reporting ---------------------------------------------------------------------

REFERENCE_BLAS_DIR = "/usr/lib/x86_64-linux-gnu/blas/"
_BLAS_RE = re.compile(r"^lib(openblas|blas|cblas|mkl|blis|cublas)")


def mapped_blas_libs():
    """Paths of the BLAS libraries mapped into this process, in load order."""
    paths = []
    with open("/proc/self/maps") as f:
        for line in f:
            parts = line.split(None, 5)
            if len(parts) == 6:
                path = parts[5].strip()
                if _BLAS_RE.match(os.path.basename(path)) and path not in paths:
                    paths.append(path)
    return paths


def blas_report(device):
    """(name to print, warnings). The implementation library wins over the libblas.so.3 shim."""
    libs = mapped_blas_libs()
    warnings = []
    if device == "cuda":
        cu = [p for p in libs if "cublas" in os.path.basename(p)]
        if cu:
            return cu[0], warnings
    cpu = [p for p in libs if "cublas" not in os.path.basename(p)]
    impl = [p for p in cpu if re.match(r"^lib(openblas|mkl|blis)", os.path.basename(p))]
    ref = [p for p in cpu if p.startswith(REFERENCE_BLAS_DIR)]
    if ref:
        warnings.append(
            f"WARNING: torch mapped the slow reference BLAS {ref[0]}"
            + (f" (next to {impl[0]})" if impl else "")
            + "; run with LD_LIBRARY_PATH=/usr/lib/x86_64-linux-gnu/openblas-openmp or "
            "`update-alternatives --set libblas.so.3-x86_64-linux-gnu "
            "/usr/lib/x86_64-linux-gnu/openblas-openmp/libblas.so.3`")
    return (ref or impl or cpu or ["none"])[0], warnings


def openblas_info(path):
    """'OpenBLAS 0.3.21 ... parallel=openmp' from the mapped library itself, or ''."""
    if "openblas" not in os.path.basename(path):
        return ""
    try:
        lib = ctypes.CDLL(path)
        lib.openblas_get_config.restype = ctypes.c_char_p
        par = {0: "sequential", 1: "pthreads", 2: "openmp"}.get(lib.openblas_get_parallel(), "?")
        return f"{lib.openblas_get_config().decode().strip()} parallel={par}"
    except (OSError, AttributeError):
        return ""


# ---- training ----------------------------------------------------------------------------------

class Trainer:
    def __init__(self, a):
        self.a = a
        self.dev = a.device
        self.model = LlamaRef(a).to(self.dev)
        self.train_model = self.model
        self.opt, self.opt_kind = make_optimizer(self.model, a, self.dev)
        self.params = [p for p in self.model.parameters()]
        if a.dtype == "bf16":
            self.autocast = lambda: torch.autocast(self.dev, dtype=torch.bfloat16)
        else:
            self.autocast = contextlib.nullcontext
        self.compiled = False
        if a.compile:
            if hasattr(torch, "compile"):
                self.train_model = torch.compile(self.model)
                self.compiled = True
            else:
                print(f"torch_ref: --compile skipped: torch {torch.__version__} has no torch.compile")

    def step(self, x, y, lr):
        for g in self.opt.param_groups:
            g["lr"] = lr
        with self.autocast():
            loss = self.train_model(x, y)
        loss.backward()
        clip_grad_norm(self.params, self.a.grad_clip)
        self.opt.step()
        self.opt.zero_grad(set_to_none=True)
        return loss.detach()

    def first_step(self, x, y, lr):
        """The first step, which compiles under --compile: capped by --compile-timeout."""
        if not self.compiled:
            return self.step(x, y, lr)

        def on_alarm(signum, frame):
            raise TimeoutError

        old = signal.signal(signal.SIGALRM, on_alarm)
        signal.setitimer(signal.ITIMER_REAL, self.a.compile_timeout)
        t0 = time.perf_counter()
        try:
            loss = self.step(x, y, lr)
            self.sync()
            print(f"torch_ref: torch.compile took {time.perf_counter() - t0:.1f} s (first step)")
            return loss
        except TimeoutError:
            print(f"torch_ref: torch.compile did not finish within {self.a.compile_timeout:.0f} s; "
                  "continuing eager")
        except Exception as e:  # noqa: BLE001 - any compiler failure: report and go eager
            print(f"torch_ref: torch.compile failed ({type(e).__name__}: {str(e)[:200]}); "
                  "continuing eager")
        finally:
            signal.setitimer(signal.ITIMER_REAL, 0)
            signal.signal(signal.SIGALRM, old)
        self.train_model, self.compiled = self.model, False
        self.opt.zero_grad(set_to_none=True)
        return self.step(x, y, lr)

    def sync(self):
        if self.dev == "cuda":
            torch.cuda.synchronize()

    @torch.no_grad()
    def evaluate(self, path):
        """Mean loss over the whole shard: consecutive windows of T (the last one shorter)."""
        tokens = read_shard(path)
        T, B = self.a.seq, self.a.batch
        n_pred = tokens.size - 1
        starts = list(range(0, n_pred, T))
        total_nats, total_tokens = 0.0, 0
        self.model.eval()
        for i in range(0, len(starts), B):
            group = starts[i:i + B]
            lengths = {min(T, n_pred - s) for s in group}
            for L in sorted(lengths):  # the short tail window goes alone
                chunk = [s for s in group if min(T, n_pred - s) == L]
                w = torch.from_numpy(np.stack([tokens[s:s + L + 1] for s in chunk]).astype(np.int64))
                w = w.to(self.dev)
                with self.autocast():
                    loss = self.model(w[:, :-1], w[:, 1:])
                total_nats += loss.item() * len(chunk) * L
                total_tokens += len(chunk) * L
        self.model.train()
        return total_nats / total_tokens, total_tokens


def lr_at(step, planned, a):
    """Linear warm-up to the peak over a.lr_warmup steps, then cosine to min_lr_ratio * peak."""
    if step < a.lr_warmup:
        return a.lr * (step + 1) / a.lr_warmup
    progress = min(1.0, (step - a.lr_warmup) / max(1, planned - a.lr_warmup))
    floor = a.lr * a.min_lr_ratio
    return floor + (a.lr - floor) * 0.5 * (1.0 + math.cos(math.pi * progress))


def run_benchmark(a, tr, batches, tail):
    """--warmup untimed steps, then --steps timed steps at the constant peak lr."""
    x, y = batches.next()
    loss = tr.first_step(x, y, a.lr)
    for _ in range(max(0, a.warmup - 1)):
        x, y = batches.next()
        loss = tr.step(x, y, a.lr)
    tr.sync()
    step_s = []  # per-step times on the CPU (synchronous); on CUDA only the total is taken
    t0 = time.perf_counter()
    for _ in range(a.steps):
        ts = time.perf_counter()
        x, y = batches.next()
        loss = tr.step(x, y, a.lr)
        if a.device == "cpu":
            step_s.append(time.perf_counter() - ts)
    tr.sync()
    elapsed = time.perf_counter() - t0
    if step_s:
        ms = sorted(1000 * t for t in step_s)
        print(f"torch_ref: step_ms min {ms[0]:.1f} median {ms[len(ms) // 2]:.1f} max {ms[-1]:.1f}"
              + ("  (max > 1.5 x median: noisy, is the machine busy?)"
                 if ms[-1] > 1.5 * ms[len(ms) // 2] else ""))
    tokens = a.steps * a.batch * a.seq
    print(f"torch_ref: tokens_per_s={tokens / elapsed:.1f} step_ms={1000 * elapsed / a.steps:.2f} "
          f"loss={loss.item():.4f} {tail()}")


def run_training(a, tr, batches, tail):
    """Train for a.train_minutes, planning the cosine length from the measured step time."""
    budget = 60.0 * a.train_minutes
    planned = None
    t_start = time.perf_counter()
    t_first = None  # end of step 0 (which warms caches or compiles): step time is measured after
    step, loss, lr = 0, None, 0.0
    while True:
        if planned is not None and step >= planned:
            break
        if time.perf_counter() - t_start >= budget:
            print(f"torch_ref: time budget spent at step {step} of {planned} planned")
            break
        x, y = batches.next()
        lr = lr_at(step, planned or 10 ** 9, a)
        loss = tr.first_step(x, y, lr) if step == 0 else tr.step(x, y, lr)
        step += 1
        if step == 1:
            tr.sync()
            t_first = time.perf_counter()
        # Plan at step 5 and again when the warm-up ends: the cosine has not started yet, so
        # re-planning changes no learning rate already used.
        if step in (5, a.lr_warmup) and step > 1:
            tr.sync()
            now = time.perf_counter()
            per_step = (now - t_first) / (step - 1)
            planned = max(a.lr_warmup + 1, step + int((budget - (now - t_start)) / per_step))
            print(f"torch_ref: step time {1000 * per_step:.1f} ms -> {planned} steps planned "
                  f"in {a.train_minutes:g} min")
        if step % a.log_every == 0:
            el = time.perf_counter() - t_start
            print(f"torch_ref: step {step}/{planned} loss {loss.item():.4f} lr {lr:.2e} "
                  f"{step * a.batch * a.seq / el:.0f} tok/s {el:.0f} s", flush=True)
    tr.sync()
    train_s = time.perf_counter() - t_start
    train_loss = loss.item()
    t0 = time.perf_counter()
    val_loss, n_val = tr.evaluate(a.val)
    bpb = ""
    if a.val_bytes > 0:
        bpb = f" val_bpb={val_loss * n_val / math.log(2) / a.val_bytes:.4f}"
    print(f"torch_ref: evaluated {n_val} val tokens in {time.perf_counter() - t0:.1f} s")
    print(f"torch_ref: train_s={train_s:.1f} steps={step} "
          f"tokens_per_s={step * a.batch * a.seq / train_s:.1f} train_loss={train_loss:.4f} "
          f"val_loss={val_loss:.4f} val_ppl={math.exp(val_loss):.2f}{bpb} {tail()}")


def check_golden(path):
    """Loads a make_golden.py fixture into LlamaRef (fusing q|k|v and gate|up) in float64 and
    compares the loss and all gradients: the peer computes the same function as the fixtures."""
    sys.path.insert(0, TOOLS_DIR)
    from make_golden import read_safetensors
    t, meta = read_safetensors(path)
    a = argparse.Namespace(vocab=int(meta["vocab_size"]), d_model=int(meta["d_model"]),
                           layers=int(meta["n_layers"]), heads=int(meta["n_heads"]),
                           kv_heads=int(meta["n_kv_heads"]), d_ff=int(meta["d_ff"]),
                           seq=int(meta["seq_len"]), tie=meta["tie_embeddings"] == "true",
                           rope_theta=float(meta["rope_theta"]), norm_eps=float(meta["norm_eps"]),
                           attn="auto")
    torch.set_default_dtype(torch.float64)
    model = LlamaRef(a)
    g = lambda name: torch.from_numpy(t[name].copy())  # noqa: E731
    # ours -> list of fixture names concatenated along dim 0
    mapping = {"embed.weight": ["model.embed_tokens.weight"], "norm.weight": ["model.norm.weight"]}
    if not a.tie:
        mapping["lm_head.weight"] = ["lm_head.weight"]
    for i in range(a.layers):
        p = f"model.layers.{i}."
        mapping.update({
            f"blocks.{i}.attn_norm.weight": [p + "input_layernorm.weight"],
            f"blocks.{i}.qkv.weight": [p + f"self_attn.{n}_proj.weight" for n in "qkv"],
            f"blocks.{i}.o_proj.weight": [p + "self_attn.o_proj.weight"],
            f"blocks.{i}.mlp_norm.weight": [p + "post_attention_layernorm.weight"],
            f"blocks.{i}.gate_up.weight": [p + "mlp.gate_proj.weight", p + "mlp.up_proj.weight"],
            f"blocks.{i}.down_proj.weight": [p + "mlp.down_proj.weight"]})
    params = dict(model.named_parameters())
    if set(params) != set(mapping):
        sys.exit(f"torch_ref: parameter names changed: {sorted(set(params) ^ set(mapping))}")
    with torch.no_grad():
        for ours, theirs in mapping.items():
            params[ours].copy_(torch.cat([g(n) for n in theirs], dim=0))
    loss = model(g("inputs").long(), g("targets").long())
    loss.backward()
    worst = abs(loss.item() - float(t["loss"]))
    for ours, theirs in mapping.items():
        want = torch.cat([g("grad." + n) for n in theirs], dim=0)
        worst = max(worst, (params[ours].grad - want).abs().max().item())
    ok = worst < 1e-12
    print(f"torch_ref: {os.path.basename(path)}: loss {loss.item():.12f} (fixture "
          f"{float(t['loss']):.12f}), max |difference| in loss and gradients {worst:.2e}: "
          f"{'ok' if ok else 'MISMATCH'}")
    return ok


def main():
    a = parse_args()
    if a.check_golden:
        sys.exit(0 if check_golden(a.check_golden) else 1)
    if a.device == "cuda" and not torch.cuda.is_available():
        sys.exit("torch_ref: --device cuda but torch.cuda.is_available() is False")
    if a.dtype == "bf16" and a.device != "cuda":
        print("torch_ref: note: bf16 autocast on the CPU (the peer setting is bf16 on CUDA)")
    if a.threads > 0:
        torch.set_num_threads(a.threads)
    if a.device == "cuda":
        torch.backends.cuda.matmul.allow_tf32 = a.tf32
        torch.backends.cudnn.allow_tf32 = a.tf32
    torch.manual_seed(a.seed)

    tr = Trainer(a)
    blas, warnings = blas_report(a.device)
    n_params = sum(p.numel() for p in tr.model.parameters())
    attn = "sdpa" if tr.model.blocks[0].use_sdpa else "matmul+mask+softmax"
    print(f"torch_ref: torch {torch.__version__} num_threads={torch.get_num_threads()} "
          f"OMP_WAIT_POLICY={os.environ.get('OMP_WAIT_POLICY', '(unset)')} "
          f"device={a.device} dtype={a.dtype} attention={attn} adamw={tr.opt_kind}"
          f"{' compile' if tr.compiled else ''}")
    info = openblas_info(blas)
    print(f"torch_ref: blas={blas}{' (' + info + ')' if info else ''}")
    for w in warnings:
        print(w)
    print(f"torch_ref: model V={a.vocab} D={a.d_model} N={a.layers} H={a.heads} Hkv={a.kv_heads} "
          f"F={a.d_ff} T={a.seq} B={a.batch} tied={'yes' if a.tie else 'no'} params={n_params}")
    if a.data:
        print(f"torch_ref: data {a.data}")
    else:
        print("torch_ref: no --data: training on random tokens (speed does not depend on them)")
    batches = Batches(a, a.data, a.device)
    def tail():  # after the run: on CUDA, cuBLAS is loaded by the first matmul
        return (f"threads={torch.get_num_threads()} device={a.device} dtype={a.dtype} "
                f"blas={blas_report(a.device)[0]}")
    if a.train_minutes > 0:
        run_training(a, tr, batches, tail)
    else:
        run_benchmark(a, tr, batches, tail)


if __name__ == "__main__":
    main()
