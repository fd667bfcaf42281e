// The cuda engine's per-op profile (SFTKIT_CUDA_PROFILE=1: bench/device/cuda-step.ts profiles a step).
// While started, every op of one CudaOps is timed, in one of two modes:
// - "sync": on the host, the stream synchronised after each op: an op's time is its binding, launch and
//   GPU time, the host time between two ops is the JS that composes the step. Nothing overlaps, so the
//   step runs slower than unprofiled, but each part is seen alone (and works on every backend).
// - "events" (a device with timing events): two events on the stream around each op that runs on the GPU,
//   no synchronisation: an op's GPU time, and the GPU's idle time after each op (waiting for the host to
//   launch the next: where the host, not the GPU, sets the pace), besides the host's own times.
// The ops object's methods are shadowed only while started, so unprofiled steps pay nothing.
import type { Buf, CudaOps, GpuTimer } from "./ops.ts";

export const profileRequested = (env: NodeJS.ProcessEnv = process.env) => env.SFTKIT_CUDA_PROFILE === "1";

export type ProfileMode = "sync" | "events";

export interface OpRow {
  /** The op's name; GEMMs by operand dtype ("gemm bf16", "gemm f32"). */
  op: string;
  calls: number;
  /** sync: host-timed with a sync after each call; events: GPU time. */
  ms: number;
  /** ms / the profile's wall time. */
  share: number;
  /** Host (JS) time spent just before this op's calls: what composed them. */
  hostBeforeMs: number;
  /** events: host time inside the calls (binding and launch); sync: none. */
  launchMs?: number;
  /** events: GPU idle time after this op's calls, before the next op's work reached the GPU. */
  idleAfterMs?: number;
}

export interface Phase {
  name: string;
  ms: number;
  /** sync: of which in ops, and on the host between them (ms = opMs + hostMs); events: GPU busy, host between ops. */
  opMs: number;
  hostMs: number;
  /** events: GPU idle within the phase. */
  idleMs?: number;
}

export interface OpProfile {
  mode: ProfileMode;
  wallMs: number;
  /** sync: Σ op time (each op synchronised); events: Σ GPU time of the ops. */
  opMs: number;
  /** Σ host time between ops (and before the first, after the last). */
  hostMs: number;
  /** events: Σ host time inside the op calls, and the GPU's idle time between its ops. */
  launchMs?: number;
  gpuIdleMs?: number;
  calls: number;
  /** Consecutive parts of the profiled work (model.ts marks its own: layers forward, head, backward). */
  phases: Phase[];
  /** By time spent, most first. */
  ops: OpRow[];
  /** The GEMMs by dtype, transposes, M x N x K and beta, most time first (at most 24). */
  gemms: { shape: string; calls: number; ms: number }[];
}

const UNTIMED = new Set(["constructor", "kind", "describe", "memory", "sync", "gpuTimer"]);
/** Ops that put no work on the stream: no sync after them, no events around them. */
const HOST_ONLY = new Set(["view", "free", "scratch"]);

function methodNames(ops: CudaOps): string[] {
  const names = new Set<string>();
  for (let p = Object.getPrototypeOf(ops); p && p !== Object.prototype; p = Object.getPrototypeOf(p))
    for (const n of Object.getOwnPropertyNames(p))
      if (!UNTIMED.has(n) && typeof (ops as unknown as Record<string, unknown>)[n] === "function")
        names.add(n);
  return [...names];
}

interface Tally {
  calls: number;
  ms: number;
  gap: number;
  launch: number;
  idle: number;
}

interface Mark {
  name: string;
  at: number;
  op: number;
  host: number;
  /** GPU ops recorded before the mark (events). */
  gpuOps: number;
}

export class OpProfiler {
  private readonly names: string[];
  private readonly timer: GpuTimer | null;
  private byOp = new Map<string, Tally>();
  private byGemm = new Map<string, Tally>();
  /** events: the key (op and GEMM shape) of each op with events around it, in order. */
  private gpuSeq: [string, string | null][] = [];
  private marks: Mark[] = [];
  private t0 = 0;
  private last = 0;
  private opSum = 0;
  private hostSum = 0;
  private depth = 0;
  private running = false;

  constructor(
    private readonly ops: CudaOps,
    readonly mode: ProfileMode = "sync",
  ) {
    this.names = methodNames(ops);
    this.timer = mode === "events" ? ops.gpuTimer() : null;
    if (mode === "events" && !this.timer) throw new Error(`cuda profile: ${ops.kind} ops have no GPU timer`);
  }

  start(): void {
    if (this.running) throw new Error("cuda profile: already started");
    this.running = true;
    this.byOp = new Map();
    this.byGemm = new Map();
    this.gpuSeq = [];
    this.opSum = 0;
    this.hostSum = 0;
    const target = this.ops as unknown as Record<string, unknown>;
    const timer = this.timer;
    this.ops.sync();
    timer?.read();
    for (const name of this.names) {
      const fn = target[name] as (...a: unknown[]) => unknown;
      const hostOnly = HOST_ONLY.has(name);
      const onGpu = timer !== null && !hostOnly;
      target[name] = (...args: unknown[]) => {
        if (this.depth) return fn.apply(this.ops, args);
        const t0 = performance.now();
        this.depth++;
        let out: unknown;
        try {
          if (onGpu) timer.mark();
          out = fn.apply(this.ops, args);
          if (onGpu) timer.mark();
          else if (!timer && !hostOnly) this.ops.sync();
        } finally {
          this.depth--;
        }
        const t1 = performance.now();
        this.tally(name, args, t1 - t0, t0 - this.last, onGpu);
        // The bookkeeping counts as host time (in the next gap): ops + host = wall.
        this.last = t1;
        return out;
      };
    }
    this.t0 = this.last = performance.now();
    this.marks = [{ name: "", at: this.t0, op: 0, host: 0, gpuOps: 0 }];
    timer?.mark();
    active = this;
  }

  /** Ends a phase of the profiled work (its wall time since the last mark). */
  phase(name: string): void {
    const now = performance.now();
    this.marks.push({
      name,
      at: now,
      op: this.opSum,
      host: this.hostSum + (now - this.last),
      gpuOps: this.gpuSeq.length,
    });
  }

  stop(): OpProfile {
    if (!this.running) throw new Error("cuda profile: not started");
    this.timer?.mark();
    this.ops.sync();
    const end = performance.now();
    const target = this.ops as unknown as Record<string, unknown>;
    for (const name of this.names) delete target[name];
    this.running = false;
    if (active === this) active = null;
    const wallMs = end - this.t0;
    let hostMs = end - this.last;
    let calls = 0;
    for (const t of this.byOp.values()) {
      hostMs += t.gap;
      calls += t.calls;
    }
    // events: marks start, (before, after) per GPU op, end: gaps[0] idle before the first op, then per
    // op i its GPU time gaps[1 + 2i] and the idle after it gaps[2 + 2i].
    const gpu: number[] = [];
    const idle: number[] = [];
    let leadIdle = 0;
    if (this.timer) {
      const gaps = this.timer.read();
      leadIdle = gaps[0] ?? 0;
      if (gaps.length !== 2 * this.gpuSeq.length + 1)
        throw new Error(`cuda profile: ${gaps.length} event gaps for ${this.gpuSeq.length} ops`);
      this.gpuSeq.forEach(([op, shape], i) => {
        gpu.push(gaps[1 + 2 * i]!);
        idle.push(gaps[2 + 2 * i]!);
        const t = this.byOp.get(op)!;
        t.ms += gpu[i]!;
        t.idle += idle[i]!;
        if (shape) this.byGemm.get(shape)!.ms += gpu[i]!;
      });
    }
    const sum = (a: number[], from = 0, to = a.length) => a.slice(from, to).reduce((s, x) => s + x, 0);
    let opMs = 0;
    for (const t of this.byOp.values()) opMs += t.ms;
    const marks = [...this.marks];
    const phases: Phase[] = marks.slice(1).map((m, i) => {
      const prev = marks[i]!;
      return this.timer
        ? {
            name: m.name,
            ms: m.at - prev.at,
            opMs: sum(gpu, prev.gpuOps, m.gpuOps),
            hostMs: m.host - prev.host,
            idleMs: sum(idle, prev.gpuOps, m.gpuOps),
          }
        : { name: m.name, ms: m.at - prev.at, opMs: m.op - prev.op, hostMs: m.host - prev.host };
    });
    const ops = [...this.byOp]
      .map(([op, t]): OpRow => {
        const row: OpRow = { op, calls: t.calls, ms: t.ms, share: t.ms / wallMs, hostBeforeMs: t.gap };
        return this.timer ? { ...row, launchMs: t.launch, idleAfterMs: t.idle } : row;
      })
      .sort((a, b) => b.ms - a.ms);
    const gemms = [...this.byGemm]
      .map(([shape, t]) => ({ shape, calls: t.calls, ms: t.ms }))
      .sort((a, b) => b.ms - a.ms)
      .slice(0, 24);
    const base = { mode: this.mode, wallMs, opMs, hostMs, calls, phases, ops, gemms };
    return this.timer ? { ...base, launchMs: this.opSum, gpuIdleMs: leadIdle + sum(idle) } : base;
  }

  private tally(name: string, args: unknown[], ms: number, gap: number, onGpu: boolean): void {
    this.opSum += ms;
    this.hostSum += gap;
    let key = name;
    let shape: string | null = null;
    if (name === "gemm") {
      const [ta, tb, M, N, K, A, , , , beta] = args as [
        boolean,
        boolean,
        number,
        number,
        number,
        Buf,
        Buf,
        Buf,
        number,
        number,
      ];
      key = `gemm ${A.dtype}`;
      shape = `${A.dtype} ${ta ? "T" : "N"}${tb ? "T" : "N"} ${M}x${N}x${K} beta ${beta}`;
    }
    // sync: the op's time is the host's; events: its GPU time, added at stop (the host's is its launch).
    const events = this.timer !== null;
    add(this.byOp, key, events ? 0 : ms, gap, events ? ms : 0);
    if (shape) add(this.byGemm, shape, events ? 0 : ms, 0, 0);
    if (onGpu) this.gpuSeq.push([key, shape]);
  }
}

let active: OpProfiler | null = null;

/** Ends a phase of the running profile, if any (model.ts marks the parts of its pass; free otherwise). */
export function profilePhase(name: string): void {
  active?.phase(name);
}

function add(m: Map<string, Tally>, key: string, ms: number, gap: number, launch: number): void {
  const t = m.get(key) ?? { calls: 0, ms: 0, gap: 0, launch: 0, idle: 0 };
  t.calls++;
  t.ms += ms;
  t.gap += gap;
  t.launch += launch;
  m.set(key, t);
}

const pct = (x: number) => `${(100 * x).toFixed(1)}%`;
const ms = (x: number, w = 10) => x.toFixed(2).padStart(w);

/** The profile as a table (one line per op, then the host's share and the costliest GEMM shapes). */
export function formatProfile(p: OpProfile): string {
  const ev = p.mode === "events";
  const lines = ev
    ? [
        `cuda profile (GPU events, no sync): ${p.wallMs.toFixed(1)} ms wall, ${p.calls} ops: GPU busy ${p.opMs.toFixed(1)} ms, GPU idle between ops ${p.gpuIdleMs!.toFixed(1)} ms; host: in op calls ${p.launchMs!.toFixed(1)} ms, between ops ${p.hostMs.toFixed(1)} ms`,
        "  phases: wall ms, GPU busy, GPU idle, host between ops:",
        ...p.phases.map(
          (x) =>
            `    ${x.name.padEnd(32)} ${ms(x.ms)} ${ms(x.opMs, 9)} ${ms(x.idleMs ?? 0, 9)} ${ms(x.hostMs, 9)}`,
        ),
        `  ${"op".padEnd(22)} ${"calls".padStart(7)} ${"GPU ms".padStart(10)} ${"share".padStart(7)} ${"idle after".padStart(11)} ${"in call".padStart(10)} ${"host before".padStart(12)}`,
      ]
    : [
        `cuda profile (a sync after each op): ${p.wallMs.toFixed(1)} ms wall, ${p.calls} ops: ops ${p.opMs.toFixed(1)} ms, host (JS) between ops ${p.hostMs.toFixed(1)} ms`,
        "  phases (wall ms = ops + host between ops):",
        ...p.phases.map(
          (x) => `    ${x.name.padEnd(32)} ${ms(x.ms)} = ${ms(x.opMs, 9)} + ${ms(x.hostMs, 8)}`,
        ),
        `  ${"op".padEnd(22)} ${"calls".padStart(7)} ${"ms".padStart(10)} ${"share".padStart(7)} ${"host before".padStart(12)}`,
      ];
  for (const r of p.ops)
    lines.push(
      ev
        ? `  ${r.op.padEnd(22)} ${String(r.calls).padStart(7)} ${ms(r.ms)} ${pct(r.share).padStart(7)} ${ms(r.idleAfterMs ?? 0, 11)} ${ms(r.launchMs ?? 0)} ${ms(r.hostBeforeMs, 12)}`
        : `  ${r.op.padEnd(22)} ${String(r.calls).padStart(7)} ${ms(r.ms)} ${pct(r.share).padStart(7)} ${ms(r.hostBeforeMs, 12)}`,
    );
  lines.push(
    `  ${"(host between ops)".padEnd(22)} ${"".padStart(7)} ${ms(p.hostMs)} ${pct(p.hostMs / p.wallMs).padStart(7)}`,
  );
  if (p.gemms.length) {
    lines.push(`  GEMMs by shape (M x N x K), most ${ev ? "GPU " : ""}time first:`);
    for (const g of p.gemms)
      lines.push(`    ${g.shape.padEnd(40)} ${String(g.calls).padStart(6)} ${ms(g.ms)}`);
  }
  return lines.join("\n");
}
