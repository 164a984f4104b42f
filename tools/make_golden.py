#!/usr/bin/python3
"""Golden fixtures for the C++ tests (docs/design.md §3 model, §7 "Golden fixtures").

Builds the dense Llama-style model of docs/design.md §3 by hand in PyTorch, float64, from fixed weights
(numpy RandomState), and writes per fixture one safetensors file under tests/golden/ with the
weights (Hugging Face Llama names, docs/design.md §6), inputs, targets, logits, loss and the gradient of the
mean loss with respect to every weight. See tools/README.md for the layout.

The DSA fixtures (DSA_FIXTURES) add a lightning indexer per layer (docs/design.md §4) and store the
warm-up stage (dense attention; indexer scores, L_I per layer and the indexer's gradients) and the
sparse stage (top-k selections under the tie rule, LM loss and logits, L_I over S_t, every
gradient), with the k-th-place selection margin of every row.

Before writing, the script checks itself: the PyTorch model against an independent loop-by-loop
numpy implementation, causality (logits at t from the full sequence equal those from the sequence
cut after t), the RoPE relative-position property, and autograd against central differences;
for DSA also the selection (loop reference, causality, k = T equals dense) and L_I's gradients.

    /usr/bin/python3 tools/make_golden.py            # writes tests/golden/*.safetensors
    /usr/bin/python3 tools/make_golden.py --check    # self-checks only, writes nothing

Output is byte-identical from run to run (fixed seeds, one thread, sorted JSON header).
"""
import argparse
import json
import math
import os
import sys

TOOLS_DIR = os.path.dirname(os.path.abspath(__file__))
REPO_DIR = os.path.dirname(TOOLS_DIR)


from pyensure import ensure  # noqa: E402

ensure("make_golden", ["numpy", "torch"], ["python3-torch", "python3-numpy", "libopenblas0-openmp"])
import numpy as np  # noqa: E402
import torch  # noqa: E402
import torch.nn.functional as F  # noqa: E402

F64 = torch.float64

# The fixtures. Changing one changes the committed files: regenerate and commit them together.
FIXTURES = [
    dict(name="dense_tied", vocab_size=67, d_model=48, n_layers=2, n_heads=4, n_kv_heads=2,
         d_ff=40, seq_len=11, batch=2, tie_embeddings=True, rope_theta=10000.0, norm_eps=1e-5,
         seed=1234),
    dict(name="dense_untied", vocab_size=53, d_model=32, n_layers=1, n_heads=2, n_kv_heads=2,
         d_ff=24, seq_len=9, batch=3, tie_embeddings=False, rope_theta=10000.0, norm_eps=1e-5,
         seed=4321),
]
INIT_STD = 0.02
GAIN_STD = 0.1  # norm gains are 1 + GAIN_STD * normal, so the tests exercise them


# ---- weights -----------------------------------------------------------------------------------

def weight_names(cfg):
    """Hugging Face Llama names (docs/design.md §6), in the order the weights are drawn and stored."""
    names = ["model.embed_tokens.weight"]
    for i in range(cfg["n_layers"]):
        p = f"model.layers.{i}."
        names += [p + "input_layernorm.weight",
                  p + "self_attn.q_proj.weight", p + "self_attn.k_proj.weight",
                  p + "self_attn.v_proj.weight", p + "self_attn.o_proj.weight",
                  p + "post_attention_layernorm.weight",
                  p + "mlp.gate_proj.weight", p + "mlp.up_proj.weight", p + "mlp.down_proj.weight"]
    names.append("model.norm.weight")
    if not cfg["tie_embeddings"]:
        names.append("lm_head.weight")
    return names


def weight_shape(cfg, name):
    V, D, F_ = cfg["vocab_size"], cfg["d_model"], cfg["d_ff"]
    Dh = D // cfg["n_heads"]
    kv = cfg["n_kv_heads"] * Dh
    leaf = name.split(".")[-2]
    return {"embed_tokens": (V, D), "lm_head": (V, D),
            "input_layernorm": (D,), "post_attention_layernorm": (D,), "norm": (D,),
            "q_proj": (D, D), "k_proj": (kv, D), "v_proj": (kv, D), "o_proj": (D, D),
            "gate_proj": (F_, D), "up_proj": (F_, D), "down_proj": (D, F_)}[leaf]


def make_weights(cfg, rng):
    """docs/design.md §3 init (normal(0, 0.02); o_proj and down_proj scaled by 1/sqrt(2N)), except the
    norm gains, which are 1 + 0.1 * normal instead of 1. PyTorch Linear layout [out, in]."""
    resid_scale = 1.0 / math.sqrt(2.0 * cfg["n_layers"])
    weights = {}
    for name in weight_names(cfg):
        shape = weight_shape(cfg, name)
        if len(shape) == 1:
            w = 1.0 + GAIN_STD * rng.standard_normal(shape)
        else:
            w = cfg.get("init_std", INIT_STD) * rng.standard_normal(shape)
            if name.endswith(("o_proj.weight", "down_proj.weight")):
                w = w * resid_scale
        weights[name] = np.ascontiguousarray(w, dtype=np.float64)
    return weights


# ---- the model, PyTorch float64 ----------------------------------------------------------------

def rms_norm(x, g, eps):
    return x / torch.sqrt(torch.mean(x * x, dim=-1, keepdim=True) + eps) * g


def rope_cos_sin(T, Dh, theta):
    """cos/sin [T, Dh/2] of angle t * theta^(-2i/Dh)."""
    i = torch.arange(Dh // 2, dtype=F64)
    inv_freq = theta ** (-2.0 * i / Dh)
    angle = torch.arange(T, dtype=F64)[:, None] * inv_freq[None, :]
    return torch.cos(angle), torch.sin(angle)


def apply_rope(x, cos, sin):
    """Half-split (NeoX / HF Llama rotate_half) RoPE on x [B, T, H, Dh]: pairs (i, i + Dh/2)."""
    half = x.shape[-1] // 2
    x1, x2 = x[..., :half], x[..., half:]
    c, s = cos[None, :, None, :], sin[None, :, None, :]
    return torch.cat([x1 * c - x2 * s, x2 * c + x1 * s], dim=-1)


def causal_attention(q, k, v, n_rep):
    """q [B, T, H, Dh], k, v [B, T, Hkv, Dh]; query head j reads kv head j // n_rep."""
    B, T, H, Dh = q.shape
    k = k.repeat_interleave(n_rep, dim=2)
    v = v.repeat_interleave(n_rep, dim=2)
    q, k, v = (t.transpose(1, 2) for t in (q, k, v))  # [B, H, T, Dh]
    scores = q @ k.transpose(-1, -2) / math.sqrt(Dh)
    future = torch.triu(torch.ones(T, T, dtype=torch.bool), diagonal=1)
    scores = scores.masked_fill(future, float("-inf"))
    o = torch.softmax(scores, dim=-1) @ v
    return o.transpose(1, 2).reshape(B, T, H * Dh)


def forward(cfg, W, tokens):
    """W: name -> float64 tensor. tokens int64 [B, T]. Returns logits [B, T, V]."""
    B, T = tokens.shape
    D, H, Hkv = cfg["d_model"], cfg["n_heads"], cfg["n_kv_heads"]
    Dh, eps = D // H, cfg["norm_eps"]
    cos, sin = rope_cos_sin(T, Dh, cfg["rope_theta"])
    x = W["model.embed_tokens.weight"][tokens]
    for i in range(cfg["n_layers"]):
        p = f"model.layers.{i}."
        h = rms_norm(x, W[p + "input_layernorm.weight"], eps)
        q = (h @ W[p + "self_attn.q_proj.weight"].T).view(B, T, H, Dh)
        k = (h @ W[p + "self_attn.k_proj.weight"].T).view(B, T, Hkv, Dh)
        v = (h @ W[p + "self_attn.v_proj.weight"].T).view(B, T, Hkv, Dh)
        q, k = apply_rope(q, cos, sin), apply_rope(k, cos, sin)
        o = causal_attention(q, k, v, H // Hkv)
        x = x + o @ W[p + "self_attn.o_proj.weight"].T
        h2 = rms_norm(x, W[p + "post_attention_layernorm.weight"], eps)
        gate = h2 @ W[p + "mlp.gate_proj.weight"].T
        up = h2 @ W[p + "mlp.up_proj.weight"].T
        x = x + (F.silu(gate) * up) @ W[p + "mlp.down_proj.weight"].T
    xf = rms_norm(x, W["model.norm.weight"], eps)
    head = W["model.embed_tokens.weight"] if cfg["tie_embeddings"] else W["lm_head.weight"]
    return xf @ head.T


def mean_cross_entropy(logits, targets):
    V = logits.shape[-1]
    return F.cross_entropy(logits.reshape(-1, V), targets.reshape(-1), reduction="mean")


# ---- independent reference: loops in numpy, written from docs/design.md §3 alone -----------------------

def naive_forward(cfg, Wn, tokens):
    """Straightforward per-position, per-head evaluation. Wn: name -> numpy float64 array."""
    B, T = tokens.shape
    D, H, Hkv = cfg["d_model"], cfg["n_heads"], cfg["n_kv_heads"]
    Dh, eps, theta = D // H, cfg["norm_eps"], cfg["rope_theta"]
    half = Dh // 2

    def norm(vec, g):
        return vec / math.sqrt(float(np.mean(vec * vec)) + eps) * g

    def rotate(vec, t):  # one head vector [Dh] at position t
        out = vec.copy()
        for i in range(half):
            a = t * theta ** (-2.0 * i / Dh)
            c, s = math.cos(a), math.sin(a)
            out[i] = vec[i] * c - vec[i + half] * s
            out[i + half] = vec[i] * s + vec[i + half] * c
        return out

    logits = np.zeros((B, T, cfg["vocab_size"]))
    for b in range(B):
        x = [Wn["model.embed_tokens.weight"][tokens[b, t]].copy() for t in range(T)]
        for li in range(cfg["n_layers"]):
            p = f"model.layers.{li}."
            Wq, Wk, Wv, Wo = (Wn[p + f"self_attn.{n}_proj.weight"] for n in "qkvo")
            qs, ks, vs = [], [], []
            for t in range(T):
                h = norm(x[t], Wn[p + "input_layernorm.weight"])
                q, k, v = Wq.dot(h), Wk.dot(h), Wv.dot(h)
                qs.append([rotate(q[j * Dh:(j + 1) * Dh], t) for j in range(H)])
                ks.append([rotate(k[j * Dh:(j + 1) * Dh], t) for j in range(Hkv)])
                vs.append([v[j * Dh:(j + 1) * Dh] for j in range(Hkv)])
            new_x = []
            for t in range(T):
                o = np.zeros(D)
                for j in range(H):
                    kvh = j // (H // Hkv)
                    s = np.array([qs[t][j].dot(ks[u][kvh]) / math.sqrt(Dh) for u in range(t + 1)])
                    w = np.exp(s - s.max())
                    w /= w.sum()
                    o[j * Dh:(j + 1) * Dh] = sum(w[u] * vs[u][kvh] for u in range(t + 1))
                xt = x[t] + Wo.dot(o)
                h2 = norm(xt, Wn[p + "post_attention_layernorm.weight"])
                g = Wn[p + "mlp.gate_proj.weight"].dot(h2)
                u_ = Wn[p + "mlp.up_proj.weight"].dot(h2)
                act = g / (1.0 + np.exp(-g)) * u_
                new_x.append(xt + Wn[p + "mlp.down_proj.weight"].dot(act))
            x = new_x
        head = Wn["model.embed_tokens.weight" if cfg["tie_embeddings"] else "lm_head.weight"]
        for t in range(T):
            logits[b, t] = head.dot(norm(x[t], Wn["model.norm.weight"]))
    return logits


def naive_loss(logits, targets):
    total = 0.0
    for b in range(logits.shape[0]):
        for t in range(logits.shape[1]):
            row = logits[b, t]
            m = row.max()
            total += m + math.log(np.exp(row - m).sum()) - row[targets[b, t]]
    return total / (logits.shape[0] * logits.shape[1])


# ---- self-checks -------------------------------------------------------------------------------

def check(cond, what):
    if not cond:
        sys.exit(f"make_golden: SELF-CHECK FAILED: {what}")


def self_check(cfg, Wn, W, tokens, targets, logits, loss, grads, rng):
    name = cfg["name"]
    # 1. independent loop implementation
    ref = naive_forward(cfg, Wn, tokens.numpy())
    err = np.max(np.abs(ref - logits.numpy()))
    check(err < 1e-12, f"{name}: logits differ from the loop reference by {err:.3e}")
    lerr = abs(naive_loss(ref, targets.numpy()) - loss.item())
    check(lerr < 1e-12, f"{name}: loss differs from the loop reference by {lerr:.3e}")

    # 2. causality: logits at t from the sequence cut after t, and with the future changed
    T = tokens.shape[1]
    with torch.no_grad():
        for t in range(T):
            cut = forward(cfg, W, tokens[:, :t + 1])[:, t]
            check(torch.max(torch.abs(cut - logits[:, t])).item() < 1e-12,
                  f"{name}: logits at t={t} depend on tokens after t (cut sequence)")
        if T > 2:
            t = T // 2
            changed = tokens.clone()
            changed[:, t + 1:] = (changed[:, t + 1:] + 1) % cfg["vocab_size"]
            other = forward(cfg, W, changed)
            check(torch.max(torch.abs(other[:, :t + 1] - logits[:, :t + 1])).item() < 1e-12,
                  f"{name}: changing tokens after t={t} changed logits at or before t")
            check(torch.max(torch.abs(other[:, t + 1:] - logits[:, t + 1:])).item() > 1e-6,
                  f"{name}: changing tokens changed nothing (test is vacuous)")

    # 3. RoPE: rotation keeps norms, and q_t . k_s depends on t - s only
    Dh = cfg["d_model"] // cfg["n_heads"]
    cos, sin = rope_cos_sin(T + 3, Dh, cfg["rope_theta"])
    q = torch.tensor(rng.standard_normal((1, 1, 1, Dh)))
    k = torch.tensor(rng.standard_normal((1, 1, 1, Dh)))
    qs = apply_rope(q.expand(1, T + 3, 1, Dh), cos, sin)[0, :, 0]
    ks = apply_rope(k.expand(1, T + 3, 1, Dh), cos, sin)[0, :, 0]
    check(torch.allclose(qs.norm(dim=-1), q.norm().expand(T + 3), rtol=0, atol=1e-12),
          f"{name}: RoPE changes vector norms")
    check(abs((qs[5] @ ks[2]) - (qs[T + 2] @ ks[T - 1])).item() < 1e-12,
          f"{name}: RoPE score is not a function of the distance t - s")

    # 4. autograd against central differences, a few entries of several tensors
    h = 1e-5  # round-off ~1e-16 * loss / h ~ 1e-10; truncation ~h^2 ~ 1e-10
    picks = ["model.embed_tokens.weight", "model.layers.0.input_layernorm.weight",
             "model.layers.0.self_attn.q_proj.weight", "model.layers.0.self_attn.k_proj.weight",
             "model.layers.0.self_attn.v_proj.weight", "model.layers.0.mlp.down_proj.weight",
             "model.norm.weight", "lm_head.weight"]
    worst = 0.0
    with torch.no_grad():
        for wname in picks:
            if wname not in W:
                continue
            flat = W[wname].view(-1)
            gflat = grads[wname].reshape(-1)
            # the entry with the largest gradient (a meaningful test) and one random entry
            for idx in (int(torch.argmax(gflat.abs())), int(rng.randint(flat.numel()))):
                saved = flat[idx].item()
                flat[idx] = saved + h
                lp = mean_cross_entropy(forward(cfg, W, tokens), targets).item()
                flat[idx] = saved - h
                lm = mean_cross_entropy(forward(cfg, W, tokens), targets).item()
                flat[idx] = saved
                fd = (lp - lm) / (2 * h)
                an = gflat[idx].item()
                rel = abs(fd - an) / max(abs(an), 1e-3)  # below 1e-3: absolute error
                worst = max(worst, rel)
                check(abs(fd - an) <= 1e-8 + 1e-5 * abs(an), f"{name}: d loss / d {wname}[{idx}] autograd {an:.9e} "
                                  f"vs central difference {fd:.9e}")
    return err, worst


# ---- safetensors writer / reader (numpy only) --------------------------------------------------

_DTYPES = {np.dtype("<f8"): "F64", np.dtype("<f4"): "F32", np.dtype("<i4"): "I32",
           np.dtype("<i8"): "I64"}


def write_safetensors(path, tensors, metadata):
    """tensors: list of (name, numpy array), stored in this order. Deterministic bytes."""
    header = {"__metadata__": dict(metadata)}
    blobs, offset = [], 0
    for name, arr in tensors:
        # (np.ascontiguousarray would turn the 0-d "loss" into shape [1])
        arr = np.asarray(arr).astype(np.asarray(arr).dtype.newbyteorder("<"), order="C")
        blob = arr.tobytes(order="C")
        header[name] = {"dtype": _DTYPES[arr.dtype], "shape": list(arr.shape),
                        "data_offsets": [offset, offset + len(blob)]}
        blobs.append(blob)
        offset += len(blob)
    text = json.dumps(header, sort_keys=True, separators=(",", ":")).encode("utf-8")
    text += b" " * ((8 - len(text) % 8) % 8)  # data starts 8-byte aligned, as safetensors pads
    tmp = path + ".tmp"
    with open(tmp, "wb") as f:
        f.write(len(text).to_bytes(8, "little"))
        f.write(text)
        for blob in blobs:
            f.write(blob)
    os.replace(tmp, path)


def read_safetensors(path):
    inv = {v: k for k, v in _DTYPES.items()}
    with open(path, "rb") as f:
        raw = f.read()
    n = int.from_bytes(raw[:8], "little")
    header = json.loads(raw[8:8 + n])
    meta = header.pop("__metadata__", {})
    data = raw[8 + n:]
    out = {}
    for name, info in header.items():
        a, b = info["data_offsets"]
        out[name] = np.frombuffer(data[a:b], dtype=inv[info["dtype"]]).reshape(info["shape"])
    return out, meta


# ---- one fixture -------------------------------------------------------------------------------

def build_fixture(cfg):
    D, H, Hkv = cfg["d_model"], cfg["n_heads"], cfg["n_kv_heads"]
    assert D % H == 0 and (D // H) % 2 == 0 and H % Hkv == 0, cfg
    rng = np.random.RandomState(cfg["seed"])
    Wn = make_weights(cfg, rng)
    seq = rng.randint(0, cfg["vocab_size"], size=(cfg["batch"], cfg["seq_len"] + 1))
    inputs = torch.tensor(seq[:, :-1], dtype=torch.int64)
    targets = torch.tensor(seq[:, 1:], dtype=torch.int64)

    W = {n: torch.tensor(a, dtype=F64).requires_grad_(True) for n, a in Wn.items()}
    logits = forward(cfg, W, inputs)
    loss = mean_cross_entropy(logits, targets)
    loss.backward()
    grads = {n: W[n].grad.detach().clone() for n in W}
    W = {n: w.detach() for n, w in W.items()}
    logits = logits.detach()
    loss = loss.detach()

    fd_err = self_check(cfg, Wn, W, inputs, targets, logits, loss, grads,
                        np.random.RandomState(cfg["seed"] + 1))

    tensors = [("inputs", inputs.numpy().astype("<i4")), ("targets", targets.numpy().astype("<i4"))]
    tensors += [(n, Wn[n]) for n in weight_names(cfg)]
    tensors += [("logits", logits.numpy()), ("loss", np.array(loss.item(), dtype="<f8"))]
    tensors += [("grad." + n, grads[n].numpy()) for n in weight_names(cfg)]
    metadata = {
        "vocab_size": str(cfg["vocab_size"]), "d_model": str(cfg["d_model"]),
        "n_layers": str(cfg["n_layers"]), "n_heads": str(cfg["n_heads"]),
        "n_kv_heads": str(cfg["n_kv_heads"]), "d_ff": str(cfg["d_ff"]),
        "seq_len": str(cfg["seq_len"]),
        "tie_embeddings": "true" if cfg["tie_embeddings"] else "false",
        "rope_theta": repr(float(cfg["rope_theta"])), "norm_eps": repr(float(cfg["norm_eps"])),
        "batch": str(cfg["batch"]), "seed": str(cfg["seed"]),
        "init_std": repr(INIT_STD), "norm_gain_std": repr(GAIN_STD),
        "generator": "tools/make_golden.py",
    }
    max_grad = max(g.abs().max().item() for g in grads.values())
    return tensors, metadata, loss.item(), max_grad, fd_err


# ---- DeepSeek Sparse Attention fixtures (docs/design.md §4) --------------------------------------------
#
# The same model with a lightning indexer per layer, in the two indexer training stages:
#   warm-up: dense attention; the indexer is trained by L_I over s <= t (main model frozen);
#   sparse:  S_t = top-k of the indexer scores (tie rule: higher score, then smaller key index);
#            attention over S_t; the main model gets the LM loss through the sparse attention,
#            the indexer L_I over S_t.

DSA_FIXTURES = [
    dict(name="dsa_gqa_weights", vocab_size=61, d_model=48, n_layers=2, n_heads=4, n_kv_heads=2,
         d_ff=40, seq_len=13, batch=2, tie_embeddings=True, rope_theta=10000.0, norm_eps=1e-5,
         indexer_heads=4, indexer_dim=12, indexer_rope_dims=4, indexer_weights=True, top_k=4,
         init_std=0.1, seed=2024),
    dict(name="dsa_mha_noweights", vocab_size=47, d_model=32, n_layers=2, n_heads=2,
         n_kv_heads=2, d_ff=24, seq_len=16, batch=2, tie_embeddings=False, rope_theta=10000.0,
         norm_eps=1e-5, indexer_heads=1, indexer_dim=8, indexer_rope_dims=6,
         indexer_weights=False, top_k=5, init_std=0.1, seed=777),
]
# init_std 0.1 instead of DESIGN's 0.02 (o_proj/down_proj still scaled by 1/sqrt(2N), norm gains
# as in the dense fixtures): with 0.02 both the attention and the indexer's softmax are uniform to
# ~1e-3, L_I ~ 3e-5, and the float twin's L_I would be mostly rounding; with 0.1 L_I ~ 2e-2 and
# the sparse loss differs visibly from the dense one.
# The smallest accepted k-th-place margin of a fixture (relative, see selection_margins): far above
# float rounding, so the float twin must select exactly the golden sets.
MIN_MARGIN = 1e-4


def indexer_names(cfg, i):
    p = f"model.layers.{i}.self_attn.indexer."
    return [p + "wq.weight", p + "wk.weight"] + ([p + "weights_proj.weight"]
                                                  if cfg["indexer_weights"] else [])


def dsa_weight_names(cfg):
    """The dense names with each layer's indexer after its MLP (the C++ layout's order)."""
    names = []
    for name in weight_names(cfg):
        names.append(name)
        if name.endswith("mlp.down_proj.weight"):
            names += indexer_names(cfg, int(name.split(".")[2]))
    return names


def make_dsa_weights(cfg, rng):
    """make_weights, then normal(0, 0.02) for every indexer tensor (docs/design.md §4), layer by layer."""
    weights = make_weights(cfg, rng)
    HI, dI, D = cfg["indexer_heads"], cfg["indexer_dim"], cfg["d_model"]
    shapes = {"wq": (HI * dI, D), "wk": (dI, D), "weights_proj": (HI, D)}
    for i in range(cfg["n_layers"]):
        for name in indexer_names(cfg, i):
            w = cfg.get("init_std", INIT_STD) * rng.standard_normal(shapes[name.split(".")[-2]])
            weights[name] = np.ascontiguousarray(w, dtype=np.float64)
    return {n: weights[n] for n in dsa_weight_names(cfg)}


def indexer_forward(cfg, W, prefix, h, cos_r, sin_r):
    """Scores I [B, T, T] from stopgrad(h) (entries s > t are 0), plus what the margins need:
    the pre-ReLU dots a [B, T, HI, T], |qI| [B, T, HI], |kI| [B, T], w [B, T, HI]."""
    B, T, _ = h.shape
    HI, dI, r = cfg["indexer_heads"], cfg["indexer_dim"], cfg["indexer_rope_dims"]
    p = prefix + "self_attn.indexer."
    u = h.detach()
    q = (u @ W[p + "wq.weight"].T).view(B, T, HI, dI)
    k = (u @ W[p + "wk.weight"].T).view(B, T, 1, dI)
    q = torch.cat([apply_rope(q[..., :r], cos_r, sin_r), q[..., r:]], dim=-1)
    k = torch.cat([apply_rope(k[..., :r], cos_r, sin_r), k[..., r:]], dim=-1)[:, :, 0]
    w = u @ W[p + "weights_proj.weight"].T if cfg["indexer_weights"] else torch.ones(B, T, HI, dtype=F64)
    a = torch.einsum("btjd,bsd->btjs", q, k)
    scores = (w[..., None] * torch.relu(a)).sum(dim=2) / math.sqrt(HI * dI)
    causal = torch.tril(torch.ones(T, T, dtype=torch.bool))
    scores = scores.masked_fill(~causal, 0.0)
    aux = dict(a=a.detach(), q_norm=q.detach().norm(dim=-1), k_norm=k.detach().norm(dim=-1),
               w=w.detach())
    return scores, aux


def topk_lists(scores, k):
    """scores numpy [B, T, T] -> lists int32 [B, T, k]: per row the min(k, t + 1) keys s <= t of
    the highest score, equal scores preferring the smaller key (-0.0 == +0.0), sorted ascending,
    -1 padded. (Not torch.topk: it promises no order among ties.)"""
    B, T, _ = scores.shape
    lists = np.full((B, T, k), -1, dtype=np.int32)
    for b in range(B):
        for t in range(T):
            row = scores[b, t, :t + 1] + 0.0  # -0.0 -> +0.0
            check(not np.isnan(row).any(), "NaN indexer score")
            order = np.lexsort((np.arange(t + 1), -row))  # last key is primary: score descending
            keep = np.sort(order[:min(k, t + 1)])
            lists[b, t, :len(keep)] = keep
    return lists


def lists_mask(lists, T):
    """Index lists [B, T, k] -> attention domain mask [B, T, T]."""
    B = lists.shape[0]
    mask = np.zeros((B, T, T), dtype=bool)
    for b in range(B):
        for t in range(T):
            for s in lists[b, t]:
                if s >= 0:
                    mask[b, t, s] = True
    return torch.tensor(mask)


def masked_attention(q, k, v, n_rep, mask):
    """Attention of each query over the keys of mask [B, T, T] (True = attended); also returns
    the probabilities [B, H, T, T] (0 outside the domain)."""
    B, T, H, Dh = q.shape
    k = k.repeat_interleave(n_rep, dim=2)
    v = v.repeat_interleave(n_rep, dim=2)
    q, k, v = (t.transpose(1, 2) for t in (q, k, v))
    scores = (q @ k.transpose(-1, -2) / math.sqrt(Dh)).masked_fill(~mask[:, None], float("-inf"))
    probs = torch.softmax(scores, dim=-1)
    return (probs @ v).transpose(1, 2).reshape(B, T, H * Dh), probs


def indexer_kl(scores, probs, mask):
    """L_I = mean over the B*T rows of KL(p_t || softmax(I_t)) over the domain mask, with p the
    head-averaged attention probabilities (detached)."""
    B, T, _ = scores.shape
    target = probs.detach().mean(dim=1)
    log_r = torch.log_softmax(scores.masked_fill(~mask, float("-inf")), dim=-1)
    log_p = torch.log(torch.where(mask, target, torch.ones_like(target)))
    terms = torch.where(mask, target * (log_p - torch.where(mask, log_r, torch.zeros_like(log_r))),
                        torch.zeros_like(target))
    return terms.sum() / (B * T)


def dsa_forward(cfg, W, tokens, mode, k=None, forced_lists=None):
    """mode 'warmup' (dense attention, L_I over s <= t) or 'sparse' (top-k of the indexer, or
    forced_lists[layer]; attention and L_I over S_t). Returns logits and per-layer scores, aux,
    lists (sparse) and L_I."""
    B, T = tokens.shape
    D, H, Hkv = cfg["d_model"], cfg["n_heads"], cfg["n_kv_heads"]
    Dh, eps = D // H, cfg["norm_eps"]
    cos, sin = rope_cos_sin(T, Dh, cfg["rope_theta"])
    cos_r, sin_r = rope_cos_sin(T, cfg["indexer_rope_dims"], cfg["rope_theta"])
    causal = torch.tril(torch.ones(T, T, dtype=torch.bool)).expand(B, T, T)
    out = dict(scores=[], aux=[], lists=[], indexer_loss=[])
    x = W["model.embed_tokens.weight"][tokens]
    for i in range(cfg["n_layers"]):
        p = f"model.layers.{i}."
        h = rms_norm(x, W[p + "input_layernorm.weight"], eps)
        q = (h @ W[p + "self_attn.q_proj.weight"].T).view(B, T, H, Dh)
        kk = (h @ W[p + "self_attn.k_proj.weight"].T).view(B, T, Hkv, Dh)
        v = (h @ W[p + "self_attn.v_proj.weight"].T).view(B, T, Hkv, Dh)
        q, kk = apply_rope(q, cos, sin), apply_rope(kk, cos, sin)
        scores, aux = indexer_forward(cfg, W, p, h, cos_r, sin_r)
        if mode == "sparse":
            lists = (forced_lists[i] if forced_lists is not None
                     else topk_lists(scores.detach().numpy(), min(k, T)))
            domain = lists_mask(lists, T)
            out["lists"].append(lists)
        else:
            domain = causal
        o, probs = masked_attention(q, kk, v, H // Hkv, domain)
        out["indexer_loss"].append(indexer_kl(scores, probs, domain))
        out["scores"].append(scores)
        out["aux"].append(aux)
        x = x + o @ W[p + "self_attn.o_proj.weight"].T
        h2 = rms_norm(x, W[p + "post_attention_layernorm.weight"], eps)
        gate = h2 @ W[p + "mlp.gate_proj.weight"].T
        up = h2 @ W[p + "mlp.up_proj.weight"].T
        x = x + (F.silu(gate) * up) @ W[p + "mlp.down_proj.weight"].T
    xf = rms_norm(x, W["model.norm.weight"], eps)
    head = W["model.embed_tokens.weight"] if cfg["tie_embeddings"] else W["lm_head.weight"]
    out["logits"] = xf @ head.T
    return out


def selection_margins(cfg, scores, aux, k):
    """Per row [B, T], how far the top-k set is from changing under rounding, relative to the
    row's score scale c * max_s sum_j |w_tj| |qI_tj| |kI_s| (what rounding of I is relative to):
      untied: (k-th selected score - best unselected score) / scale;
      the k-th and the best unselected tie exactly (the tie rule decides, e.g. ReLU zeros): the
        gap from the tied value to the nearest other value, and for a tie at 0 also how far the
        tied entries' pre-ReLU dots are from 0 (min over them of -max_j cos(qI_tj, kI_s));
    inf for rows with t + 1 <= k (everything is selected). Returns (margins, tied [B, T] bool)."""
    HI, dI = cfg["indexer_heads"], cfg["indexer_dim"]
    I = scores.detach().numpy()
    a, qn, kn, w = (aux[n].numpy() for n in ("a", "q_norm", "k_norm", "w"))
    B, T, _ = I.shape
    margins = np.full((B, T), np.inf)
    tied = np.zeros((B, T), dtype=bool)
    for b in range(B):
        for t in range(T):
            if t + 1 <= k:
                continue
            vals = I[b, t, :t + 1] + 0.0
            bound = np.abs(w[b, t])[:, None] * qn[b, t][:, None] * kn[b, None, :t + 1]
            scale = bound.sum(axis=0).max() / math.sqrt(HI * dI)
            order = np.lexsort((np.arange(t + 1), -vals))
            v_in, v_out = vals[order[k - 1]], vals[order[k]]
            if v_in != v_out:
                margins[b, t] = (v_in - v_out) / scale
                continue
            tied[b, t] = True
            gaps = [np.min(vals[vals > v_in]) - v_in] if (vals > v_in).any() else []
            gaps += [v_in - np.max(vals[vals < v_in])] if (vals < v_in).any() else []
            m = min(gaps) / scale if gaps else np.inf
            if v_in == 0.0:
                for s in np.nonzero(vals == 0.0)[0]:
                    cosines = a[b, t, :, s] / (qn[b, t] * kn[b, s])
                    m = min(m, -np.max(cosines))
            margins[b, t] = m
    return margins, tied


# ---- independent reference for DSA: loops in numpy, written from docs/design.md §3-§4 alone -------------

def naive_dsa_forward(cfg, Wn, tokens, mode, k):
    """Per position, per head; selection by Python's sort with the key (-score, s). Returns
    logits, per layer scores [B, T, T] (0 above the diagonal), lists (sparse) and L_I."""
    B, T = tokens.shape
    D, H, Hkv = cfg["d_model"], cfg["n_heads"], cfg["n_kv_heads"]
    Dh, eps, theta = D // H, cfg["norm_eps"], cfg["rope_theta"]
    HI, dI, r = cfg["indexer_heads"], cfg["indexer_dim"], cfg["indexer_rope_dims"]
    N = cfg["n_layers"]

    def norm(vec, g):
        return vec / math.sqrt(float(np.mean(vec * vec)) + eps) * g

    def rotate(vec, t, width):  # the first `width` dims of vec, pairs (i, i + width/2)
        out = vec.copy()
        half = width // 2
        for i in range(half):
            ang = t * theta ** (-2.0 * i / width)
            c, s = math.cos(ang), math.sin(ang)
            out[i] = vec[i] * c - vec[i + half] * s
            out[i + half] = vec[i] * s + vec[i + half] * c
        return out

    def softmax(vals):
        e = np.exp(np.array(vals) - max(vals))
        return e / e.sum()

    logits = np.zeros((B, T, cfg["vocab_size"]))
    scores = np.zeros((N, B, T, T))
    lists = np.full((N, B, T, k), -1, dtype=np.int32)
    kl_sum = np.zeros(N)
    for b in range(B):
        x = [Wn["model.embed_tokens.weight"][tokens[b, t]].copy() for t in range(T)]
        for li in range(N):
            p = f"model.layers.{li}."
            Wq, Wk, Wv, Wo = (Wn[p + f"self_attn.{n}_proj.weight"] for n in "qkvo")
            ix = p + "self_attn.indexer."
            qs, ks, vs, qis, kis, ws = [], [], [], [], [], []
            for t in range(T):
                h = norm(x[t], Wn[p + "input_layernorm.weight"])
                q, kv, v = Wq.dot(h), Wk.dot(h), Wv.dot(h)
                qs.append([rotate(q[j * Dh:(j + 1) * Dh], t, Dh) for j in range(H)])
                ks.append([rotate(kv[j * Dh:(j + 1) * Dh], t, Dh) for j in range(Hkv)])
                vs.append([v[j * Dh:(j + 1) * Dh] for j in range(Hkv)])
                qi = Wn[ix + "wq.weight"].dot(h)
                qis.append([rotate(qi[j * dI:(j + 1) * dI], t, r) for j in range(HI)])
                kis.append(rotate(Wn[ix + "wk.weight"].dot(h), t, r))
                ws.append(Wn[ix + "weights_proj.weight"].dot(h) if cfg["indexer_weights"]
                          else np.ones(HI))
            for t in range(T):
                for s in range(t + 1):
                    scores[li, b, t, s] = sum(ws[t][j] * max(float(qis[t][j].dot(kis[s])), 0.0)
                                              for j in range(HI)) / math.sqrt(HI * dI)
            new_x = []
            for t in range(T):
                if mode == "sparse":
                    ranked = sorted(range(t + 1), key=lambda s: (-scores[li, b, t, s], s))
                    keys = sorted(ranked[:k])
                    lists[li, b, t, :len(keys)] = keys
                else:
                    keys = list(range(t + 1))
                o = np.zeros(D)
                target = np.zeros(len(keys))
                for j in range(H):
                    kvh = j // (H // Hkv)
                    wgt = softmax([qs[t][j].dot(ks[s][kvh]) / math.sqrt(Dh) for s in keys])
                    target += wgt / H
                    o[j * Dh:(j + 1) * Dh] = sum(wgt[n] * vs[s][kvh] for n, s in enumerate(keys))
                rdist = softmax([scores[li, b, t, s] for s in keys])
                kl_sum[li] += float(np.sum(target * (np.log(target) - np.log(rdist))))
                xt = x[t] + Wo.dot(o)
                h2 = norm(xt, Wn[p + "post_attention_layernorm.weight"])
                g = Wn[p + "mlp.gate_proj.weight"].dot(h2)
                u_ = Wn[p + "mlp.up_proj.weight"].dot(h2)
                new_x.append(xt + Wn[p + "mlp.down_proj.weight"].dot(g / (1.0 + np.exp(-g)) * u_))
            x = new_x
        head = Wn["model.embed_tokens.weight" if cfg["tie_embeddings"] else "lm_head.weight"]
        for t in range(T):
            logits[b, t] = head.dot(norm(x[t], Wn["model.norm.weight"]))
    return logits, scores, lists, kl_sum / (B * T)


# ---- DSA self-checks ---------------------------------------------------------------------------

def dsa_self_check(cfg, Wn, W, tokens, targets, warm, sparse, rng):
    name, k, T = cfg["name"], cfg["top_k"], tokens.shape[1]
    N = cfg["n_layers"]
    # 1. the independent loop implementation: scores, selection, logits, loss and L_I
    worst = 0.0
    for mode, res in (("warmup", warm), ("sparse", sparse)):
        logits, scores, lists, kl = naive_dsa_forward(cfg, Wn, tokens.numpy(), mode, k)
        for i in range(N):
            ours = res["scores"][i].detach().numpy()
            err = np.max(np.abs(ours - scores[i])) / np.max(np.abs(scores[i]))
            worst = max(worst, err)
            check(err < 1e-12, f"{name} {mode}: layer {i} indexer scores differ from the loop "
                               f"reference by {err:.3e} (relative)")
            lerr = abs(res["indexer_loss"][i].item() - kl[i]) / kl[i]
            check(lerr < 1e-10, f"{name} {mode}: layer {i} L_I {res['indexer_loss'][i].item():.12e} "
                                f"vs loop reference {kl[i]:.12e}")
            if mode == "sparse":
                check(np.array_equal(res["lists"][i], lists[i]),
                      f"{name}: layer {i} selection differs from the loop reference")
        err = np.max(np.abs(logits - res["logits"].detach().numpy()))
        check(err < 1e-12, f"{name} {mode}: logits differ from the loop reference by {err:.3e}")
        worst = max(worst, err)
        lerr = abs(naive_loss(logits, targets.numpy()) -
                   mean_cross_entropy(res["logits"], targets).item())
        check(lerr < 1e-12, f"{name} {mode}: loss differs from the loop reference by {lerr:.3e}")

    # 2. the lists: causal, ascending, -1 padded, min(k, t + 1) keys; and causality of the
    #    selection, scores and logits (cut sequence; tokens after t changed)
    for i in range(N):
        lists = sparse["lists"][i]
        for b in range(lists.shape[0]):
            for t in range(T):
                row = lists[b, t]
                n = min(k, t + 1)
                check(np.all(row[n:] == -1) and np.all(row[:n] >= 0) and np.all(row[:n] <= t) and
                      np.all(np.diff(row[:n]) > 0), f"{name}: layer {i} list ({b}, {t}) = {row}")
    with torch.no_grad():
        for t in range(T):
            cut = dsa_forward(cfg, W, tokens[:, :t + 1], "sparse", k)
            for i in range(N):
                n = min(k, t + 1)
                check(np.array_equal(cut["lists"][i][:, t, :n], sparse["lists"][i][:, t, :n]),
                      f"{name}: layer {i} selection at t={t} depends on tokens after t")
                check(torch.max(torch.abs(cut["scores"][i][:, t, :t + 1] -
                                          sparse["scores"][i][:, t, :t + 1])).item() <
                      1e-13 * torch.max(torch.abs(sparse["scores"][i])).item(),
                      f"{name}: layer {i} scores at t={t} depend on tokens after t")
            check(torch.max(torch.abs(cut["logits"][:, t] - sparse["logits"][:, t])).item() < 1e-12,
                  f"{name}: sparse logits at t={t} depend on tokens after t")
        t = T // 2
        changed = tokens.clone()
        changed[:, t + 1:] = (changed[:, t + 1:] + 1) % cfg["vocab_size"]
        other = dsa_forward(cfg, W, changed, "sparse", k)
        for i in range(N):
            check(np.array_equal(other["lists"][i][:, :t + 1], sparse["lists"][i][:, :t + 1]),
                  f"{name}: layer {i}: changing tokens after t={t} changed the selection at or before t")
        check(torch.max(torch.abs(other["logits"][:, :t + 1] - sparse["logits"][:, :t + 1])).item()
              < 1e-12, f"{name}: changing tokens after t={t} changed sparse logits at or before t")
        check(any(not np.array_equal(other["lists"][i], sparse["lists"][i]) for i in range(N)),
              f"{name}: changing tokens changed no selection (test is vacuous)")

        # 3. k >= T: sparse attention and its L_I equal the dense ones
        full = dsa_forward(cfg, W, tokens, "sparse", T)
        check(torch.max(torch.abs(full["logits"] - warm["logits"])).item() < 1e-12,
              f"{name}: sparse with k = T differs from dense")
        for i in range(N):
            check(abs(full["indexer_loss"][i].item() - warm["indexer_loss"][i].item()) <
                  1e-12 * warm["indexer_loss"][i].item(),
                  f"{name}: layer {i} L_I with k = T differs from the dense-domain L_I")
        #    and k < T matters: the sparse logits differ from the dense ones
        check(torch.max(torch.abs(sparse["logits"] - warm["logits"])).item() > 1e-6,
              f"{name}: sparse logits equal the dense ones (k too large to matter)")

    # 4. autograd against central differences (selection held fixed: forced lists)
    h = 1e-5
    fd_worst = 0.0
    forced = sparse["lists"]

    def loss_of(mode, what):
        res = dsa_forward(cfg, W, tokens, mode, k, forced if mode == "sparse" else None)
        if what == "lm":
            return mean_cross_entropy(res["logits"], targets).item()
        return sum(x.item() for x in res["indexer_loss"])

    cases = [("warmup", "indexer", n, warm["grads"]) for i in range(N) for n in indexer_names(cfg, i)]
    cases += [("sparse", "indexer", n, sparse["grads"]) for i in range(N)
              for n in indexer_names(cfg, i)]
    cases += [("sparse", "lm", n, sparse["grads"]) for n in
              ("model.embed_tokens.weight", "model.layers.0.self_attn.q_proj.weight",
               "model.layers.1.self_attn.k_proj.weight", "model.layers.0.self_attn.v_proj.weight",
               "model.layers.1.mlp.up_proj.weight", "model.norm.weight")]
    with torch.no_grad():
        for mode, what, wname, grads in cases:
            flat = W[wname].view(-1)
            gflat = grads[wname].reshape(-1)
            for idx in (int(torch.argmax(gflat.abs())), int(rng.randint(flat.numel()))):
                saved = flat[idx].item()
                flat[idx] = saved + h
                lp = loss_of(mode, what)
                flat[idx] = saved - h
                lm = loss_of(mode, what)
                flat[idx] = saved
                fd = (lp - lm) / (2 * h)
                an = gflat[idx].item()
                scale = max(gflat.abs().max().item(), 1e-12)
                fd_worst = max(fd_worst, abs(fd - an) / scale)
                check(abs(fd - an) <= 1e-6 * scale,
                      f"{name} {mode}: d {what} / d {wname}[{idx}] autograd {an:.9e} vs central "
                      f"difference {fd:.9e}")
    return worst, fd_worst


def dsa_gradients(cfg, W, tokens, targets, mode, k):
    """Forward in `mode` with autograd; gradients: the indexer's from sum over layers of L_I, the
    main model's from the LM loss (sparse only). Checks that neither loss reaches the other group."""
    names = dsa_weight_names(cfg)
    index_names = [n for i in range(cfg["n_layers"]) for n in indexer_names(cfg, i)]
    main_names = [n for n in names if n not in index_names]
    res = dsa_forward(cfg, W, tokens, mode, k)
    lm = mean_cross_entropy(res["logits"], targets)
    li = sum(res["indexer_loss"])
    grads = {}
    gi = torch.autograd.grad(li, [W[n] for n in index_names], retain_graph=True)
    grads.update({n: g.detach().clone() for n, g in zip(index_names, gi)})
    leak = torch.autograd.grad(li, [W[n] for n in main_names], retain_graph=True, allow_unused=True)
    check(all(g is None or not g.any() for g in leak), f"{cfg['name']} {mode}: L_I reaches the main model")
    gm = torch.autograd.grad(lm, [W[n] for n in names], allow_unused=True)
    check(all(g is None or not g.any() for n, g in zip(names, gm) if n in index_names),
          f"{cfg['name']} {mode}: the LM loss reaches the indexer")
    if mode == "sparse":
        grads.update({n: g.detach().clone() for n, g in zip(names, gm) if n in main_names})
    res["grads"] = grads
    res["loss"] = lm.detach()
    res["logits"] = res["logits"].detach()
    res["indexer_loss"] = [x.detach() for x in res["indexer_loss"]]
    res["scores"] = [x.detach() for x in res["scores"]]
    return res


def build_dsa_fixture(cfg):
    D, H, Hkv = cfg["d_model"], cfg["n_heads"], cfg["n_kv_heads"]
    dI, r, k = cfg["indexer_dim"], cfg["indexer_rope_dims"], cfg["top_k"]
    assert D % H == 0 and (D // H) % 2 == 0 and H % Hkv == 0, cfg
    assert r % 2 == 0 and 0 < r < dI and 1 <= k < cfg["seq_len"], cfg
    rng = np.random.RandomState(cfg["seed"])
    Wn = make_dsa_weights(cfg, rng)
    seq = rng.randint(0, cfg["vocab_size"], size=(cfg["batch"], cfg["seq_len"] + 1))
    inputs = torch.tensor(seq[:, :-1], dtype=torch.int64)
    targets = torch.tensor(seq[:, 1:], dtype=torch.int64)

    W = {n: torch.tensor(a, dtype=F64).requires_grad_(True) for n, a in Wn.items()}
    warm = dsa_gradients(cfg, W, inputs, targets, "warmup", k)
    sparse = dsa_gradients(cfg, W, inputs, targets, "sparse", k)
    W = {n: w.detach() for n, w in W.items()}

    margins, tied = [], []
    for i in range(cfg["n_layers"]):
        m, t_ = selection_margins(cfg, sparse["scores"][i], sparse["aux"][i], k)
        margins.append(m)
        tied.append(t_)
    untied_min = min(np.min(np.where(t_, np.inf, m)) for m, t_ in zip(margins, tied))
    tied_min = min(np.min(np.where(t_, m, np.inf)) for m, t_ in zip(margins, tied))
    tied_rows = int(sum(t_.sum() for t_ in tied))
    min_margin = min(untied_min, tied_min)
    check(min_margin > MIN_MARGIN, f"{cfg['name']}: k-th-place margin {min_margin:.3e} is below "
                                   f"{MIN_MARGIN:g} (float could select another set): pick another seed")

    checks = dsa_self_check(cfg, Wn, W, inputs, targets, warm, sparse,
                            np.random.RandomState(cfg["seed"] + 1))

    names = dsa_weight_names(cfg)
    index_names = [n for i in range(cfg["n_layers"]) for n in indexer_names(cfg, i)]
    N = cfg["n_layers"]
    tensors = [("inputs", inputs.numpy().astype("<i4")), ("targets", targets.numpy().astype("<i4"))]
    tensors += [(n, Wn[n]) for n in names]
    tensors += [("warmup.loss", np.array(warm["loss"].item(), dtype="<f8")),
                ("warmup.indexer_loss", np.array([x.item() for x in warm["indexer_loss"]]))]
    tensors += [(f"warmup.scores.{i}", warm["scores"][i].numpy()) for i in range(N)]
    tensors += [("warmup.grad." + n, warm["grads"][n].numpy()) for n in index_names]
    tensors += [("sparse.loss", np.array(sparse["loss"].item(), dtype="<f8")),
                ("sparse.logits", sparse["logits"].numpy()),
                ("sparse.indexer_loss", np.array([x.item() for x in sparse["indexer_loss"]]))]
    tensors += [(f"sparse.scores.{i}", sparse["scores"][i].numpy()) for i in range(N)]
    tensors += [(f"sparse.lists.{i}", sparse["lists"][i].astype("<i4")) for i in range(N)]
    tensors += [(f"sparse.margin.{i}", margins[i]) for i in range(N)]
    tensors += [("sparse.grad." + n, sparse["grads"][n].numpy()) for n in names]
    metadata = {
        "vocab_size": str(cfg["vocab_size"]), "d_model": str(cfg["d_model"]),
        "n_layers": str(cfg["n_layers"]), "n_heads": str(cfg["n_heads"]),
        "n_kv_heads": str(cfg["n_kv_heads"]), "d_ff": str(cfg["d_ff"]),
        "seq_len": str(cfg["seq_len"]),
        "tie_embeddings": "true" if cfg["tie_embeddings"] else "false",
        "rope_theta": repr(float(cfg["rope_theta"])), "norm_eps": repr(float(cfg["norm_eps"])),
        "batch": str(cfg["batch"]), "seed": str(cfg["seed"]),
        "init_std": repr(cfg.get("init_std", INIT_STD)), "norm_gain_std": repr(GAIN_STD),
        "indexer_heads": str(cfg["indexer_heads"]), "indexer_dim": str(dI),
        "indexer_rope_dims": str(r), "indexer_weights": "true" if cfg["indexer_weights"] else "false",
        "top_k": str(k), "min_margin": repr(float(min_margin)),
        "generator": "tools/make_golden.py",
    }
    summary = dict(warm_loss=warm["loss"].item(), sparse_loss=sparse["loss"].item(),
                   warm_li=[x.item() for x in warm["indexer_loss"]],
                   sparse_li=[x.item() for x in sparse["indexer_loss"]],
                   untied_min=untied_min, tied_min=tied_min, tied_rows=tied_rows,
                   ref_err=checks[0], fd_rel=checks[1])
    return tensors, metadata, summary


def write_fixture(out_dir, name, tensors, metadata):
    """Writes <out_dir>/<name>.safetensors and checks that it reads back unchanged."""
    path = os.path.join(out_dir, name + ".safetensors")
    write_safetensors(path, tensors, metadata)
    back, meta = read_safetensors(path)
    check(meta == metadata and set(back) == {n for n, _ in tensors} and
          all(np.array_equal(back[n], a) for n, a in tensors), f"{path}: read-back differs")
    print(f"  wrote {os.path.relpath(path, REPO_DIR)} ({os.path.getsize(path)} bytes, "
          f"{len(tensors)} tensors)")


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--out", default=os.path.join(REPO_DIR, "tests", "golden"),
                    help="output directory (default: tests/golden)")
    ap.add_argument("--check", action="store_true", help="run the self-checks, write nothing")
    args = ap.parse_args()

    torch.set_num_threads(1)  # fixed reduction order: byte-identical output from run to run
    torch.use_deterministic_algorithms(True)
    os.makedirs(args.out, exist_ok=True)
    for cfg in FIXTURES:
        tensors, metadata, loss, max_grad, (ref_err, fd_rel) = build_fixture(cfg)
        print(f"{cfg['name']}: loss={loss:.12f} (ln V = {math.log(cfg['vocab_size']):.6f}) "
              f"max|grad|={max_grad:.6e}  self-checks ok (loop reference {ref_err:.1e}, "
              f"finite differences rel {fd_rel:.1e})")
        if args.check:
            continue
        write_fixture(args.out, cfg["name"], tensors, metadata)
    for cfg in DSA_FIXTURES:
        tensors, metadata, s = build_dsa_fixture(cfg)
        print(f"{cfg['name']}: warm-up loss={s['warm_loss']:.12f} sparse loss={s['sparse_loss']:.12f}"
              f"\n  L_I per layer: warm-up {' '.join(f'{x:.6e}' for x in s['warm_li'])}, "
              f"sparse {' '.join(f'{x:.6e}' for x in s['sparse_li'])}"
              f"\n  k-th-place margin (relative): untied rows {s['untied_min']:.3e}, "
              f"rows tied at the k-th place ({s['tied_rows']}) {s['tied_min']:.3e}"
              f"\n  self-checks ok (loop reference {s['ref_err']:.1e}, finite differences rel "
              f"{s['fd_rel']:.1e})")
        if args.check:
            continue
        write_fixture(args.out, cfg["name"], tensors, metadata)


if __name__ == "__main__":
    main()
