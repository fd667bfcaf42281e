// A small YAML emitter for plain JSON data (no yaml package is installed), and a reader of exactly what it
// writes (for tests and round-trips). Strings are always JSON-quoted, which is valid YAML and never ambiguous.

export type YamlValue = string | number | boolean | null | YamlValue[] | { [key: string]: YamlValue };

/** Block-style YAML; `header` lines become leading `#` comments. Undefined object values are left out. */
export function toYaml(value: { [key: string]: unknown }, header: string[] = []): string {
  const lines = header.map((h) => `# ${h}`.trimEnd());
  emitMap(value, 0, lines);
  return `${lines.join("\n")}\n`;
}

function scalar(v: unknown): string {
  if (v === null) return "null";
  if (typeof v === "string") return JSON.stringify(v);
  if (typeof v === "boolean") return String(v);
  if (typeof v === "number") {
    if (!Number.isFinite(v)) throw new Error(`cannot write ${v} to YAML`);
    // PyYAML (YAML 1.1) reads `1e-8` as a string; `1.0e-8` is a float in every YAML reader.
    const text = String(v);
    return /e/.test(text) && !text.includes(".") ? text.replace("e", ".0e") : text;
  }
  throw new Error(`cannot write a ${typeof v} to YAML`);
}

const isMap = (v: unknown): v is { [key: string]: unknown } =>
  typeof v === "object" && v !== null && !Array.isArray(v);

function key(k: string): string {
  return /^[A-Za-z_][\w.-]*$/.test(k) ? k : JSON.stringify(k);
}

function emitMap(map: { [key: string]: unknown }, indent: number, out: string[]): void {
  const pad = " ".repeat(indent);
  for (const [k, v] of Object.entries(map)) {
    if (v === undefined) continue;
    if (isMap(v) && Object.keys(v).length > 0) {
      out.push(`${pad}${key(k)}:`);
      emitMap(v, indent + 2, out);
    } else if (Array.isArray(v) && v.length > 0) {
      out.push(`${pad}${key(k)}:`);
      emitList(v, indent + 2, out);
    } else {
      out.push(`${pad}${key(k)}: ${isMap(v) ? "{}" : Array.isArray(v) ? "[]" : scalar(v)}`);
    }
  }
}

function emitList(list: unknown[], indent: number, out: string[]): void {
  const pad = " ".repeat(indent);
  for (const item of list) {
    if (isMap(item) && Object.keys(item).length > 0) {
      const inner: string[] = [];
      emitMap(item, indent + 2, inner);
      out.push(`${pad}- ${inner[0]!.trimStart()}`, ...inner.slice(1));
    } else if (Array.isArray(item) && item.length > 0) {
      out.push(`${pad}-`);
      emitList(item, indent + 2, out);
    } else {
      out.push(`${pad}- ${isMap(item) ? "{}" : Array.isArray(item) ? "[]" : scalar(item)}`);
    }
  }
}

/** Reads the subset toYaml writes (block maps and lists, JSON scalars, `#` comment lines). */
export function parseYaml(text: string): YamlValue {
  const lines = text
    .split("\n")
    .map((raw, i) => ({ raw, n: i + 1 }))
    .filter(({ raw }) => raw.trim() !== "" && !raw.trimStart().startsWith("#"))
    .map(({ raw, n }) => ({ indent: raw.length - raw.trimStart().length, body: raw.trim(), n }));
  let i = 0;

  const parseScalar = (s: string, n: number): YamlValue => {
    if (s === "{}") return {};
    if (s === "[]") return [];
    try {
      return JSON.parse(s) as YamlValue;
    } catch {
      throw new Error(`line ${n}: not a JSON scalar: ${s}`);
    }
  };
  const splitKey = (body: string, n: number): [string, string] => {
    const m = body.startsWith('"')
      ? /^("(?:[^"\\]|\\.)*"):(?: (.*))?$/.exec(body)
      : /^([A-Za-z_][\w.-]*):(?: (.*))?$/.exec(body);
    if (!m) throw new Error(`line ${n}: expected "key: value", got ${body}`);
    const k = m[1]!.startsWith('"') ? (JSON.parse(m[1]!) as string) : m[1]!;
    return [k, m[2] ?? ""];
  };

  function block(indent: number): YamlValue {
    const first = lines[i];
    if (!first || first.indent < indent) return null;
    return first.body.startsWith("-") ? list(first.indent) : map(first.indent);
  }
  function map(indent: number, firstBody?: string): { [key: string]: YamlValue } {
    const out: { [key: string]: YamlValue } = {};
    let body = firstBody;
    while (body !== undefined || (i < lines.length && lines[i]!.indent === indent)) {
      const line = body !== undefined ? { body, n: lines[i - 1]!.n } : lines[i++]!;
      body = undefined;
      const [k, rest] = splitKey(line.body, line.n);
      out[k] = rest === "" ? block(indent + 1) : parseScalar(rest, line.n);
    }
    return out;
  }
  function list(indent: number): YamlValue[] {
    const out: YamlValue[] = [];
    while (i < lines.length && lines[i]!.indent === indent && lines[i]!.body.startsWith("-")) {
      const line = lines[i++]!;
      const rest = line.body.slice(1).trimStart();
      if (rest === "") out.push(block(indent + 1));
      else if (/^("(?:[^"\\]|\\.)*"|[A-Za-z_][\w.-]*):( |$)/.test(rest)) out.push(map(indent + 2, rest));
      else out.push(parseScalar(rest, line.n));
    }
    return out;
  }
  const value = block(0);
  if (i < lines.length) throw new Error(`line ${lines[i]!.n}: unexpected indentation`);
  return value;
}
