// Script and language guess without a model: Unicode script counts, then stop words for Latin-script languages.
// Returns null when the text is too short or mixed to say; callers never flag a null.

const SCRIPTS: [string, RegExp][] = [
  ["han", /[\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff]/u],
  ["kana", /[\u3040-\u30ff]/u],
  ["hangul", /[\uac00-\ud7af\u1100-\u11ff]/u],
  ["cyrillic", /\p{Script=Cyrillic}/u],
  ["arabic", /\p{Script=Arabic}/u],
  ["hebrew", /\p{Script=Hebrew}/u],
  ["greek", /\p{Script=Greek}/u],
  ["devanagari", /\p{Script=Devanagari}/u],
  ["thai", /\p{Script=Thai}/u],
  ["latin", /\p{Script=Latin}/u],
];

const STOP_WORDS: Record<string, string[]> = {
  en: ["the", "and", "is", "of", "to", "in", "that", "it", "you", "for", "with", "are", "this", "be", "what"],
  de: ["der", "die", "und", "ist", "nicht", "das", "ein", "eine", "zu", "mit", "sie", "ich", "auf", "den"],
  fr: ["le", "la", "les", "et", "est", "des", "une", "un", "du", "que", "pour", "dans", "pas", "vous"],
  es: ["el", "la", "los", "las", "que", "es", "por", "una", "con", "para", "del", "se", "como", "y"],
  pt: ["o", "os", "que", "não", "uma", "um", "com", "para", "do", "da", "é", "em", "se", "como"],
  it: ["il", "che", "di", "è", "per", "una", "non", "gli", "della", "sono", "con", "del", "le", "si"],
  nl: ["de", "het", "een", "en", "van", "is", "dat", "niet", "op", "te", "met", "zijn", "voor", "ik"],
  tr: ["ve", "bir", "bu", "için", "ile", "da", "de", "çok", "ne", "mi", "ben", "sen", "olarak", "gibi"],
};

const LATIN_WORD = /\p{Script=Latin}+/gu;

/** Letter counts per script; one Han/kana/Hangul character weighs as a short word of Latin letters. */
function scriptCounts(text: string): Map<string, number> {
  const counts = new Map<string, number>();
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    // ASCII fast path: most text is mostly ASCII.
    if (c < 0x80) {
      if ((c >= 0x41 && c <= 0x5a) || (c >= 0x61 && c <= 0x7a))
        counts.set("latin", (counts.get("latin") ?? 0) + 1);
      continue;
    }
    const ch = text[i]!;
    if (!/\p{L}/u.test(ch)) continue;
    for (const [name, re] of SCRIPTS) {
      if (re.test(ch)) {
        const w = name === "han" || name === "kana" || name === "hangul" ? 3 : 1;
        counts.set(name, (counts.get(name) ?? 0) + w);
        break;
      }
    }
  }
  return counts;
}

/** Text with code blocks, inline code and URLs removed: they are not the answer's language. */
function prose(text: string): string {
  return text
    .replace(/```[\s\S]*?(```|$)/g, " ")
    .replace(/`[^`\n]*`/g, " ")
    .replace(/https?:\/\/\S+/g, " ");
}

/**
 * A language code (en, de, fr, es, pt, it, nl, tr, zh, ja, ko, ru, ar, ...) or a script name when the
 * language within it is not told apart; null when unsure.
 */
export function detectLanguage(text: string): string | null {
  const counts = scriptCounts(prose(text.slice(0, 4000)));
  let total = 0;
  for (const n of counts.values()) total += n;
  if (total < 12) return null;
  const sorted = [...counts.entries()].sort((a, b) => b[1] - a[1]);
  const [top, n] = sorted[0]!;
  // Japanese mixes kana and han; Chinese has no kana.
  if ((top === "han" || top === "kana") && (counts.get("kana") ?? 0) > 0.1 * total) return "ja";
  if (n < 0.6 * total) return null;
  switch (top) {
    case "han":
      return "zh";
    case "hangul":
      return "ko";
    case "cyrillic":
      return /[іїєґ]/iu.test(text) ? "uk" : "ru";
    case "arabic":
      return "ar";
    case "hebrew":
      return "he";
    case "greek":
      return "el";
    case "devanagari":
      return "hi";
    case "thai":
      return "th";
    case "latin":
      return latinLanguage(text);
    default:
      return top;
  }
}

function latinLanguage(text: string): string | null {
  const ws = prose(text.slice(0, 4000)).toLowerCase().match(LATIN_WORD) ?? [];
  if (ws.length < 8) return null;
  const set = new Map<string, number>();
  for (const w of ws) set.set(w, (set.get(w) ?? 0) + 1);
  let best: string | null = null;
  let bestScore = 0;
  let second = 0;
  for (const [lang, stops] of Object.entries(STOP_WORDS)) {
    let score = 0;
    for (const s of stops) score += set.get(s) ?? 0;
    if (score > bestScore) {
      second = bestScore;
      bestScore = score;
      best = lang;
    } else if (score > second) second = score;
  }
  // Needs some stop words, and a clear lead over the runner-up.
  if (bestScore < 3 || bestScore < 0.05 * ws.length || bestScore < 2 * second) return "latin";
  return best;
}

/** Whether two guesses disagree: a script-only guess ("latin") matches any language written in it. */
export function languagesDiffer(a: string | null, b: string | null): boolean {
  if (a === null || b === null || a === b) return false;
  return scriptOf(a) !== scriptOf(b) || (a !== "latin" && b !== "latin");
}

const LATIN_LANGS = new Set(["latin", ...Object.keys(STOP_WORDS)]);

/** The script a language code is written in (`en` -> `latin`); a script name maps to itself. */
export function scriptOf(lang: string): string {
  if (LATIN_LANGS.has(lang)) return "latin";
  return SCRIPT_OF[lang] ?? lang;
}

const SCRIPT_OF: Record<string, string> = {
  ru: "cyrillic",
  uk: "cyrillic",
  zh: "han",
  ja: "kana",
  ko: "hangul",
  ar: "arabic",
  he: "hebrew",
  el: "greek",
  hi: "devanagari",
  th: "thai",
};

/** Instructions that ask for another language: a different answer language is expected. */
export const TRANSLATION_REQUEST =
  /translat|übersetz|tradu[cz]|traduire|çevir|перевед|перевод|翻译|翻譯|译成|譯成|翻訳|번역|into (english|french|german|spanish|chinese|japanese|italian|portuguese|russian|korean|turkish)/iu;

/** Whether a detected answer language is allowed by a `language` list; undetected is always allowed. */
export function languageAllowed(lang: string | null, allowed: readonly string[]): boolean {
  return lang === null || allowed.includes(lang) || allowed.includes(scriptOf(lang));
}
