// Renders a Jinja chat template with the environment transformers' apply_chat_template builds
// (utils/chat_template_utils.py `_compile_jinja_template`): trim_blocks + lstrip_blocks,
// loopcontrols, the {% generation %} tag, raise_exception, strftime_now and its own tojson.
import { Environment, Interpreter, Template } from "@huggingface/jinja";
import { compatSource } from "./compat.ts";
import { applyPythonCompat } from "./python-compat.ts";
import { locateSyntaxError } from "./syntax.ts";

applyPythonCompat();

export class ChatTemplateError extends Error {
  constructor(
    message: string,
    readonly templateName: string,
    /** True when the template itself called raise_exception (a refused conversation, not a bug). */
    readonly raised: boolean,
    /** Where in the template a syntax error is (1-based), when it was found. */
    readonly at: { line: number; column: number } | null = null,
    /** What went wrong, without the template's name (for messages that name the template otherwise). */
    readonly reason: string = message,
  ) {
    super(message);
    this.name = "ChatTemplateError";
  }
}

// The variables the template looked up and found undefined, newest last (rendering is synchronous, so one
// module-level list serves every render); an error names the last one.
let undefinedLookups: string[] = [];
/** The lookups of the last render, kept for unguardedUndefined. */
let lastLookups: string[] = [];
{
  // biome-ignore lint/suspicious/noExplicitAny: wrapping a private interpreter method
  const proto = Interpreter.prototype as any;
  const evaluateIdentifier = proto.evaluateIdentifier;
  proto.evaluateIdentifier = function (node: { value: string }, env: Environment) {
    const v = evaluateIdentifier.call(this, node, env);
    if (v?.type === "UndefinedValue") undefinedLookups.push(node.value);
    return v;
  };
}

export interface RenderOptions {
  /** Shown in errors (a model id or file name); defaults to the template's first line. */
  name?: string;
  /** Emit these markers where {% generation %} / {% endgeneration %} stand (for assistant masks). */
  generationMarkers?: { start: string; end: string };
}

const RAISED = Symbol("raised");

function pyStrftime(fmt: string, d: Date): string {
  const pad = (n: number, w = 2) => String(n).padStart(w, "0");
  const days = ["Sunday", "Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday"];
  const months = [
    "January",
    "February",
    "March",
    "April",
    "May",
    "June",
    "July",
    "August",
    "September",
    "October",
    "November",
    "December",
  ];
  return fmt.replace(/%([a-zA-Z%])/g, (m, c: string) => {
    switch (c) {
      case "Y":
        return String(d.getFullYear());
      case "y":
        return pad(d.getFullYear() % 100);
      case "m":
        return pad(d.getMonth() + 1);
      case "d":
        return pad(d.getDate());
      case "e":
        return String(d.getDate()).padStart(2, " ");
      case "H":
        return pad(d.getHours());
      case "I":
        return pad(((d.getHours() + 11) % 12) + 1);
      case "M":
        return pad(d.getMinutes());
      case "S":
        return pad(d.getSeconds());
      case "p":
        return d.getHours() < 12 ? "AM" : "PM";
      case "B":
        return months[d.getMonth()]!;
      case "b":
        return months[d.getMonth()]!.slice(0, 3);
      case "A":
        return days[d.getDay()]!;
      case "a":
        return days[d.getDay()]!.slice(0, 3);
      case "j": {
        const start = new Date(d.getFullYear(), 0, 1);
        return pad(Math.floor((d.getTime() - start.getTime()) / 86400000) + 1, 3);
      }
      case "%":
        return "%";
      default:
        return m;
    }
  });
}

/** Python's datetime.now().strftime, as transformers exposes it. */
export function strftimeNow(fmt: string, now: Date = new Date()): string {
  return pyStrftime(fmt, now);
}

function range(...args: number[]): number[] {
  let [start, stop, step] = [0, 0, 1];
  if (args.length === 1) stop = args[0]!;
  else [start, stop, step = 1] = args as [number, number, number?];
  const out: number[] = [];
  if (step > 0) for (let i = start; i < stop; i += step) out.push(i);
  else if (step < 0) for (let i = start; i > stop; i += step) out.push(i);
  return out;
}

function makeGlobals(): Environment {
  const env = new Environment();
  for (const [k, v] of [
    ["false", false],
    ["true", true],
    ["none", null],
    ["False", false],
    ["True", true],
    ["None", null],
  ] as const)
    env.set(k, v);
  env.set("range", range);
  env.set("raise_exception", (message: unknown) => {
    const e = new Error(String(message));
    (e as Error & { [RAISED]?: boolean })[RAISED] = true;
    throw e;
  });
  env.set("strftime_now", (fmt: string) => strftimeNow(fmt));
  return env;
}

/** Shared read-only globals; each render gets its own child scope for the context. */
const globals = makeGlobals();
const cache = new Map<string, Template>();

function compiled(template: string, markers?: { start: string; end: string }): Template {
  const key = markers ? `${markers.start}\u0000${markers.end}\u0000${template}` : template;
  let t = cache.get(key);
  if (!t) {
    t = new Template(compatSource(template, markers));
    if (cache.size > 256) cache.clear();
    cache.set(key, t);
  }
  return t;
}

function templateName(template: string, opts?: RenderOptions): string {
  if (opts?.name) return opts.name;
  const first = template.trim().split("\n")[0] ?? "";
  return first.length > 60 ? `${first.slice(0, 57)}...` : first;
}

/**
 * Renders `template` with `context` ({ messages, add_generation_prompt, tools, bos_token, eos_token, ... }),
 * byte-identical to transformers' apply_chat_template(tokenize=False). Context keys shadow the globals
 * (raise_exception, strftime_now), as in Python.
 */
export function renderChatTemplate(
  template: string,
  context: Record<string, unknown>,
  opts?: RenderOptions,
): string {
  let tmpl: Template;
  try {
    tmpl = compiled(template, opts?.generationMarkers);
  } catch (e) {
    // The parser's own message has no position (and is often a TypeError from inside it): find the tag.
    const fault = locateSyntaxError(template);
    const reason = fault
      ? `line ${fault.line}, column ${fault.column}: ${fault.message}`
      : (e as Error).message;
    const name = templateName(template, opts);
    throw new ChatTemplateError(
      `chat template "${name}" does not parse: ${reason}`,
      name,
      false,
      fault && { line: fault.line, column: fault.column },
      `does not parse: ${reason}`,
    );
  }
  const env = new Environment(globals);
  for (const [k, v] of Object.entries(context)) if (v !== undefined) env.set(k, v);
  undefinedLookups = [];
  try {
    const out = new Interpreter(env).run(tmpl.parsed) as { value: string };
    return out.value;
  } catch (e) {
    const raised = Boolean((e as { [RAISED]?: boolean })[RAISED]);
    const name = templateName(template, opts);
    const last = undefinedLookups[undefinedLookups.length - 1];
    // Only an error about an undefined value is blamed on the last undefined name looked up.
    const aboutUndefined = /undefined/i.test((e as Error).message);
    const culprit =
      !raised && last && aboutUndefined ? ` (the template uses \`${last}\`, which is undefined here)` : "";
    const reason = raised
      ? `refused the conversation: ${(e as Error).message}`
      : `failed to render: ${(e as Error).message}${culprit}`;
    throw new ChatTemplateError(`chat template "${name}" ${reason}`, name, raised, null, reason);
  } finally {
    lastLookups = undefinedLookups;
    undefinedLookups = [];
  }
}

/**
 * Variables a render looked up and found undefined that the template does not guard (`is defined`,
 * `is none`, `| default`): a misspelt `messages` renders nothing in Jinja, without an error.
 */
export function unguardedUndefined(template: string, context: Record<string, unknown>): string[] {
  let seen: string[] = [];
  try {
    renderChatTemplate(template, context);
  } catch {
    // The error is reported elsewhere; the names looked up until then still count.
  } finally {
    seen = lastLookups;
  }
  const guarded = (name: string) =>
    new RegExp(
      [
        `\\b${name}\\s+is\\s+(not\\s+)?(defined|undefined|none|None)\\b`,
        `\\b${name}\\s*\\|\\s*default\\b`,
        // A bare condition (`if tools`) is false when undefined, as the author meant.
        `\\b(if|elif|and|or|not)\\s+${name}\\b(?!\\s*[.[(|])`,
      ].join("|"),
    ).test(template);
  return [...new Set(seen)].filter((n) => !guarded(n));
}
