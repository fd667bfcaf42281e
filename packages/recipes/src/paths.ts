import { existsSync } from "node:fs";
import { fileURLToPath } from "node:url";

/** A file shipped with this package, as an absolute path (recipes are imported from anywhere). */
export const packageFile = (relative: string): string =>
  fileURLToPath(new URL(`../${relative}`, import.meta.url));

/** The stories260K model: the repository's examples copy in a clone, else the copy packed into this package. */
const inRepository = fileURLToPath(new URL("../../../examples/models/stories260K", import.meta.url));
export const stories260K = existsSync(inRepository) ? inRepository : packageFile("models/stories260K");
