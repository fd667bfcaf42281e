// Diversity: distinct-n of instructions and answers, the spread of leading words, and lexical clusters
// of the instructions (k-means over TF-IDF of their words).
import { HashSet32 } from "./hashset.ts";
import { leadingWord } from "./intent.ts";
import { FindingBuilder, rowRef } from "./refs.ts";
import { bump, normalisedEntropy, shares } from "./stats.ts";
import { hash32, ngramHashes, words } from "./text.ts";
import type { Diversity, Finding, QualityRow } from "./types.ts";

const STOP = new Set(
  (
    "the a an and or of to in on at for with from by as is are was were be this that these those it its " +
    "you your i me my we our they their he she his her what which who how why when where do does can " +
    "could would should will please give following following: about into than then there here not no " +
    "all any some each one two also more most such only just like so if but"
  ).split(" "),
);
const MAX_VOCAB = 4096;
const ITERATIONS = 8;
/** A cluster or leading word above this share of a source (of 50+ rows) is reported. */
const DOMINANT = 0.5;

export function diversity(
  source: string | null,
  rows: readonly QualityRow[],
  baseDir: string,
  seed = 42,
): { stats: Diversity; findings: Finding[] } {
  const sets = {
    prompt1: new HashSet32(),
    prompt2: new HashSet32(),
    answer1: new HashSet32(),
    answer2: new HashSet32(),
  };
  const totals = { prompt1: 0, prompt2: 0, answer1: 0, answer2: 0 };
  const lead = new Map<string, number>();
  const promptWords: string[][] = [];
  for (const r of rows) {
    const pw = words(r.prompt);
    const aw = words(r.answer);
    promptWords.push(pw);
    for (const [name, ws, n] of [
      ["prompt1", pw, 1],
      ["prompt2", pw, 2],
      ["answer1", aw, 1],
      ["answer2", aw, 2],
    ] as const) {
      if (ws.length < n) continue;
      const hs = n === 1 ? ws.map((w) => hash32(w)) : ngramHashes(ws, n);
      for (const h of hs) sets[name].add(h);
      totals[name] += hs.length;
    }
    if (r.prompt.trim() !== "") bump(lead, leadingWord(r.prompt));
  }
  const ratio = (k: keyof typeof sets) => (totals[k] > 0 ? sets[k].size / totals[k] : 0);
  const clusters = cluster(rows, promptWords, baseDir, seed);
  const leadingWords = shares(lead, 15);
  const stats: Diversity = {
    distinct: {
      prompt1: ratio("prompt1"),
      prompt2: ratio("prompt2"),
      answer1: ratio("answer1"),
      answer2: ratio("answer2"),
    },
    leadingWords,
    leadingEntropy: normalisedEntropy(lead),
    clusters: clusters.map((c) => ({
      terms: c.terms,
      size: c.rows.length,
      share: c.rows.length / rows.length,
      examples: c.rows.slice(0, 3).map((r) => rowRef(r, baseDir)),
    })),
  };
  const findings: Finding[] = [];
  const withPrompt = rows.filter((r) => r.prompt.trim() !== "");
  const top = leadingWords[0];
  if (top && withPrompt.length >= 50 && top.share > DOMINANT && top.name !== "(other)") {
    const b = new FindingBuilder(baseDir, {
      id: "diversity/leading-word",
      category: "diversity",
      title: `${Math.round(top.share * 100)}% of instructions start with "${top.name}"`,
      severity: "info",
      source,
      filter: {
        name: "where",
        active: false,
        setting: "add varied instructions, or thin these with filters: { where }",
      },
    });
    for (const r of withPrompt) if (leadingWord(r.prompt) === top.name) b.add(r);
    const f = b.build(withPrompt.length);
    if (f) findings.push(f);
  }
  const big = clusters[0];
  if (big && clusters.length > 1 && rows.length >= 50 && big.rows.length / rows.length > DOMINANT) {
    const b = new FindingBuilder(baseDir, {
      id: "diversity/cluster",
      category: "diversity",
      title: `One lexical cluster (${big.terms.join(", ")}) holds ${Math.round((big.rows.length / rows.length) * 100)}% of the instructions`,
      severity: "info",
      source,
      filter: {
        name: "where",
        active: false,
        setting: "thin the cluster with filters: { where }, or lower this source's weight",
      },
    });
    for (const r of big.rows) b.add(r);
    const f = b.build(rows.length);
    if (f) findings.push(f);
  }
  return { stats, findings };
}

interface Cluster {
  terms: string[];
  rows: QualityRow[];
}

/** k-means (cosine) over sparse TF-IDF vectors of instruction words; k grows with the square root of rows. */
function cluster(
  rows: readonly QualityRow[],
  promptWords: string[][],
  _baseDir: string,
  seed: number,
): Cluster[] {
  const df = new Map<string, number>();
  for (const ws of promptWords) {
    for (const w of new Set(ws)) if (!STOP.has(w) && w.length > 1 && /\p{L}/u.test(w)) bump(df, w);
  }
  const n = rows.length;
  // Words in at least 2 rows and not in nearly all: a topic shared by most rows is what a dominant cluster shows.
  const vocab = [...df.entries()]
    .filter(([, c]) => c >= 2 && c <= n * 0.9)
    .sort((a, b) => b[1] - a[1] || (a[0] < b[0] ? -1 : 1))
    .slice(0, MAX_VOCAB);
  const termId = new Map(vocab.map(([w], i) => [w, i]));
  const idf = vocab.map(([, c]) => Math.log(n / c));
  const V = vocab.length;
  const vecs: { ids: Int32Array; w: Float64Array }[] = [];
  const members: number[] = [];
  promptWords.forEach((ws, r) => {
    const tf = new Map<number, number>();
    for (const w of ws) {
      const id = termId.get(w);
      if (id !== undefined) tf.set(id, (tf.get(id) ?? 0) + 1);
    }
    if (tf.size === 0) return;
    const ids = Int32Array.from(tf.keys());
    const w = Float64Array.from(ids, (id) => (1 + Math.log(tf.get(id)!)) * idf[id]!);
    let norm = 0;
    for (const x of w) norm += x * x;
    norm = Math.sqrt(norm);
    for (let i = 0; i < w.length; i++) w[i]! /= norm;
    vecs.push({ ids, w });
    members.push(r);
  });
  const m = vecs.length;
  const k = Math.min(12, Math.max(2, Math.round(Math.sqrt(m / 25))));
  if (m < k * 2 || V === 0) return [];
  // Farthest-first starting points from a seeded first one: each next centre is the row least like those chosen.
  let s = seed >>> 0 || 1;
  s ^= s << 13;
  s ^= s >>> 17;
  const cent = new Float64Array(k * V);
  const closest = new Float64Array(m).fill(-1);
  let next = (s >>> 0) % m;
  for (let c = 0; c < k; c++) {
    const v = vecs[next]!;
    for (let i = 0; i < v.ids.length; i++) cent[c * V + v.ids[i]!] = v.w[i]!;
    let far = 0;
    for (let j = 0; j < m; j++) {
      const u = vecs[j]!;
      let dot = 0;
      for (let i = 0; i < u.ids.length; i++) dot += cent[c * V + u.ids[i]!]! * u.w[i]!;
      if (dot > closest[j]!) closest[j] = dot;
      if (closest[j]! < closest[far]!) far = j;
    }
    next = far;
  }
  const assign = new Int32Array(m);
  for (let it = 0; it < ITERATIONS; it++) {
    for (let j = 0; j < m; j++) {
      const v = vecs[j]!;
      let best = 0;
      let bestDot = -1;
      for (let c = 0; c < k; c++) {
        let dot = 0;
        const off = c * V;
        for (let i = 0; i < v.ids.length; i++) dot += cent[off + v.ids[i]!]! * v.w[i]!;
        if (dot > bestDot) {
          bestDot = dot;
          best = c;
        }
      }
      assign[j] = best;
    }
    cent.fill(0);
    for (let j = 0; j < m; j++) {
      const v = vecs[j]!;
      const off = assign[j]! * V;
      for (let i = 0; i < v.ids.length; i++) cent[off + v.ids[i]!]! += v.w[i]!;
    }
    for (let c = 0; c < k; c++) {
      let norm = 0;
      for (let t = 0; t < V; t++) norm += cent[c * V + t]! ** 2;
      norm = Math.sqrt(norm) || 1;
      for (let t = 0; t < V; t++) cent[c * V + t]! /= norm;
    }
  }
  const out: Cluster[] = Array.from({ length: k }, (_, c) => {
    const top = Array.from({ length: V }, (_, t) => t)
      .sort((a, b) => cent[c * V + b]! - cent[c * V + a]!)
      .slice(0, 3)
      .filter((t) => cent[c * V + t]! > 0);
    return { terms: top.map((t) => vocab[t]![0]), rows: [] };
  });
  for (let j = 0; j < m; j++) out[assign[j]!]!.rows.push(rows[members[j]!]!);
  return out.filter((c) => c.rows.length > 0).sort((a, b) => b.rows.length - a.rows.length);
}
