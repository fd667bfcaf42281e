// Progress: a bar with loss, tokens/s and ETA on a TTY, plain lines otherwise (logs, CI).
import cliProgress from "cli-progress";
import type { StepMetrics } from "./metrics.ts";

export type ProgressMode = "auto" | "bar" | "lines" | "off";

export interface Progress {
  start(total: number, at: number): void;
  step(m: StepMetrics, tokensPerSecond: number): void;
  /** A line above the bar (evaluations, samples, checkpoints). */
  log(line: string): void;
  stop(): void;
}

export function formatDuration(seconds: number): string {
  if (!Number.isFinite(seconds) || seconds < 0) return "?";
  const s = Math.round(seconds);
  if (s < 60) return `${s}s`;
  if (s < 3600) return `${Math.floor(s / 60)}m${String(s % 60).padStart(2, "0")}s`;
  return `${Math.floor(s / 3600)}h${String(Math.floor((s % 3600) / 60)).padStart(2, "0")}m`;
}

export function createProgress(mode: ProgressMode, out: NodeJS.WriteStream = process.stdout): Progress {
  const chosen = mode === "auto" ? (out.isTTY ? "bar" : "lines") : mode;
  if (chosen === "off") return { start() {}, step() {}, log() {}, stop() {} };
  // Lines to the process's stdout go through console.log: a notebook kernel (Deno's) shows console output in
  // the cell, not what is written to the raw stream. In a terminal or a pipe it is the same stdout.
  if (chosen === "lines")
    return linesProgress(
      out === process.stdout ? (line) => console.log(line) : (line) => out.write(`${line}\n`),
    );
  return barProgress(out);
}

function linesProgress(writeLine: (line: string) => void): Progress {
  let total = 0;
  let started = 0;
  let t0 = 0;
  let every = 1;
  return {
    start(n, at) {
      total = n;
      started = at;
      t0 = performance.now();
      every = Math.max(1, Math.floor(n / 20));
    },
    step(m, tps) {
      if (m.step % every !== 0 && m.step !== total) return;
      const done = m.step - started;
      const elapsed = (performance.now() - t0) / 1000;
      const eta = done > 0 ? (elapsed / done) * (total - m.step) : Number.NaN;
      writeLine(
        `step ${m.step}/${total}  loss ${m.loss.toFixed(4)}  lr ${m.lr.toExponential(2)}  ${Math.round(tps)} tok/s  eta ${formatDuration(eta)}`,
      );
    },
    log(line) {
      writeLine(line);
    },
    stop() {},
  };
}

function barProgress(out: NodeJS.WriteStream): Progress {
  const bar = new cliProgress.SingleBar(
    {
      stream: out,
      format: "{bar} {value}/{total} | loss {loss} | {tps} tok/s | ETA {eta_formatted}",
      hideCursor: true,
      etaBuffer: 20,
    },
    cliProgress.Presets.shades_classic,
  );
  // Lines logged before start() (the step-0 evaluation) print alone: an unstarted bar would draw its
  // placeholders ({loss}, {tps}) and a default total of 100.
  let started = false;
  return {
    start(total, at) {
      bar.start(total, at, { loss: "-", tps: "-" });
      started = true;
    },
    step(m, tps) {
      bar.update(m.step, { loss: m.loss.toFixed(4), tps: Math.round(tps) });
    },
    log(line) {
      // cli-progress redraws on the next update; clear the line first so the message stands alone.
      out.write(`\r\x1b[K${line}\n`);
      if (started) bar.render();
    },
    stop() {
      if (started) bar.stop();
      started = false;
    },
  };
}
