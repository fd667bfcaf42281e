#!/usr/bin/env node
// In a clone the CLI runs from its TypeScript sources through tsx; an installed package (sources not shipped)
// runs the JavaScript built into dist/ at pack time.
import { existsSync } from "node:fs";

const source = new URL("../src/cli/main.ts", import.meta.url);
if (existsSync(source)) {
  const { register } = await import("tsx/esm/api");
  register();
  await import(source.href);
} else {
  await import("../dist/cli/main.js");
}
