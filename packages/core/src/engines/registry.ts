// Engines by name: registration, availability with reasons, and the choice a plan records.
import type { EngineAsk, EngineDefinition } from "./engine.ts";

const engines = new Map<string, EngineDefinition>();

/** Adds (or replaces) an engine; `auto` prefers engines registered later over earlier ones except tfjs, always last. */
export function registerEngine(def: EngineDefinition): void {
  if (!/^[a-z][a-z0-9-]*$/.test(def.name) || def.name === "auto")
    throw new Error(`registerEngine: "${def.name}" is not a valid engine name`);
  engines.set(def.name, def);
}

/** Removes a registered engine (tests); returns whether it was there. */
export function unregisterEngine(name: string): boolean {
  return engines.delete(name);
}

export function engineDefinition(name: string): EngineDefinition | undefined {
  return engines.get(name);
}

export interface EngineStatus {
  name: string;
  available: boolean;
  reason: string;
  description: string;
}

/** Every registered engine in the order `auto` tries them, with availability and its reason. */
export function listEngines(): EngineStatus[] {
  const order = [...engines.values()].reverse();
  order.sort((a, b) => Number(a.name === "tfjs") - Number(b.name === "tfjs"));
  return order.map((d) => {
    let a: { available: boolean; reason: string };
    try {
      a = d.availability();
    } catch (e) {
      a = { available: false, reason: `availability check failed: ${(e as Error).message}` };
    }
    return { name: d.name, available: a.available, reason: a.reason, description: d.description };
  });
}

export interface EngineDecision {
  requested: string;
  chosen: string;
  reason: string;
  available: { name: string; available: boolean; reason: string }[];
}

/** Why `def` cannot run what the plan asks, or null (a check that throws counts as a reason). */
function unsupportedBy(def: EngineDefinition | undefined, ask: EngineAsk | undefined): string | null {
  if (!def?.unsupported || !ask) return null;
  try {
    return def.unsupported(ask);
  } catch (e) {
    return `its support check failed: ${(e as Error).message}`;
  }
}

/**
 * Which engine runs: $SFTKIT_ENGINE over the recipe's `train.engine`; `auto` takes the first available
 * engine that can run what the plan asks (`ask`). A requested engine that is unknown, unavailable or
 * unable falls back the same way, saying why.
 */
export function decideEngine(
  requested: string,
  env: NodeJS.ProcessEnv = process.env,
  ask?: EngineAsk,
): EngineDecision {
  const fromEnv = env.SFTKIT_ENGINE;
  const want = fromEnv && fromEnv !== "auto" ? fromEnv : requested;
  const all = listEngines();
  const available = all.map(({ name, available, reason }) => ({ name, available, reason }));
  // Engines registered with `auto: false` are chosen only by name.
  const candidates = all.filter((e) => engines.get(e.name)?.auto !== false);
  const passed: string[] = [];
  const first = candidates.find((e) => {
    if (!e.available) return false;
    const why = unsupportedBy(engines.get(e.name), ask);
    if (why) passed.push(`${e.name} cannot: ${why}`);
    return !why;
  });
  if (!first) throw new Error("no engine is available (the tfjs engine should always be)");
  const order = `first available of ${candidates.map((e) => e.name).join(" > ")}`;
  const passedBy = passed.length ? ` (${passed.join("; ")})` : "";
  if (want === "auto")
    return { requested: want, chosen: first.name, reason: `auto: ${order}${passedBy}`, available };
  const hit = all.find((e) => e.name === want);
  const cannot = hit?.available ? unsupportedBy(engines.get(want), ask) : null;
  if (hit?.available && !cannot)
    return {
      requested: want,
      chosen: want,
      reason: fromEnv && fromEnv !== "auto" ? "set by $SFTKIT_ENGINE" : "set by the recipe",
      available,
    };
  const why = !hit
    ? `${want} is not a registered engine`
    : cannot
      ? `${want} cannot run this plan (${cannot})`
      : `${want} is unavailable (${hit.reason})`;
  return { requested: want, chosen: first.name, reason: `${why}; falling back to ${first.name}`, available };
}
