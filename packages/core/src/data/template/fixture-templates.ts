// Collects the real chat templates under fixtures/tokenizers (the same walk as goldens/generate_goldens.py).
import { readdirSync, readFileSync, statSync } from "node:fs";
import { join, relative } from "node:path";

function walk(dir: string, out: string[]): void {
  for (const f of readdirSync(dir).sort()) {
    const p = join(dir, f);
    if (statSync(p).isDirectory()) walk(p, out);
    else out.push(p);
  }
}

/** Template id (path under tokenizers/, "#name" for named templates) -> source. */
export function loadFixtureTemplates(tokenizersDir: string): Record<string, string> {
  const files: string[] = [];
  walk(tokenizersDir, files);
  const out: Record<string, string> = {};
  for (const path of files) {
    const rel = relative(tokenizersDir, path);
    const name = rel.split("/").pop() ?? "";
    if (name.endsWith(".jinja") || name.endsWith(".jinja2")) out[rel] = readFileSync(path, "utf8");
    else if (name === "tokenizer_config.json" || (name.endsWith(".json") && rel.includes("mistral.rs"))) {
      const ct = (JSON.parse(readFileSync(path, "utf8")) as { chat_template?: unknown }).chat_template;
      if (typeof ct === "string") out[rel] = ct;
      else if (Array.isArray(ct))
        for (const e of ct as { name: string; template: string }[]) out[`${rel}#${e.name}`] = e.template;
    } else if (rel.endsWith("ollama/index.json")) {
      // Names repeat in ollama's index: the position keeps ids unique.
      (JSON.parse(readFileSync(path, "utf8")) as { name: string; template: string }[]).forEach((e, i) => {
        out[`${rel}#${i}-${e.name}`] = e.template;
      });
    }
  }
  return out;
}
