// Python semantics of @huggingface/jinja runtime values: their classes (not exported by the library),
// str()/repr(), type names, and the `+` operator.
import { Environment } from "@huggingface/jinja";

// biome-ignore lint/suspicious/noExplicitAny: the library's runtime value classes are not exported
export type Value = any;
export type Ctor = new (...args: Value[]) => Value;

const probe = new Environment();
export const StringValue = probe.set("__s", "").constructor as Ctor;
export const IntegerValue = probe.set("__i", 1).constructor as Ctor;
export const FloatValue = probe.set("__f", 1.5).constructor as Ctor;
export const BooleanValue = probe.set("__b", true).constructor as Ctor;
export const NullValue = probe.set("__n", null).constructor as Ctor;
export const UndefinedValue = probe.set("__u", undefined).constructor as Ctor;
export const ArrayValue = probe.set("__a", []).constructor as Ctor;
export const ObjectValue = probe.set("__o", {}).constructor as Ctor;
export const FunctionValue = probe.set("__fn", () => null).constructor as Ctor;

/** StringValues that are Markup (after |safe): `+` with a plain string escapes the plain side. */
export const markup = new WeakSet<object>();

export function isType(v: Value, name: string): boolean {
  return v?.type === name;
}

function pyStrRepr(s: string): string {
  const quote = s.includes("'") && !s.includes('"') ? '"' : "'";
  let out = quote;
  for (const ch of s) {
    const c = ch.codePointAt(0)!;
    if (ch === "\\") out += "\\\\";
    else if (ch === quote) out += `\\${quote}`;
    else if (ch === "\n") out += "\\n";
    else if (ch === "\r") out += "\\r";
    else if (ch === "\t") out += "\\t";
    else if (c < 0x20 || c === 0x7f) out += `\\x${c.toString(16).padStart(2, "0")}`;
    else out += ch;
  }
  return out + quote;
}

/** Python repr() of a runtime value (what str() gives for dicts and lists). */
export function pyRepr(v: Value): string {
  if (isType(v, "StringValue")) return pyStrRepr(v.value);
  if (isType(v, "TupleValue")) {
    const items = (v.value as Value[]).map(pyRepr);
    return items.length === 1 ? `(${items[0]},)` : `(${items.join(", ")})`;
  }
  if (v instanceof ArrayValue) return `[${(v.value as Value[]).map(pyRepr).join(", ")}]`;
  if (v instanceof ObjectValue || isType(v, "NamespaceValue")) {
    const parts: string[] = [];
    for (const [k, x] of v.value as Map<string, Value>) parts.push(`${pyStrRepr(k)}: ${pyRepr(x)}`);
    return `{${parts.join(", ")}}`;
  }
  return pyStr(v);
}

/** Python str() of a runtime value, as Jinja2 prints it. */
export function pyStr(v: Value): string {
  if (v instanceof StringValue) return v.value;
  if (v instanceof BooleanValue) return v.value ? "True" : "False";
  if (v instanceof NullValue) return "None";
  if (v instanceof UndefinedValue) return "";
  if (v instanceof ArrayValue || v instanceof ObjectValue || isType(v, "NamespaceValue")) return pyRepr(v);
  return v.toString();
}

export function pyType(v: Value): string {
  if (v instanceof StringValue) return "str";
  if (v instanceof IntegerValue) return "int";
  if (v instanceof FloatValue) return "float";
  if (v instanceof BooleanValue) return "bool";
  if (v instanceof NullValue) return "NoneType";
  if (isType(v, "TupleValue")) return "tuple";
  if (v instanceof ArrayValue) return "list";
  if (v instanceof ObjectValue) return "dict";
  return String(v?.type ?? typeof v);
}

function escapeHtml(s: string): string {
  return s
    .replaceAll("&", "&amp;")
    .replaceAll("<", "&lt;")
    .replaceAll(">", "&gt;")
    .replaceAll('"', "&#34;")
    .replaceAll("'", "&#39;");
}

export function isNumeric(v: Value): boolean {
  return v instanceof IntegerValue || v instanceof FloatValue || v instanceof BooleanValue;
}

export function pyAdd(left: Value, right: Value): Value {
  if (left instanceof UndefinedValue || right instanceof UndefinedValue)
    throw new Error("UndefinedError: an undefined value was used with +");
  if (left instanceof StringValue && right instanceof StringValue) {
    const lm = markup.has(left);
    const rm = markup.has(right);
    if (!lm && !rm) return new StringValue(left.value + right.value);
    const out = new StringValue(
      (lm ? left.value : escapeHtml(left.value)) + (rm ? right.value : escapeHtml(right.value)),
    );
    markup.add(out);
    return out;
  }
  if (left instanceof ArrayValue && right instanceof ArrayValue && pyType(left) === pyType(right))
    return new (left.constructor as Ctor)([...left.value, ...right.value]);
  if (isNumeric(left) && isNumeric(right)) {
    const sum = Number(left.value) + Number(right.value);
    return left instanceof FloatValue || right instanceof FloatValue
      ? new FloatValue(sum)
      : new IntegerValue(sum);
  }
  if (left instanceof StringValue)
    throw new TypeError(`can only concatenate str (not "${pyType(right)}") to str`);
  throw new TypeError(`unsupported operand type(s) for +: '${pyType(left)}' and '${pyType(right)}'`);
}
