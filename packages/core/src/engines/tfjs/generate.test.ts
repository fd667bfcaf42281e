import * as tf from "@tensorflow/tfjs-core";
import { beforeAll, describe, expect, it } from "vitest";
import { initBackend } from "../../model/backend.ts";
import { randomModel } from "../../model/llama.ts";
import { tinyConfig } from "../../model/tiny.ts";
import { generate, sampleToken, seededRandom } from "./generate.ts";

beforeAll(async () => {
  await initBackend();
});

describe("sampleToken", () => {
  it("is greedy at temperature 0 and keeps only the nucleus with top-p", () => {
    const logits = [0, 3, 1, 2.9];
    expect(sampleToken(logits, 0, 1, Math.random)).toBe(1);
    const rand = seededRandom(1);
    const seen = new Set<number>();
    for (let i = 0; i < 200; i++) seen.add(sampleToken(logits, 1, 0.6, rand));
    expect([...seen].sort()).toEqual([1, 3]);
    const all = new Set<number>();
    for (let i = 0; i < 500; i++) all.add(sampleToken(logits, 1, 1, rand));
    expect(all.size).toBe(4);
  });

  it("seeded RNG repeats", () => {
    const a = seededRandom(42);
    const b = seededRandom(42);
    expect([a(), a(), a()]).toEqual([b(), b(), b()]);
  });
});

describe("generate", () => {
  it("greedy with cache equals argmax of full forwards; stops on ids and strings; no leaks", async () => {
    const m = randomModel(tinyConfig("mistral"), { seed: 2, std: 0.3 });
    const before = tf.memory().numTensors;
    const prompt = [1, 10, 11];
    const res = await generate(m, prompt, { maxNewTokens: 6 });
    expect(res.ids.length).toBe(6);
    expect(res.stopReason).toBe("max_new_tokens");
    // Recompute without a cache.
    const seq = [...prompt];
    for (let i = 0; i < 6; i++) {
      const [rows] = await m.logits([seq]);
      const last = rows!.at(-1)!;
      seq.push(last.indexOf(Math.max(...last)));
    }
    expect(res.ids).toEqual(seq.slice(3));
    const stop = await generate(m, prompt, { maxNewTokens: 6, stopIds: [res.ids[2]!] });
    expect(stop.stopReason).toBe("stop_id");
    expect(stop.ids).toEqual(res.ids.slice(0, stop.ids.length));
    const decode = (ids: number[]) => ids.map((i) => String.fromCharCode(65 + (i % 26))).join("");
    const full = decode(res.ids);
    const byString = await generate(m, prompt, { maxNewTokens: 6, decode, stopStrings: [full.slice(3, 5)] });
    expect(byString.stopReason).toBe("stop_string");
    expect(byString.text).toBe(full.slice(0, full.indexOf(full.slice(3, 5))));
    const s1 = await generate(m, prompt, { maxNewTokens: 5, temperature: 1.5, seed: 9 });
    const s2 = await generate(m, prompt, { maxNewTokens: 5, temperature: 1.5, seed: 9 });
    expect(s1.ids).toEqual(s2.ids);
    expect(tf.memory().numTensors).toBe(before);
    m.dispose();
  });

  it("applies adapter hooks: a prefix of cached keys/values continues like the full prompt", async () => {
    const m = randomModel(tinyConfig("llama"), { seed: 4, std: 0.3 });
    const full = await generate(m, [1, 10, 11, 12], { maxNewTokens: 5 });
    const cache = m.newCache();
    tf.dispose(m.lastLogitsTensor({ batch: 1, seqLen: 2, ids: Int32Array.from([1, 10]) }, { cache }));
    const hooks = {
      prefix: (l: number) => ({
        key: tf.squeeze(cache.keys[l]!, [0]) as tf.Tensor3D,
        value: tf.squeeze(cache.values[l]!, [0]) as tf.Tensor3D,
      }),
    };
    const withPrefix = await generate(m, [11, 12], { maxNewTokens: 5, hooks });
    expect(withPrefix.ids).toEqual(full.ids);
    const { Model } = await import("../../model/llama.ts");
    Model.disposeCache(cache);
    m.dispose();
  });
});
