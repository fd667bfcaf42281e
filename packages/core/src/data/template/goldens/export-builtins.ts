// Writes builtins.in.json (the builtin template sources) for generate_goldens.py: `npx tsx export-builtins.ts`.
import { writeFileSync } from "node:fs";
import { builtinTemplates } from "../builtins.ts";

writeFileSync(new URL("./builtins.in.json", import.meta.url), `${JSON.stringify(builtinTemplates, null, 2)}\n`);
