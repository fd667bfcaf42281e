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
    import os

    ids_file = f"{out}/sample-ids.json"
    sample = json.load(open(ids_file)) if os.path.exists(ids_file) else None
    prompt_ids = sample["promptIds"] if sample else tok("Tell me a story.").input_ids
    ids = torch.tensor([prompt_ids]).cuda()
    with torch.no_grad():
        logits = model(ids).logits
        finite = bool(torch.isfinite(logits).all())
        gen = model.generate(ids, attention_mask=torch.ones_like(ids), max_new_tokens=24, do_sample=False,
                             eos_token_id=tok.eos_token_id)
    new_ids = gen[0, ids.shape[1]:].tolist()
    print(f"logits finite: {finite}")
    print(f"transformers greedy on sftkit's prompt ids: {new_ids} {tok.decode(new_ids)!r}")
    if sample:
        want = sample["completionIds"]
        same = new_ids[: len(want)] == want
        print(f"sftkit's logged sample (re-encoded): {want} {sample['completion']!r} -> {'same' if same else 'differs'}")
    return 0 if finite else 1


if __name__ == "__main__":
    sys.exit(main())
