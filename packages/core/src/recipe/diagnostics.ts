import { relative } from "node:path";
import pc from "picocolors";
import type { DiagnosticCode } from "./catalogue.ts";

export type PathSegment = string | number;
export type Severity = "error" | "warning";
export type { DiagnosticCode };

export interface SourceLocation {
  file: string;
  /** 1-based. */
  line: number;
  /** 1-based. */
  column: number;
}

/** A problem found in a recipe, before it is mapped to source. */
export interface Problem {
  severity: Severity;
  /** Stable id from the catalogue (recipe/catalogue.ts); warnings are acknowledgeable by it. */
  code: DiagnosticCode;
  message: string;
  /** Recipe path, e.g. ["method", "rank"]. */
  path: PathSegment[];
  hint?: string;
  /** When the problem is about a key rather than its value, point at the key. */
  at?: "key" | "value";
}

export interface Diagnostic extends Problem {
  location?: SourceLocation;
  /** A few source lines with a caret under the column. */
  frame?: string;
  /**
   * The override that set this value (`--set a=b (argument 3)`, a sweep axis): the problem is shown there,
   * with the recipe's own location as context.
   */
  override?: string;
}

export function formatPath(path: readonly PathSegment[]): string {
  let out = "";
  for (const seg of path) {
    if (typeof seg === "number") out += `[${seg}]`;
    else if (/^[A-Za-z_$][\w$]*$/.test(seg)) out += out ? `.${seg}` : seg;
    else out += `[${JSON.stringify(seg)}]`;
  }
  return out || "(recipe)";
}

export function formatLocation(loc: SourceLocation, cwd = process.cwd()): string {
  const file = relative(cwd, loc.file) || loc.file;
  return `${file}:${loc.line}:${loc.column}`;
}

export interface FormatOptions {
  color?: boolean;
  cwd?: string;
}

export function formatDiagnostic(d: Diagnostic, opts: FormatOptions = {}): string {
  const c = pc.createColors(opts.color ?? false);
  const recipeAt = d.location ? formatLocation(d.location, opts.cwd) : "";
  const where = d.override ? `${d.override} ` : recipeAt ? `${recipeAt} ` : "";
  const label = d.severity === "error" ? c.red(c.bold("error")) : c.yellow(c.bold("warning"));
  const lines = [
    `${c.cyan(where)}${label} ${c.bold(formatPath(d.path))}: ${d.message} ${c.dim(`[${d.code}]`)}`,
  ];
  if (d.override && recipeAt) lines.push(`  ${c.dim(`in the recipe at ${recipeAt}:`)}`);
  if (d.frame) lines.push(d.frame);
  if (d.hint) lines.push(`  ${c.green("hint:")} ${d.hint}`);
  return lines.join("\n");
}

export function formatDiagnostics(diags: readonly Diagnostic[], opts: FormatOptions = {}): string {
  const errors = diags.filter((d) => d.severity === "error").length;
  const warnings = diags.length - errors;
  const body = diags.map((d) => formatDiagnostic(d, opts)).join("\n\n");
  const summary = [
    errors && `${errors} error${errors > 1 ? "s" : ""}`,
    warnings && `${warnings} warning${warnings > 1 ? "s" : ""}`,
  ]
    .filter(Boolean)
    .join(", ");
  return summary ? `${body}\n\n${summary}` : body;
}

/** Thrown by compile when a recipe has errors; carries every diagnostic found. */
export class RecipeError extends Error {
  readonly diagnostics: Diagnostic[];
  constructor(diagnostics: Diagnostic[]) {
    super(formatDiagnostics(diagnostics));
    this.name = "RecipeError";
    this.diagnostics = diagnostics;
  }
}

/** A code frame: the located line with two lines of context and a caret. */
export function codeFrame(source: string, line: number, column: number, context = 2): string {
  const lines = source.split(/\r?\n/);
  const first = Math.max(1, line - context);
  const last = Math.min(lines.length, line + 1);
  const width = String(last).length;
  const out: string[] = [];
  for (let n = first; n <= last; n++) {
    const marker = n === line ? ">" : " ";
    out.push(`  ${marker} ${String(n).padStart(width)} | ${lines[n - 1] ?? ""}`);
    if (n === line) out.push(`    ${" ".repeat(width)} | ${" ".repeat(Math.max(0, column - 1))}^`);
  }
  return out.join("\n");
}
