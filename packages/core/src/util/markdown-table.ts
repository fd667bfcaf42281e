// Markdown tables for generated docs, laid out as `biome format` lays them out (so both agree).

/** A cell's text with pipes escaped and newlines folded. */
export const escapeCell = (s: string) => s.replaceAll("|", "\\|").replaceAll("\n", " ");

/** Pads table cells to their column's width, as `biome format` lays markdown tables out. */
export function alignTables(text: string): string {
  const lines = text.split("\n");
  for (let i = 0; i < lines.length; ) {
    if (!lines[i]!.startsWith("|")) {
      i++;
      continue;
    }
    let end = i;
    while (end < lines.length && lines[end]!.startsWith("|")) end++;
    const rows = lines.slice(i, end).map((l) =>
      l
        .slice(1, -1)
        .split(/(?<!\\)\|/)
        .map((c) => c.trim()),
    );
    const widths = rows[0]!.map((_, c) =>
      Math.max(3, ...rows.filter((_, r) => r !== 1).map((row) => [...(row[c] ?? "")].length)),
    );
    rows.forEach((row, r) => {
      const cells = widths.map((w, c) =>
        r === 1 ? "-".repeat(w) : (row[c] ?? "") + " ".repeat(w - [...(row[c] ?? "")].length),
      );
      lines[i + r] = `| ${cells.join(" | ")} |`;
    });
    i = end;
  }
  return lines.join("\n");
}
