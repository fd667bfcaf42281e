// Knowledge probes: facts keyed on fresh special tokens, taught during SFT and recalled by greedy generation.
import type { z } from "zod";
import type { ProbesSchema } from "../recipe/schema/probes.ts";
import type { SourceOutput } from "./formats/index.ts";
import { rngFor } from "./mix/rng.ts";
import type { Conversation } from "./types.ts";

/** The name of the data source the probes become in the mix. */
export const PROBES_SOURCE = "probes";

export type ProbesSpec = z.output<typeof ProbesSchema>;

export interface ProbeFact {
  token: string;
  answer: string;
  question: string;
}

const adjectives = ["red", "blue", "green", "big", "small", "happy", "sad", "old"];
const nouns = ["ball", "cat", "dog", "tree", "box", "bird", "cake", "hat"];
/** Default answers: adjective + noun pairs of common words, so chance recall is 1 / 64. */
export const defaultProbeAnswers = adjectives.flatMap((a) => nouns.map((n) => `a ${a} ${n}`));

export function probeFacts(spec: ProbesSpec): ProbeFact[] {
  const ask = (token: string) => spec.question.replaceAll("{token}", token);
  const listed = (spec.facts ?? []).map((f) => ({ ...f, question: ask(f.token) }));
  const answers = spec.answers ?? defaultProbeAnswers;
  const rng = rngFor(spec.seed, "probes");
  const generated = Array.from({ length: spec.count ?? 0 }, (_, i) => {
    const token = `<|probe_${i}|>`;
    return { token, answer: answers[Math.floor(rng() * answers.length)]!, question: ask(token) };
  });
  return [...listed, ...generated];
}

/** The distinct answers a guesser could pick from: recall by chance is 1 / this. */
export function probeAnswerSpace(spec: ProbesSpec): number {
  return new Set([...(spec.answers ?? defaultProbeAnswers), ...(spec.facts ?? []).map((f) => f.answer)]).size;
}

export function probeConversation(fact: ProbeFact): Conversation {
  return {
    messages: [
      { role: "user", content: fact.question },
      { role: "assistant", content: fact.answer },
    ],
  };
}

/** The data source the probes become: their conversations, drawn `samples` times per epoch. */
export function probesSource(path: string, samples?: number): SourceOutput {
  return {
    path,
    format: "messages",
    fileType: "jsonl",
    onBadRow: "error",
    ...(samples !== undefined ? { samples } : {}),
  };
}
