import { spawnSync } from "node:child_process";
import { cp, mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Readable } from "node:stream";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { runChat } from "./chat.ts";
import { runGenerate } from "./generate.ts";

const repo = join(import.meta.dirname, "../../../../..");
const bin = join(repo, "packages/core/bin/sft.js");

// stories260K (bundled) given a plain-text chat template, so the conversation is readable in the prompt.
const template =
  "{{ bos_token }}{% for m in messages %}{{ m.role }}: {{ m.content }}\n{% endfor %}{% if add_generation_prompt %}assistant:{% endif %}";
let dir: string;
let model: string;
beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), "sft-chat-"));
  model = join(dir, "stories");
  await cp(join(repo, "examples/models/stories260K"), model, { recursive: true });
  const cfgFile = join(model, "tokenizer_config.json");
  const cfg = JSON.parse(await readFile(cfgFile, "utf8")) as Record<string, unknown>;
  await writeFile(cfgFile, JSON.stringify({ ...cfg, chat_template: template }));
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

/** What `sft generate --messages` answers to this conversation: the reference for each chat turn. */
async function reference(messages: { role: string; content: string }[], n: number): Promise<string> {
  const file = join(dir, `m${n}.json`);
  await writeFile(file, JSON.stringify(messages));
  return (await runGenerate({ model, messages: file, maxNewTokens: 24 })).text;
}

describe("sft chat", () => {
  it("answers each line through the template with the conversation so far, streamed; /reset and /exit", async () => {
    let streamed = "";
    const turns = await runChat({
      model,
      maxNewTokens: 24,
      input: Readable.from([
        "Once upon a time\n",
        "Tell me about Lily\n",
        "/reset\n",
        "Tell me about Lily\n",
        "/exit\n",
        "never read\n",
      ]),
      write: (s) => {
        streamed += s;
      },
    });
    expect(turns.map((t) => t.user)).toEqual([
      "Once upon a time",
      "Tell me about Lily",
      "Tell me about Lily",
    ]);
    const first = await reference([{ role: "user", content: "Once upon a time" }], 1);
    const second = await reference(
      [
        { role: "user", content: "Once upon a time" },
        { role: "assistant", content: first },
        { role: "user", content: "Tell me about Lily" },
      ],
      2,
    );
    const afterReset = await reference([{ role: "user", content: "Tell me about Lily" }], 3);
    expect(first.length).toBeGreaterThan(0);
    expect(turns.map((t) => t.reply)).toEqual([first, second, afterReset]);
    // The second turn saw the first exchange: a different prompt than the same line after /reset.
    expect(second).not.toBe(afterReset);
    expect(streamed).toBe(`${first}\n${second}\n(conversation cleared)\n${afterReset}\n`);
  });

  it("refuses a model without a chat template, pointing at sft generate", async () => {
    await expect(
      runChat({
        model: join(repo, "examples/models/stories260K"),
        input: Readable.from([]),
        write: () => {},
      }),
    ).rejects.toThrow(/no chat template.*sft generate --prompt/);
  });

  it("the sft bin reads turns from a pipe and streams the replies to stdout", async () => {
    const r = spawnSync(process.execPath, [bin, "chat", "--model", model, "--max-new-tokens", "24"], {
      input: "Once upon a time\n/exit\n",
      encoding: "utf8",
      env: { ...process.env, NO_COLOR: "1", SFTKIT_THREADS: "1" },
    });
    expect(r.stderr).toBe("");
    expect(r.status).toBe(0);
    expect(r.stdout).toBe(`${await reference([{ role: "user", content: "Once upon a time" }], 4)}\n`);
  });
});
