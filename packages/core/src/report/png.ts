// SVG -> PNG with resvg (a native binary from npm). Text needs a font: system fonts are used when there are
// any; without one resvg draws the chart without its text, and any failure falls back to a text-free render.
import { createRequire } from "node:module";
import type { Resvg as ResvgClass } from "@resvg/resvg-js";

type ResvgCtor = typeof ResvgClass;

// Loaded when this module loads, synchronously: under Deno, once a recipe has been compiled (tsx's hooks are
// registered), requiring the .node binary fails to parse. A platform without the binary loses the PNGs only.
const resvg: ResvgCtor | Error = (() => {
  try {
    return (createRequire(import.meta.url)("@resvg/resvg-js") as { Resvg: ResvgCtor }).Resvg;
  } catch (e) {
    return e instanceof Error ? e : new Error(String(e));
  }
})();

/** Drops the <text> elements (labels, titles): what remains needs no font. */
export function stripText(svg: string): string {
  return svg.replace(/<text\b[^>]*\/>/g, "").replace(/<text\b[\s\S]*?<\/text>/g, "");
}

export interface PngOptions {
  /** Scale of the output over the SVG's size (default 2, for sharp text on high-density screens). */
  scale?: number;
  /** Use the system's fonts (default true). */
  systemFonts?: boolean;
}

export async function svgToPng(svg: string, opts: PngOptions = {}): Promise<Uint8Array> {
  if (resvg instanceof Error) throw new Error(`@resvg/resvg-js could not be loaded: ${resvg.message}`);
  const Resvg = resvg;
  const fitTo = { mode: "zoom" as const, value: opts.scale ?? 2 };
  try {
    const font = { loadSystemFonts: opts.systemFonts ?? true };
    return new Resvg(svg, { font, fitTo, background: "white" }).render().asPng();
  } catch {
    return new Resvg(stripText(svg), { font: { loadSystemFonts: false }, fitTo, background: "white" })
      .render()
      .asPng();
  }
}
