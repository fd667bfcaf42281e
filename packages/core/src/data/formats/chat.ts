import type { Conversation, Role, ToolCall } from "../types.ts";
import { type ConvertResult, kindOf, RowError, type SourceFormatOptions } from "./types.ts";

// LLaMA-Factory's sharegpt tags: human/gpt/system, observation = a tool's result, function_call = the model calling a tool.
const sharegptRoles: Record<string, Role | "function_call"> = {
  human: "user",
  user: "user",
  gpt: "assistant",
  assistant: "assistant",
  system: "system",
  observation: "tool",
  tool: "tool",
  function_call: "function_call",
};
const messagesRoles: Record<string, Role | "function_call"> = {
  system: "system",
  developer: "system",
  user: "user",
  assistant: "assistant",
  tool: "tool",
  function: "tool",
  ipython: "tool",
};

interface ChatSpec {
  column: string;
  /** Used when `column` was not set explicitly and is absent. */
  altColumn: string;
  roleKeys: string[];
  contentKeys: string[];
  roles: Record<string, Role | "function_call">;
}

export function convertSharegpt(row: Record<string, unknown>, src: SourceFormatOptions): ConvertResult {
  return convertChat(row, src, {
    column: src.columns?.messages ?? "conversations",
    altColumn: src.columns?.messages ? "" : "messages",
    roleKeys: unique([src.tags?.role ?? "from", "from", "role"]),
    contentKeys: unique([src.tags?.content ?? "value", "value", "content"]),
    roles: { ...sharegptRoles, ...src.tags?.roles },
  });
}

export function convertMessages(row: Record<string, unknown>, src: SourceFormatOptions): ConvertResult {
  // TagsSchema defaults role/content to sharegpt's from/value; for OpenAI messages role/content come first.
  const role = src.tags?.role && src.tags.role !== "from" ? src.tags.role : "role";
  const content = src.tags?.content && src.tags.content !== "value" ? src.tags.content : "content";
  return convertChat(row, src, {
    column: src.columns?.messages ?? "messages",
    altColumn: src.columns?.messages ? "" : "conversations",
    roleKeys: unique([role, "role", "from"]),
    contentKeys: unique([content, "content", "value"]),
    roles: { ...messagesRoles, ...src.tags?.roles },
  });
}

function unique(xs: string[]): string[] {
  return [...new Set(xs)];
}

function convertChat(row: Record<string, unknown>, src: SourceFormatOptions, spec: ChatSpec): ConvertResult {
  let column = spec.column;
  if (!(column in row) && spec.altColumn && spec.altColumn in row) column = spec.altColumn;
  const turns = row[column];
  if (turns === undefined || turns === null) {
    throw new RowError(column, `missing (columns: ${Object.keys(row).join(", ") || "none"})`);
  }
  if (!Array.isArray(turns)) throw new RowError(column, `expected a list of turns, got ${kindOf(turns)}`);
  const messages: Conversation["messages"] = [];
  const systemKey = src.columns?.system ?? "system";
  const system = row[systemKey];
  if (typeof system === "string" && system.trim() !== "") messages.push({ role: "system", content: system });
  else if (system !== undefined && system !== null && typeof system !== "string") {
    throw new RowError(systemKey, `expected a string, got ${kindOf(system)}`);
  }
  turns.forEach((turn, i) => {
    const at = `${column}[${i}]`;
    if (typeof turn !== "object" || turn === null || Array.isArray(turn)) {
      throw new RowError(at, `expected a turn object, got ${kindOf(turn)}`);
    }
    const t = turn as Record<string, unknown>;
    const roleKey = spec.roleKeys.find((k) => k in t);
    if (!roleKey) throw new RowError(at, `no role key (expected "${spec.roleKeys[0]}")`);
    const name = t[roleKey];
    if (typeof name !== "string")
      throw new RowError(`${at}.${roleKey}`, `expected a string role, got ${kindOf(name)}`);
    const role = spec.roles[name];
    if (!role) {
      throw new RowError(
        `${at}.${roleKey}`,
        `unknown role ${JSON.stringify(name)} (known: ${Object.keys(spec.roles).join(", ")}; map it with tags.roles)`,
      );
    }
    const contentKey = spec.contentKeys.find((k) => k in t) ?? spec.contentKeys[0]!;
    const msg = toMessage(t, role, contentKey, at);
    messages.push(msg);
  });
  if (!messages.some((m) => m.role === "assistant"))
    throw new RowError(column, "no assistant turn: nothing to train on");
  const conversation: Conversation = { messages };
  const tools = parseTools(row, src.columns?.tools ?? "tools");
  if (tools) conversation.tools = tools;
  return { ok: true, value: { kind: "chat", conversation } };
}

function toMessage(
  t: Record<string, unknown>,
  role: Role | "function_call",
  contentKey: string,
  at: string,
): Conversation["messages"][number] {
  const raw = t[contentKey];
  if (role === "function_call") {
    if (typeof raw !== "string")
      throw new RowError(`${at}.${contentKey}`, `expected a JSON string, got ${kindOf(raw)}`);
    return { role: "assistant", content: "", tool_calls: parseCallJson(raw, `${at}.${contentKey}`) };
  }
  const msg: Conversation["messages"][number] = { role, content: contentText(raw, `${at}.${contentKey}`, t) };
  if (t.tool_calls !== undefined && t.tool_calls !== null)
    msg.tool_calls = toolCalls(t.tool_calls, `${at}.tool_calls`);
  if (typeof t.tool_call_id === "string") msg.tool_call_id = t.tool_call_id;
  if (typeof t.name === "string") msg.name = t.name;
  // LLaMA-Factory v1 / axolotl: a zero loss weight or `train: false` keeps the turn out of the loss.
  const weight = t.loss_weight ?? t.weight;
  if (role === "assistant" && (weight === 0 || t.train === false)) msg.train = false;
  return msg;
}

function contentText(raw: unknown, field: string, t: Record<string, unknown>): string {
  if (typeof raw === "string") return raw;
  if ((raw === null || raw === undefined) && t.tool_calls) return "";
  if (raw === undefined) throw new RowError(field, "missing");
  if (Array.isArray(raw)) {
    // OpenAI / LLaMA-Factory v1 content parts: only text parts can be trained on here.
    return raw
      .map((p, j) => {
        if (typeof p === "string") return p;
        const part = p as Record<string, unknown> | null;
        const text = part?.text ?? part?.value;
        if (part && (part.type === undefined || part.type === "text") && typeof text === "string")
          return text;
        throw new RowError(
          `${field}[${j}]`,
          `unsupported content part (type ${JSON.stringify(part?.type)}); only text`,
        );
      })
      .join("");
  }
  throw new RowError(field, `expected a string, got ${kindOf(raw)}`);
}

function parseCallJson(text: string, field: string): ToolCall[] {
  let v: unknown;
  try {
    v = JSON.parse(text);
  } catch {
    throw new RowError(field, "function_call is not valid JSON");
  }
  return toolCalls(Array.isArray(v) ? v : [v], field);
}

function toolCalls(v: unknown, field: string): ToolCall[] {
  if (!Array.isArray(v)) throw new RowError(field, `expected a list of tool calls, got ${kindOf(v)}`);
  return v.map((c, i) => {
    const call = c as Record<string, unknown> | null;
    // OpenAI nests under `function`; LLaMA-Factory's function_call is {name, arguments} directly.
    const fn = (call && typeof call.function === "object" ? call.function : call) as Record<
      string,
      unknown
    > | null;
    if (!fn || typeof fn.name !== "string")
      throw new RowError(`${field}[${i}]`, "a tool call needs a string `name`");
    const args = fn.arguments ?? fn.parameters ?? {};
    if (typeof args !== "string" && (typeof args !== "object" || args === null || Array.isArray(args))) {
      throw new RowError(
        `${field}[${i}].arguments`,
        `expected an object or a JSON string, got ${kindOf(args)}`,
      );
    }
    const out: ToolCall = {
      type: "function",
      function: { name: fn.name, arguments: args as ToolCall["function"]["arguments"] },
    };
    if (call && typeof call.id === "string") out.id = call.id;
    return out;
  });
}

/** Tool definitions: a list or a JSON string of one; bare {name, parameters} are wrapped as HF templates expect. */
function parseTools(row: Record<string, unknown>, key: string): unknown[] | undefined {
  let v = row[key];
  if (v === undefined || v === null || v === "") return undefined;
  if (typeof v === "string") {
    try {
      v = JSON.parse(v);
    } catch {
      throw new RowError(key, "tools is not valid JSON");
    }
  }
  if (!Array.isArray(v)) throw new RowError(key, `expected a list of tools, got ${kindOf(v)}`);
  if (v.length === 0) return undefined;
  return v.map((t) => {
    const tool = t as Record<string, unknown> | null;
    if (tool && tool.type === undefined && typeof tool.name === "string")
      return { type: "function", function: tool };
    return tool;
  });
}
