import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { fixture, hasSharedFixtures, sharedFixturesSkipReason } from "../testing/fixtures.ts";
import { initBackend } from "./backend.ts";
import { Checkpoint } from "./checkpoint.ts";
import { loadModel } from "./llama.ts";
import { importLlama2c } from "./llama2c.ts";

let dir: string;
beforeAll(async () => {
  await initBackend();
  dir = await mkdtemp(join(tmpdir(), "sft-l2c-"));
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

describe("importLlama2c", () => {
  it("rejects a file whose size does not match its header", async () => {
    const p = join(dir, "bad.bin");
    await writeFile(p, Buffer.from(new Int32Array([8, 16, 1, 2, 2, 10, 16, 0]).buffer));
    await expect(importLlama2c(p, join(dir, "out-bad"))).rejects.toThrow(/header describes/);
    await writeFile(p, Buffer.from(new Int32Array([0, 0, 0, 0, 0, 0, 0]).buffer));
    await expect(importLlama2c(p, join(dir, "out-bad"))).rejects.toThrow(/not a llama2.c checkpoint/);
  });
});

describe.skipIf(!hasSharedFixtures)(`llama2.c stories260K (${sharedFixturesSkipReason})`, () => {
  it("imports to the same weights and logits as the HF-derived checkpoint", async () => {
    const out = join(dir, "stories");
    const cfg = await importLlama2c(fixture("models/stories260K/llama2c-original/stories260K.bin"), out);
    expect(cfg).toMatchObject({
      vocabSize: 512,
      hiddenSize: 64,
      numLayers: 5,
      numKvHeads: 4,
      tieWordEmbeddings: true,
    });
    const a = await Checkpoint.open(out);
    const b = await Checkpoint.open(fixture("models/stories260K/hf-derived"));
    let maxDiff = 0;
    for (const name of a.names()) {
      const x = await a.readF32(name);
      const y = await b.readF32(name, a.info(name).shape);
      for (let i = 0; i < x.length; i++) maxDiff = Math.max(maxDiff, Math.abs(x[i]! - y[i]!));
    }
    await a.close();
    await b.close();
    expect(maxDiff).toBe(0);
    const m1 = await loadModel(out);
    const m2 = await loadModel(fixture("models/stories260K/hf-derived"));
    const ids = [1, 403, 407, 261, 378];
    expect(await m1.logits([ids])).toEqual(await m2.logits([ids]));
    m1.dispose();
    m2.dispose();
  });
});
