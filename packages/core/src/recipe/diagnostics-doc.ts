// The troubleshooting page (docs/diagnostics.md), generated from the diagnostic catalogue by `pnpm docs:gen`.
import { alignTables, escapeCell } from "../util/markdown-table.ts";
import {
  type CatalogueEntry,
  type DiagnosticCode,
  diagnosticCatalogue,
  diagnosticCodes,
  diagnosticStages,
} from "./catalogue.ts";

const intro = `# Diagnostics

<!-- Generated from packages/core/src/recipe/catalogue.ts by \`pnpm docs:gen\`. Do not edit: a test fails when it is stale. -->

\`sft plan\` (and \`compile\`) collect every problem of a recipe before reporting, each with the recipe
path, the place in the source where the value was written (following imports, spreads and
\`extendRecipe\` bases), a code frame and a hint. This recipe gives a \`full\` method a LoRA \`rank\`:

<!-- recipe: error sft/unknown-key -->

\`\`\`ts
import { defineRecipe } from "@sftkit/core";

export default defineRecipe({
  model: { path: "../models/stories260K" },
  template: "phi-3",
  tokens: { add: ["<|user|>", "<|assistant|>", "<|end|>"], eos: "<|end|>" },
  data: { sources: { chat: { path: "data/chat.jsonl", format: "messages" } } },
  method: {
    kind: "full",
    rank: 8,
  },
});
\`\`\`

\`\`\`
recipe.ts:10:5 error method.rank: unknown key \`rank\` [sft/unknown-key]
     8 |   method: {
     9 |     kind: "full",
  > 10 |     rank: 8,
       |     ^
    11 |   },
  hint: \`rank\` belongs to the \`lora\`, \`qlora\` methods, not \`full\`
\`\`\`

Errors stop the compile (exit code 1). Warnings do not; a recipe acknowledges one with
\`acknowledge: ["sft/..."]\`. Errors marked _acknowledgeable_ can be acknowledged the same way: listed, one
is reported as an acknowledged warning (kept in \`plan.json\`, not printed). For
\`sft/template-drops-feature\` the rows then train without the feature, and tool-call turns the template
renders empty stay out of the loss.
`;

function table(codes: readonly DiagnosticCode[]): string[] {
  const rows = codes.map((code) => {
    const e: CatalogueEntry = diagnosticCatalogue[code];
    const id = e.acknowledgeable ? `\`${code}\` (acknowledgeable)` : `\`${code}\``;
    return `| ${id} | ${e.stages.join(", ")} | ${escapeCell(e.means ?? e.summary)} | ${escapeCell(e.fix)} |`;
  });
  return ["| id | stage | means | fix |", "|---|---|---|---|", ...rows];
}

export function renderDiagnosticsPage(): string {
  const of = (severity: CatalogueEntry["severity"]) =>
    diagnosticCodes.filter((code) => diagnosticCatalogue[code].severity === severity);
  const stages = Object.entries(diagnosticStages).map(([stage, what]) => `- \`${stage}\`: ${what}`);
  const out = [
    intro,
    "The stage column says where a code is found:",
    "",
    ...stages,
    "",
    "## Errors",
    "",
    ...table(of("error")),
    "",
    "## Warnings",
    "",
    ...table(of("warning")),
    "",
  ];
  return alignTables(out.join("\n"));
}
