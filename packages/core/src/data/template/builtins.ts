// Chat templates for models whose tokenizer ships none. Our own Jinja, written to the published
// prompt format of each family; the special tokens come from the tokenizer (bos_token, eos_token).

export type BuiltinTemplateName =
  | "chatml"
  | "llama-2"
  | "llama-3"
  | "mistral"
  | "qwen2.5"
  | "gemma"
  | "phi-3"
  | "alpaca";

const j = (...parts: string[]) => parts.join("");

/** System messages folded into the first user turn, for formats without a system role. */
const SPLIT_SYSTEM = j(
  "{%- if messages and messages[0]['role'] == 'system' %}",
  "{%- set system_text = messages[0]['content'] %}{%- set turns = messages[1:] %}",
  "{%- else %}{%- set system_text = '' %}{%- set turns = messages %}{%- endif %}",
);

// Hermes-style tools (Qwen2.5's and Qwen3's templates): definitions in the system turn inside
// <tools></tools>, each call as <tool_call> JSON, results as <tool_response> blocks in a user turn.
// Jinja string literals of Qwen2.5's tool prompt, around the tool definitions.
const HERMES_TOOLS_INTRO =
  "'# Tools\\n\\nYou may call one or more functions to assist with the user query.\\n\\nYou are provided with function signatures within <tools></tools> XML tags:\\n<tools>'";
const HERMES_TOOLS_OUTRO =
  '\'\\n</tools>\\n\\nFor each function call, return a json object with function name and arguments within <tool_call></tool_call> XML tags:\\n<tool_call>\\n{"name": <function-name>, "arguments": <args-json-object>}\\n</tool_call><|im_end|>\\n\'';

/** The system turn, with the tool definitions when there are tools; `fallback` stands in for a missing system message. */
function hermesSystem(fallback: string): string {
  const withSystem = fallback
    ? j(
        "{%- if messages and messages[0]['role'] == 'system' %}{{- messages[0]['content'] }}",
        `{%- else %}{{- '${fallback}' }}{%- endif %}`,
        "{{- '\\n\\n' }}",
      )
    : "{%- if messages and messages[0]['role'] == 'system' %}{{- messages[0]['content'] + '\\n\\n' }}{%- endif %}";
  return j(
    "{%- if tools %}",
    "{{- '<|im_start|>system\\n' }}",
    withSystem,
    `{{- ${HERMES_TOOLS_INTRO} }}`,
    "{%- for tool in tools %}{{- '\\n' }}{{- tool | tojson }}{%- endfor %}",
    `{{- ${HERMES_TOOLS_OUTRO} }}`,
    "{%- elif messages and messages[0]['role'] == 'system' %}",
    "{{- '<|im_start|>system\\n' + messages[0]['content'] + '<|im_end|>\\n' }}",
    fallback ? `{%- else %}{{- '<|im_start|>system\\n${fallback}<|im_end|>\\n' }}` : "",
    "{%- endif %}",
  );
}

/** Arguments as JSON; a string is taken as JSON already (as Qwen3's template and OpenAI's API have it). */
const ARGUMENTS_JSON =
  "{%- if call.arguments is string %}{{- call.arguments }}{%- else %}{{- call.arguments | tojson }}{%- endif %}";

const HERMES_TURNS = j(
  "{%- for message in messages %}",
  "{%- if message['role'] == 'system' and loop.first %}",
  "{%- elif message['role'] == 'assistant' and message['tool_calls'] %}",
  "{{- '<|im_start|>assistant' }}",
  "{%- if message['content'] %}{{- '\\n' + message['content'] }}{%- endif %}",
  "{%- for call in message['tool_calls'] %}",
  "{%- if call.function is defined %}{%- set call = call.function %}{%- endif %}",
  `{{- '\\n<tool_call>\\n{"name": "' + call.name + '", "arguments": ' }}`,
  ARGUMENTS_JSON,
  "{{- '}\\n</tool_call>' }}",
  "{%- endfor %}",
  "{{- '<|im_end|>\\n' }}",
  "{%- elif message['role'] == 'tool' %}",
  "{%- if loop.first or messages[loop.index0 - 1]['role'] != 'tool' %}{{- '<|im_start|>user' }}{%- endif %}",
  "{{- '\\n<tool_response>\\n' + message['content'] + '\\n</tool_response>' }}",
  "{%- if loop.last or messages[loop.index0 + 1]['role'] != 'tool' %}{{- '<|im_end|>\\n' }}{%- endif %}",
  "{%- else %}",
  "{{- '<|im_start|>' + message['role'] + '\\n' + message['content'] + '<|im_end|>\\n' }}",
  "{%- endif %}",
  "{%- endfor %}",
  "{%- if add_generation_prompt %}{{- '<|im_start|>assistant\\n' }}{%- endif %}",
);

const chatml = j(hermesSystem(""), HERMES_TURNS);

const llama2 = j(
  SPLIT_SYSTEM,
  "{%- for message in turns %}",
  "{%- if message['role'] == 'user' %}",
  "{{- bos_token + '[INST] ' }}",
  "{%- if loop.first and system_text %}{{- '<<SYS>>\\n' + system_text + '\\n<</SYS>>\\n\\n' }}{%- endif %}",
  "{{- message['content'] | trim + ' [/INST]' }}",
  "{%- elif message['role'] == 'assistant' %}",
  "{{- ' ' + message['content'] | trim + ' ' + eos_token }}",
  "{%- else %}{{- raise_exception('llama-2 format: only system, user and assistant roles') }}",
  "{%- endif %}",
  "{%- endfor %}",
);

// Llama 3.1's tool convention, as its own template writes it (tools in the first user turn, one JSON call
// per assistant turn, results in `ipython` turns). Differences from that template: without tools there is
// no "Cutting Knowledge Date / Today Date" system turn (Llama 3's plain format); no builtin_tools.
const LLAMA3_TOOLS_PROMPT =
  '\'Given the following functions, please respond with a JSON for a function call with its proper arguments that best answers the given prompt.\\n\\nRespond in the format {"name": function name, "parameters": dictionary of argument name and its value}.Do not use variables.\\n\\n\'';

const llama3 = j(
  "{{- bos_token }}",
  "{%- if messages and messages[0]['role'] == 'system' %}",
  "{%- set system_text = messages[0]['content'] | trim %}{%- set turns = messages[1:] %}",
  "{%- else %}{%- set system_text = none %}{%- set turns = messages %}{%- endif %}",
  "{%- if tools is defined and tools is not none %}",
  "{%- if date_string is not defined %}{%- set date_string = '26 Jul 2024' %}{%- endif %}",
  "{{- '<|start_header_id|>system<|end_header_id|>\\n\\nEnvironment: ipython\\nCutting Knowledge Date: December 2023\\nToday Date: ' + date_string + '\\n\\n' }}",
  "{{- (system_text or '') + '<|eot_id|>' }}",
  `{%- if not turns %}{{- raise_exception("Cannot put tools in the first user message when there's no first user message!") }}{%- endif %}`,
  `{{- '<|start_header_id|>user<|end_header_id|>\\n\\n' + ${LLAMA3_TOOLS_PROMPT} }}`,
  "{%- for t in tools %}{{- t | tojson(indent=4) }}{{- '\\n\\n' }}{%- endfor %}",
  "{{- turns[0]['content'] | trim + '<|eot_id|>' }}",
  "{%- set turns = turns[1:] %}",
  "{%- elif system_text is not none %}",
  "{{- '<|start_header_id|>system<|end_header_id|>\\n\\n' + system_text + '<|eot_id|>' }}",
  "{%- endif %}",
  "{%- for message in turns %}",
  "{%- if message['tool_calls'] %}",
  "{%- if message['tool_calls'] | length != 1 %}{{- raise_exception('This model only supports single tool-calls at once!') }}{%- endif %}",
  "{%- set call = message['tool_calls'][0] %}{%- if call.function is defined %}{%- set call = call.function %}{%- endif %}",
  `{{- '<|start_header_id|>assistant<|end_header_id|>\\n\\n{"name": "' + call.name + '", "parameters": ' }}`,
  ARGUMENTS_JSON,
  "{{- '}<|eot_id|>' }}",
  "{%- elif message['role'] == 'tool' %}",
  "{{- '<|start_header_id|>ipython<|end_header_id|>\\n\\n' }}",
  // As Llama 3.1's template: strings are iterable in Jinja, so results are written JSON-quoted.
  "{%- if message['content'] is mapping or message['content'] is iterable %}{{- message['content'] | tojson }}",
  "{%- else %}{{- message['content'] }}{%- endif %}",
  "{{- '<|eot_id|>' }}",
  "{%- else %}",
  "{{- '<|start_header_id|>' + message['role'] + '<|end_header_id|>\\n\\n' + message['content'] | trim + '<|eot_id|>' }}",
  "{%- endif %}",
  "{%- endfor %}",
  "{%- if add_generation_prompt %}{{- '<|start_header_id|>assistant<|end_header_id|>\\n\\n' }}{%- endif %}",
);

const mistral = j(
  SPLIT_SYSTEM,
  "{{- bos_token }}",
  "{%- for message in turns %}",
  "{%- if message['role'] == 'user' %}",
  "{%- if loop.first and system_text %}{{- '[INST] ' + system_text + '\\n\\n' + message['content'] + ' [/INST]' }}",
  "{%- else %}{{- '[INST] ' + message['content'] + ' [/INST]' }}{%- endif %}",
  "{%- elif message['role'] == 'assistant' %}",
  "{{- message['content'] + eos_token }}",
  "{%- else %}{{- raise_exception('mistral format: only system, user and assistant roles') }}",
  "{%- endif %}",
  "{%- endfor %}",
);

// Qwen2.5's own template: the Hermes convention with Qwen's default system prompt.
const qwen25 = j(
  hermesSystem("You are Qwen, created by Alibaba Cloud. You are a helpful assistant."),
  HERMES_TURNS,
);

const gemma = j(
  SPLIT_SYSTEM,
  "{{- bos_token }}",
  "{%- for message in turns %}",
  "{%- set role = 'model' if message['role'] == 'assistant' else message['role'] %}",
  "{%- if role not in ['user', 'model'] %}{{- raise_exception('gemma format: only system, user and assistant roles') }}{%- endif %}",
  "{{- '<start_of_turn>' + role + '\\n' }}",
  "{%- if loop.first and system_text %}{{- system_text + '\\n\\n' }}{%- endif %}",
  "{{- message['content'] | trim + '<end_of_turn>\\n' }}",
  "{%- endfor %}",
  "{%- if add_generation_prompt %}{{- '<start_of_turn>model\\n' }}{%- endif %}",
);

const phi3 = j(
  "{%- for message in messages %}",
  "{{- '<|' + message['role'] + '|>\\n' + message['content'] + '<|end|>\\n' }}",
  "{%- endfor %}",
  "{%- if add_generation_prompt %}{{- '<|assistant|>\\n' }}{%- endif %}",
);

const alpaca = j(
  SPLIT_SYSTEM,
  "{{- (system_text or 'Below is an instruction that describes a task. Write a response that appropriately completes the request.') + '\\n\\n' }}",
  "{%- for message in turns %}",
  "{%- if message['role'] == 'user' %}{{- '### Instruction:\\n' + message['content'] + '\\n\\n### Response:\\n' }}",
  "{%- elif message['role'] == 'assistant' %}{{- message['content'] + eos_token + '\\n\\n' }}",
  "{%- else %}{{- raise_exception('alpaca format: only system, user and assistant roles') }}",
  "{%- endif %}",
  "{%- endfor %}",
);

export const builtinTemplates: Record<BuiltinTemplateName, string> = {
  chatml,
  "llama-2": llama2,
  "llama-3": llama3,
  mistral,
  "qwen2.5": qwen25,
  gemma,
  "phi-3": phi3,
  alpaca,
};

export function isBuiltinTemplateName(name: string): name is BuiltinTemplateName {
  return Object.hasOwn(builtinTemplates, name);
}
