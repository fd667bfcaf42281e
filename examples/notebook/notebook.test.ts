// The example notebook: a Deno notebook whose cells drive compile -> train -> report -> generate. Its imports
// resolve, and the values its cells display (the plan, the run result) render as HTML tables and the loss curve.
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import {
  compile,
  type Displayable,
  displayRunResult,
  JUPYTER_DISPLAY,
  type MimeBundle,
  type Plan,
} from "../../packages/core/src/index.ts";

interface Cell {
  cell_type: "markdown" | "code";
  source: string[];
  outputs?: unknown[];
  execution_count?: number | null;
}

const here = import.meta.dirname;
const nb = JSON.parse(readFileSync(join(here, "sftkit.ipynb"), "utf8")) as {
  cells: Cell[];
  metadata: { kernelspec: Record<string, string> };
  nbformat: number;
};
const code = nb.cells.filter((c) => c.cell_type === "code").map((c) => c.source.join(""));
const all = code.join("\n");
const tmp: string[] = [];
afterAll(() => {
  for (const d of tmp) rmSync(d, { recursive: true, force: true });
});

describe("examples/notebook/sftkit.ipynb", () => {
  it("is a Deno notebook of short markdown and code cells, saved without outputs", () => {
    expect(nb.nbformat).toBe(4);
    expect(nb.metadata.kernelspec).toEqual({ name: "deno", display_name: "Deno", language: "typescript" });
    expect(nb.cells[0]!.cell_type).toBe("markdown");
    expect(code.length).toBeGreaterThanOrEqual(4);
    for (const c of nb.cells) {
      expect(c.source.join("").trim()).not.toBe("");
      if (c.cell_type === "code") expect([c.outputs, c.execution_count]).toEqual([[], null]);
    }
  });

  it("its set-up cell displays no stray value (a last-line assignment would show it)", () => {
    const lines = code[0]!
      .split("\n")
      .map((l) => l.trim())
      .filter((l) => l !== "" && !l.startsWith("//"));
    expect(lines.at(-1)).not.toMatch(/^[\w.]+\s*(\?\?|\|\||&&)?=[^=]/);
  });

  it("drives compile -> train -> report -> generate in that order", () => {
    const at = (s: string) => all.indexOf(s);
    const order = ["compile(", "train(", "writeRunReport(", "generate("].map(at);
    expect(order.every((i) => i >= 0)).toBe(true);
    expect([...order].sort((a, b) => a - b)).toEqual(order);
  });

  it("imports only names its modules export", async () => {
    const imports = [...all.matchAll(/import\s*\{([^}]+)\}\s*from\s*"(\.[^"]+)"/g)];
    expect(imports.length).toBeGreaterThan(0);
    for (const [, names, path] of imports) {
      const mod = (await import(resolve(here, path!))) as Record<string, unknown>;
      for (const name of names!
        .split(",")
        .map((n) => n.trim())
        .filter(Boolean))
        expect(mod[name], `${name} from ${path}`).toBeDefined();
    }
  });

  it("the plan its compile cell returns displays as HTML tables", async () => {
    const recipe = /compile\("([^"]+)"\)/.exec(all)?.[1];
    expect(recipe).toBe("../quickstart/recipe.ts");
    // compile() is typed as returning a Plan; the display methods ride along, non-enumerable.
    const plan = (await compile(resolve(here, recipe!), { write: false })) as Plan & Displayable;
    const bundle = plan[JUPYTER_DISPLAY]() as MimeBundle;
    expect(Object.keys(bundle).sort()).toEqual(["text/html", "text/plain"]);
    expect(bundle["text/html"]).toContain("<table");
    expect(bundle["text/html"]).toContain("<td>lora</td>");
    expect(bundle["text/plain"]).toContain("Plan quickstart");
  });

  it("a run's result, wrapped as its train cell does, displays the loss curve", async () => {
    const dir = mkdtempSync(join(tmpdir(), "sft-notebook-"));
    tmp.push(dir);
    const lines = [1, 2, 3].map((step) =>
      JSON.stringify({
        step,
        epoch: step / 20,
        loss: 3 - step / 4,
        lr: 1e-3,
        tokens: 400,
        seconds: 0.5,
        gradNorm: 1,
      }),
    );
    writeFileSync(join(dir, "metrics.jsonl"), `${lines.join("\n")}\n{"step":3,"evalLoss":2.4}\n`);
    expect(all).toContain("displayRunResult(await train(");
    const result = displayRunResult({
      steps: 3,
      loss: 2.25,
      outputDir: dir,
      metricsFile: join(dir, "metrics.jsonl"),
    });
    const bundle = await result[JUPYTER_DISPLAY]();
    expect(bundle["text/html"]).toContain("<svg");
    expect(bundle["text/html"]).toContain("train loss");
    expect(bundle["text/html"]).toContain("eval loss");
  });
});
