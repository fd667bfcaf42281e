import { existsSync, mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { describeFsError } from "../util/fs-errors.ts";
import { TrainError } from "./errors.ts";
import { MetricsLog } from "./metrics.ts";

function log(lines: string[]): MetricsLog {
  const path = join(mkdtempSync(join(tmpdir(), "sft-metrics-")), "metrics.jsonl");
  writeFileSync(path, `${lines.join("\n")}\n`);
  return new MetricsLog(path);
}

describe("metrics.jsonl on resume", () => {
  it("drops a torn last line (a kill mid-append) and the steps after the checkpoint", async () => {
    const m = log(['{"step":1,"loss":2}', '{"step":2,"loss":1.5}', '{"step":3,"lo']);
    await m.truncateAfter(2);
    expect(readFileSync(m.path, "utf8")).toBe('{"step":1,"loss":2}\n{"step":2,"loss":1.5}\n');
  });

  it("refuses a damaged line before the last, naming file and line, and leaves the file as it was", async () => {
    const lines = ['{"step":1,"loss":2}', '{"step":2,"lo', '{"step":3,"loss":1}'];
    const m = log(lines);
    const err = await m.truncateAfter(2).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(TrainError);
    expect((err as Error).message).toMatch(
      new RegExp(`^${m.path.replace(/[.*+?^${}()|[\]\\]/g, "\\$&")}:2: not a JSON line`),
    );
    expect(readFileSync(m.path, "utf8")).toBe(`${lines.join("\n")}\n`);
  });

  it("a fresh run starts over even from a damaged file", async () => {
    const m = log(['{"step":1,"lo', '{"step":2,"loss":1.5}']);
    await m.truncateAfter(-1);
    expect(readFileSync(m.path, "utf8")).toBe("");
  });

  // /dev/full fails every write with ENOSPC, as a full disk does (Linux).
  it.skipIf(!existsSync("/dev/full"))("a failed append names metrics.jsonl's path", () => {
    const m = new MetricsLog("/dev/full");
    let err: unknown;
    try {
      m.append({ step: 1, evalLoss: 1, evalTokens: 1, seconds: 0 });
    } catch (e) {
      err = e;
    }
    expect(err).toMatchObject({ code: "ENOSPC", path: "/dev/full" });
    expect(describeFsError(err)).toMatch(/^cannot write \/dev\/full: no space left on the device \(ENOSPC\)/);
  });
});
