// The output folder's lock: a second run on a folder in use refuses, naming the running one; a lock left by
// a dead process (kill -9) is taken over.
import { type ChildProcess, spawn } from "node:child_process";
import { existsSync, mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import { hostname, tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, beforeAll, describe, expect, it } from "vitest";
import { initBackend } from "../model/backend.ts";
import { compileTest, testRecipe } from "./fixtures.testing.ts";
import { train } from "./loop.ts";
import { acquireOutputLock, LOCK_FILE, OutputLockedError } from "./output-lock.ts";

beforeAll(async () => {
  await initBackend();
});

const quiet = { progress: "off", samples: 0, handleSigint: false } as const;
const children: ChildProcess[] = [];
afterEach(() => {
  for (const c of children.splice(0)) c.kill("SIGKILL");
});

function lockHeldBy(dir: string, pid: number): void {
  const info = { pid, host: hostname(), started: "2026-01-01T00:00:00.000Z", command: "sft run other.ts" };
  writeFileSync(join(dir, LOCK_FILE), JSON.stringify(info));
}

describe("output folder lock", () => {
  it("a second run on the folder while the first trains refuses, naming the first", async () => {
    const { plan, compiled } = await compileTest(testRecipe({ steps: 3 }));
    const second: Promise<unknown>[] = [];
    const first = await train(plan, {
      ...quiet,
      compiled,
      onStep: (m) => {
        if (m.step === 1) second.push(train(plan, { ...quiet, compiled }).catch((e: unknown) => e));
      },
    });
    expect(first.steps).toBe(3);
    expect(second).toHaveLength(1);
    const err = await second[0];
    expect(err).toBeInstanceOf(OutputLockedError);
    expect((err as Error).message).toContain(`in use by another run (PID ${process.pid} on ${hostname()}`);
    // The first run's results are whole and the lock is gone with it.
    expect(readFileSync(first.metricsFile, "utf8").match(/"loss"/g)).toHaveLength(3);
    expect(existsSync(join(plan.output.dir, LOCK_FILE))).toBe(false);
  });

  it("refuses while a live process holds the lock, and takes the lock over once that process is dead", async () => {
    const { plan, compiled } = await compileTest(testRecipe({ steps: 1 }));
    const child = spawn(process.execPath, ["-e", "setInterval(() => {}, 1000)"], { stdio: "ignore" });
    children.push(child);
    lockHeldBy(plan.output.dir, child.pid!);
    await expect(train(plan, { ...quiet, compiled })).rejects.toThrow(
      `is in use by another run (PID ${child.pid} on ${hostname()}, started 2026-01-01T00:00:00.000Z: sft run other.ts)`,
    );
    expect(existsSync(join(plan.output.dir, "plan.json"))).toBe(false);
    child.kill("SIGKILL");
    await new Promise((resolve) => child.once("exit", resolve));
    const r = await train(plan, { ...quiet, compiled });
    expect(r.steps).toBe(1);
  });

  it("a release never removes a lock that another process took over", () => {
    const dir = mkdtempSync(join(tmpdir(), "sft-lock-"));
    const release = acquireOutputLock(dir);
    lockHeldBy(dir, process.pid + 1_000_000);
    release();
    expect(existsSync(join(dir, LOCK_FILE))).toBe(true);
  });
});
