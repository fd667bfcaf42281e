// A synthetic dataset with defects planted in known rows, for the detectors' precision/recall tests.
// Clean rows are built from made-up words, so nothing in them trips a detector by accident.

export interface PlantedData {
  /** File name -> JSONL lines. */
  files: Record<string, string[]>;
  /** Detector id -> "file:line" of every planted row it should flag. */
  truth: Record<string, string[]>;
  /** Planted copies and their originals ("file:line" each): leakage when they straddle the split. */
  pairs: [string, string][];
}

const SYL = ["ka", "lo", "mi", "ne", "ru", "ta", "vo", "zi", "pe", "su", "do", "fa", "gi", "ho", "ju", "be"];
const VERBS = [
  "Explain",
  "Describe",
  "Summarize",
  "List",
  "Compare",
  "Outline",
  "Write",
  "Suggest",
  "Review",
  "Plan",
  "Define",
  "Analyze",
];

function rng(seed: number): () => number {
  let s = seed >>> 0 || 1;
  return () => {
    s ^= s << 13;
    s ^= s >>> 17;
    s ^= s << 5;
    return (s >>> 0) / 4294967296;
  };
}

export function plantedData(): PlantedData {
  const rand = rng(7);
  const pick = <T>(xs: readonly T[]): T => xs[Math.floor(rand() * xs.length)]!;
  const word = () => pick(SYL) + pick(SYL) + pick(SYL);
  const sentence = () =>
    `The ${word()} ${word()} is ${word()} and ${word()} ${word()} the ${word()} of ${word()}.`;
  const clean = () => ({
    instruction: `${pick(VERBS)} the ${word()} ${word()} of the ${word()} for the ${word()} team.`,
    input: "",
    output: Array.from({ length: 2 + Math.floor(rand() * 3) }, sentence).join(" "),
  });
  const files: Record<string, string[]> = { "a.jsonl": [], "b.jsonl": [], "tools.jsonl": [] };
  const truth: Record<string, string[]> = {};
  const pairs: [string, string][] = [];
  const copy = (id: string, file: string, i: number, row: unknown) => {
    plant(id, file, row);
    pairs.push([`a.jsonl:${i + 1}`, `${file}:${files[file]!.length}`]);
  };
  const a = files["a.jsonl"]!;
  const base = Array.from({ length: 400 }, clean);
  for (const r of base) a.push(JSON.stringify(r));
  const plant = (ids: string | string[], file: string, row: unknown) => {
    files[file]!.push(JSON.stringify(row));
    for (const id of typeof ids === "string" ? [ids] : ids) {
      truth[id] = [...(truth[id] ?? []), `${file}:${files[file]!.length}`];
    }
  };
  // Exact duplicates (case and spacing changed) and near-duplicates (one answer word changed).
  for (let i = 0; i < 10; i++) {
    const r = base[i * 7]!;
    copy("duplicates/exact", "a.jsonl", i * 7, { ...r, instruction: `  ${r.instruction.toUpperCase()} ` });
  }
  for (let i = 0; i < 10; i++) {
    const r = base[i * 11 + 3]!;
    const ws = r.output.split(" ");
    ws[Math.floor(ws.length / 2)] = "zzzq";
    copy("duplicates/near", "a.jsonl", i * 11 + 3, { ...r, output: ws.join(" ") });
  }
  for (let i = 0; i < 5; i++)
    plant("completeness/empty", "a.jsonl", { ...clean(), output: i % 2 ? "" : "  \n " });
  for (let i = 0; i < 5; i++) {
    const r = clean();
    plant("completeness/echo", "a.jsonl", { ...r, output: r.instruction });
  }
  for (let i = 0; i < 5; i++) {
    const r = clean();
    const cut = [" and the", " because", ",", " of", " which is"][i]!;
    plant("completeness/mid-sentence", "a.jsonl", {
      ...r,
      output: `${r.output} The ${word()} ${word()} is${cut}`,
    });
  }
  for (let i = 0; i < 3; i++) {
    const r = clean();
    plant("completeness/unbalanced", "a.jsonl", {
      ...r,
      output: `${r.output}\n\n\`\`\`python\ndef ${word()}(x):\n    return x`,
    });
  }
  for (let i = 0; i < 2; i++) {
    const r = clean();
    plant("completeness/unbalanced", "a.jsonl", {
      ...r,
      output: `${r.output} (see the ${word()} and the ${word()}.`,
    });
  }
  const refusals = [
    "I'm sorry, but I cannot help with that request.",
    "As an AI language model, I do not have personal opinions about the {w}.",
    "I cannot provide that information about the {w}.",
    "I am sorry, but I can't assist with planning the {w}.",
    "作为一个人工智能语言模型，我无法回答这个问题。",
  ];
  for (const t of refusals) {
    // The Chinese refusal answers an English instruction: a language mismatch too.
    const ids = /[\u4e00-\u9fff]/u.test(t)
      ? ["completeness/refusal", "completeness/language"]
      : "completeness/refusal";
    plant(ids, "a.jsonl", { ...clean(), output: t.replace("{w}", word()) });
  }
  const foreign = [
    "Le chat est sur la table et il dort dans la maison pour la nuit, mais pas le matin.",
    "Der Hund ist nicht im Garten und die Katze ist mit dem Kind auf den Straßen, das ist gut.",
    "这是一个很好的问题，我们需要仔细考虑所有的因素，然后再做出决定。",
    "El perro es grande y la casa es para los niños que se quedan con la familia del pueblo.",
    "Это очень хороший вопрос, и мы должны подумать о нём внимательно.",
  ];
  for (const t of foreign) {
    plant("completeness/language", "a.jsonl", {
      instruction: `Describe what the ${word()} does in the house at night and why it is there.`,
      input: "",
      output: t,
    });
  }
  for (let i = 0; i < 5; i++) {
    plant("concision/short", "a.jsonl", {
      instruction: `${pick(VERBS)} ${Array.from({ length: 40 }, word).join(" ")} with the team.`,
      input: "",
      output: "Yes.",
    });
  }
  for (let i = 0; i < 5; i++) {
    // Far longer than train.maxLength in the test (2000 byte-level tokens): also cut there.
    plant(["concision/long", "completeness/cut"], "a.jsonl", {
      instruction: `${pick(VERBS)} the ${word()}.`,
      input: "",
      output: Array.from({ length: 80 }, sentence).join(" "),
    });
  }
  // Conflicting labels: the same instruction twice with different answers (both rows are flagged).
  for (let i = 0; i < 4; i++) {
    const instruction = `Classify the sentiment of the ${word()} ${word()} review.`;
    const [x, y] = [word(), word()];
    plant("consistency/conflict", "a.jsonl", {
      instruction,
      input: "",
      output: `The review is positive: it praises the ${x} and the ${y} of the ${word()} without doubt.`,
    });
    plant("consistency/conflict", "a.jsonl", {
      instruction,
      input: "",
      output: `The review is negative because the ${word()} broke and the ${word()} was late again.`,
    });
  }
  // Source b: clean rows plus copies of rows of a.
  for (let i = 0; i < 60; i++) files["b.jsonl"]!.push(JSON.stringify(clean()));
  for (let i = 0; i < 5; i++) copy("duplicates/cross-exact", "b.jsonl", i * 13 + 1, base[i * 13 + 1]!);
  // The instruction of a row of a, answered differently in b: both rows conflict.
  for (const i of [50, 60, 70]) {
    plant("consistency/cross-conflict", "b.jsonl", { ...base[i]!, output: `${sentence()} ${sentence()}` });
    truth["consistency/cross-conflict"]!.push(`a.jsonl:${i + 1}`);
  }
  // Tool calls: valid JSON arguments, and planted ones that do not parse.
  const call = (args: string) => ({
    messages: [
      { role: "user", content: `Find the weather in ${word()} for the ${word()} trip.` },
      {
        role: "assistant",
        content: "",
        tool_calls: [{ type: "function", function: { name: "weather", arguments: args } }],
      },
      { role: "tool", content: '{"temp": 20}' },
      { role: "assistant", content: `It is 20 degrees in the ${word()} today.` },
    ],
  });
  for (let i = 0; i < 30; i++) files["tools.jsonl"]!.push(JSON.stringify(call(`{"city": "${word()}"}`)));
  for (const bad of ['{"city": "x"', "{city: 'x'}", '{"city": "x",}', "weather in x"]) {
    plant("completeness/tool-json", "tools.jsonl", call(bad));
  }
  return { files, truth, pairs };
}
