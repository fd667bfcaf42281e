// A tiny byte-level BPE tokenizer.json built in code, so tests run without ../shared fixtures.

function byteChars(): string[] {
  const bs: number[] = [];
  for (let b = 33; b <= 126; b++) bs.push(b);
  for (let b = 161; b <= 172; b++) bs.push(b);
  for (let b = 174; b <= 255; b++) bs.push(b);
  const cs = bs.slice();
  let n = 0;
  for (let b = 0; b < 256; b++)
    if (!bs.includes(b)) {
      bs.push(b);
      cs.push(256 + n++);
    }
  const out: string[] = new Array(256);
  bs.forEach((b, i) => {
    out[b] = String.fromCharCode(cs[i]!);
  });
  return out;
}

/** 256 byte tokens + a few merges ("Ġt", "he", "Ġthe", ...) + ChatML special tokens. */
export function tinyByteLevelTokenizer(): {
  tokenizerJson: Record<string, unknown>;
  config: Record<string, unknown>;
} {
  const chars = byteChars();
  const vocab: Record<string, number> = {};
  chars.forEach((c, i) => {
    vocab[c] = i;
  });
  const merges = [
    ["l", "l"],
    ["e", "ll"],
    ["h", "ell"],
    ["hell", "o"],
    ["Ġ", "t"],
    ["h", "e"],
    ["Ġt", "he"],
    ["Ġ", "w"],
    ["o", "r"],
    ["Ġw", "or"],
    ["l", "d"],
    ["Ġwor", "ld"],
    ["Ċ", "Ċ"],
  ];
  for (const [a, b] of merges) vocab[a! + b!] = Object.keys(vocab).length;
  const base = Object.keys(vocab).length;
  const special = ["<|endoftext|>", "<|im_start|>", "<|im_end|>"];
  const added = special.map((content, i) => ({
    id: base + i,
    content,
    single_word: false,
    lstrip: false,
    rstrip: false,
    normalized: false,
    special: true,
  }));
  return {
    tokenizerJson: {
      version: "1.0",
      added_tokens: added,
      normalizer: null,
      pre_tokenizer: { type: "ByteLevel", add_prefix_space: false, trim_offsets: true, use_regex: true },
      post_processor: { type: "ByteLevel", add_prefix_space: false, trim_offsets: false, use_regex: true },
      decoder: { type: "ByteLevel", add_prefix_space: false, trim_offsets: true, use_regex: true },
      model: {
        type: "BPE",
        dropout: null,
        unk_token: null,
        continuing_subword_prefix: "",
        end_of_word_suffix: "",
        fuse_unk: false,
        byte_fallback: false,
        ignore_merges: false,
        vocab,
        merges: merges.map(([a, b]) => `${a} ${b}`),
      },
    },
    config: {
      bos_token: null,
      eos_token: "<|im_end|>",
      pad_token: "<|endoftext|>",
      unk_token: null,
      chat_template:
        "{% for message in messages %}{{'<|im_start|>' + message['role'] + '\n' + message['content'] + '<|im_end|>' + '\n'}}{% endfor %}{% if add_generation_prompt %}{{ '<|im_start|>assistant\n' }}{% endif %}",
    },
  };
}
