// Rich display in notebooks: Deno's Jupyter kernel calls `[Symbol.for("Jupyter.display")]()` on a cell's value
// and shows the MIME bundle it returns; Node and Deno consoles use the inspect symbols; `${x}` uses toString.
// All are attached as non-enumerable properties, so JSON.stringify and schema round-trips do not see them.
import { CSS } from "./html-util.ts";

export const JUPYTER_DISPLAY: unique symbol = Symbol.for("Jupyter.display");
const NODE_INSPECT = Symbol.for("nodejs.util.inspect.custom");
const DENO_INSPECT = Symbol.for("Deno.customInspect");

export interface MimeBundle {
  "text/html": string;
  "text/plain": string;
}

export interface Displayable {
  [JUPYTER_DISPLAY](): MimeBundle | Promise<MimeBundle>;
  toString(): string;
}

/** Wraps a fragment in the scoped styles, so it renders the same in a notebook as in report.html. */
export function styled(html: string): string {
  return `<div class="sftkit"><style>${CSS}</style>${html}</div>`;
}

/** Attaches the display methods to `obj` itself (same object, nothing enumerable added) and returns it. */
export function attachDisplay<T extends object>(
  obj: T,
  html: () => string | Promise<string>,
  text: () => string,
): T & Displayable {
  const hidden = (value: unknown) => ({ value, enumerable: false, configurable: true, writable: true });
  const bundle = (h: string): MimeBundle => ({ "text/html": styled(h), "text/plain": text() });
  const display = () => {
    const h = html();
    return typeof h === "string" ? bundle(h) : h.then(bundle);
  };
  Object.defineProperty(obj, JUPYTER_DISPLAY, hidden(display));
  Object.defineProperty(obj, NODE_INSPECT, hidden(text));
  Object.defineProperty(obj, DENO_INSPECT, hidden(text));
  Object.defineProperty(obj, "toString", hidden(text));
  return obj as T & Displayable;
}
