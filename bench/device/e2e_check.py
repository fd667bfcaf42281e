"""After bench/device/e2e.ts on the GPU machine: transformers loads the merged model sftkit wrote, PEFT
applies the adapter to the base; both answer the run's sample prompt greedily. Prints whether the logits
are finite and whether the completions match the one the run logged (informational: bf16 vs fp32).
Usage: python3 e2e_check.py <output dir>. Exit 0 when the merged model loads and its logits are finite."""

import json
import sys


def main():
    out = sys.argv[1]
    import torch
    import transformers

    tok = transformers.AutoTokenizer.from_pretrained(f"{out}/model")
    model = transformers.AutoModelForCausalLM.from_pretrained(f"{out}/model", dtype=torch.float32).cuda().eval()
    print(f"loaded {type(model).__name__}: {sum(p.numel() for p in model.parameters())} parameters")
    sample = None
    with open(f"{out}/metrics.jsonl") as f:
        for line in f:
            row = json.loads(line)
            if "sample" in row:
                sample = row["sample"]
    prompt = sample["prompt"] if sample else "<s>User: Tell me a story.\nAssistant: "
    ids = tok(prompt, add_special_tokens=False, return_tensors="pt").input_ids.cuda()
    with torch.no_grad():
        logits = model(ids).logits
        finite = bool(torch.isfinite(logits).all())
        gen = model.generate(ids, max_new_tokens=24, do_sample=False, eos_token_id=tok.eos_token_id)
    text = tok.decode(gen[0, ids.shape[1]:], skip_special_tokens=False)
    print(f"logits finite: {finite}")
    print(f"transformers greedy: {text!r}")
    if sample:
        print(f"sftkit's logged sample: {sample['completion']!r} ({'same' if text.strip() == sample['completion'].strip() else 'differs'})")
    return 0 if finite else 1


if __name__ == "__main__":
    sys.exit(main())
