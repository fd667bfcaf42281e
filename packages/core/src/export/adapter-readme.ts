// README.md of an adapter folder: the conditions base + adapter loads and stops under, which PEFT does not
// check for you (the base, the PEFT version, resizing the embeddings first, the end token).
import { join } from "node:path";
import { writeFileAtomic } from "../util/atomic-write.ts";
import type { PeftRequirement } from "./peft-version.ts";

export interface AdapterReadme {
  /** e.g. "LoRA", "QLoRA", "prefix tuning". */
  method: string;
  /** base_model_name_or_path and revision as written; `isPath`: relative to the adapter folder. */
  base: { name: string | null; revision: string | null; isPath: boolean };
  peft: PeftRequirement;
  /** Tokens the run added (rows the base lacks until resized). */
  newTokens: string[];
  /** The token generation should stop on (the trained end token), and the ids generation_config lists. */
  stop: { text: string | null; ids: number[] };
  /** PiSSA's init_lora_weights when the run started from it (the adapter is saved converted to plain LoRA). */
  pissa?: { init: string; rank: number };
}

const py = (s: string) => JSON.stringify(s);

function baseExpr(b: AdapterReadme["base"]): string {
  if (b.name === null) return `"<base model>"`;
  if (b.isPath) return `os.path.join(adapter, ${py(b.name)})`;
  return b.revision ? `${py(b.name)}, revision=${py(b.revision)}` : py(b.name);
}

export function adapterReadme(r: AdapterReadme): string {
  const { base, peft, stop } = r;
  const baseLine =
    base.name === null
      ? "none recorded (a randomly initialised architecture)"
      : base.isPath
        ? `\`${base.name}\` (a folder, relative to this one)`
        : `\`${base.name}\`${base.revision ? ` at revision \`${base.revision}\`` : ""}`;
  const stopName = stop.text ? `\`${stop.text}\` (id ${stop.ids[0]})` : `id ${stop.ids.join(", ")}`;
  const lines = [
    `# ${r.method} adapter trained with sftkit`,
    "",
    `- **Base model:** ${baseLine}.`,
    `- **PEFT:** ${peft.version} or newer (${peft.reason}).`,
    r.newTokens.length
      ? `- **Resize first:** the tokenizer here adds ${r.newTokens.length} token(s) (${r.newTokens.map((t) => `\`${t}\``).join(", ")}); resize the base's embeddings to \`len(tokenizer)\` before loading the adapter.`
      : "- **Tokenizer:** load it from this folder (it carries the chat template trained on).",
    ...(r.pissa
      ? [
          `- **Initialisation:** PiSSA (\`init_lora_weights="${r.pissa.init}"\`) at rank ${r.pissa.rank}, saved converted to a plain LoRA of rank ${2 * r.pissa.rank} that applies to the original base (as PEFT's \`save_pretrained(path_initial_model_for_weight_conversion=...)\` writes it), so \`init_lora_weights\` is \`true\` here: loading must not decompose the base again.`,
        ]
      : []),
    stop.ids.length
      ? `- **Stop on:** ${stopName}. \`generation_config.json\` here lists it, but PEFT does not load that file: set it as below.`
      : "",
    "",
    "```python",
    ...(base.isPath ? ["import os"] : []),
    "from peft import PeftModel",
    "from transformers import AutoModelForCausalLM, AutoTokenizer, GenerationConfig",
    'adapter = "path/to/this/folder"',
    "tokenizer = AutoTokenizer.from_pretrained(adapter)",
    `base = AutoModelForCausalLM.from_pretrained(${baseExpr(base)})`,
    "if len(tokenizer) > base.get_input_embeddings().num_embeddings:",
    "    base.resize_token_embeddings(len(tokenizer))",
    "model = PeftModel.from_pretrained(base, adapter)",
    "model.generation_config = GenerationConfig.from_pretrained(adapter)",
    "```",
    "",
    base.isPath
      ? "`AutoPeftModelForCausalLM` resizes by itself but resolves the relative base path against the working directory: load it from inside this folder, or load the base as above."
      : "`AutoPeftModelForCausalLM.from_pretrained(adapter)` also works: it loads the base named here and resizes by itself.",
    "",
  ];
  return lines.filter((l, i) => l !== "" || lines[i - 1] !== "").join("\n");
}

export async function writeAdapterReadme(dir: string, r: AdapterReadme): Promise<string> {
  await writeFileAtomic(join(dir, "README.md"), adapterReadme(r));
  return "README.md";
}
