// The import rules of ARCHITECTURE.md ("Layout"), checked by `pnpm depcheck` in .ci/run.
// Known violations that a later step of issue 13 removes are listed in .dependency-cruiser-known-violations.json;
// that baseline may only shrink (`pnpm depcheck:baseline` rewrites it after a fix).
const src = "^packages/core/src/";
// Test files may reach across rooms to build fixtures; the rules hold for the code they test.
const notTests = "\\.test\\.ts$";

/** @type {import('dependency-cruiser').IConfiguration} */
module.exports = {
  forbidden: [
    {
      name: "no-cycles",
      severity: "error",
      comment:
        "Import cycles make load order matter and rooms inseparable; cut the cycle at its upward edge.",
      from: {},
      to: { circular: true },
    },
    {
      name: "model-core-knows-no-pipeline",
      severity: "error",
      comment:
        "The model core (safetensors, config, families, decoder, ops) takes flat arguments: it imports no recipe, plan, training, export, report or CLI code.",
      from: { path: `${src}model/`, pathNot: notTests },
      to: { path: `${src}(recipe|compile|train|export|cli|report)/` },
    },
    {
      name: "methods-and-engines-know-no-cli-or-train",
      severity: "error",
      comment:
        "Methods and engines sit below the training loop and the CLI; the loop drives them, not the reverse.",
      from: { path: `${src}(methods|engines)/`, pathNot: notTests },
      to: { path: `${src}(cli|train)/` },
    },
    {
      name: "only-the-bin-imports-cli",
      severity: "error",
      comment:
        "cli/ is an entry, not a library: only the `sft` bin, cli/ itself and the `tsx recipe.ts` entry hook (src/direct-run.ts) reach it.",
      from: { pathNot: [`^packages/core/bin/`, `${src}cli/`, `${src}direct-run\\.ts$`] },
      to: { path: `${src}cli/` },
    },
    {
      name: "report-sits-above-the-pipeline",
      severity: "error",
      comment:
        "report/ renders plain data (plan, metrics, quality) for people: the stages it shows import nothing from it; the public API or the CLI composes them.",
      from: {
        path: `${src}(util|recipe|data|compile|model|methods|engines|train|export)/`,
        pathNot: notTests,
      },
      to: { path: `${src}report/` },
    },
    {
      name: "util-is-the-floor",
      severity: "error",
      comment: "util/ holds dependency-free helpers every room may use; it imports no room.",
      from: { path: `${src}util/`, pathNot: notTests },
      to: { path: src, pathNot: `${src}util/` },
    },
    {
      name: "data-knows-no-pipeline-above",
      severity: "error",
      comment:
        "Data readers, templates and the quality report's facts sit below compile, train, report and the CLI.",
      from: { path: `${src}data/`, pathNot: notTests },
      to: { path: `${src}(report|train|compile|cli)/` },
    },
  ],
  options: {
    doNotFollow: { path: "node_modules" },
    exclude: { path: "(^|/)(node_modules|out|\\.sft-cache)/|/fixtures/bad/" },
    tsPreCompilationDeps: true,
    tsConfig: { fileName: "tsconfig.json" },
    enhancedResolveOptions: {
      exportsFields: ["exports"],
      conditionNames: ["import", "require", "node", "default", "types"],
      extensions: [".ts", ".js", ".mjs", ".cjs", ".json"],
    },
    reporterOptions: { text: { highlightFocused: true } },
  },
};
