// The recipes a markdown page shows: its TypeScript fences that call defineRecipe/extendRecipe, each with the
// `<!-- recipe: ... -->` marker written on the line before the fence (blank lines between are allowed).
//
// Markers:  `fragment`            shown for illustration, not compiled
//           `error sft/<code>`    compiles with exactly this error
//           `file <name>.ts`      also saved under that name, for later blocks of the page that import it

export type RecipeBlockKind = { kind: "recipe" } | { kind: "fragment" } | { kind: "error"; code: string };

export interface RecipeBlock {
  /** 1-based line of the opening fence. */
  line: number;
  code: string;
  expect: RecipeBlockKind;
  /** The file name other blocks of the page import it by (`file` marker). */
  savedAs: string | null;
  /** The plain fence right after the block, if any (e.g. the compiler output an error block shows). */
  output: string | null;
}

const TS = new Set(["ts", "typescript"]);
const FENCE = /^```/;
const MARKER = /^<!--\s*recipe:\s*(.*?)\s*-->$/;

interface Fence {
  lang: string;
  /** 1-based lines of the opening and closing fence. */
  line: number;
  end: number;
  body: string;
  /** The last non-blank line above the fence. */
  above: string;
}

/** The fenced blocks of a page. */
function fences(lines: string[]): Fence[] {
  const out: Fence[] = [];
  for (let i = 0; i < lines.length; i++) {
    const open = lines[i]!.match(/^```(\S*)\s*$/);
    if (!open) continue;
    const start = i;
    const body: string[] = [];
    for (i++; i < lines.length && !FENCE.test(lines[i]!); i++) body.push(lines[i]!);
    const above =
      lines
        .slice(0, start)
        .filter((l) => l.trim() !== "")
        .at(-1) ?? "";
    out.push({ lang: open[1]!, line: start + 1, end: i + 1, body: body.join("\n"), above: above.trim() });
  }
  return out;
}

function parseMarker(text: string, where: string): { expect: RecipeBlockKind; savedAs: string | null } {
  let expect: RecipeBlockKind = { kind: "recipe" };
  let savedAs: string | null = null;
  for (const part of text.split(/\s*;\s*/).filter(Boolean)) {
    const [word, arg, ...rest] = part.split(/\s+/);
    if (word === "fragment" && !arg) expect = { kind: "fragment" };
    else if (word === "error" && arg?.startsWith("sft/") && !rest.length)
      expect = { kind: "error", code: arg };
    else if (word === "file" && arg?.endsWith(".ts") && arg !== "recipe.ts" && !rest.length) savedAs = arg;
    else throw new Error(`${where}: unknown recipe marker \`${part}\``);
  }
  return { expect, savedAs };
}

/** The recipe blocks of a page; throws on a marker it does not understand, so a typo cannot skip a block. */
export function recipeBlocks(markdown: string, page = "markdown"): RecipeBlock[] {
  const lines = markdown.split("\n");
  const all = fences(lines);
  const out: RecipeBlock[] = [];
  all.forEach((f, index) => {
    const marker = f.above.match(MARKER);
    const isRecipe = TS.has(f.lang) && /\b(defineRecipe|extendRecipe)\(/.test(f.body);
    if (!isRecipe) {
      if (marker) throw new Error(`${page}:${f.line}: a recipe marker on a block that is not a recipe`);
      return;
    }
    const next = all[index + 1];
    out.push({
      line: f.line,
      code: f.body,
      ...(marker
        ? parseMarker(marker[1]!, `${page}:${f.line}`)
        : { expect: { kind: "recipe" }, savedAs: null }),
      // Only a plain fence with nothing but blank lines between counts as this block's output.
      output:
        next && next.lang === "" && lines.slice(f.end, next.line - 1).every((l) => l.trim() === "")
          ? next.body
          : null,
    });
  });
  return out;
}
