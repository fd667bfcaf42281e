// Every example recipe compiles; `sft plan --json` on each is snapshot-tested (machine-specific fields masked).
// The plans are made in a copy of the examples: `sft plan` writes plan.json into the recipe's output folder,
// and the user's own out/<example> must stay as their runs left it.
import { spawnSync } from "node:child_process";
import { existsSync, readdirSync, rmSync } from "node:fs";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { copyExamples, type ExamplesCopy } from "../packages/core/src/testing/example-copy.ts";
import { makeHfStandInCache } from "../packages/core/src/testing/hf-standins.ts";

const repo = join(import.meta.dirname, "..");
const examples = readdirSync(import.meta.dirname, { withFileTypes: true })
  .filter((d) => d.isDirectory() && readdirSync(join(import.meta.dirname, d.name)).includes("recipe.ts"))
  .map((d) => d.name);

// Hub models come from stand-ins with the real architectures (sftkit never downloads).
let hubCache = "";
let copy: ExamplesCopy;
beforeAll(() => {
  hubCache = makeHfStandInCache();
  copy = copyExamples();
});
afterAll(() => rmSync(copy.root, { recursive: true, force: true }));

/** Masks what differs between machines and runs: paths, core counts, device memory, cache state. */
function normalise(plan: Record<string, unknown>): unknown {
  const text = JSON.stringify(plan)
    .replaceAll(hubCache, "<hf-cache>")
    .replaceAll(copy.root, "<repo>")
    .replaceAll(repo, "<repo>");
  const p = JSON.parse(text);
  p.backend = {
    ...p.backend,
    threads: "<cores>",
    available: "<installed>",
    chosen: "<backend>",
    reason: "<reason>",
    ...(p.backend.native ? { native: "<machine>" } : {}),
  };
  p.memory.device = "<device>";
  p.memory.fits = "<fits>";
  p.data.cache.hit = "<hit>";
  // Content keys hash the data files' absolute paths and the tokenizer folder's: machine-specific.
  for (const k of Object.keys(p.data.cache.keys ?? {}))
    if (p.data.cache.keys[k] !== null) p.data.cache.keys[k] = "<content key>";
  p.kernels = "<per backend>";
  // Whether an optional engine (native) is built differs per machine.
  p.engine.available = p.engine.available.map((e: { name: string }) =>
    e.name === "tfjs" ? e : { name: e.name, available: "<machine>", reason: "<machine>" },
  );
  return p;
}

describe("examples", () => {
  it("finds the examples", () => {
    expect(examples).toContain("quickstart");
  });

  for (const name of examples) {
    it(`sft plan --json examples/${name}/recipe.ts`, () => {
      const r = spawnSync(
        process.execPath,
        [join(repo, "packages/core/bin/sft.js"), "plan", `examples/${name}/recipe.ts`, "--json"],
        {
          cwd: copy.root,
          encoding: "utf8",
          // Pure wasm: the native tier's smaller activations would make the snapshot machine-specific.
          env: {
            ...process.env,
            NO_COLOR: "1",
            SFTKIT_BACKEND: "",
            SFTKIT_NATIVE: "0",
            HF_HUB_CACHE: hubCache,
          },
        },
      );
      expect(r.status, r.stderr).toBe(0);
      expect(normalise(JSON.parse(r.stdout))).toMatchSnapshot();
      expect(existsSync(join(copy.out(name), "plan.json"))).toBe(true);
    });
  }
});
