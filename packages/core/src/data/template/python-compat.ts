// Patches @huggingface/jinja's interpreter where it departs from Python Jinja2 on real chat templates:
// `for` over a string or undefined, filters on undefined, list filters over a string, Python `+`
// (TypeError on str + dict, Markup escaping after |safe), Python str()/repr() when printing,
// and strip/lstrip/rstrip with a chars argument. Each patch is small and could go upstream.
import { Environment, Interpreter } from "@huggingface/jinja";

// biome-ignore lint/suspicious/noExplicitAny: the library's runtime value classes are not exported
type Value = any;
type Ctor = new (...args: Value[]) => Value;

const probe = new Environment();
const StringValue = probe.set("__s", "").constructor as Ctor;
const IntegerValue = probe.set("__i", 1).constructor as Ctor;
const FloatValue = probe.set("__f", 1.5).constructor as Ctor;
const BooleanValue = probe.set("__b", true).constructor as Ctor;
const NullValue = probe.set("__n", null).constructor as Ctor;
const UndefinedValue = probe.set("__u", undefined).constructor as Ctor;
const ArrayValue = probe.set("__a", []).constructor as Ctor;
const ObjectValue = probe.set("__o", {}).constructor as Ctor;
const FunctionValue = probe.set("__fn", () => null).constructor as Ctor;

/** StringValues that are Markup (after |safe): `+` with a plain string escapes the plain side. */
const markup = new WeakSet<object>();

function isType(v: Value, name: string): boolean {
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

function pyType(v: Value): string {
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

function isNumeric(v: Value): boolean {
  return v instanceof IntegerValue || v instanceof FloatValue || v instanceof BooleanValue;
}

function pyAdd(left: Value, right: Value): Value {
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

function stripChars(s: string, chars: Value, left: boolean, right: boolean): string {
  if (chars === undefined || chars instanceof NullValue || chars instanceof UndefinedValue) {
    let a = 0;
    let b = s.length;
    if (left) while (a < b && /\s/.test(s[a]!)) a++;
    if (right) while (b > a && /\s/.test(s[b - 1]!)) b--;
    return s.slice(a, b);
  }
  const set = new Set<string>(String(chars.value));
  const cs = [...s];
  let a = 0;
  let b = cs.length;
  if (left) while (a < b && set.has(cs[a]!)) a++;
  if (right) while (b > a && set.has(cs[b - 1]!)) b--;
  return cs.slice(a, b).join("");
}

/** Filters that Python applies to any iterable: over a string they see its characters. */
const ITERABLE_FILTERS = new Set([
  "selectattr",
  "rejectattr",
  "select",
  "reject",
  "map",
  "list",
  "unique",
  "batch",
]);

let applied = false;
const loopBodies = new WeakSet<object>();

export function applyPythonCompat(): void {
  if (applied) return;
  applied = true;
  // biome-ignore lint/suspicious/noExplicitAny: patching private interpreter methods
  const proto = Interpreter.prototype as any;

  // Output rendered before {% continue %} / {% break %} must be kept, as in Python.
  proto.evaluateBlock = function (statements: Value[], env: Environment): Value {
    let result = "";
    for (const st of statements) {
      let v: Value;
      try {
        v = this.evaluate(st, env);
      } catch (e) {
        const kind = (e as Error)?.constructor?.name;
        if (kind !== "ContinueControl" && kind !== "BreakControl") throw e;
        const partial = result + ((e as { partial?: string }).partial ?? "");
        if (!loopBodies.has(statements)) {
          (e as { partial?: string }).partial = partial;
          throw e;
        }
        // The loop body itself: continue = end this iteration normally; break = stop after this output.
        if (kind === "ContinueControl") return new StringValue(partial);
        this.__sftkitBreak = partial;
        throw e;
      }
      if (v.type !== "NullValue" && v.type !== "UndefinedValue") result += v.toString();
    }
    return new StringValue(result);
  };

  const origFor = proto.evaluateFor;
  proto.evaluateFor = function (node: Value, env: Environment): Value {
    loopBodies.add(node.body);
    const isSelect = node.iterable.type === "SelectExpression";
    const iterNode = isSelect ? node.iterable.lhs : node.iterable;
    let value = this.evaluate(iterNode, env);
    // Python iterates a string's characters; Jinja2's Undefined iterates as empty.
    if (value instanceof StringValue) value = new ArrayValue([...value.value].map((c) => new StringValue(c)));
    else if (value instanceof UndefinedValue) value = new ArrayValue([]);
    const scope = new Environment(env);
    scope.setVariable("__sftkit_iter", value);
    const ident = { type: "Identifier", value: "__sftkit_iter" };
    const patched = isSelect
      ? { ...node, iterable: { ...node.iterable, lhs: ident } }
      : { ...node, iterable: ident };
    const saved = this.__sftkitBreak;
    this.__sftkitBreak = undefined;
    const out = origFor.call(this, patched, scope);
    const tail: string | undefined = this.__sftkitBreak;
    this.__sftkitBreak = saved;
    return tail ? new StringValue(out.value + tail) : out;
  };

  // Jinja2's Undefined raises on attribute/item access: `x.y` with x undefined is an error.
  const origMember = proto.evaluateMemberExpression;
  proto.evaluateMemberExpression = function (expr: Value, env: Environment): Value {
    const out = origMember.call(this, expr, env);
    if (out instanceof UndefinedValue && this.evaluate(expr.object, env) instanceof UndefinedValue)
      throw new Error("UndefinedError: attribute or item of an undefined value");
    return out;
  };

  const origBinary = proto.evaluateBinaryExpression;
  proto.evaluateBinaryExpression = function (node: Value, env: Environment): Value {
    const op = node.operator.value;
    if (op === "+") return pyAdd(this.evaluate(node.left, env), this.evaluate(node.right, env));
    if (op === "~")
      return new StringValue(pyStr(this.evaluate(node.left, env)) + pyStr(this.evaluate(node.right, env)));
    return origBinary.call(this, node, env);
  };

  const origFilter = proto.applyFilter;
  proto.applyFilter = function (operand: Value, filterNode: Value, env: Environment): Value {
    const name: string | undefined =
      filterNode.type === "Identifier" ? filterNode.value : filterNode.callee?.value;
    if (name === "safe") {
      const out = new StringValue(pyStr(operand));
      markup.add(out);
      return out;
    }
    if (name === "string") return new StringValue(pyStr(operand));
    try {
      return origFilter.call(this, operand, filterNode, env);
    } catch (e) {
      // Python: an undefined value prints as "" and filters see that.
      if (operand instanceof UndefinedValue)
        return origFilter.call(this, new StringValue(""), filterNode, env);
      let items = operand;
      if (operand instanceof StringValue && name && ITERABLE_FILTERS.has(name))
        items = new ArrayValue([...operand.value].map((c) => new StringValue(c)));
      if (!(items instanceof ArrayValue)) throw e;
      if (name === "selectattr" || name === "rejectattr") {
        // Items without attributes never match the attribute test.
        const out: Value[] = [];
        for (const item of items.value as Value[]) {
          if (item instanceof ObjectValue) {
            const r = origFilter.call(this, new ArrayValue([item]), filterNode, env);
            if (r.value.length > 0) out.push(item);
          } else if (name === "rejectattr") out.push(item);
        }
        return new ArrayValue(out);
      }
      if (items === operand) throw e;
      return origFilter.call(this, items, filterNode, env);
    }
  };

  // Printing: Python prints True/False and repr() of containers.
  BooleanValue.prototype.toString = function (this: Value) {
    return this.value ? "True" : "False";
  };
  for (const C of [ArrayValue, ObjectValue]) {
    C.prototype.toString = function (this: Value) {
      return pyRepr(this);
    };
  }

  // str.strip/lstrip/rstrip take an optional set of characters.
  const desc = Object.getOwnPropertyDescriptor(StringValue.prototype, "builtins");
  if (desc?.get) {
    const origGet = desc.get;
    Object.defineProperty(StringValue.prototype, "builtins", {
      configurable: true,
      get(this: Value) {
        const map: Map<string, Value> = origGet.call(this);
        if (!map.has("__sftkit")) {
          const s: string = this.value;
          map.set("__sftkit", new BooleanValue(true));
          map.set(
            "strip",
            new FunctionValue((args: Value[]) => new StringValue(stripChars(s, args[0], true, true))),
          );
          map.set(
            "lstrip",
            new FunctionValue((args: Value[]) => new StringValue(stripChars(s, args[0], true, false))),
          );
          map.set(
            "rstrip",
            new FunctionValue((args: Value[]) => new StringValue(stripChars(s, args[0], false, true))),
          );
        }
        return map;
      },
    });
  }
}
