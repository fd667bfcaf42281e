// The native tier's install step (packages/native/build.mjs) must never fail an install, and what
// it records is what the loader and `sft doctor` report.
import { spawnSync } from "node:child_process";
import { cpSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, describe, expect, it } from "vitest";

const nativeDir = join(import.meta.dirname, "../../../../native");
const dirs: string[] = [];

function copyOfPackage(): string {
  const dir = mkdtempSync(join(tmpdir(), "sftkit-native-"));
  dirs.push(dir);
  for (const f of ["build.mjs", "index.js", "package.json"]) cpSync(join(nativeDir, f), join(dir, f));
  cpSync(join(nativeDir, "src"), join(dir, "src"), { recursive: true });
  return dir;
}

function build(dir: string, env: Record<string, string>) {
  const r = spawnSync(process.execPath, [join(dir, "build.mjs")], {
    encoding: "utf8",
    env: { ...process.env, ...env },
  });
  const status = JSON.parse(readFileSync(join(dir, "build", "status.json"), "utf8")) as {
    ok: boolean;
    reason?: string;
  };
  return { code: r.status, stdout: r.stdout, status };
}

afterEach(() => {
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});

describe("native tier install (build.mjs)", () => {
  it("exits 0 without a compiler, recording why", () => {
    const dir = copyOfPackage();
    const r = build(dir, { CXX: "/nonexistent/c++" });
    expect(r.code).toBe(0);
    expect(r.status.ok).toBe(false);
    expect(r.status.reason).toMatch(/compile failed \(\/nonexistent\/c\+\+\)/);
    expect(r.stdout).toMatch(/not built/);
  });

  it("is skipped with SFTKIT_NATIVE_BUILD=0", () => {
    const dir = copyOfPackage();
    const r = build(dir, { SFTKIT_NATIVE_BUILD: "0" });
    expect(r.code).toBe(0);
    expect(r.status).toMatchObject({ ok: false, reason: "skipped (SFTKIT_NATIVE_BUILD=0)" });
  });

  it("a failed rebuild leaves no older addon behind, and the loader gives the recorded reason", async () => {
    const dir = copyOfPackage();
    mkdirSync(join(dir, "build"), { recursive: true });
    writeFileSync(join(dir, "build", "sftkit_native.node"), "stale");
    build(dir, { CXX: "/nonexistent/c++" });
    expect(existsSync(join(dir, "build", "sftkit_native.node"))).toBe(false);
    const pkg = (await import(join(dir, "index.js"))) as { loadNative(): { reason?: string } };
    expect(pkg.loadNative().reason).toMatch(/^not built: compile failed/);
  });
});
