#!/usr/bin/python3
"""Golden fixtures for the C++ tests (DESIGN §3 model, §7 "Golden fixtures").

Builds the dense Llama-style model of DESIGN §3 by hand in PyTorch, float64, from fixed weights
(numpy RandomState), and writes per fixture one safetensors file under tests/golden/ with the
weights (Hugging Face Llama names, DESIGN §6), inputs, targets, logits, loss and the gradient of the
mean loss with respect to every weight. See tools/README.md for the layout.

Before writing, the script checks itself: the PyTorch model against an independent loop-by-loop
numpy implementation, causality (logits at t from the full sequence equal those from the sequence
cut after t), the RoPE relative-position property, and autograd against central differences.

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
    """Hugging Face Llama names (DESIGN §6), in the order the weights are drawn and stored."""
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
    """DESIGN §3 init (normal(0, 0.02); o_proj and down_proj scaled by 1/sqrt(2N)), except the
    norm gains, which are 1 + 0.1 * normal instead of 1. PyTorch Linear layout [out, in]."""
    resid_scale = 1.0 / math.sqrt(2.0 * cfg["n_layers"])
    weights = {}
    for name in weight_names(cfg):
        shape = weight_shape(cfg, name)
        if len(shape) == 1:
            w = 1.0 + GAIN_STD * rng.standard_normal(shape)
        else:
            w = INIT_STD * rng.standard_normal(shape)
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


# ---- independent reference: loops in numpy, written from DESIGN §3 alone -----------------------

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
        path = os.path.join(args.out, cfg["name"] + ".safetensors")
        write_safetensors(path, tensors, metadata)
        back, meta = read_safetensors(path)
        check(meta == metadata and set(back) == {n for n, _ in tensors} and
              all(np.array_equal(back[n], a) for n, a in tensors), f"{path}: read-back differs")
        print(f"  wrote {os.path.relpath(path, REPO_DIR)} ({os.path.getsize(path)} bytes, "
              f"{len(tensors)} tensors)")


if __name__ == "__main__":
    main()
