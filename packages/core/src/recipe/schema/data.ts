import { z } from "zod";
import { fraction, positiveInt } from "./common.ts";

export const dataFormats = ["alpaca", "sharegpt", "messages", "completion", "tokenized"] as const;
export const fileTypes = ["auto", "jsonl", "json", "parquet", "csv"] as const;
export const chatRoles = ["system", "user", "assistant", "tool"] as const;
/** What the `language` filter can tell apart: languages, and scripts for text whose language is not told. */
export const languageCodes = [
  "en",
  "de",
  "fr",
  "es",
  "pt",
  "it",
  "nl",
  "tr",
  "ru",
  "uk",
  "zh",
  "ja",
  "ko",
  "ar",
  "he",
  "el",
  "hi",
  "th",
  "latin",
  "cyrillic",
  "han",
  "kana",
  "hangul",
  "arabic",
  "hebrew",
  "greek",
  "devanagari",
  "thai",
] as const;

/** Column names per format, as LLaMA-Factory's dataset_info.json maps them. */
export const ColumnsSchema = z
  .strictObject({
    instruction: z.string().optional().describe("alpaca: the instruction column (default `instruction`)."),
    input: z.string().optional().describe("alpaca: the optional input column (default `input`)."),
    output: z.string().optional().describe("alpaca: the response column (default `output`)."),
    system: z.string().optional().describe("alpaca/sharegpt: a system prompt column (default `system`)."),
    history: z
      .string()
      .optional()
      .describe("alpaca: earlier [instruction, response] pairs (default `history`)."),
    messages: z
      .string()
      .optional()
      .describe("sharegpt/messages: the turns column (default `conversations` / `messages`)."),
    tools: z
      .string()
      .optional()
      .describe("sharegpt/messages: the tool definitions column (default `tools`)."),
    text: z.string().optional().describe("completion: the text column (default `text`)."),
    inputIds: z.string().optional().describe("tokenized: the ids column (default `input_ids`)."),
    labels: z.string().optional().describe("tokenized: the labels column (default `labels`; -100 = masked)."),
  })
  .describe("Field mapping: which column holds what.");

export const TagsSchema = z
  .strictObject({
    role: z.string().default("from").describe("Key of a turn's role (sharegpt: `from`; messages: `role`)."),
    content: z
      .string()
      .default("value")
      .describe("Key of a turn's text (sharegpt: `value`; messages: `content`)."),
    roles: z
      .record(z.string(), z.enum(chatRoles).describe("The chat role this name stands for."))
      .optional()
      .describe("Map from the data's role names to chat roles, e.g. { human: 'user', gpt: 'assistant' }."),
  })
  .describe("Turn keys and role names for `sharegpt`/`messages` data.");

export const DedupeSchema = z
  .union([
    z.boolean(),
    z.strictObject({
      threshold: z
        .number()
        .gt(0)
        .max(1)
        .default(0.8)
        .describe("Estimated Jaccard similarity of word 3-grams (MinHash) at which two rows are duplicates."),
    }),
  ])
  .describe("`true`: drop exact duplicates (normalised text); `{ threshold }`: near-duplicates too.");

export const FiltersSchema = z
  .strictObject({
    dedupe: DedupeSchema.default(false),
    dropEmpty: z.boolean().default(true).describe("Drop rows whose trained answer is empty or whitespace."),
    dropTruncated: z
      .boolean()
      .default(false)
      .describe("Drop rows whose answer looks cut off: mid-sentence, an unclosed code fence or bracket."),
    dropRefusals: z
      .boolean()
      .default(false)
      .describe(
        'Drop rows whose answer refuses or disclaims ("As an AI language model...", "I\'m sorry, but I can\'t").',
      ),
    language: z
      .union([z.literal("same"), z.array(z.enum(languageCodes)).min(1)])
      .optional()
      .describe(
        "`same`: drop rows whose answer's language differs from the instruction's (translation requests kept); a list of codes (`en`, `zh`, `de`, ...) or scripts (`latin`, `cyrillic`): keep answers in these. Undetected languages are kept.",
      ),
    minLength: positiveInt().optional().describe("Drop rows whose trained answer has fewer characters."),
    maxLength: positiveInt().optional().describe("Drop rows whose trained answer has more characters."),
    minChars: positiveInt().optional().describe("Drop rows whose whole text is shorter than this."),
    maxChars: positiveInt().optional().describe("Drop rows whose whole text is longer than this."),
    where: z
      .custom<(row: Record<string, unknown>) => boolean>(
        (v) => typeof v === "function",
        "expected a function",
      )
      .optional()
      .describe("A predicate on the raw row; false drops it."),
  })
  .describe("Row filters, applied before mixing; their counts are in the plan.");

export const SourceSchema = z
  .strictObject({
    path: z
      .union([z.string().min(1), z.array(z.string().min(1)).min(1)])
      .describe("A file, folder or glob (or a list), relative to the recipe file."),
    format: z.enum(dataFormats).describe("How a row becomes a conversation."),
    fileType: z.enum(fileTypes).default("auto").describe("Reader; `auto` picks it from the file extension."),
    columns: ColumnsSchema.optional(),
    tags: TagsSchema.optional(),
    weight: z
      .number()
      .positive()
      .optional()
      .describe(
        "Relative share of this source in the mix (1 = its own size); above 1 upsamples by repetition.",
      ),
    samples: positiveInt()
      .optional()
      .describe("Target samples per epoch from this source (instead of `weight`)."),
    maxRows: positiveInt().optional().describe("Read at most this many rows (before filters)."),
    eval: z
      .union([fraction(), positiveInt()])
      .optional()
      .describe("Rows held out for evaluation: a fraction in (0, 1) or a count."),
    onBadRow: z
      .enum(["error", "skip"])
      .default("error")
      .describe("A row that does not fit the format: stop, or skip it and count it."),
    filters: FiltersSchema.optional(),
  })
  .superRefine((s, ctx) => {
    if (s.weight !== undefined && s.samples !== undefined) {
      ctx.addIssue({
        code: "custom",
        path: ["samples"],
        message: "give either `weight` or `samples`, not both",
        params: { hint: "weight scales the source's own size; samples sets an absolute count per epoch" },
      });
    }
  })
  .describe("One dataset.");

export const DataSchema = z
  .strictObject({
    sources: z
      .record(z.string().regex(/^[\w.-]+$/, "source names use letters, digits, _ . -"), SourceSchema)
      .refine((r) => Object.keys(r).length > 0, "at least one source is needed")
      .describe("Named datasets."),
    seed: z.number().int().default(42).describe("Seed of mixing and shuffling (reshuffled each epoch)."),
    cacheDir: z
      .string()
      .optional()
      .describe("Tokenized-data cache folder (default: `.sft-cache` beside the recipe)."),
  })
  .describe("The data mix.");
