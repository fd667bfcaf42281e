import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeEach, describe, expect, it, vi } from "vitest";
import { writeAtomicWith, writeFileAtomic, writeFileAtomicSync, writeJsonAtomic } from "./atomic-write.ts";

// Every sync and rename, in order, so the test sees the data reach the disk before the name changes.
const calls: string[] = [];
vi.mock("node:fs/promises", async (importOriginal) => {
  const fs = await importOriginal<typeof import("node:fs/promises")>();
  return {
    ...fs,
    open: async (...args: Parameters<typeof fs.open>) => {
      const fh = await fs.open(...args);
      const sync = fh.sync.bind(fh);
      fh.sync = async () => {
        calls.push("sync");
        await sync();
      };
      return fh;
    },
    rename: async (from: string, to: string) => {
      calls.push("rename");
      await fs.rename(from, to);
    },
  };
});
vi.mock("node:fs", async (importOriginal) => {
  const fs = await importOriginal<typeof import("node:fs")>();
  return {
    ...fs,
    fsyncSync: (fd: number) => {
      calls.push("sync");
      fs.fsyncSync(fd);
    },
    renameSync: (from: string, to: string) => {
      calls.push("rename");
      fs.renameSync(from, to);
    },
  };
});

const root = mkdtempSync(join(tmpdir(), "sft-atomic-"));
afterAll(() => rmSync(root, { recursive: true, force: true }));
beforeEach(() => {
  calls.length = 0;
});

describe("atomic writes", () => {
  it("writes a file into a new folder, fsyncs it before the rename, and leaves no temp file", async () => {
    const path = join(root, "a", "b", "plan.json");
    await writeFileAtomic(path, "first");
    await writeFileAtomic(path, new TextEncoder().encode("second"));
    expect(readFileSync(path, "utf8")).toBe("second");
    expect(calls).toEqual(["sync", "rename", "sync", "rename"]);
    expect(readdirSync(join(root, "a", "b"))).toEqual(["plan.json"]);
  });

  it("writes JSON pretty-printed with a final newline", async () => {
    const path = join(root, "state.json");
    await writeJsonAtomic(path, { step: 3, lr: [1, 2] });
    expect(readFileSync(path, "utf8")).toBe(`${JSON.stringify({ step: 3, lr: [1, 2] }, null, 2)}\n`);
    expect(calls).toEqual(["sync", "rename"]);
  });

  it("keeps the old file and removes the temp file when writing fails", async () => {
    const dir = join(root, "fail");
    const path = join(dir, "model.safetensors");
    await writeFileAtomic(path, "old");
    await expect(
      writeAtomicWith(path, async (fh) => {
        await fh.write("half");
        throw new Error("disk full");
      }),
    ).rejects.toThrow("disk full");
    expect(readFileSync(path, "utf8")).toBe("old");
    expect(readdirSync(dir)).toEqual(["model.safetensors"]);
  });

  it("streams pieces through the handle", async () => {
    const path = join(root, "pieces.bin");
    await writeAtomicWith(path, async (fh) => {
      await fh.write("ab", 0);
      await fh.write("cd", 2);
    });
    expect(readFileSync(path, "utf8")).toBe("abcd");
  });

  it("has a synchronous twin with the same guarantees", () => {
    const path = join(root, "sync", "worker.cjs");
    writeFileAtomicSync(path, "one");
    writeFileAtomicSync(path, "two");
    expect(readFileSync(path, "utf8")).toBe("two");
    expect(calls).toEqual(["sync", "rename", "sync", "rename"]);
    expect(readdirSync(join(root, "sync"))).toEqual(["worker.cjs"]);
  });

  it("lets two writers of one path finish without sharing a temp file", async () => {
    const path = join(root, "race.txt");
    writeFileSync(path, "");
    await Promise.all([
      writeFileAtomic(path, "x".repeat(100_000)),
      writeFileAtomic(path, "y".repeat(100_000)),
    ]);
    expect(readFileSync(path, "utf8")).toMatch(/^(x{100000}|y{100000})$/);
  });
});
