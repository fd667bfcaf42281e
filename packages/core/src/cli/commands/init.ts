// `sft init [dir]`: a project of one's own — package.json, tsconfig.json, the tiny stories260K model and a chat
// set copied in, a recipe that trains on them, and a README with the next commands. Works offline.
import { cpSync, existsSync, mkdirSync, readdirSync, readFileSync, writeFileSync } from "node:fs";
import { basename, join, relative, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { defineCommand } from "citty";
import { sftCommand } from "../invocation.ts";

// src/cli/commands and dist/cli/commands lie at the same depth under the package folder.
const packageDir = fileURLToPath(new URL("../../../", import.meta.url));

/** The model and chat data to copy: packed into the package (starter/), else the clone's copies. */
export function starterAssets(from = packageDir): { model: string; chat: string } {
  const packed = { model: join(from, "starter/stories260K"), chat: join(from, "starter/chat.jsonl") };
  if (existsSync(join(packed.model, "config.json")) && existsSync(packed.chat)) return packed;
  return {
    model: join(from, "../../examples/models/stories260K"),
    chat: join(from, "../recipes/data/stories-chat.jsonl"),
  };
}

const recipe = `/**
 * Your first recipe: LoRA on stories260K (a 260K-parameter Llama trained on children's stories, in models/)
 * with new role tokens, on a small chat set (data/chat.jsonl). Edit it and run \`sft plan recipe.ts\`.
 */
import { defineRecipe } from "@sftkit/core";

export default defineRecipe({
  model: { path: "models/stories260K" },
  // stories260K has no chat template: this one uses the role tokens added below.
  template: {
    jinja:
      "{{ bos_token }}{% for m in messages %}{% if m.role == 'user' %}<|user|>{{ m.content }}<|end|>" +
      "{% elif m.role == 'assistant' %}<|assistant|>{{ m.content }}<|end|>{% endif %}{% endfor %}" +
      "{% if add_generation_prompt %}<|assistant|>{% endif %}",
  },
  tokens: {
    add: [
      { content: "<|user|>", init: "describe", description: "a person asks" },
      { content: "<|assistant|>", init: "describe", description: "the story teller answers" },
      { content: "<|end|>", init: "describe", description: "the end." },
    ],
    // Generation stops on the end-of-turn token, which is trained after every answer.
    eos: "<|end|>",
  },
  data: { sources: { chat: { path: "data/chat.jsonl", format: "messages", eval: 0.1 } } },
  method: { kind: "lora", rank: 8, alpha: 16, dropout: 0, targets: "all-linear" },
  train: { epochs: 4, learningRate: 5e-3, maxLength: 128, tokensPerMicroBatch: 1024 },
  // A PEFT adapter (adapter/) and the merged Hugging Face model (model/).
  output: { dir: "out", save: "both" },
});
`;

const tsconfig = {
  compilerOptions: {
    module: "nodenext",
    target: "es2022",
    strict: true,
    noUncheckedIndexedAccess: true,
    skipLibCheck: true,
    noEmit: true,
    types: [],
  },
  include: ["*.ts"],
};

function readme(name: string, sft: string, dir: string): string {
  const cd = dir === "." ? "" : `cd ${dir}\n`;
  const install = sft.startsWith("pnpm") ? "pnpm install" : sft.startsWith("yarn") ? "yarn" : "npm install";
  return `# ${name}

A fine-tuning project made by \`sft init\`: \`recipe.ts\` trains a LoRA adapter for the tiny stories260K model
(\`models/\`) on \`data/chat.jsonl\`. Everything it needs is in this folder; nothing is downloaded.

\`\`\`sh
${cd}${install}
${sft} plan recipe.ts        # what will train: parameters, memory, tokens; no training
${sft} run recipe.ts         # train (a minute or two on a laptop); artefacts go to out/
${sft} run recipe.ts --max-steps 2   # a quick try
\`\`\`

After a run, \`${sft} run\` prints the \`${sft} chat\` command that chats with the result.
Type-check the recipe with \`npx tsc\`. Next: point \`model\` at a Hugging Face model folder, \`data\` at your own
chat data, and read the recipe reference of sftkit's docs (docs/recipe-reference.md).
`;
}

/** Writes the project into `dir`; throws when it would overwrite a project there. Returns the files written. */
export function initProject(dir: string, sft = sftCommand()): string[] {
  const target = resolve(dir);
  for (const taken of ["package.json", "recipe.ts"]) {
    if (existsSync(join(target, taken)))
      throw new Error(
        `${join(target, taken)} exists; sft init writes a new project (choose an empty folder)`,
      );
  }
  const name =
    basename(target)
      .toLowerCase()
      .replace(/[^a-z0-9._-]+/g, "-") || "sft-project";
  const { version } = JSON.parse(readFileSync(join(packageDir, "package.json"), "utf8")) as {
    version: string;
  };
  const assets = starterAssets();
  mkdirSync(join(target, "data"), { recursive: true });
  cpSync(assets.model, join(target, "models/stories260K"), { recursive: true });
  cpSync(assets.chat, join(target, "data/chat.jsonl"));
  const manifest = {
    name,
    version: "0.1.0",
    private: true,
    type: "module",
    scripts: { plan: "sft plan recipe.ts", train: "sft run recipe.ts" },
    dependencies: { "@sftkit/core": `^${version}` },
    devDependencies: { typescript: "~5.9.3" },
  };
  const json = (v: unknown) => `${JSON.stringify(v, null, 2)}\n`;
  writeFileSync(join(target, "package.json"), json(manifest));
  writeFileSync(join(target, "tsconfig.json"), json(tsconfig));
  writeFileSync(join(target, "recipe.ts"), recipe);
  writeFileSync(join(target, ".gitignore"), "node_modules/\nout/\n.sft-cache/\n");
  writeFileSync(join(target, "README.md"), readme(name, sft, relative(process.cwd(), target) || "."));
  return readdirSync(target).sort();
}

export const initCommand = defineCommand({
  meta: { name: "init", description: "Start a project of your own: a recipe on a tiny model, data, README" },
  args: { dir: { type: "positional", required: false, default: ".", description: "Folder (default: here)" } },
  run({ args }) {
    const sft = sftCommand();
    try {
      initProject(args.dir, sft);
    } catch (e) {
      process.stderr.write(`sft init: ${(e as Error).message}\n`);
      process.exitCode = 1;
      return;
    }
    const dir = relative(process.cwd(), resolve(args.dir)) || ".";
    const cd = dir === "." ? "" : `cd ${dir} && `;
    process.stdout.write(
      `Wrote a project in ${dir}: recipe.ts, models/stories260K, data/chat.jsonl, README.md\n\nNext:\n` +
        `  ${cd}${sft} plan recipe.ts\n  ${sft} run recipe.ts\n`,
    );
  },
});
