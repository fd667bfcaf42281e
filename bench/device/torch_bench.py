"""PyTorch's side of the GPU bench: a Qwen2.5-0.5B-shaped model (random weights: nothing downloads),
8 x 1024 tokens per step, AdamW, bf16 autocast; rows LoRA r16 on all linear modules, full fine-tune and
QLoRA (NF4, double quantization; needs bitsandbytes). Prints one JSON line per row: tokens/s and peak
GPU memory; first SDPA alone at the attention shapes of bench.cc (TORCH_ATTENTION=0 skips it).
Usage: python3 torch_bench.py [--steps N] [--rows lora,full,qlora] [--out FILE]"""

import argparse
import json
import os
import sys
import time


def qwen05b_config(transformers):
    return transformers.Qwen2Config(
        vocab_size=151936,
        hidden_size=896,
        intermediate_size=4864,
        num_hidden_layers=24,
        num_attention_heads=14,
        num_key_value_heads=2,
        max_position_embeddings=32768,
        rope_theta=1000000.0,
        rms_norm_eps=1e-6,
        tie_word_embeddings=True,
        attn_implementation="sdpa",
    )


LINEAR = ["q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"]


def build(row, torch, transformers):
    cfg = qwen05b_config(transformers)
    torch.manual_seed(0)
    if row == "full":
        # fp32 master weights and moments (as the cuda engine keeps trainable tensors), bf16 autocast.
        return transformers.Qwen2ForCausalLM(cfg).cuda()
    import peft

    if row == "lora":
        model = transformers.Qwen2ForCausalLM(cfg).to(torch.bfloat16).cuda()
    else:  # qlora
        import tempfile

        import bitsandbytes  # noqa: F401  (raises ImportError with the reason when absent)

        base = transformers.Qwen2ForCausalLM(cfg).to(torch.bfloat16)
        tmp = tempfile.mkdtemp()
        base.save_pretrained(tmp)
        del base
        q = transformers.BitsAndBytesConfig(
            load_in_4bit=True,
            bnb_4bit_quant_type="nf4",
            bnb_4bit_use_double_quant=True,
            bnb_4bit_compute_dtype=torch.bfloat16,
        )
        model = transformers.Qwen2ForCausalLM.from_pretrained(tmp, quantization_config=q, device_map={"": 0})
    lora = peft.LoraConfig(r=16, lora_alpha=32, lora_dropout=0.0, target_modules=LINEAR, task_type="CAUSAL_LM")
    return peft.get_peft_model(model, lora)


def run_row(row, steps, torch, transformers):
    torch.cuda.empty_cache()
    torch.cuda.reset_peak_memory_stats()
    model = build(row, torch, transformers)
    model.train()
    params = [p for p in model.parameters() if p.requires_grad]
    opt = torch.optim.AdamW(params, lr=1e-4, fused=True)
    batch, seq = 8, 1024
    g = torch.Generator(device="cuda").manual_seed(1)
    ids = torch.randint(0, 151936, (batch, seq), device="cuda", generator=g)

    def step():
        with torch.autocast("cuda", dtype=torch.bfloat16):
            loss = model(input_ids=ids, labels=ids).loss
        loss.backward()
        opt.step()
        opt.zero_grad(set_to_none=True)
        return loss

    for _ in range(3):  # warm-up: kernels chosen, allocator settled
        step()
    torch.cuda.synchronize()
    t0 = time.perf_counter()
    for _ in range(steps):
        loss = step()
    torch.cuda.synchronize()
    seconds = time.perf_counter() - t0
    out = {
        "row": row,
        "tokens_per_s": round(batch * seq * steps / seconds, 1),
        "step_ms": round(1000 * seconds / steps, 1),
        "peak_gib": round(torch.cuda.max_memory_allocated() / 2**30, 2),
        "trainable": sum(p.numel() for p in params),
        "loss": round(float(loss), 4),
    }
    del model, opt
    return out


def attention_rows(torch):
    """SDPA (bf16, causal, GQA) forward and forward+backward at bench.cc's attention shapes, per call."""
    F = torch.nn.functional
    out = []
    for H, KV, hd in ((14, 2, 64), (12, 2, 128)):
        q = torch.randn(8, H, 1024, hd, device="cuda", dtype=torch.bfloat16, requires_grad=True)
        k = torch.randn(8, KV, 1024, hd, device="cuda", dtype=torch.bfloat16, requires_grad=True)
        v = torch.randn_like(k, requires_grad=True)
        g = torch.randn_like(q)

        def fwd():
            return F.scaled_dot_product_attention(q, k, v, is_causal=True, enable_gqa=True)

        def both():
            fwd().backward(g)

        for name, fn in (("fwd", fwd), ("fwd+bwd", both)):
            for _ in range(3):
                fn()
            torch.cuda.synchronize()
            t = time.perf_counter()
            for _ in range(10):
                fn()
            torch.cuda.synchronize()
            out.append({"row": f"sdpa {name} 8x1024, {H}/{KV} heads of {hd}", "ms": (time.perf_counter() - t) * 100})
    return out


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--steps", type=int, default=10)
    ap.add_argument("--rows", default="lora,full,qlora")
    ap.add_argument("--out")
    a = ap.parse_args()
    try:
        import torch
        import transformers
    except ImportError as e:
        print(json.dumps({"error": f"torch/transformers missing: {e}"}))
        return 2
    if not torch.cuda.is_available():
        print(json.dumps({"error": "torch sees no CUDA device"}))
        return 2
    info = {
        "device": torch.cuda.get_device_name(0),
        "torch": torch.__version__,
        "transformers": transformers.__version__,
    }
    print(json.dumps(info), flush=True)
    results = []
    if os.environ.get("TORCH_ATTENTION", "1") == "1":
        try:
            for r in attention_rows(torch):
                results.append(r)
                print(json.dumps(r), flush=True)
        except Exception as e:
            print(json.dumps({"row": "sdpa", "error": f"{type(e).__name__}: {e}"[:300]}), flush=True)
    for row in a.rows.split(","):
        try:
            r = run_row(row, a.steps, torch, transformers)
        except Exception as e:  # one row failing (e.g. no bitsandbytes) must not lose the others
            r = {"row": row, "error": f"{type(e).__name__}: {e}"[:300]}
        results.append(r)
        print(json.dumps(r), flush=True)
    if a.out:
        with open(a.out, "w") as f:
            json.dump({**info, "rows": results}, f, indent=2)
    return 0


if __name__ == "__main__":
    sys.exit(main())
