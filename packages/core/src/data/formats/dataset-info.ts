import type { z } from "zod";
import type { SourceSchema } from "../../recipe/schema/data.ts";

/** One entry of LLaMA-Factory's `dataset_info.json`. */
export interface DatasetInfoEntry {
  file_name?: string;
  hf_hub_url?: string;
  ms_hub_url?: string;
  om_hub_url?: string;
  script_url?: string;
  formatting?: string;
  ranking?: boolean;
  columns?: Record<string, string>;
  tags?: Record<string, string>;
}

type SourceInput = z.input<typeof SourceSchema>;

// LLaMA-Factory column names -> sftkit's ColumnsSchema keys.
const columnMap: Record<string, keyof NonNullable<SourceInput["columns"]>> = {
  prompt: "instruction",
  query: "input",
  response: "output",
  history: "history",
  system: "system",
  messages: "messages",
  tools: "tools",
};
const roleTags = {
  user_tag: "user",
  assistant_tag: "assistant",
  observation_tag: "tool",
  system_tag: "system",
} as const;
const defaultTags: Record<string, string> = {
  user_tag: "human",
  assistant_tag: "gpt",
  observation_tag: "observation",
  function_tag: "function_call",
  system_tag: "system",
};

/**
 * A source (path, format, columns, tags) for a dataset_info.json entry, or why it cannot be one.
 * Local files only; preference (ranking/KTO) and multimodal columns are out of scope for SFT here.
 */
export function fromDatasetInfo(
  entry: DatasetInfoEntry,
): { ok: true; source: SourceInput } | { ok: false; reason: string } {
  if (!entry.file_name) {
    const hub = entry.hf_hub_url ?? entry.ms_hub_url ?? entry.om_hub_url ?? entry.script_url;
    return {
      ok: false,
      reason: hub ? `hub dataset ${hub}: download it and point \`path\` at the files` : "no file_name",
    };
  }
  if (entry.ranking) return { ok: false, reason: "a preference (ranking) dataset, not SFT data" };
  const formatting = entry.formatting ?? "alpaca";
  if (formatting !== "alpaca" && formatting !== "sharegpt")
    return { ok: false, reason: `unknown formatting "${formatting}"` };
  const columns: NonNullable<SourceInput["columns"]> = {};
  for (const [k, v] of Object.entries(entry.columns ?? {})) {
    const ours = columnMap[k];
    if (!ours)
      return { ok: false, reason: `column "${k}" (${v}) is not supported (multimodal or preference data)` };
    columns[ours] = v;
  }
  const source: SourceInput = { path: entry.file_name, format: formatting };
  if (Object.keys(columns).length > 0) source.columns = columns;
  const t = entry.tags ?? {};
  if (Object.keys(t).length > 0) {
    if (t.function_tag && t.function_tag !== defaultTags.function_tag) {
      return {
        ok: false,
        reason: `function_tag "${t.function_tag}" is not supported (only "function_call")`,
      };
    }
    const roles: Record<string, "system" | "user" | "assistant" | "tool"> = {};
    for (const [tag, role] of Object.entries(roleTags)) {
      const name = t[tag] ?? defaultTags[tag];
      if (name) roles[name] = role;
    }
    source.tags = { role: t.role_tag ?? "from", content: t.content_tag ?? "value", roles };
  }
  return { ok: true, source };
}
