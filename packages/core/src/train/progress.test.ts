// The progress bar on a terminal: lines logged before training starts (the step-0 evaluation) print alone.
import { Writable } from "node:stream";
import { describe, expect, it, vi } from "vitest";
import { createProgress } from "./progress.ts";

function terminal(): { out: NodeJS.WriteStream; text: () => string } {
  let text = "";
  const out = new Writable({
    write(chunk, _enc, done) {
      text += String(chunk);
      done();
    },
  }) as unknown as NodeJS.WriteStream;
  Object.assign(out, { isTTY: true, columns: 100, cursorTo() {}, clearLine() {}, moveCursor() {} });
  return { out, text: () => text };
}

describe("the progress bar", () => {
  it("draws no placeholders or default total for lines logged before start", () => {
    const { out, text } = terminal();
    const progress = createProgress("bar", out);
    progress.log("eval loss 2.0431 at step 0");
    expect(text()).toContain("eval loss 2.0431 at step 0");
    expect(text()).not.toMatch(/\{loss\}|\{tps\}|\/100\b/);
    progress.start(7, 0);
    progress.stop();
    expect(text()).toMatch(/0\/7/);
  });
});

describe("progress lines in a notebook", () => {
  it("go through console.log (what a Deno kernel shows in the cell), not the raw stdout stream", () => {
    const logged: string[] = [];
    const log = vi.spyOn(console, "log").mockImplementation((line: string) => {
      logged.push(line);
    });
    const raw = vi.spyOn(process.stdout, "write");
    try {
      const progress = createProgress("lines");
      progress.log("eval loss 2.0431 at step 0");
      progress.start(2, 0);
      progress.step({ step: 1, loss: 1.5, lr: 1e-3 } as never, 100);
      progress.stop();
      expect(raw).not.toHaveBeenCalled();
    } finally {
      log.mockRestore();
      raw.mockRestore();
    }
    expect(logged[0]).toBe("eval loss 2.0431 at step 0");
    expect(logged[1]).toMatch(/^step 1\/2 {2}loss 1\.5000/);
  });
});
