// Tools and tool calls through the built-in templates, and the with/without check that finds templates
// that drop them. The conversation is generated here, so this runs without ../shared.
import { describe, expect, it } from "vitest";
import type { Conversation } from "../types.ts";
import { builtinTemplates } from "./builtins.ts";
import { droppedFeatures } from "./feature-drops.ts";
import { renderChatTemplate } from "./render.ts";

const weatherTool = {
  type: "function",
  function: {
    name: "get_weather",
    description: "Weather of a city",
    parameters: { type: "object", properties: { city: { type: "string" } }, required: ["city"] },
  },
};

const toolChat: Conversation = {
  tools: [weatherTool],
  messages: [
    { role: "system", content: "Use tools." },
    { role: "user", content: "Weather in Oslo?" },
    {
      role: "assistant",
      content: "",
      tool_calls: [{ type: "function", function: { name: "get_weather", arguments: { city: "Oslo" } } }],
    },
    { role: "tool", content: '{"temp": -3}' },
    { role: "assistant", content: "It is -3 degrees." },
  ],
};

const context = { bos_token: "<s>", eos_token: "</s>" };
const render = (template: string, conv: Conversation) =>
  renderChatTemplate(template, { ...context, messages: conv.messages, tools: conv.tools });

/** chatml as it was before tools: every message as role + content. */
const plainChatml =
  "{%- for m in messages %}{{- '<|im_start|>' + m['role'] + '\\n' + m['content'] + '<|im_end|>\\n' }}{%- endfor %}";

describe("built-in templates render tools and tool calls", () => {
  it("qwen2.5 and chatml: tools in the system turn, <tool_call> JSON, <tool_response> in a user turn", () => {
    for (const name of ["qwen2.5", "chatml"] as const) {
      const text = render(builtinTemplates[name], toolChat);
      expect(text, name).toContain(
        `<|im_start|>system\nUse tools.\n\n# Tools\n\nYou may call one or more functions to assist with the user query.\n\nYou are provided with function signatures within <tools></tools> XML tags:\n<tools>\n${JSON.stringify(weatherTool).replace(/":/g, '": ').replace(/,"/g, ', "')}\n</tools>`,
      );
      expect(text, name).toContain(
        '<|im_start|>assistant\n<tool_call>\n{"name": "get_weather", "arguments": {"city": "Oslo"}}\n</tool_call><|im_end|>\n',
      );
      expect(text, name).toContain(
        '<|im_start|>user\n<tool_response>\n{"temp": -3}\n</tool_response><|im_end|>\n',
      );
    }
  });

  it("tool-call arguments given as a JSON string are written as they are, not quoted again", () => {
    const conv: Conversation = {
      messages: [
        { role: "user", content: "Oslo?" },
        {
          role: "assistant",
          content: "",
          tool_calls: [{ function: { name: "get_weather", arguments: '{"city": "Oslo"}' } }],
        },
      ],
    };
    expect(render(builtinTemplates.chatml, conv)).toContain('"arguments": {"city": "Oslo"}}');
  });

  it("llama-3: Llama 3.1's convention (tools in the first user turn, JSON call, ipython result)", () => {
    const text = render(builtinTemplates["llama-3"], toolChat);
    expect(text).toContain(
      "<s><|start_header_id|>system<|end_header_id|>\n\nEnvironment: ipython\nCutting Knowledge Date: December 2023\nToday Date: 26 Jul 2024\n\nUse tools.<|eot_id|>",
    );
    expect(text).toContain(`${JSON.stringify(weatherTool, null, 4)}\n\nWeather in Oslo?<|eot_id|>`);
    expect(text).toContain(
      '<|start_header_id|>assistant<|end_header_id|>\n\n{"name": "get_weather", "parameters": {"city": "Oslo"}}<|eot_id|>',
    );
    expect(text).toContain('<|start_header_id|>ipython<|end_header_id|>\n\n"{\\"temp\\": -3}"<|eot_id|>');
  });
});

describe("droppedFeatures", () => {
  it("finds the tool calls and tool definitions a template renders nothing of", () => {
    expect(droppedFeatures(plainChatml, context, toolChat)).toEqual(["tool calls", "tool definitions"]);
  });

  it("finds none for the built-ins that represent them", () => {
    for (const name of ["chatml", "qwen2.5", "llama-3"] as const)
      expect(droppedFeatures(builtinTemplates[name], context, toolChat), name).toEqual([]);
  });

  it("finds a system message a template without a system role drops", () => {
    const noSystem =
      "{%- for m in messages %}{%- if m['role'] != 'system' %}{{- m['role'] + ': ' + m['content'] + '\\n' }}{%- endif %}{%- endfor %}";
    const conv: Conversation = {
      messages: toolChat.messages.filter((m) => !m.tool_calls && m.role !== "tool"),
    };
    expect(droppedFeatures(noSystem, context, conv)).toEqual(["system message"]);
    // alpaca and llama-2 fold the system message into the prompt: kept.
    expect(droppedFeatures(builtinTemplates.alpaca, context, conv)).toEqual([]);
    expect(droppedFeatures(builtinTemplates["llama-2"], context, conv)).toEqual([]);
  });

  it("leaves a conversation the template refuses to the tokenizing stage", () => {
    expect(droppedFeatures(builtinTemplates.alpaca, context, toolChat)).toEqual([]);
  });
});
