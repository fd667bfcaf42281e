// Probe recall: greedy generation for each probe question, exact match against the taught answer.
import type { ProbeFact } from "../data/probes.ts";
import type { Tokenizer } from "../data/tokenizer/index.ts";
import type { GenerateOptions, GenerateResult } from "../engines/engine.ts";

export interface ProbeResult {
  token: string;
  answer: string;
  output: string;
  correct: boolean;
}

export interface ProbeRecall {
  recall: number;
  results: ProbeResult[];
}

export interface ProbeEvalOptions {
  tokenizer: Tokenizer;
  /** The chat template trained on. */
  template: string;
  /** Ids that end an answer (EOS, end-of-turn). */
  stopIds: readonly number[];
}

/** Recall of the taught facts: the share of probes whose greedy answer is exactly the taught one. */
/** Anything that continues a prompt: an Engine (through its method), or `modelGenerator(model)` of the tfjs engine. */
export interface Generator {
  generate(promptIds: readonly number[], opts?: GenerateOptions): Promise<GenerateResult>;
}

export async function evaluateProbes(
  generator: Generator,
  facts: readonly ProbeFact[],
  opts: ProbeEvalOptions,
): Promise<ProbeRecall> {
  const { tokenizer } = opts;
  const results: ProbeResult[] = [];
  for (const fact of facts) {
    const prompt = tokenizer.applyChatTemplate([{ role: "user", content: fact.question }], {
      addGenerationPrompt: true,
      template: opts.template,
    });
    // As transformers' apply_chat_template(tokenize=True): the template already placed any BOS.
    const ids = tokenizer.encode(prompt, { addSpecialTokens: false });
    const budget = tokenizer.encode(fact.answer, { addSpecialTokens: false }).length + 4;
    const out = await generator.generate(ids, { maxNewTokens: budget, stopIds: opts.stopIds });
    const kept = out.ids.filter((id) => !opts.stopIds.includes(id));
    const output = tokenizer.decode(kept, { skipSpecialTokens: true }).trim();
    results.push({ token: fact.token, answer: fact.answer, output, correct: output === fact.answer.trim() });
  }
  const correct = results.filter((r) => r.correct).length;
  return { recall: facts.length ? correct / facts.length : 0, results };
}
