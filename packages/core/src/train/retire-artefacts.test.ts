// After Ctrl-C a run has a checkpoint and no artefacts: an earlier run's adapter/ must not sit beside it.
import { existsSync, mkdirSync, mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { retireStaleArtefacts } from "./checkpoint.ts";

describe("an interrupted run's output folder", () => {
  it("moves an earlier run's adapter/ and model/ aside, never deleting them", async () => {
    const out = mkdtempSync(join(tmpdir(), "sft-retire-"));
    for (const name of ["adapter", "model", "adapter.previous"]) {
      mkdirSync(join(out, name));
      writeFileSync(join(out, name, "x.json"), name);
    }
    const moved = await retireStaleArtefacts(out);
    expect(moved).toEqual([join(out, "adapter.previous-2"), join(out, "model.previous")]);
    expect(existsSync(join(out, "adapter"))).toBe(false);
    expect(existsSync(join(out, "model"))).toBe(false);
    expect(readFileSync(join(out, "adapter.previous", "x.json"), "utf8")).toBe("adapter.previous");
    expect(readFileSync(join(out, "adapter.previous-2", "x.json"), "utf8")).toBe("adapter");
  });
});
