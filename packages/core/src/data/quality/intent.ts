// Heuristic task categories and leading words of instructions (when the data has no task field).
import { unicodeWords } from "./text.ts";

const CATEGORIES: [string, RegExp][] = [
  ["translation", /translat|übersetz|tradu|翻译|翻譯|翻訳|번역|çevir/iu],
  [
    "code",
    /```|\b(code|function|python|javascript|typescript|java|c\+\+|sql|regex|script|program|bug|compile|html|css)\b|代码|编程|函数/iu,
  ],
  [
    "math",
    /\b(calculate|compute|solve|equation|sum of|how many|how much|percent|probability|integral|derivative)\b|\d+\s*[-+*/×÷^]\s*\d+|计算|方程|多少/iu,
  ],
  ["summarization", /summar|tl;dr|\bin (a|one) sentence\b|总结|摘要|概括/iu],
  [
    "classification",
    /classif|categori[sz]e|sentiment|\bwhich (category|class|type)\b|\bis (this|the following) (a|an)\b|判断|分类|情感/iu,
  ],
  [
    "extraction",
    /\bextract|\bidentify (the|all)|\bfind (the|all)|\blist (all|the) .* (in|from) the|提取|找出/iu,
  ],
  [
    "rewriting",
    /rewrite|rephrase|paraphrase|edit|correct (the|this)|improve|proofread|simplify|改写|润色|修改/iu,
  ],
  [
    "creative writing",
    /\b(write|compose|create) (a|an|me a) (poem|story|song|haiku|essay|letter|tweet|speech|slogan|joke|blog|dialogue)|写一(首|篇|个故事)|诗/iu,
  ],
  [
    "brainstorming",
    /brainstorm|suggest|ideas|recommend|\b(give|list|name) (me )?(some|a few|\d+|three|five|ten)\b|建议|推荐|列出/iu,
  ],
  [
    "open QA",
    /^\s*(what|how|why|who|when|where|which|is|are|can|does|do|explain|describe|define|tell me)\b|\?\s*$|什么|为什么|如何|怎么|吗|？/iu,
  ],
];

const UNICODE_CATEGORIES = CATEGORIES.map(([name, re]) => [name, unicodeWords(re)] as const);

export function heuristicCategory(prompt: string): string {
  if (prompt.trim() === "") return "(no instruction)";
  for (const [name, re] of UNICODE_CATEGORIES) if (re.test(prompt)) return name;
  return "other";
}

const POLITE = new Set(["please", "kindly", "now", "then", "so", "ok", "okay", "hi", "hello", "hey"]);
const LEADING = /[\p{L}\p{M}\p{N}']+/gu;

/** The instruction's first word (politeness skipped); scripts without spaces give their first two characters. */
export function leadingWord(prompt: string): string {
  const text = prompt.trim();
  if (text === "") return "(none)";
  const first = text.match(/^[\u3040-\u30ff\u3400-\u4dbf\u4e00-\u9fff\uac00-\ud7af]{1,2}/u);
  if (first) return first[0];
  const ws = (text.slice(0, 200).toLowerCase().match(LEADING) ?? []).slice(0, 4);
  for (const w of ws) if (!POLITE.has(w)) return w;
  return ws[0] ?? "(none)";
}
