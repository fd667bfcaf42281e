// Generates the quickstart's small chat dataset (TinyStories-style words the 512-token model knows).
// Deterministic: `pnpm tsx examples/quickstart/make-data.ts` rewrites data/chat.jsonl byte for byte.
import { mkdirSync, writeFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

const names = ["Lily", "Tom", "Sue", "Ben", "Mia", "Max", "Anna", "Sam", "Lucy", "Tim"];
const animals = ["cat", "dog", "bird", "fish", "bunny", "bear", "duck", "frog"];
const adjectives = ["little", "happy", "big", "kind", "small", "funny"];
const places = ["park", "garden", "house", "forest", "yard", "pond"];
const things = ["ball", "toy", "box", "flower", "hat", "cake"];
const verbs = ["play", "run", "jump", "dance", "sing", "swim"];

function rng(seed: number) {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

interface Words {
  name: string;
  animal: string;
  adj: string;
  place: string;
  thing: string;
  verb: string;
}

/** The three conversations a row can be, in turn: [user, assistant]. */
const conversations: ((w: Words) => [string, string])[] = [
  ({ name, animal, adj, place, thing, verb }) => [
    `Tell me a story about a ${animal} named ${name}.`,
    `Once upon a time, there was a ${adj} ${animal} named ${name}. ${name} liked to ${verb} in the ${place}. One day, ${name} found a ${thing} and was very happy.`,
  ],
  ({ name, animal, place, thing }) => [
    `What did ${name} the ${animal} find in the ${place}?`,
    `${name} found a ${thing} in the ${place}. The ${animal} was very happy.`,
  ],
  ({ name, place, verb }) => [
    `Where does ${name} like to ${verb}?`,
    `${name} likes to ${verb} in the ${place}.`,
  ],
];

export function makeChatRows(count: number, seed = 7): { messages: { role: string; content: string }[] }[] {
  const next = rng(seed);
  const pick = <T>(xs: readonly T[]): T => xs[Math.floor(next() * xs.length)]!;
  const rows = [];
  for (let i = 0; i < count; i++) {
    const name = pick(names);
    const animal = pick(animals);
    const adj = pick(adjectives);
    const place = pick(places);
    const thing = pick(things);
    const verb = pick(verbs);
    const [user, assistant] = conversations[i % conversations.length]!({
      name,
      animal,
      adj,
      place,
      thing,
      verb,
    });
    rows.push({
      messages: [
        { role: "user", content: user },
        { role: "assistant", content: assistant },
      ],
    });
  }
  return rows;
}

if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) {
  const out = join(dirname(fileURLToPath(import.meta.url)), "data", "chat.jsonl");
  mkdirSync(dirname(out), { recursive: true });
  writeFileSync(
    out,
    `${makeChatRows(300)
      .map((r) => JSON.stringify(r))
      .join("\n")}\n`,
  );
  console.log(`wrote ${out}`);
}
