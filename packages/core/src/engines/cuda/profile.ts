// The cuda engine's per-op profile (SFTKIT_CUDA_PROFILE=1: bench/device/cuda-step.ts profiles one step).
// While started, every op of one CudaOps is timed on the host with the stream synchronised after it, so an
// op's time is its binding, launch and GPU time, and the host time between two ops is the JS that composes
// the step (nothing overlaps: the step runs slower than unprofiled, but each part is seen alone). The ops
// object's methods are shadowed only while started, so unprofiled steps pay nothing.
import type { Buf, CudaOps } from "./ops.ts";

export const profileRequested = (env: NodeJS.ProcessEnv = process.env) => env.SFTKIT_CUDA_PROFILE === "1";

export interface OpRow {
  /** The op's name; GEMMs by operand dtype ("gemm bf16", "gemm f32"). */
  op: string;
  calls: number;
  ms: number;
  /** ms / the profile's wall time. */
  share: number;
  /** Host (JS) time spent just before this op's calls: what composed them. */
  hostBeforeMs: number;
}

export interface Phase {
  name: string;
  ms: number;
  /** Of which in ops, and on the host between them. */
  opMs: number;
  hostMs: number;
}

export interface OpProfile {
  wallMs: number;
  /** Σ op time (each op synchronised). */
  opMs: number;
  /** Σ host time between ops (and before the first, after the last). */
  hostMs: number;
  calls: number;
  /** Consecutive parts of the profiled work (model.ts marks its own: layers forward, head, backward). */
  phases: Phase[];
  /** By time spent, most first. */
  ops: OpRow[];
  /** The GEMMs by dtype, transposes, M x N x K and beta, most time first (at most 24). */
  gemms: { shape: string; calls: number; ms: number }[];
}

const UNTIMED = new Set(["constructor", "kind", "describe", "memory", "sync"]);

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
}

export class OpProfiler {
  private readonly names: string[];
  private byOp = new Map<string, Tally>();
  private byGemm = new Map<string, Tally>();
  private phases: Phase[] = [];
  private t0 = 0;
  private mark = { at: 0, op: 0, host: 0 };
  private opSum = 0;
  private hostSum = 0;
  private last = 0;
  private depth = 0;
  private running = false;

  constructor(private readonly ops: CudaOps) {
    this.names = methodNames(ops);
  }

  start(): void {
    if (this.running) throw new Error("cuda profile: already started");
    this.running = true;
    this.byOp = new Map();
    this.byGemm = new Map();
    this.phases = [];
    this.opSum = 0;
    this.hostSum = 0;
    const target = this.ops as unknown as Record<string, unknown>;
    const sync = () => this.ops.sync();
    this.ops.sync();
    for (const name of this.names) {
      const fn = target[name] as (...a: unknown[]) => unknown;
      target[name] = (...args: unknown[]) => {
        if (this.depth) return fn.apply(this.ops, args);
        const t0 = performance.now();
        this.depth++;
        let out: unknown;
        try {
          out = fn.apply(this.ops, args);
          sync();
        } finally {
          this.depth--;
        }
        const t1 = performance.now();
        this.tally(name, args, t1 - t0, t0 - this.last);
        // The bookkeeping counts as host time (in the next gap): ops + host = wall.
        this.last = t1;
        return out;
      };
    }
    this.t0 = this.last = performance.now();
    this.mark = { at: this.t0, op: 0, host: 0 };
    active = this;
  }

  /** Ends a phase of the profiled work: its wall time since the last mark, in ops and between them. */
  phase(name: string): void {
    const now = performance.now();
    const host = this.hostSum + (now - this.last);
    this.phases.push({
      name,
      ms: now - this.mark.at,
      opMs: this.opSum - this.mark.op,
      hostMs: host - this.mark.host,
    });
    this.mark = { at: now, op: this.opSum, host };
  }

  stop(): OpProfile {
    if (!this.running) throw new Error("cuda profile: not started");
    this.ops.sync();
    const end = performance.now();
    const target = this.ops as unknown as Record<string, unknown>;
    for (const name of this.names) delete target[name];
    this.running = false;
    if (active === this) active = null;
    const wallMs = end - this.t0;
    let opMs = 0;
    let hostMs = end - this.last;
    let calls = 0;
    for (const t of this.byOp.values()) {
      opMs += t.ms;
      hostMs += t.gap;
      calls += t.calls;
    }
    const ops = [...this.byOp]
      .map(([op, t]) => ({ op, calls: t.calls, ms: t.ms, share: t.ms / wallMs, hostBeforeMs: t.gap }))
      .sort((a, b) => b.ms - a.ms);
    const gemms = [...this.byGemm]
      .map(([shape, t]) => ({ shape, calls: t.calls, ms: t.ms }))
      .sort((a, b) => b.ms - a.ms)
      .slice(0, 24);
    return { wallMs, opMs, hostMs, calls, phases: this.phases, ops, gemms };
  }

  private tally(name: string, args: unknown[], ms: number, gap: number): void {
    this.opSum += ms;
    this.hostSum += gap;
    let key = name;
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
      add(this.byGemm, `${A.dtype} ${ta ? "T" : "N"}${tb ? "T" : "N"} ${M}x${N}x${K} beta ${beta}`, ms, 0);
    }
    add(this.byOp, key, ms, gap);
  }
}

let active: OpProfiler | null = null;

/** Ends a phase of the running profile, if any (model.ts marks the parts of its pass; free otherwise). */
export function profilePhase(name: string): void {
  active?.phase(name);
}

function add(m: Map<string, Tally>, key: string, ms: number, gap: number): void {
  const t = m.get(key) ?? { calls: 0, ms: 0, gap: 0 };
  t.calls++;
  t.ms += ms;
  t.gap += gap;
  m.set(key, t);
}

const pct = (x: number) => `${(100 * x).toFixed(1)}%`;

/** The profile as a table (one line per op, then the host's share and the costliest GEMM shapes). */
export function formatProfile(p: OpProfile): string {
  const ms = (x: number) => x.toFixed(2).padStart(10);
  const lines = [
    `cuda profile: ${p.wallMs.toFixed(1)} ms wall with a sync after each of ${p.calls} ops: ops ${p.opMs.toFixed(1)} ms, host (JS) between ops ${p.hostMs.toFixed(1)} ms`,
    "  phases (wall ms = ops + host between ops):",
    ...p.phases.map(
      (x) =>
        `    ${x.name.padEnd(32)} ${ms(x.ms)} = ${x.opMs.toFixed(2).padStart(9)} + ${x.hostMs.toFixed(2).padStart(8)}`,
    ),
    `  ${"op".padEnd(22)} ${"calls".padStart(7)} ${"ms".padStart(10)} ${"share".padStart(7)} ${"host before".padStart(12)}`,
  ];
  for (const r of p.ops)
    lines.push(
      `  ${r.op.padEnd(22)} ${String(r.calls).padStart(7)} ${ms(r.ms)} ${pct(r.share).padStart(7)} ${ms(r.hostBeforeMs).padStart(12)}`,
    );
  lines.push(
    `  ${"(host between ops)".padEnd(22)} ${"".padStart(7)} ${ms(p.hostMs)} ${pct(p.hostMs / p.wallMs).padStart(7)}`,
  );
  if (p.gemms.length) {
    lines.push("  GEMMs by shape (M x N x K), most time first:");
    for (const g of p.gemms)
      lines.push(`    ${g.shape.padEnd(40)} ${String(g.calls).padStart(6)} ${ms(g.ms)}`);
  }
  return lines.join("\n");
}
