import { fileURLToPath } from "node:url";

/** A file shipped with this package, as an absolute path (recipes are imported from anywhere). */
export const packageFile = (relative: string): string =>
  fileURLToPath(new URL(`../${relative}`, import.meta.url));

/** The stories260K model shipped in the repository's examples. */
export const stories260K = fileURLToPath(new URL("../../../examples/models/stories260K", import.meta.url));
