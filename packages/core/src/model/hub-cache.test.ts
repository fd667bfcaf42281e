import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { hubCacheDir, resolveHubModel } from "./hub-cache.ts";

const root = mkdtempSync(join(tmpdir(), "sft-hub-"));
afterAll(() => rmSync(root, { recursive: true, force: true }));

function snapshot(id: string, rev: string, ref?: string): string {
  const repo = join(root, "hub", `models--${id.replace("/", "--")}`);
  const dir = join(repo, "snapshots", rev);
  mkdirSync(dir, { recursive: true });
  writeFileSync(join(dir, "config.json"), "{}");
  if (ref) {
    mkdirSync(join(repo, "refs"), { recursive: true });
    writeFileSync(join(repo, "refs", ref), `${rev}\n`);
  }
  return dir;
}

describe("resolveHubModel", () => {
  const env = { HF_HOME: root };
  it("finds the cache folder from the environment", () => {
    expect(hubCacheDir({ HF_HUB_CACHE: "/x" })).toBe("/x");
    expect(hubCacheDir({ HF_HOME: "/h" })).toBe("/h/hub");
    expect(hubCacheDir({ HOME: "/home/u" })).toBe("/home/u/.cache/huggingface/hub");
  });

  it("follows refs/main and explicit revisions", () => {
    const a = "a".repeat(40);
    const b = "b".repeat(40);
    const dirA = snapshot("Org/Model", a, "main");
    const dirB = snapshot("Org/Model", b, "v2");
    expect(resolveHubModel("Org/Model", { env })).toEqual({ dir: dirA, revision: a });
    expect(resolveHubModel("Org/Model", { env, revision: "v2" })).toEqual({ dir: dirB, revision: b });
    expect(resolveHubModel("Org/Model", { env, revision: "bbbbbbb" })).toEqual({ dir: dirB, revision: b });
    expect(resolveHubModel("Org/Model", { env, revision: "nope" })).toBeNull();
  });

  it("uses the only snapshot without refs, and returns null when absent or invalid", () => {
    const c = "c".repeat(40);
    const dir = snapshot("solo/m", c);
    expect(resolveHubModel("solo/m", { env })).toEqual({ dir, revision: c });
    expect(resolveHubModel("missing/model", { env })).toBeNull();
    expect(resolveHubModel("../etc", { env })).toBeNull();
  });
});
