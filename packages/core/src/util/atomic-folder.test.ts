import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import { writeFolderAtomic } from "./atomic-folder.ts";
import { writeFileAtomic } from "./atomic-write.ts";

const root = () => mkdtempSync(join(tmpdir(), "sft-atomic-folder-"));

describe("writeFolderAtomic", () => {
  afterEach(() => {
    delete process.env.SFTKIT_FAULT_WRITE;
  });

  it("publishes the folder only when every file is written, under its final name", async () => {
    const dir = join(root(), "model");
    let seenWhileWriting: boolean | null = null;
    const result = await writeFolderAtomic(dir, async (tmp) => {
      expect(tmp).toMatch(/model\.tmp-\d+-[0-9a-f]{8}$/);
      await writeFileAtomic(join(tmp, "a.json"), "{}");
      seenWhileWriting = existsSync(dir);
      await writeFileAtomic(join(tmp, "b.json"), "[]");
      return ["a.json", "b.json"];
    });
    expect(seenWhileWriting).toBe(false);
    expect(result).toEqual(["a.json", "b.json"]);
    expect(readdirSync(dir).sort()).toEqual(["a.json", "b.json"]);
    expect(readdirSync(join(dir, "..")).sort()).toEqual(["model"]);
  });

  it("a failure midway leaves the old folder untouched and no temp folder", async () => {
    const parent = root();
    const dir = join(parent, "adapter");
    mkdirSync(dir);
    writeFileSync(join(dir, "old.json"), '"old"');
    const err = await writeFolderAtomic(dir, async (tmp) => {
      await writeFileAtomic(join(tmp, "new.json"), '"new"');
      throw new Error("stopped");
    }).catch((e: unknown) => e);
    expect((err as Error).message).toBe("stopped");
    expect(readdirSync(parent)).toEqual(["adapter"]);
    expect(readdirSync(dir)).toEqual(["old.json"]);
  });

  it("replaces an existing folder whole (no file of the old one stays) and removes the old one", async () => {
    const parent = root();
    const dir = join(parent, "model");
    mkdirSync(dir);
    writeFileSync(join(dir, "model-00001-of-00002.safetensors"), "old shard");
    await writeFolderAtomic(dir, (tmp) => writeFileAtomic(join(tmp, "model.safetensors"), "new"));
    expect(readdirSync(dir)).toEqual(["model.safetensors"]);
    expect(readFileSync(join(dir, "model.safetensors"), "utf8")).toBe("new");
    expect(readdirSync(parent)).toEqual(["model"]);
  });

  it("an error names the file by its final path, not the temp folder's", async () => {
    const dir = join(root(), "model");
    process.env.SFTKIT_FAULT_WRITE = "ENOSPC@model.safetensors";
    const err = (await writeFolderAtomic(dir, (tmp) =>
      writeFileAtomic(join(tmp, "model.safetensors"), "x"),
    ).catch((e: unknown) => e)) as NodeJS.ErrnoException;
    expect(err.code).toBe("ENOSPC");
    expect(err.path).toBe(join(dir, "model.safetensors"));
    expect(existsSync(dir)).toBe(false);
  });
});
