// The base an adapter records, against a real hub-cache layout (the stand-in cache), and found again.
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { resolveHubModel } from "../model/hub-cache.ts";
import { makeHfStandInCache, withHubCache } from "../testing/hf-standins.ts";
import { baseModelOf, findAdapterBase, hubIdOfCacheDir, recordedBase } from "./base-model.ts";

const cache = makeHfStandInCache();
const tmp = mkdtempSync(join(tmpdir(), "sft-base-model-"));
afterAll(() => {
  rmSync(cache, { recursive: true, force: true });
  rmSync(tmp, { recursive: true, force: true });
});

const id = "Qwen/Qwen2.5-0.5B-Instruct";

describe("the base an adapter records", () => {
  it("is the hub id (and snapshot revision) for a hub model, also when given as a path into the cache", () => {
    const found = resolveHubModel(id, { env: { HF_HUB_CACHE: cache } })!;
    const hub = { kind: "hub" as const, path: found.dir, hub: id, revision: found.revision };
    expect(recordedBase(baseModelOf(hub), join(tmp, "adapter"))).toEqual({ name: id, revision: "standin" });
    const byPath = { kind: "path" as const, path: found.dir, hub: null, revision: null };
    expect(hubIdOfCacheDir(found.dir)).toEqual({ id, revision: "standin" });
    expect(recordedBase(baseModelOf(byPath), join(tmp, "adapter")).name).toBe(id);
    expect(hubIdOfCacheDir(join(cache, "models--gpt2", "snapshots", "abc"))).toEqual({
      id: "gpt2",
      revision: "abc",
    });
  });

  it("is a path relative to the adapter folder for a local folder, or the name the recipe sets", () => {
    const local = { kind: "path" as const, path: join(tmp, "models", "base"), hub: null, revision: null };
    expect(recordedBase(baseModelOf(local), join(tmp, "out", "run", "adapter"))).toEqual({
      name: "../../../models/base",
      revision: null,
    });
    expect(recordedBase(baseModelOf(local, "/cluster/base"), join(tmp, "x")).name).toBe("/cluster/base");
  });
});

describe("findAdapterBase", () => {
  const adapter = (name: string, conf: Record<string, unknown>) => {
    const dir = join(tmp, name);
    mkdirSync(dir, { recursive: true });
    writeFileSync(join(dir, "adapter_config.json"), JSON.stringify(conf));
    return dir;
  };

  it("resolves a relative base against the adapter folder, a hub id through the cache", async () => {
    mkdirSync(join(tmp, "models", "base"), { recursive: true });
    writeFileSync(join(tmp, "models", "base", "config.json"), "{}");
    const rel = adapter("out/rel/adapter", { base_model_name_or_path: "../../../models/base" });
    expect(findAdapterBase(rel).dir).toBe(join(tmp, "models", "base"));
    const hub = adapter("out/hub/adapter", { base_model_name_or_path: id, revision: null });
    const dir = await withHubCache(cache, async () => findAdapterBase(hub).dir);
    expect(dir).toBe(resolveHubModel(id, { env: { HF_HUB_CACHE: cache } })!.dir);
    expect(findAdapterBase(adapter("out/none/adapter", { base_model_name_or_path: "nowhere/x" }))).toEqual({
      dir: null,
      name: "nowhere/x",
    });
  });
});
