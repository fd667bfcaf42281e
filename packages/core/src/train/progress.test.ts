// The progress bar on a terminal: lines logged before training starts (the step-0 evaluation) print alone.
import { Writable } from "node:stream";
import { describe, expect, it } from "vitest";
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
