// Completeness and label errors: per-row checks on the answer against its instruction.
import type { FiltersOutput } from "../formats/filters.ts";
import { badToolJson, echoesInstruction, isRefusal, truncation } from "./checks.ts";
import { detectLanguage, languagesDiffer, TRANSLATION_REQUEST } from "./language.ts";
import { FindingBuilder } from "./refs.ts";
import { snippet } from "./text.ts";
import type { Finding, QualityRow } from "./types.ts";

/** Whether a row of this kind has an instruction its answer responds to (completions have none). */
const hasInstruction: Record<QualityRow["kind"], boolean> = { chat: true, text: false };

export function completenessFindings(
  source: string,
  rows: readonly QualityRow[],
  filters: Partial<FiltersOutput>,
  baseDir: string,
): Finding[] {
  const f = (
    id: string,
    title: string,
    severity: Finding["severity"],
    filter: Finding["filter"],
  ): FindingBuilder =>
    new FindingBuilder(baseDir, { id, category: "completeness", title, severity, source, filter });
  const empty = f("completeness/empty", "Empty or whitespace answer", "error", {
    name: "dropEmpty",
    active: filters.dropEmpty !== false,
    setting: "filters: { dropEmpty: true } (the default)",
  });
  const echo = f("completeness/echo", "Answer repeats the instruction", "warning", {
    name: "where",
    active: false,
    setting: "filters: { where: (row) => row.output.trim() !== row.instruction.trim() }",
  });
  const truncatedOn = { name: "dropTruncated", active: filters.dropTruncated === true } as const;
  const midSentence = f("completeness/mid-sentence", "Answer ends mid-sentence", "warning", {
    ...truncatedOn,
    setting: "filters: { dropTruncated: true }",
  });
  const unbalanced = f("completeness/unbalanced", "Unclosed code fence or bracket in the answer", "warning", {
    ...truncatedOn,
    setting: "filters: { dropTruncated: true }",
  });
  const refusal = f("completeness/refusal", "Refusal or AI disclaimer in the answer", "warning", {
    name: "dropRefusals",
    active: filters.dropRefusals === true,
    setting: "filters: { dropRefusals: true }",
  });
  const language = f("completeness/language", "Answer language differs from the instruction's", "warning", {
    name: "language",
    active: filters.language === "same",
    setting: 'filters: { language: "same" }',
  });
  const tool = f("completeness/tool-json", "Tool call whose arguments are not valid JSON", "error", {
    name: "where",
    active: false,
    setting: "filters: { where: (row) => /* arguments parse */ true }",
  });
  for (const row of rows) {
    if (row.answer.trim() === "") {
      empty.add(row);
      continue;
    }
    if (hasInstruction[row.kind] && echoesInstruction(row.prompt, row.lastAnswer)) echo.add(row);
    const cut = truncation(row.lastAnswer);
    if (cut === "mid-sentence") midSentence.add(row, `ends: …${row.lastAnswer.trimEnd().slice(-40)}`);
    else if (cut) unbalanced.add(row, cut);
    if (isRefusal(row.lastAnswer)) refusal.add(row);
    if (hasInstruction[row.kind] && row.prompt && !TRANSLATION_REQUEST.test(row.prompt)) {
      const q = detectLanguage(row.prompt);
      const a = detectLanguage(row.answer);
      if (languagesDiffer(q, a)) language.add(row, `instruction ${q}, answer ${a}`);
    }
    if (row.messages) {
      const bad = badToolJson(row.messages);
      if (bad !== null) tool.add(row, undefined, `arguments: ${snippet(bad, 100)}`);
    }
  }
  return [empty, echo, midSentence, unbalanced, refusal, language, tool]
    .map((b) => b.build(rows.length))
    .filter((x): x is Finding => x !== null);
}
