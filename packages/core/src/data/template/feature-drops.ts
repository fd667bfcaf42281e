// Which features of a conversation a chat template renders nothing of. Template-agnostic: render the
// conversation with and without the feature; when both texts are equal, the template drops it.
import type { Conversation, Message } from "../types.ts";
import { renderChatTemplate } from "./render.ts";

export const templateFeatures = ["tool calls", "tool definitions", "system message"] as const;
export type TemplateFeature = (typeof templateFeatures)[number];

function render(template: string, context: Record<string, unknown>, messages: Message[], tools?: unknown[]) {
  const ctx: Record<string, unknown> = { ...context, messages, add_generation_prompt: false };
  if (tools !== undefined) ctx.tools = tools;
  return renderChatTemplate(template, ctx);
}

/**
 * The features present in `conv` whose removal leaves the rendered text unchanged. A conversation the
 * template refuses is left to the tokenizing stage, which reports it; a variant the template refuses
 * counts as "represented" (the template does look at the feature).
 */
export function droppedFeatures(
  template: string,
  context: Record<string, unknown>,
  conv: Conversation,
): TemplateFeature[] {
  const messages: Message[] = conv.messages.map(({ train: _train, ...m }) => m);
  const tools = conv.tools?.length ? conv.tools : undefined;
  const variants: [TemplateFeature, () => string][] = [];
  if (messages.some((m) => m.tool_calls?.length))
    variants.push([
      "tool calls",
      () =>
        render(
          template,
          context,
          messages.map(({ tool_calls: _calls, ...m }) => m),
          tools,
        ),
    ]);
  if (tools) variants.push(["tool definitions", () => render(template, context, messages)]);
  if (messages.some((m) => m.role === "system"))
    variants.push([
      "system message",
      () =>
        render(
          template,
          context,
          messages.filter((m) => m.role !== "system"),
          tools,
        ),
    ]);
  if (variants.length === 0) return [];
  let full: string;
  try {
    full = render(template, context, messages, tools);
  } catch {
    return [];
  }
  return variants.flatMap(([feature, without]) => {
    try {
      return without() === full ? [feature] : [];
    } catch {
      return [];
    }
  });
}
