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

const chatml = j(
  "{%- for message in messages %}",
  "{{- '<|im_start|>' + message['role'] + '\\n' + message['content'] + '<|im_end|>\\n' }}",
  "{%- endfor %}",
  "{%- if add_generation_prompt %}{{- '<|im_start|>assistant\\n' }}{%- endif %}",
);

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

const llama3 = j(
  "{{- bos_token }}",
  "{%- for message in messages %}",
  "{{- '<|start_header_id|>' + message['role'] + '<|end_header_id|>\\n\\n' + message['content'] | trim + '<|eot_id|>' }}",
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

const qwen25 = j(
  "{%- if not messages or messages[0]['role'] != 'system' %}",
  "{{- '<|im_start|>system\\nYou are Qwen, created by Alibaba Cloud. You are a helpful assistant.<|im_end|>\\n' }}",
  "{%- endif %}",
  chatml,
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
