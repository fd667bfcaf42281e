// parse: unknown -> Recipe, with every zod issue turned into a Problem that names the path and suggests a fix.
import type { z } from "zod";
import { findMethodDefinition } from "../methods/registry.ts";
import type { CustomIssueParams, DiagnosticCode } from "./catalogue.ts";
import type { PathSegment, Problem } from "./diagnostics.ts";
import { methodKeysByKind, methodKinds } from "./schema/method.ts";
import { type Recipe, RecipeSchema } from "./schema/recipe.ts";
import { discriminatorOf, objectKeys, schemaAt } from "./schema-walk.ts";
import { closest } from "./suggest.ts";

type Issue = z.core.$ZodIssue;

export type ParseResult =
  | { ok: true; recipe: Recipe; problems: Problem[] }
  | { ok: false; problems: Problem[] };

export function parseRecipe(value: unknown): ParseResult {
  const result = RecipeSchema.safeParse(value, { reportInput: true });
  if (result.success) return { ok: true, recipe: result.data, problems: [] };
  const problems = result.error.issues.flatMap((issue) => issueToProblems(issue, [], value));
  return { ok: false, problems: dedupe(problems) };
}

function issueToProblems(issue: Issue, prefix: PathSegment[], root: unknown): Problem[] {
  const path = [...prefix, ...(issue.path as PathSegment[])];
  const input = (issue as { input?: unknown }).input;
  const error = (code: DiagnosticCode, message: string, hint?: string, at?: "key"): Problem => ({
    severity: "error",
    code,
    message,
    path,
    ...(hint ? { hint } : {}),
    ...(at ? { at } : {}),
  });

  switch (issue.code) {
    case "unrecognized_keys": {
      const known = objectKeys(schemaAt(RecipeSchema, path, root));
      return issue.keys.map((key) => ({
        ...error("sft/unknown-key", `unknown key \`${key}\``, unknownKeyHint(key, known, path, input), "key"),
        path: [...path, key],
      }));
    }
    case "invalid_type": {
      if (input === undefined)
        return [error("sft/missing", `missing required field (expected ${issue.expected})`)];
      return [error("sft/invalid-type", `expected ${issue.expected}, got ${describe(input)}`)];
    }
    case "invalid_value": {
      const options = issue.values.map((v) => JSON.stringify(v));
      const guess = typeof input === "string" ? closest(input, issue.values.map(String)) : undefined;
      return [
        error(
          "sft/invalid-value",
          `expected ${options.length === 1 ? options[0] : `one of ${options.join(" | ")}`}, got ${describe(input)}`,
          guess ? `did you mean "${guess}"?` : undefined,
        ),
      ];
    }
    case "invalid_union": {
      // zod reports an unknown discriminator either at the union (older) or at the discriminator key itself.
      const withDisc = issue as { discriminator?: string; options?: unknown[] };
      const atKey = withDisc.discriminator !== undefined && path[path.length - 1] === withDisc.discriminator;
      const unionPath = atKey ? path.slice(0, -1) : path;
      const disc = withDisc.discriminator
        ? { key: withDisc.discriminator, values: (withDisc.options ?? []).map(String) }
        : discriminatorOf(schemaAt(RecipeSchema, path, root));
      if (disc && issue.errors.length === 0) {
        const tag =
          typeof input === "object" && input !== null
            ? (input as Record<string, unknown>)[disc.key]
            : undefined;
        const guess = typeof tag === "string" ? closest(tag, disc.values) : undefined;
        return [
          {
            ...error(
              "sft/invalid-value",
              tag === undefined
                ? `missing \`${disc.key}\` (one of ${disc.values.join(", ")})`
                : `unknown ${disc.key} ${describe(tag)}: expected one of ${disc.values.join(", ")}`,
              guess ? `did you mean "${guess}"?` : undefined,
            ),
            path: tag === undefined ? unionPath : [...unionPath, disc.key],
          },
        ];
      }
      // Report the branch that matched the value's type; otherwise say which types are accepted.
      // Prefer a branch that failed only below the root (the value had the right shape), then one whose
      // root failure is not a type mismatch.
      const deep = issue.errors.find((errs) => errs.every((e) => e.path.length > 0));
      const sameType = issue.errors.find(
        (errs) => !errs.some((e) => e.code === "invalid_type" && e.path.length === 0),
      );
      const chosen = deep ?? sameType;
      if (chosen) return chosen.flatMap((e) => issueToProblems(e as Issue, path, root));
      const expected = [
        ...new Set(
          issue.errors.flatMap((errs) => errs.map((e) => (e as { expected?: string }).expected ?? "")),
        ),
      ]
        .filter(Boolean)
        .join(" or ");
      return [error("sft/invalid-type", `expected ${expected || "another value"}, got ${describe(input)}`)];
    }
    case "too_small":
    case "too_big": {
      const bound = issue.code === "too_small" ? issue.minimum : issue.maximum;
      const inclusive = issue.inclusive ?? true;
      const op = issue.code === "too_small" ? (inclusive ? "≥" : ">") : inclusive ? "≤" : "<";
      if (issue.origin === "array" || issue.origin === "string" || issue.origin === "set") {
        const what = issue.origin === "string" ? "characters" : "items";
        return [error("sft/out-of-range", `needs ${op} ${String(bound)} ${what}`)];
      }
      return [error("sft/out-of-range", `must be ${op} ${String(bound)}, got ${describe(input)}`)];
    }
    case "not_multiple_of":
      return [
        error("sft/out-of-range", `must be a multiple of ${String(issue.divisor)}, got ${describe(input)}`),
      ];
    case "invalid_format":
      return [error("sft/invalid-format", `${issue.message}, got ${describe(input)}`)];
    case "invalid_key":
      return issue.issues.flatMap((e) => issueToProblems(e as Issue, path, root));
    case "invalid_element":
      return issue.issues.flatMap((e) =>
        issueToProblems(e as Issue, [...path, issue.key as PathSegment], root),
      );
    case "custom": {
      const params = (issue.params ?? {}) as CustomIssueParams;
      return [error(params.code ?? "sft/invalid", issue.message, params.hint)];
    }
    default:
      return [error("sft/invalid", (issue as { message: string }).message)];
  }
}

function unknownKeyHint(
  key: string,
  known: string[],
  path: PathSegment[],
  objectValue: unknown,
): string | undefined {
  const isMethod = path.length === 1 && path[0] === "method";
  if (isMethod) {
    const givenKind = (objectValue as { kind?: unknown } | undefined)?.kind;
    const owners = methodKinds.filter((k) => methodKeysByKind[k].includes(key));
    if (owners.length > 0) {
      const where = owners.map((k) => `\`${k}\``).join(", ");
      const why =
        typeof givenKind === "string" ? findMethodDefinition(givenKind)?.foreignKeys?.[key] : undefined;
      const extra = why ? `; ${why}` : "";
      return `\`${key}\` belongs to the ${where} method${owners.length > 1 ? "s" : ""}, not \`${givenKind}\`${extra}`;
    }
  }
  const guess = closest(key, known);
  if (guess) return `did you mean \`${guess}\`?`;
  return known.length ? `known keys here: ${known.join(", ")}` : undefined;
}

function describe(v: unknown): string {
  if (v === undefined) return "nothing";
  if (v === null) return "null";
  if (typeof v === "string") return JSON.stringify(v.length > 40 ? `${v.slice(0, 40)}…` : v);
  if (typeof v === "number" || typeof v === "boolean") return `${typeof v} ${String(v)}`;
  if (Array.isArray(v)) return "an array";
  if (typeof v === "function") return "a function";
  return "an object";
}

function dedupe(problems: Problem[]): Problem[] {
  const seen = new Set<string>();
  return problems.filter((p) => {
    const key = `${p.code}|${p.path.join(".")}|${p.message}`;
    if (seen.has(key)) return false;
    seen.add(key);
    return true;
  });
}
