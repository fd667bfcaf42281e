// Patches @huggingface/jinja's interpreter where it departs from Python Jinja2 on real chat templates:
// `for` over a string or undefined, filters on undefined, list filters over a string, Python `+`
// (TypeError on str + dict, Markup escaping after |safe), Python str()/repr() when printing,
// and strip/lstrip/rstrip with a chars argument. Each patch is small and could go upstream.
import { Environment, Interpreter } from "@huggingface/jinja";
import { extraBinary, extraFilter, extraStringMethods, pyJson } from "./python-methods.ts";
import {
  ArrayValue,
  BooleanValue,
  FunctionValue,
  markup,
  NullValue,
  ObjectValue,
  pyAdd,
  pyRepr,
  pyStr,
  StringValue,
  UndefinedValue,
  type Value,
} from "./python-values.ts";

export { pyRepr, pyStr };

/** Statements that print nothing; any other statement is an expression Python prints, None as "None". */
const SILENT = new Set([
  "Set",
  "Macro",
  "Comment",
  "Break",
  "Continue",
  "If",
  "For",
  "CallStatement",
  "FilterStatement",
]);

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

/** Jinja2 filters that start with `if value:` and so yield nothing for None. */
const LAZY_FILTERS = new Set(["selectattr", "rejectattr", "select", "reject", "map"]);
/** Jinja2 filters that apply str() to their operand first. */
const STRING_FILTERS = new Set([
  "trim",
  "upper",
  "lower",
  "title",
  "capitalize",
  "replace",
  "indent",
  "center",
  "wordcount",
  "truncate",
  "striptags",
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
        switch (kind) {
          case "ContinueControl":
            return new StringValue(partial);
          case "BreakControl":
            this.__sftkitBreak = partial;
            throw e;
        }
      }
      if (v.type === "NullValue") {
        if (!SILENT.has(st.type)) result += "None";
      } else if (v.type !== "UndefinedValue") result += v.toString();
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
    try {
      return origBinary.call(this, node, env);
    } catch (e) {
      // str * int, list * int, str % args: evaluated again only on this rare path.
      if (op !== "*" && op !== "%") throw e;
      const out = extraBinary(op, this.evaluate(node.left, env), this.evaluate(node.right, env));
      if (out === undefined) throw e;
      return out;
    }
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
    const call = filterNode.type === "CallExpression";
    const [args, kwargs]: [Value[], Map<string, Value>] = call
      ? this.evaluateArguments(filterNode.args, env)
      : [[], new Map()];
    if (name === "tojson") {
      const arg = (i: number, k: string) => args[i] ?? kwargs.get(k);
      const sep = arg(2, "separators");
      return new StringValue(
        pyJson(operand, {
          ensureAscii: Boolean(arg(0, "ensure_ascii")?.value),
          indent: arg(1, "indent")?.value ?? null,
          separators: sep?.value ? [sep.value[0].value, sep.value[1].value] : undefined,
          sortKeys: Boolean(arg(3, "sort_keys")?.value),
        }),
      );
    }
    if (name === "list" && operand?.type === "TupleValue") return new ArrayValue(operand.value);
    if (
      name === "map" &&
      operand instanceof ArrayValue &&
      args[0] instanceof StringValue &&
      args.length === 1
    ) {
      // map('upper'): apply a filter by name to each item.
      const filter = { type: "Identifier", value: args[0].value };
      return new ArrayValue((operand.value as Value[]).map((x) => this.applyFilter(x, filter, env)));
    }
    try {
      // A filter of an empty list (first, last) gives Undefined, not a JS undefined.
      return origFilter.call(this, operand, filterNode, env) ?? new UndefinedValue();
    } catch (e) {
      const extra = name ? extraFilter(name, operand, args, kwargs) : undefined;
      if (extra !== undefined) return extra;
      // Python: select/map families skip a falsy value; string filters see str(None) == "None".
      if (operand instanceof NullValue && name) {
        if (LAZY_FILTERS.has(name)) return new ArrayValue([]);
        if (STRING_FILTERS.has(name)) return origFilter.call(this, new StringValue("None"), filterNode, env);
      }
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
          for (const [k, f] of extraStringMethods(s)) if (!map.has(k)) map.set(k, f);
        }
        return map;
      },
    });
  }
}
