// `sft chat`: an interactive chat with a model folder (and an adapter), through the model's chat template,
// the reply streamed as it is generated. Reads lines from stdin, so it also works in a pipe.
import { createInterface } from "node:readline";
import type { Readable } from "node:stream";
import { defineCommand } from "citty";
import type { Message } from "../../data/types.ts";
import type { BackendChoice } from "../../model/backend.ts";
import {
  GenerateArgsError,
  type GenerateRequest,
  type ModelSession,
  openModelSession,
  type SamplingFlags,
  samplingOptions,
} from "./generate.ts";

export interface ChatRequest extends Pick<GenerateRequest, "model" | "adapter">, SamplingFlags {
  backend?: BackendChoice;
  /** A system message put before every conversation (kept by /reset). */
  system?: string;
  input: Readable;
  /** Receives the replies as they stream, and the prompts when `prompt` is set. */
  write: (chunk: string) => void;
  /** Printed before each user turn on a terminal (">>> "); empty in a pipe. */
  prompt?: string;
  /** Called once the model is loaded (the CLI prints the commands there). */
  onReady?: (session: ModelSession) => void;
}

export interface ChatTurn {
  user: string;
  reply: string;
  stopReason: string;
}

/** Runs the conversation until /exit or the end of input; returns the turns it answered. */
export async function runChat(req: ChatRequest): Promise<ChatTurn[]> {
  const sampling = samplingOptions(req);
  const session = await openModelSession(req);
  const turns: ChatTurn[] = [];
  try {
    if (!session.tok.chatTemplate)
      throw new GenerateArgsError(
        `${session.tokenizerDir} has no chat template (tokenizer_config.json chat_template); use sft generate --prompt, or an adapter trained with a template`,
      );
    req.onReady?.(session);
    const start: Message[] = req.system ? [{ role: "system", content: req.system } as Message] : [];
    let history: Message[] = [...start];
    const lines = createInterface({ input: req.input, terminal: false });
    if (req.prompt) req.write(req.prompt);
    for await (const raw of lines) {
      const line = raw.trim();
      if (line === "/exit" || line === "/quit") break;
      if (line === "/reset") {
        history = [...start];
        req.write("(conversation cleared)\n");
      } else if (line !== "") {
        history.push({ role: "user", content: line } as Message);
        const { ids } = session.chatPrompt(history);
        const res = await session.reply(ids, sampling, req.write);
        req.write("\n");
        history.push({ role: "assistant", content: res.text } as Message);
        turns.push({ user: line, reply: res.text, stopReason: res.stopReason });
      }
      if (req.prompt) req.write(req.prompt);
    }
    lines.close();
    return turns;
  } finally {
    session.dispose();
  }
}

export const chatCommand = defineCommand({
  meta: {
    name: "chat",
    description: "Chat with a model folder (and an adapter) through its chat template, replies streamed",
  },
  args: {
    model: {
      type: "string",
      description:
        "Model folder or hub id; with --adapter, defaults to the base the adapter names (adapter_config.json)",
    },
    adapter: { type: "string", description: "PEFT adapter folder to apply on the model" },
    system: { type: "string", description: "A system message for the conversation" },
    "max-new-tokens": { type: "string", description: "Tokens per reply at most (default 128)" },
    temperature: { type: "string", description: "0 = greedy (default)" },
    "top-p": { type: "string", description: "Nucleus sampling mass (default 1)" },
    seed: { type: "string", description: "Sampling seed (default 0)" },
    backend: {
      type: "string",
      description: "auto | tensorflow | wasm | cpu (default: $SFTKIT_BACKEND or auto)",
    },
  },
  async run({ args }) {
    const tty = process.stdin.isTTY === true;
    try {
      await runChat({
        model: args.model,
        adapter: args.adapter,
        system: args.system,
        maxNewTokens: args["max-new-tokens"],
        temperature: args.temperature,
        topP: args["top-p"],
        seed: args.seed,
        backend: args.backend as BackendChoice | undefined,
        input: process.stdin,
        write: (s) => process.stdout.write(s),
        ...(tty ? { prompt: ">>> " } : {}),
        onReady: () => {
          if (tty)
            process.stderr.write("Type a message; /reset clears the conversation, /exit (or Ctrl-D) ends.\n");
        },
      });
    } catch (e) {
      process.stderr.write(`sft chat: ${(e as Error).message}\n`);
      process.exitCode = 1;
    }
  },
});
