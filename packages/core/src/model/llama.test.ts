import { readFile } from "node:fs/promises";
import * as tf from "@tensorflow/tfjs-core";
import { beforeAll, describe, expect, it } from "vitest";
import { fixture, hasSharedFixtures, sharedFixturesSkipReason } from "../testing/fixtures.ts";
import { initBackend } from "./backend.ts";
import { Checkpoint } from "./checkpoint.ts";
import { loadModel } from "./llama.ts";
import { referenceLogits } from "./reference-forward.ts";

beforeAll(async () => {
  await initBackend();
});

function maxAbs(a: number[], b: number[]): number {
  let m = 0;
  for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs(a[i]! - b[i]!));
  return m;
}

describe.skipIf(!hasSharedFixtures)(`stories260K parity (${sharedFixturesSkipReason})`, () => {
  const dir = fixture("models/stories260K/hf-derived");
  it("matches reference logits and greedy decoding", async () => {
    const ref = JSON.parse(await readFile(`${dir}/reference_outputs.json`, "utf8"));
    const model = await loadModel(dir);
    const [rows] = [await model.logits([ref.prompt_ids_with_bos])];
    const last = rows[0]!.at(-1)!;
    expect(maxAbs(last, ref.last_position_logits_for_prompt)).toBeLessThan(1e-4);
    // float64 reference forward agrees too
    const ck = await Checkpoint.open(dir);
    const w = new Map<string, Float32Array>();
    for (const n of ck.names()) w.set(n, await ck.readF32(n));
    await ck.close();
    const mine = referenceLogits(model.config, w, ref.prompt_ids_with_bos);
    expect(maxAbs(mine.at(-1)!, ref.last_position_logits_for_prompt)).toBeLessThan(1e-6);
    model.dispose();
    expect(tf.memory().numTensors).toBeGreaterThanOrEqual(0);
  });
});

describe.skipIf(!hasSharedFixtures)(`stories260K greedy (${sharedFixturesSkipReason})`, () => {
  it("reproduces greedy_from_bos_256_ids token for token (KV cache)", async () => {
    const { generate } = await import("../engines/tfjs/generate.ts");
    const dir = fixture("models/stories260K/hf-derived");
    const ref = JSON.parse(await readFile(`${dir}/reference_outputs.json`, "utf8"));
    const model = await loadModel(dir);
    const before = tf.memory().numTensors;
    const expected: number[] = ref.greedy_from_bos_256_ids;
    const res = await generate(model, [expected[0]!], { maxNewTokens: expected.length - 1 });
    expect([expected[0], ...res.ids]).toEqual(expected);
    expect(tf.memory().numTensors).toBe(before);
    model.dispose();
  });
});
