// Field descriptions reach editors: hovering a recipe field shows its schema description.
import { readFileSync } from "node:fs";
import { join } from "node:path";
import ts from "typescript";
import { describe, expect, it } from "vitest";
import { renderFieldDocs } from "./field-docs.ts";
import { recipeJsonSchema } from "./json-schema.ts";

const generated = join(import.meta.dirname, "field-docs.generated.ts");

/** What an editor shows on hover at `marker` in a recipe written with defineRecipe / extendRecipe. */
function hovers(source: string, markers: string[]): string[] {
  const file = join(import.meta.dirname, "__hover__.ts");
  const files = new Map([[file, source]]);
  const host: ts.LanguageServiceHost = {
    getScriptFileNames: () => [file],
    getScriptVersion: () => "1",
    getScriptSnapshot: (f) => {
      const text = files.get(f) ?? ts.sys.readFile(f);
      return text === undefined ? undefined : ts.ScriptSnapshot.fromString(text);
    },
    getCurrentDirectory: () => import.meta.dirname,
    getCompilationSettings: () => ({
      strict: true,
      module: ts.ModuleKind.NodeNext,
      moduleResolution: ts.ModuleResolutionKind.NodeNext,
      target: ts.ScriptTarget.ES2022,
      allowImportingTsExtensions: true,
      noEmit: true,
      skipLibCheck: true,
    }),
    getDefaultLibFileName: ts.getDefaultLibFilePath,
    fileExists: (f) => files.has(f) || ts.sys.fileExists(f),
    readFile: (f) => files.get(f) ?? ts.sys.readFile(f),
    directoryExists: ts.sys.directoryExists,
    getDirectories: ts.sys.getDirectories,
  };
  const service = ts.createLanguageService(host);
  return markers.map((m) => {
    const at = source.indexOf(m);
    const info = service.getQuickInfoAtPosition(file, at);
    return ts.displayPartsToString(info?.documentation);
  });
}

describe("recipe field descriptions in editors", () => {
  it("hovering a field in defineRecipe and extendRecipe shows the schema's description", () => {
    const source = `import { defineRecipe, extendRecipe } from "./define.ts";
const base = defineRecipe({
  model: { path: "m" },
  data: { sources: { chat: { path: "a.jsonl", format: "messages" } } },
  method: { kind: "full" },
  train: { learningRate: 1e-4 },
});
export default extendRecipe(base, { train: { epochsX: 2 } as never, output: { save: "adapter" } });
`;
    const [learningRate, model, sourcePath, save] = hovers(source, [
      "learningRate",
      "model",
      'path: "a.jsonl"',
      "save",
    ]);
    type Props = { properties: Record<string, { description: string } & Props> };
    const schema = recipeJsonSchema() as unknown as Props;
    expect(learningRate).toBe(schema.properties.train?.properties.learningRate?.description);
    expect(learningRate).toMatch(/^Peak learning rate/);
    expect(model).toBe(schema.properties.model?.description);
    expect(sourcePath).toMatch(/^A file, folder or glob \(or a list\), relative to the recipe file/);
    expect(save).toMatch(/^What to write/);
  }, 120_000);

  it("hovering a field of a union member (method by kind, template) shows that member's description", () => {
    const source = `import { defineRecipe, extendRecipe } from "./define.ts";
const base = defineRecipe({
  model: { path: "m" },
  template: { file: "chat.jinja" },
  data: { sources: { chat: { path: "a.jsonl", format: "messages" } } },
  method: { kind: "lora", rank: 16, dora: true },
});
export default extendRecipe(base, { method: { kind: "qlora", loraPlusRatio: 16 } });
`;
    const [rank, dora, file, loraPlusRatio] = hovers(source, ["rank", "dora", "file", "loraPlusRatio"]);
    type Member = { properties: Record<string, { description?: string }> };
    const schema = recipeJsonSchema() as unknown as {
      properties: { method: { oneOf: Member[] }; template: { anyOf: Member[] } };
    };
    const lora = schema.properties.method.oneOf.find((m) =>
      m.properties.kind?.description?.startsWith("Low-rank"),
    );
    expect(rank).toBe(lora?.properties.rank?.description);
    expect(rank).toMatch(/^LoRA rank/);
    expect(dora).toBe(lora?.properties.dora?.description);
    expect(dora).not.toBe("");
    expect(file).toBe(
      schema.properties.template.anyOf.find((m) => m.properties?.file)?.properties.file?.description,
    );
    expect(file).toMatch(/^A \.jinja file/);
    expect(loraPlusRatio).toMatch(/\S/);
  }, 120_000);

  it("the generated descriptions are the schema's (run `pnpm docs:gen` after changing a description)", () => {
    expect(readFileSync(generated, "utf8")).toBe(renderFieldDocs());
  });
});
