// The end token a recipe trains, checked at compile time on the real stories260K and real chat templates.
import { mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { formatPath } from "../recipe/diagnostics.ts";
import { fixture, hasSharedFixtures, sharedFixturesSkipReason } from "../testing/fixtures.ts";
import { compileRecipe } from "./compile.ts";

const repo = join(import.meta.dirname, "../../../..");
const model = join(repo, "examples/models/stories260K");
const chat = join(repo, "examples/quickstart/data/chat.jsonl");

/** Writes the recipe as a module in a temporary folder, so diagnostics are located in a real file. */
function recipeFile(fields: string, dataFile = chat): string {
  const dir = mkdtempSync(join(tmpdir(), "sft-eos-"));
  writeFileSync(join(dir, "package.json"), '{ "type": "module" }\n');
  const file = join(dir, "recipe.ts");
  writeFileSync(
    file,
    [
      "export default {",
      `  model: { path: ${JSON.stringify(model)} },`,
      `  data: { sources: { chat: { path: ${JSON.stringify(dataFile)}, format: "messages", eval: 0.1 } } },`,
      '  method: { kind: "lora", rank: 4 },',
      `  output: { dir: ${JSON.stringify(join(dir, "out"))} },`,
      fields,
      "};",
      "",
    ].join("\n"),
  );
  return file;
}

const errors = (r: Awaited<ReturnType<typeof compileRecipe>>) =>
  r.diagnostics.filter((d) => d.severity === "error");

describe("the end token is one token the template really writes", () => {
  it("docs/recipes.md: chatml with <|end|> declared as EOS is an error naming <|im_end|>", async () => {
    const file = recipeFile(
      '  template: "chatml",\n  tokens: { add: ["<|user|>", "<|end|>"], eos: "<|end|>" },',
    );
    const r = await compileRecipe(file, { write: false });
    expect(r.plan).toBeNull();
    const [e, ...rest] = errors(r);
    expect(rest).toEqual([]);
    expect(e).toMatchObject({ code: "sft/eos-not-emitted", location: { file, line: 7, column: 48 } });
    expect(formatPath(e!.path)).toBe("tokens.eos");
    expect(e!.message).toContain("`<|im_end|>`, not the declared EOS `<|end|>`");
    // The tokenizer splits chatml's marker into plain pieces.
    expect(e!.message).toContain("splits it into 7 plain pieces");
    expect(e!.hint).toContain('eos: "<|im_end|>"');
    expect(e!.hint).toContain('"<|im_start|>","<|im_end|>"');
    // The built-in that writes the recipe's own tokens comes first.
    expect(e!.hint).toMatch(
      /ends turns with `<\|end\|>`: "phi-3" \(add `<\|system\|>`, `<\|assistant\|>` too\)/,
    );
  });

  it("following the no-chat-template hint (chatml on stories260K) is an error naming <|im_end|>", async () => {
    const file = recipeFile('  template: "chatml",');
    const r = await compileRecipe(file, { write: false });
    const [e, ...rest] = errors(r);
    expect(rest).toEqual([]);
    expect(e).toMatchObject({ code: "sft/eos-not-emitted", location: { file, line: 6, column: 13 } });
    expect(formatPath(e!.path)).toBe("template");
    expect(e!.message).toContain("`<|im_end|>`, which is not one token");
    expect(e!.hint).toContain('tokens: { add: ["<|im_start|>","<|im_end|>"], eos: "<|im_end|>" }');
    // Only llama-2 ends answers with one token here (" </s>"); mistral and alpaca write "answer</s>".
    expect(e!.hint).toMatch(/one token of this tokenizer: "llama-2"$/);
  });

  it("the no-chat-template hint names first the built-ins that work as they are, and those compile", async () => {
    const none = await compileRecipe(recipeFile(""), { write: false, readData: false });
    const [e] = errors(none);
    expect(e?.code).toBe("sft/no-chat-template");
    expect(e!.hint).toMatch(
      /^choose a built-in that ends answers with one token of this tokenizer: llama-2; chatml, /,
    );
    const followed = await compileRecipe(recipeFile('  template: "llama-2",'), {
      write: false,
      readData: false,
    });
    expect(errors(followed)).toEqual([]);
    expect(followed.plan?.template.endOfTurn).toBe("</s>");
  });

  it("the fixed recipes compile and the plan names the trained end token", async () => {
    const phi3 = await compileRecipe(
      recipeFile(
        '  template: "phi-3",\n  tokens: { add: ["<|user|>", "<|assistant|>", "<|end|>"], eos: "<|end|>" },',
      ),
      { write: false, readData: false },
    );
    expect(errors(phi3)).toEqual([]);
    expect(phi3.plan?.template.endOfTurn).toBe("<|end|>");
    const chatml = await compileRecipe(
      recipeFile(
        '  template: "chatml",\n  tokens: { add: ["<|im_start|>", "<|im_end|>"], eos: "<|im_end|>" },',
      ),
      { write: false, readData: false },
    );
    expect(errors(chatml)).toEqual([]);
    expect(chatml.plan?.template.endOfTurn).toBe("<|im_end|>");
  });

  it("a declared EOS the template does not write, though it writes another single token", async () => {
    const r = await compileRecipe(
      recipeFile(
        '  template: "chatml",\n  tokens: { add: ["<|im_start|>", "<|im_end|>", "<|eos|>"], eos: "<|eos|>" },',
      ),
      { write: false, readData: false },
    );
    const [e] = errors(r);
    expect(e?.code).toBe("sft/eos-not-emitted");
    expect(e!.hint).toContain('train the template\'s marker as the end token: tokens.eos: "<|im_end|>"');
  });

  it("warns about an added role marker the template never writes and no row contains", async () => {
    const dir = mkdtempSync(join(tmpdir(), "sft-eos-data-"));
    const data = join(dir, "chat.jsonl");
    const rows = readFileSync(chat, "utf8").trim().split("\n").slice(0, 20);
    // One row mentions <|tool|> in its text: that token is used by the data, so it is not reported.
    rows[0] = JSON.stringify({
      messages: [
        { role: "user", content: "Say <|tool|>." },
        { role: "assistant", content: "<|tool|>" },
      ],
    });
    writeFileSync(data, `${rows.join("\n")}\n`);
    const file = recipeFile(
      [
        '  template: "phi-3",',
        '  tokens: { add: ["<|system|>", "<|user|>", "<|assistant|>", "<|end|>", "<|tool|>", "<|human|>"], eos: "<|end|>" },',
      ].join("\n"),
      data,
    );
    const r = await compileRecipe(file, { write: false });
    expect(errors(r)).toEqual([]);
    const warned = r.diagnostics.filter((d) => d.code === "sft/token-not-in-template");
    // <|system|> is written for a system message (the probe has one), <|tool|> is in the data.
    expect(warned.map((d) => formatPath(d.path))).toEqual(["tokens.add[5]"]);
    expect(warned[0]!.message).toContain("`<|human|>`");
    expect(warned[0]!.location?.line).toBe(7);
  });
});

describe.skipIf(!hasSharedFixtures)(
  hasSharedFixtures ? "real chat templates" : `real chat templates (${sharedFixturesSkipReason})`,
  () => {
    const templates = join("tokenizers", "_chat_templates");
    it("Qwen2.5's and Llama-3's own templates pass with their markers added and used as EOS", async () => {
      const qwen = JSON.parse(readFileSync(fixture("tokenizers", "qwen2.5", "tokenizer_config.json"), "utf8"))
        .chat_template as string;
      const llama3 = readFileSync(fixture(templates, "axolotl", "llama3.jinja"), "utf8");
      const cases: [string, string[], string][] = [
        [qwen, ["<|im_start|>", "<|im_end|>"], "<|im_end|>"],
        [llama3, ["<|start_header_id|>", "<|end_header_id|>", "<|eot_id|>"], "<|eot_id|>"],
      ];
      for (const [jinja, add, eos] of cases) {
        for (const declared of [true, false]) {
          const tokens = `  tokens: { add: ${JSON.stringify(add)}${declared ? `, eos: ${JSON.stringify(eos)}` : ""} },`;
          const r = await compileRecipe(
            recipeFile(`  template: { jinja: ${JSON.stringify(jinja)} },\n${tokens}`),
            {
              write: false,
              readData: false,
            },
          );
          expect(errors(r), `${eos} declared=${declared}`).toEqual([]);
          expect(r.plan?.template.endOfTurn).toBe(eos);
        }
        // Without the markers added, the same template is refused and the hint names its marker.
        const bare = await compileRecipe(recipeFile(`  template: { jinja: ${JSON.stringify(jinja)} },`), {
          write: false,
          readData: false,
        });
        expect(errors(bare)[0]?.code).toBe("sft/eos-not-emitted");
        expect(errors(bare)[0]?.hint).toContain(`eos: ${JSON.stringify(eos)}`);
      }
    });
  },
);
