#!/usr/bin/env python3
"""PyTorch reference for bench/throughput.bench.ts (not a test).

One training configuration per process (so peak RSS is its own): a random Llama-family model
(RMSNorm, RoPE, grouped-query attention, SwiGLU, tied or untied head), `batch` rows of `seq`
random tokens whose first quarter is masked (-100) like a prompt, a mean cross-entropy over the
trained tokens, backward, and a plain SGD update of the trainable parameters. Methods: `full`,
`lora` (rank r on `loraTargets`, base frozen in f32 or in `frozenDtype`, e.g. bfloat16, cast to
f32 at each use), `qlora` (the same adapters over NF4 base linears, two codes per byte, dequantized
to f32 at each use: bitsandbytes has no CPU kernels for torch 1.13, so this is the plain-PyTorch
emulation). `tableDtype` freezes the embedding and head in bf16/f16 (they train in f32 otherwise). Also measures the machine's f32 matmul peak (1024^3 and 2048x2048x1024).

Usage: python3 bench/torch_reference.py '<json config>'  ->  one JSON line on stdout.
Run where Debian's python3-torch is installed with libopenblas0-openmp and OMP_WAIT_POLICY=PASSIVE.
"""

import json
import math
import resource
import sys
import time

import torch
import torch.nn.functional as F

NF4 = torch.tensor(
    [
        -1.0, -0.6961928009986877, -0.5250730514526367, -0.39491748809814453,
        -0.28444138169288635, -0.18477343022823334, -0.09105003625154495, 0.0,
        0.07958029955625534, 0.16093020141124725, 0.24611230194568634, 0.33791524171829224,
        0.44070982933044434, 0.5626170039176941, 0.7229568362236023, 1.0,
    ]
)


class NF4Weight:
    """An [out, in] weight as 4-bit codes, two per byte (high nibble first), and an absmax per 64 values."""

    def __init__(self, w: torch.Tensor):
        self.shape = w.shape
        blocks = w.reshape(-1, 64)
        self.absmax = blocks.abs().amax(dim=1, keepdim=True).clamp_min(1e-12)
        codes = ((blocks / self.absmax).unsqueeze(-1) - NF4).abs().argmin(dim=-1).to(torch.uint8).reshape(-1, 2)
        self.packed = (codes[:, 0] << 4) | codes[:, 1]

    def dequant(self) -> torch.Tensor:
        codes = torch.stack(((self.packed >> 4), (self.packed & 15)), dim=1).reshape(-1, 64).long()
        return (NF4[codes] * self.absmax).reshape(self.shape)


class Linear(torch.nn.Module):
    """A linear layer whose weight is trainable f32, or frozen in a storage dtype (bf16, f16, NF4)
    that is turned into f32 at each use; frozen storage is made at construction, so no f32 copy of
    the whole model is ever held."""

    def __init__(self, n_in: int, n_out: int, gen: torch.Generator, storage: str = "float32"):
        super().__init__()
        w = torch.randn(n_out, n_in, generator=gen) * 0.02
        self.nf4 = None
        self.lora = None
        self.shape = (n_out, n_in)
        if storage == "nf4":
            self.nf4 = NF4Weight(w)
            self.weight = None
        elif storage == "float32":
            self.weight = torch.nn.Parameter(w)
        else:
            self.weight = torch.nn.Parameter(w.to(getattr(torch, storage)), requires_grad=False)

    def add_lora(self, r: int, alpha: float, gen: torch.Generator):
        n_out, n_in = self.shape
        self.lora_a = torch.nn.Parameter(torch.randn(r, n_in, generator=gen) * (1 / math.sqrt(n_in)))
        self.lora_b = torch.nn.Parameter(torch.zeros(n_out, r))
        self.lora = alpha / r

    def forward(self, x):
        w = self.nf4.dequant() if self.nf4 is not None else self.weight
        y = F.linear(x, w.float() if w.dtype != torch.float32 else w)
        if self.lora is not None:
            y = y + F.linear(F.linear(x, self.lora_a), self.lora_b) * self.lora
        return y


class RMSNorm(torch.nn.Module):
    def __init__(self, d: int, eps: float):
        super().__init__()
        self.weight = torch.nn.Parameter(torch.ones(d))
        self.eps = eps

    def forward(self, x):
        return x * torch.rsqrt(x.pow(2).mean(-1, keepdim=True) + self.eps) * self.weight


def rotate_half(x):
    h = x.shape[-1] // 2
    return torch.cat((-x[..., h:], x[..., :h]), dim=-1)


class Layer(torch.nn.Module):
    def __init__(self, c, gen, storage="float32"):
        super().__init__()
        d, hd = c["hiddenSize"], c["headDim"]
        self.h, self.kvh, self.hd = c["numHeads"], c["numKvHeads"], hd
        self.input_layernorm = RMSNorm(d, c["rmsNormEps"])
        self.post_attention_layernorm = RMSNorm(d, c["rmsNormEps"])
        self.q_proj = Linear(d, self.h * hd, gen, storage)
        self.k_proj = Linear(d, self.kvh * hd, gen, storage)
        self.v_proj = Linear(d, self.kvh * hd, gen, storage)
        self.o_proj = Linear(self.h * hd, d, gen, storage)
        self.gate_proj = Linear(d, c["intermediateSize"], gen, storage)
        self.up_proj = Linear(d, c["intermediateSize"], gen, storage)
        self.down_proj = Linear(c["intermediateSize"], d, gen, storage)

    def forward(self, x, cos, sin, mask):
        b, s, _ = x.shape
        h = self.input_layernorm(x)
        q = self.q_proj(h).view(b, s, self.h, self.hd).transpose(1, 2)
        k = self.k_proj(h).view(b, s, self.kvh, self.hd).transpose(1, 2)
        v = self.v_proj(h).view(b, s, self.kvh, self.hd).transpose(1, 2)
        q = q * cos + rotate_half(q) * sin
        k = k * cos + rotate_half(k) * sin
        if self.kvh != self.h:
            k = k.repeat_interleave(self.h // self.kvh, dim=1)
            v = v.repeat_interleave(self.h // self.kvh, dim=1)
        att = (q @ k.transpose(-1, -2)) / math.sqrt(self.hd) + mask
        o = torch.softmax(att, dim=-1) @ v
        x = x + self.o_proj(o.transpose(1, 2).reshape(b, s, self.h * self.hd))
        h = self.post_attention_layernorm(x)
        return x + self.down_proj(F.silu(self.gate_proj(h)) * self.up_proj(h))


class Llama(torch.nn.Module):
    def __init__(self, c, gen, storage="float32"):
        super().__init__()
        self.c = c
        # Embedding and head: trainable f32 unless `tableDtype` freezes them in bf16/f16.
        table = c.get("tableDtype", "float32")
        self.table_dtype = getattr(torch, table)

        def table_param():
            w = (torch.randn(c["vocabSize"], c["hiddenSize"], generator=gen) * 0.02).to(self.table_dtype)
            return torch.nn.Parameter(w, requires_grad=table == "float32")

        self.embed_tokens = table_param()
        self.layers = torch.nn.ModuleList([Layer(c, gen, storage) for _ in range(c["numLayers"])])
        self.norm = RMSNorm(c["hiddenSize"], c["rmsNormEps"])
        self.lm_head = None if c["tieWordEmbeddings"] else table_param()

    def forward(self, ids):
        c = self.c
        b, s = ids.shape
        hd = c["headDim"]
        inv = 1.0 / (c["ropeTheta"] ** (torch.arange(0, hd, 2, dtype=torch.float32) / hd))
        ang = torch.outer(torch.arange(s, dtype=torch.float32), inv)
        ang = torch.cat((ang, ang), dim=-1)
        cos, sin = ang.cos(), ang.sin()
        mask = torch.full((s, s), float("-inf")).triu(1)
        x = F.embedding(ids, self.embed_tokens).float()
        for layer in self.layers:
            x = layer(x, cos, sin, mask)
        x = self.norm(x)
        head = self.embed_tokens if self.lm_head is None else self.lm_head
        return F.linear(x, head.float() if head.dtype != torch.float32 else head)


def matmul_peak() -> float:
    best = 0.0
    for m, k, n in ((1024, 1024, 1024), (2048, 1024, 2048)):
        a, b = torch.randn(m, k), torch.randn(k, n)
        a @ b
        reps = 5
        t0 = time.perf_counter()
        for _ in range(reps):
            a @ b
        best = max(best, 2 * m * k * n * reps / (time.perf_counter() - t0) / 1e9)
    return best


def main():
    cfg = json.loads(sys.argv[1])
    c, method = cfg["model"], cfg["method"]
    batch, seq, steps, warmup = cfg["batch"], cfg["seq"], cfg["steps"], cfg.get("warmup", 1)
    if cfg.get("threads"):
        torch.set_num_threads(int(cfg["threads"]))
    torch.manual_seed(1)
    gen = torch.Generator().manual_seed(1)
    out = {"torch": torch.__version__, "threads": torch.get_num_threads()}
    if cfg.get("peak", True):
        out["matmulPeakGflops"] = matmul_peak()
    # Frozen base storage: NF4 for qlora; `frozenDtype` (default float32) for lora.
    storage = "nf4" if method == "qlora" else cfg.get("frozenDtype", "float32") if method == "lora" else "float32"
    model = Llama({**c, "tableDtype": cfg.get("tableDtype", "float32")}, gen, storage)
    if method in ("lora", "qlora"):
        for p in model.parameters():
            p.requires_grad_(False)
        for layer in model.layers:
            for name in ("q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"):
                if name in cfg["loraTargets"]:
                    getattr(layer, name).add_lora(cfg["loraRank"], cfg["loraAlpha"], gen)
    trainable = [p for p in model.parameters() if p.requires_grad]
    ids = torch.randint(3, c["vocabSize"], (batch, seq), generator=gen)
    labels = ids.clone()
    labels[:, : seq // 4] = -100  # the "prompt" quarter of every row is not trained
    opt = torch.optim.SGD(trainable, lr=1e-3)

    def step():
        logits = model(ids)
        loss = F.cross_entropy(
            logits[:, :-1].reshape(-1, c["vocabSize"]), labels[:, 1:].reshape(-1), ignore_index=-100
        )
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        return loss.item()

    for _ in range(warmup):
        step()
    t0 = time.perf_counter()
    loss = 0.0
    for _ in range(steps):
        loss = step()
    sec = (time.perf_counter() - t0) / steps
    out.update(
        tokensPerSecond=batch * seq / sec,
        msPerStep=sec * 1000,
        loss=loss,
        trainableParameters=sum(p.numel() for p in trainable),
        peakRssMiB=resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
    )
    print(json.dumps(out))


if __name__ == "__main__":
    main()
