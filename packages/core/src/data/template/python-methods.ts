// Python str methods, Jinja2 filters and operators that @huggingface/jinja lacks, over its runtime values.
import {
  ArrayValue,
  BooleanValue,
  FloatValue,
  FunctionValue,
  IntegerValue,
  isNumeric,
  isType,
  NullValue,
  ObjectValue,
  pyRepr,
  pyStr,
  pyType,
  StringValue,
  UndefinedValue,
  type Value,
} from "./python-values.ts";

function isSpace(ch: string): boolean {
  return /\s/.test(ch);
}

/** Python's "%" string formatting for %s %r %d %i %f %e %x %% with flags, width and precision. */
export function printf(fmt: string, arg: Value): string {
  const args: Value[] = isType(arg, "TupleValue") ? arg.value : [arg];
  let k = 0;
  const out = fmt.replace(
    /%([-+ 0#]*)(\d+)?(?:\.(\d+))?([sdirfexX%])/g,
    (_m, flags: string, width, prec, conv) => {
      if (conv === "%") return "%";
      const v = args[k++];
      if (v === undefined) throw new TypeError("not enough arguments for format string");
      let s: string;
      const p = prec === undefined ? undefined : Number(prec);
      switch (conv) {
        case "s":
          s = pyStr(v);
          if (p !== undefined) s = s.slice(0, p);
          break;
        case "r":
          s = pyRepr(v);
          break;
        case "d":
        case "i":
          s = String(Math.trunc(Number(v.value)));
          break;
        case "f":
          s = Number(v.value).toFixed(p ?? 6);
          break;
        case "e":
          s = Number(v.value)
            .toExponential(p ?? 6)
            .replace(/e([+-])(\d)$/, "e$10$2");
          break;
        default:
          s = Math.trunc(Number(v.value)).toString(16);
          if (conv === "X") s = s.toUpperCase();
      }
      if (flags.includes("+") && /^[dif]$/.test(conv) && !s.startsWith("-")) s = `+${s}`;
      const w = width === undefined ? 0 : Number(width);
      if (s.length < w) {
        if (flags.includes("-")) s = s.padEnd(w);
        else if (flags.includes("0") && conv !== "s")
          s = s.startsWith("-") ? `-${s.slice(1).padStart(w - 1, "0")}` : s.padStart(w, "0");
        else s = s.padStart(w);
      }
      return s;
    },
  );
  if (k < args.length && isType(arg, "TupleValue"))
    throw new TypeError("not all arguments converted during string formatting");
  return out;
}

/** str.format with {} / {0} / {name} fields (no format specs). */
function strFormat(fmt: string, args: Value[], kwargs: Map<string, Value>): string {
  let auto = 0;
  return fmt.replace(/\{\{|\}\}|\{([^{}]*)\}/g, (m, field: string | undefined) => {
    if (m === "{{") return "{";
    if (m === "}}") return "}";
    if (field?.includes(":") || field?.includes("!"))
      throw new Error(`format spec not supported: {${field}}`);
    const v = field === "" ? args[auto++] : /^\d+$/.test(field!) ? args[Number(field)] : kwargs.get(field!);
    if (v === undefined) throw new Error(`format: missing argument for {${field}}`);
    return pyStr(v);
  });
}

function splitArgs(args: Value[]): [Value[], Map<string, Value>] {
  const last = args.at(-1);
  if (last && isType(last, "KeywordArgumentsValue")) return [args.slice(0, -1), last.value];
  return [args, new Map()];
}

function find(s: string, sub: string, from = 0, right = false): number {
  return right ? s.lastIndexOf(sub) : s.indexOf(sub, from);
}

/** Python str methods missing from the library, bound to string `s`. */
export function extraStringMethods(s: string): [string, Value][] {
  const fn = (f: (args: Value[]) => Value) => new FunctionValue((args: Value[]) => f(args));
  const str = (x: Value) => String(x?.value ?? "");
  const bool = (b: boolean) => new BooleanValue(b);
  const nonEmptyAll = (re: RegExp) => bool(s.length > 0 && [...s].every((c) => re.test(c)));
  return [
    [
      "join",
      fn(([it]) => {
        const items: Value[] =
          it instanceof StringValue ? [...it.value].map((c) => new StringValue(c)) : it.value;
        for (const x of items)
          if (!(x instanceof StringValue))
            throw new TypeError(`sequence item: expected str instance, ${pyType(x)} found`);
        return new StringValue(items.map((x) => x.value).join(s));
      }),
    ],
    ["find", fn(([sub, start]) => new IntegerValue(find(s, str(sub), start ? Number(start.value) : 0)))],
    ["rfind", fn(([sub]) => new IntegerValue(find(s, str(sub), 0, true)))],
    [
      "index",
      fn(([sub]) => {
        const i = s.indexOf(str(sub));
        if (i < 0) throw new Error("ValueError: substring not found");
        return new IntegerValue(i);
      }),
    ],
    ["count", fn(([sub]) => new IntegerValue(str(sub) === "" ? s.length + 1 : s.split(str(sub)).length - 1))],
    ["isspace", fn(() => bool(s.length > 0 && [...s].every(isSpace)))],
    ["isdigit", fn(() => nonEmptyAll(/\p{Nd}/u))],
    ["isnumeric", fn(() => nonEmptyAll(/\p{N}/u))],
    ["isalpha", fn(() => nonEmptyAll(/\p{L}/u))],
    ["isalnum", fn(() => nonEmptyAll(/[\p{L}\p{N}]/u))],
    ["isupper", fn(() => bool(/\p{Lu}/u.test(s) && !/\p{Ll}/u.test(s)))],
    ["islower", fn(() => bool(/\p{Ll}/u.test(s) && !/\p{Lu}/u.test(s)))],
    ["removeprefix", fn(([p]) => new StringValue(s.startsWith(str(p)) ? s.slice(str(p).length) : s))],
    [
      "removesuffix",
      fn(([p]) => new StringValue(str(p) && s.endsWith(str(p)) ? s.slice(0, s.length - str(p).length) : s)),
    ],
    [
      "swapcase",
      fn(
        () =>
          new StringValue(
            [...s].map((c) => (c === c.toUpperCase() ? c.toLowerCase() : c.toUpperCase())).join(""),
          ),
      ),
    ],
    [
      "format",
      fn((args) => {
        const [pos, kw] = splitArgs(args);
        return new StringValue(strFormat(s, pos, kw));
      }),
    ],
  ];
}

/** Jinja2's round filter ("common" is Python's round); always a float. */
function roundFilter(v: number, precision: number, method: string): number {
  const f = 10 ** precision;
  if (method === "floor") return Math.floor(v * f) / f;
  if (method === "ceil") return Math.ceil(v * f) / f;
  // Python's round(): halves go to the even neighbour.
  const x = v * f;
  const r = Math.round(x);
  const half = Math.abs(x % 1) === 0.5;
  return (half && r % 2 !== 0 ? r - 1 : r) / f;
}

function compare(a: Value, b: Value): number {
  const x = a.value;
  const y = b.value;
  return x < y ? -1 : x > y ? 1 : 0;
}

/**
 * Filters the library lacks (or lacks for this operand type). Returns undefined when not handled.
 * `args` are evaluated positional arguments, `kwargs` keyword arguments.
 */
export function extraFilter(
  name: string,
  operand: Value,
  args: Value[],
  kwargs: Map<string, Value>,
): Value | undefined {
  const isList = operand instanceof ArrayValue;
  switch (name) {
    case "reverse":
      if (operand instanceof StringValue) return new StringValue([...operand.value].reverse().join(""));
      return undefined;
    case "sum": {
      if (!isList) return undefined;
      const attr = kwargs.get("attribute")?.value;
      let total: number = Number(kwargs.get("start")?.value ?? args[1]?.value ?? 0);
      let float = false;
      for (const x of operand.value as Value[]) {
        const v = attr ? x.value.get(attr) : x;
        if (!isNumeric(v)) throw new TypeError(`unsupported operand type(s) for +: 'int' and '${pyType(v)}'`);
        if (v instanceof FloatValue) float = true;
        total += Number(v.value);
      }
      return float ? new FloatValue(total) : new IntegerValue(total);
    }
    case "max":
    case "min": {
      if (!isList || operand.value.length === 0) return isList ? new UndefinedValue() : undefined;
      const items = [...(operand.value as Value[])].sort(compare);
      return name === "max" ? items.at(-1) : items[0];
    }
    case "round": {
      if (!isNumeric(operand)) return undefined;
      const precision = Number(args[0]?.value ?? kwargs.get("precision")?.value ?? 0);
      const method = String(args[1]?.value ?? kwargs.get("method")?.value ?? "common");
      return new FloatValue(roundFilter(Number(operand.value), precision, method));
    }
    case "format":
      if (!(operand instanceof StringValue)) return undefined;
      return new StringValue(printf(operand.value, args.length === 1 ? args[0] : new ArrayValue(args)));
    case "batch": {
      if (!isList) return undefined;
      const n = Number(args[0]?.value ?? 1);
      const out: Value[] = [];
      for (let i = 0; i < operand.value.length; i += n)
        out.push(new ArrayValue(operand.value.slice(i, i + n)));
      return new ArrayValue(out);
    }
    case "list":
      if (isType(operand, "TupleValue")) return new ArrayValue(operand.value);
      return undefined;
    default:
      return undefined;
  }
}

/** `*` and `%` where Python defines them on strings and lists. */
export function extraBinary(op: string, left: Value, right: Value): Value | undefined {
  if (op === "*") {
    const rep = (n: Value) => Math.max(0, Math.trunc(Number(n.value)));
    if (left instanceof StringValue && right instanceof IntegerValue)
      return new StringValue(left.value.repeat(rep(right)));
    if (left instanceof IntegerValue && right instanceof StringValue)
      return new StringValue(right.value.repeat(rep(left)));
    if (left instanceof ArrayValue && right instanceof IntegerValue)
      return new ArrayValue(Array.from({ length: rep(right) }, () => left.value).flat());
  }
  if (op === "%" && left instanceof StringValue) return new StringValue(printf(left.value, right));
  return undefined;
}

/** Python json.dumps over runtime values, as transformers' tojson calls it. */
export function pyJson(
  v: Value,
  opts: {
    indent?: number | string | null;
    sortKeys?: boolean;
    ensureAscii?: boolean;
    separators?: [string, string];
  },
  depth = 0,
): string {
  const indent = typeof opts.indent === "number" ? " ".repeat(opts.indent) : (opts.indent ?? null);
  const [itemSep, keySep] = opts.separators ?? (indent !== null ? [",", ": "] : [", ", ": "]);
  const str = (s: string) => {
    const j = JSON.stringify(s);
    return opts.ensureAscii
      ? j.replace(/[\u007f-\uffff]/g, (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, "0")}`)
      : j;
  };
  if (v instanceof StringValue) return str(v.value);
  if (v instanceof BooleanValue) return v.value ? "true" : "false";
  if (v instanceof NullValue || v instanceof UndefinedValue) return "null";
  if (v instanceof FloatValue) {
    if (!Number.isFinite(v.value)) return v.value > 0 ? "Infinity" : v.value < 0 ? "-Infinity" : "NaN";
    return pyRepr(v);
  }
  if (v instanceof IntegerValue) return String(v.value);
  const nl = indent === null ? "" : `\n${indent.repeat(depth + 1)}`;
  const close = indent === null ? "" : `\n${indent.repeat(depth)}`;
  if (v instanceof ArrayValue) {
    if (v.value.length === 0) return "[]";
    return `[${nl}${(v.value as Value[]).map((x) => pyJson(x, opts, depth + 1)).join(itemSep + nl)}${close}]`;
  }
  if (v instanceof ObjectValue || isType(v, "NamespaceValue")) {
    let entries = [...(v.value as Map<string, Value>).entries()];
    if (entries.length === 0) return "{}";
    // Python sorts keys by code point, not by locale.
    if (opts.sortKeys) entries = entries.sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
    return `{${nl}${entries.map(([k, x]) => `${str(k)}${keySep}${pyJson(x, opts, depth + 1)}`).join(itemSep + nl)}${close}}`;
  }
  throw new TypeError(`Object of type ${pyType(v)} is not JSON serializable`);
}
