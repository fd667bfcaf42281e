// Generated from the recipe schema's descriptions by `pnpm docs:gen` (see field-docs.ts). Do not edit.

/** An SFT recipe. */
export type RecipeFieldDocs = {
  /** The run's name (default: the recipe file's name). */
  name?: unknown;
  /** What this recipe is for. */
  description?: unknown;
  /** The base model. */
  model?: ModelFieldDocs;
  /** Folder with tokenizer.json (default: the model folder). */
  tokenizer?: unknown;
  /** The chat template trained on; it is saved with the outputs so inference uses the same one. */
  template?: unknown;
  /** Special tokens: new tokens and overrides. */
  tokens?: TokensFieldDocs;
  /** The data mix. */
  data?: DataFieldDocs;
  /** How the model is tuned, chosen by `kind`. */
  method?: unknown;
  /** The training loop. */
  train?: TrainFieldDocs;
  /** Where artefacts go. */
  output?: OutputFieldDocs;
  /** Knowledge probes mixed into training; evaluation reports their recall (greedy exact match). */
  probes?: ProbesFieldDocs;
  /** Multi-GPU settings used by `sft export` (Axolotl, TRL + accelerate); ignored when training locally. */
  scale?: ScaleFieldDocs;
  /** Warning ids (and acknowledgeable error ids) this recipe has seen and accepts; they are not printed again. */
  acknowledge?: unknown;
};

/** Multi-GPU settings used by `sft export` (Axolotl, TRL + accelerate); ignored when training locally. */
export type ScaleFieldDocs = {
  /** GPUs (processes) per node. */
  gpusPerNode?: unknown;
  /** Number of nodes (machines). */
  nodes?: unknown;
  /** Sharding: DeepSpeed ZeRO stage 1 (optimizer state), 2 (+ gradients), 3 (+ parameters), or PyTorch FSDP2. */
  strategy?: unknown;
  /** Offload optimizer state (zero1/2) or also parameters (zero3, fsdp) to CPU memory. */
  cpuOffload?: unknown;
  /** Recompute activations in backward (also on when train.gradientCheckpointing is set). */
  activationCheckpointing?: unknown;
  /** Mixed-precision compute type on the GPUs. */
  precision?: unknown;
};

/** Knowledge probes mixed into training; evaluation reports their recall (greedy exact match). */
export type ProbesFieldDocs = {
  /** Generate this many facts, keyed on `<|probe_N|>` tokens, with answers from `answers`. */
  count?: unknown;
  /** Facts to teach, listed explicitly. */
  facts?: unknown;
  /** Answers generated facts draw from (default: short phrases of common words). */
  answers?: unknown;
  /** The user turn asking for a fact; {token} is replaced by the fact's token. */
  question?: unknown;
  /** Share of each epoch's training samples that are probes. */
  rate?: unknown;
  /** Seed of the generated facts. */
  seed?: unknown;
};

/** Where artefacts go. */
export type OutputFieldDocs = {
  /** Output folder, relative to the recipe (default `out/<recipe name>`). */
  dir?: unknown;
  /** What to write: a PEFT adapter, a merged HF model, or both (default: adapter for lora/qlora/prefix, merged otherwise). */
  save?: unknown;
  /** The base model adapters name (`base_model_name_or_path`), written as is, e.g. a hub id or a cluster path (default: the hub id for a cache model, else its folder relative to the adapter). */
  baseModelName?: unknown;
};

/** The training loop. */
export type TrainFieldDocs = {
  /** Passes over the mix (default 1 when `steps` is unset). */
  epochs?: unknown;
  /** Optimizer steps; overrides `epochs`. */
  steps?: unknown;
  /** Peak learning rate (default by method: 2e-5 full/partial, 2e-4 lora/qlora, 1e-3 frozen, 1e-2 prefix). */
  learningRate?: unknown;
  /** Decay after warmup. */
  schedule?: unknown;
  /** Linear warmup steps. */
  warmupSteps?: unknown;
  /** Warmup as a fraction of all steps (default 0.03). */
  warmupRatio?: unknown;
  /** Floor of the decay, as a fraction of the peak. */
  minLearningRateRatio?: unknown;
  /** AdamW settings. */
  optimizer?: TrainOptimizerFieldDocs;
  /** Token budget of a micro-batch (rows × padded length); default 4096. */
  tokensPerMicroBatch?: unknown;
  /** Fixed rows per micro-batch (instead of a token budget). */
  microBatchSize?: unknown;
  /** Micro-batches per optimizer step. */
  gradientAccumulation?: unknown;
  /** Longest sample in tokens. */
  maxLength?: unknown;
  /** Samples longer than maxLength: cut (may lose the EOS), drop (counted in the plan), or stop. */
  overLength?: unknown;
  /** Pack several samples per row (block-diagonal attention). */
  packing?: unknown;
  /** Which tokens are trained: assistant turns, everything, or the last assistant turn. */
  lossOn?: unknown;
  /** Train the end-of-turn/EOS token after every trained turn, only the last, or never. */
  eos?: unknown;
  /** Global gradient-norm clipping (0 disables). */
  clipNorm?: unknown;
  /** Micro-batches with a non-finite loss (NaN, ±Infinity), or in a step whose gradient norm is not finite, the run may skip: their gradients are dropped (a refused step's update is not applied; each of its micro-batches counts), each is logged with its rows and counted (`skipped`) in metrics.jsonl and the summary; one more stops the run. Absent: the first stops it. */
  skipNonFinite?: unknown;
  /** Evaluation on the sources' eval splits. */
  eval?: TrainEvalFieldDocs;
  /** Write a checkpoint every N steps. */
  checkpointEvery?: unknown;
  /** Checkpoints kept on disk: the newest N plus the one with the best eval loss; older ones are deleted (default 3). */
  checkpointKeep?: unknown;
  /** Seed of initialisation, dropout and shuffling. */
  seed?: unknown;
  /** NEFTune: while training, add uniform noise in ±alpha/sqrt(L·d) to the input embeddings (L: the batch's padded length, d: hidden size), as TRL and transformers do; never at evaluation or generation. The NEFTune paper uses 5 (also 10, 15). Seeded like dropout, so a resume repeats it. */
  neftuneAlpha?: unknown;
  /** Engine that runs the plan (`auto`: the first available); `tfjs/wasm`, `tfjs/cpu`, `tfjs/tensorflow` also pick the tfjs backend. */
  engine?: unknown;
  /** Deprecated (sft/backend-deprecated): use `engine: "tfjs/<backend>"`. TensorFlow.js backend. */
  backend?: unknown;
  /** wasm threads (default: the core count). */
  threads?: unknown;
  /** Recompute each layer in backward to save activation memory. */
  gradientCheckpointing?: unknown;
};

/** Evaluation on the sources' eval splits. */
export type TrainEvalFieldDocs = {
  /** Evaluate every N optimizer steps (default: once per epoch). */
  every?: unknown;
  /** Cap on eval samples per evaluation. */
  maxSamples?: unknown;
};

/** AdamW settings. */
export type TrainOptimizerFieldDocs = {
  /** AdamW beta1, beta2. */
  betas?: unknown;
  /** AdamW epsilon. */
  eps?: unknown;
  /** Decoupled weight decay (never on norms and biases). */
  weightDecay?: unknown;
};

/** How the model is tuned, chosen by `kind`. */
export type MethodFieldDocs =
  | MethodFullFieldDocs
  | MethodPartialFieldDocs
  | MethodFrozenFieldDocs
  | MethodLoraFieldDocs
  | MethodQloraFieldDocs
  | MethodPrefixFieldDocs;

export type MethodPrefixFieldDocs = {
  /** P-tuning v2: trainable key/value prefixes in every layer. */
  kind?: "prefix";
  /** Number of virtual tokens (prefix length). */
  virtualTokens?: unknown;
  /** Train the prefixes through an MLP (P-tuning v2's reparameterization), or directly. */
  reparameterize?: unknown;
};

/** Train the prefixes through an MLP (P-tuning v2's reparameterization), or directly. */
export type MethodPrefixReparameterizeFieldDocs = MethodPrefixReparameterizeHiddenSizeFieldDocs;

export type MethodPrefixReparameterizeHiddenSizeFieldDocs = {
  /** Hidden width of the reparameterization MLP. */
  hiddenSize?: unknown;
};

export type MethodQloraFieldDocs = {
  /** LoRA over an NF4-quantized base. */
  kind?: "qlora";
  /** LoRA rank r. */
  rank?: unknown;
  /** LoRA alpha; the update is scaled by alpha/r (alpha/sqrt(r) with rsLoRA). */
  alpha?: unknown;
  /** Dropout on the LoRA input. */
  dropout?: unknown;
  /** Linear modules that get adapters, as the model family names them (phi3: qkv_proj, o_proj, gate_up_proj, down_proj), or `all-linear`. */
  targets?: unknown;
  /** Rank-stabilised LoRA scaling alpha/sqrt(r). */
  rslora?: unknown;
  /** Whole modules that also train beside the adapters, saved whole in the adapter (PEFT's modules_to_save): the embedding, an untied lm_head, the norms. E.g. when a template adds many tokens. */
  modulesToSave?: unknown;
  /** LoRA+: B (and DoRA's magnitudes) learn at this many times the learning rate of A, as PEFT's create_loraplus_optimizer groups them (Axolotl's loraplus_lr_ratio; the LoRA+ paper suggests 16). Unset: one learning rate. */
  loraPlusRatio?: unknown;
  /** DoRA (weight-decomposed LoRA): each targeted linear also trains a magnitude per output row, applied to W + scale·B·A normalised row by row (PEFT's use_dora). Often closer to full fine-tuning at low rank; steps cost more (the norm is recomputed each pass). On qlora: QDoRA. */
  dora?: unknown;
  /** PiSSA initialisation (PEFT's init_lora_weights): A and B start from the r principal singular vectors of each targeted weight and the residual becomes the frozen base, so training starts from the base model's outputs; often converges faster than LoRA. "pissa": exact SVD (slow on large weights); "pissa_niter_N": N steps of seeded randomised subspace iteration. Unset: A random, B zero. The PEFT adapter is saved converted to a plain LoRA of rank 2r on the original base. */
  init?: unknown;
  /** Also train the embedding rows of added tokens (PEFT trainable_token_indices). */
  trainNewTokens?: unknown;
  /** NF4 storage of the frozen base linear weights. */
  quantization?: MethodQloraQuantizationFieldDocs;
};

/** NF4 storage of the frozen base linear weights. */
export type MethodQloraQuantizationFieldDocs = {
  /** Values per absmax block (QLoRA: 64). */
  blockSize?: unknown;
  /** Quantize the absmax constants to 8 bits in blocks of 256. */
  doubleQuant?: unknown;
};

export type MethodLoraFieldDocs = {
  /** Low-rank adapters on linear modules. */
  kind?: "lora";
  /** LoRA rank r. */
  rank?: unknown;
  /** LoRA alpha; the update is scaled by alpha/r (alpha/sqrt(r) with rsLoRA). */
  alpha?: unknown;
  /** Dropout on the LoRA input. */
  dropout?: unknown;
  /** Linear modules that get adapters, as the model family names them (phi3: qkv_proj, o_proj, gate_up_proj, down_proj), or `all-linear`. */
  targets?: unknown;
  /** Rank-stabilised LoRA scaling alpha/sqrt(r). */
  rslora?: unknown;
  /** Whole modules that also train beside the adapters, saved whole in the adapter (PEFT's modules_to_save): the embedding, an untied lm_head, the norms. E.g. when a template adds many tokens. */
  modulesToSave?: unknown;
  /** LoRA+: B (and DoRA's magnitudes) learn at this many times the learning rate of A, as PEFT's create_loraplus_optimizer groups them (Axolotl's loraplus_lr_ratio; the LoRA+ paper suggests 16). Unset: one learning rate. */
  loraPlusRatio?: unknown;
  /** DoRA (weight-decomposed LoRA): each targeted linear also trains a magnitude per output row, applied to W + scale·B·A normalised row by row (PEFT's use_dora). Often closer to full fine-tuning at low rank; steps cost more (the norm is recomputed each pass). On qlora: QDoRA. */
  dora?: unknown;
  /** PiSSA initialisation (PEFT's init_lora_weights): A and B start from the r principal singular vectors of each targeted weight and the residual becomes the frozen base, so training starts from the base model's outputs; often converges faster than LoRA. "pissa": exact SVD (slow on large weights); "pissa_niter_N": N steps of seeded randomised subspace iteration. Unset: A random, B zero. The PEFT adapter is saved converted to a plain LoRA of rank 2r on the original base. */
  init?: unknown;
  /** Also train the embedding rows of added tokens (PEFT trainable_token_indices). */
  trainNewTokens?: unknown;
};

export type MethodFrozenFieldDocs = {
  /** The backbone is frozen; only the named extras train. */
  kind?: "frozen";
  /** What trains on top of the frozen backbone. */
  trainable?: MethodFrozenTrainableFieldDocs;
};

/** What trains on top of the frozen backbone. */
export type MethodFrozenTrainableFieldDocs = {
  /** Rows of newly added tokens (all, or by name); the other rows stay fixed, as PEFT's trainable tokens. */
  newTokens?: unknown;
  /** Train lm_head. */
  lmHead?: unknown;
  /** Train the RMSNorm weights. */
  norms?: unknown;
};

export type MethodPartialFieldDocs = {
  /** Only the selected layers and/or modules train. */
  kind?: "partial";
  /** Train the last N decoder layers. */
  lastLayers?: unknown;
  /** Train decoder layers in [start, end) ranges. */
  layerRanges?: unknown;
  /** Regular expressions over HF parameter names (e.g. `mlp\.`, `norm`); matches train. */
  modules?: unknown;
  /** Also train the input embedding. */
  embeddings?: unknown;
  /** Also train lm_head (or the tied embedding). */
  lmHead?: unknown;
};

export type MethodFullFieldDocs = {
  /** Every parameter trains. */
  kind?: "full";
};

/** The data mix. */
export type DataFieldDocs = {
  /** Named datasets. */
  sources?: { [name: string]: DataSourcesEntryFieldDocs };
  /** Seed of mixing and shuffling (reshuffled each epoch). */
  seed?: unknown;
  /** Tokenized-data cache folder (default: `.sft-cache` beside the recipe). */
  cacheDir?: unknown;
};

/** One dataset. */
export type DataSourcesEntryFieldDocs = {
  /** A file, folder or glob (or a list), relative to the recipe file. */
  path?: unknown;
  /** How a row becomes a conversation. */
  format?: unknown;
  /** Reader; `auto` picks it from the file extension. */
  fileType?: unknown;
  /** Field mapping: which column holds what. */
  columns?: DataSourcesEntryColumnsFieldDocs;
  /** Turn keys and role names for `sharegpt`/`messages` data. */
  tags?: DataSourcesEntryTagsFieldDocs;
  /** Relative share of this source in the mix (1 = its own size); above 1 upsamples by repetition. */
  weight?: unknown;
  /** Target samples per epoch from this source (instead of `weight`). */
  samples?: unknown;
  /** Read at most this many rows (before filters). */
  maxRows?: unknown;
  /** Rows held out for evaluation: a fraction in (0, 1) or a count. */
  eval?: unknown;
  /** A row that does not fit the format: stop, or skip it and count it. */
  onBadRow?: unknown;
  /** Row filters, applied before mixing; their counts are in the plan. */
  filters?: DataSourcesEntryFiltersFieldDocs;
};

/** Row filters, applied before mixing; their counts are in the plan. */
export type DataSourcesEntryFiltersFieldDocs = {
  /** `true`: drop exact duplicates (normalised text); `{ threshold }`: near-duplicates too. */
  dedupe?: unknown;
  /** Drop rows whose trained answer is empty or whitespace. */
  dropEmpty?: unknown;
  /** Drop rows whose answer looks cut off: mid-sentence, an unclosed code fence or bracket. */
  dropTruncated?: unknown;
  /** Drop rows whose answer refuses or disclaims ("As an AI language model...", "I'm sorry, but I can't"). */
  dropRefusals?: unknown;
  /** `same`: drop rows whose answer's language differs from the instruction's (translation requests kept); a list of codes (`en`, `zh`, `de`, ...) or scripts (`latin`, `cyrillic`): keep answers in these. Undetected languages are kept. */
  language?: unknown;
  /** Drop rows whose trained answer has fewer characters. */
  minLength?: unknown;
  /** Drop rows whose trained answer has more characters. */
  maxLength?: unknown;
  /** Drop rows whose whole text is shorter than this. */
  minChars?: unknown;
  /** Drop rows whose whole text is longer than this. */
  maxChars?: unknown;
  /** A predicate on the raw row; false drops it. */
  where?: unknown;
};

/** `true`: drop exact duplicates (normalised text); `{ threshold }`: near-duplicates too. */
export type DataSourcesEntryFiltersDedupeFieldDocs = DataSourcesEntryFiltersDedupeThresholdFieldDocs;

export type DataSourcesEntryFiltersDedupeThresholdFieldDocs = {
  /** Estimated Jaccard similarity of word 3-grams (MinHash) at which two rows are duplicates. */
  threshold?: unknown;
};

/** Turn keys and role names for `sharegpt`/`messages` data. */
export type DataSourcesEntryTagsFieldDocs = {
  /** Key of a turn's role (sharegpt: `from`; messages: `role`). */
  role?: unknown;
  /** Key of a turn's text (sharegpt: `value`; messages: `content`). */
  content?: unknown;
  /** Map from the data's role names to chat roles, e.g. { human: 'user', gpt: 'assistant' }. */
  roles?: unknown;
};

/** Field mapping: which column holds what. */
export type DataSourcesEntryColumnsFieldDocs = {
  /** alpaca: the instruction column (default `instruction`). */
  instruction?: unknown;
  /** alpaca: the optional input column (default `input`). */
  input?: unknown;
  /** alpaca: the response column (default `output`). */
  output?: unknown;
  /** alpaca/sharegpt: a system prompt column (default `system`). */
  system?: unknown;
  /** alpaca: earlier [instruction, response] pairs (default `history`). */
  history?: unknown;
  /** sharegpt/messages: the turns column (default `conversations` / `messages`). */
  messages?: unknown;
  /** sharegpt/messages: the tool definitions column (default `tools`). */
  tools?: unknown;
  /** completion: the text column (default `text`). */
  text?: unknown;
  /** tokenized: the ids column (default `input_ids`). */
  inputIds?: unknown;
  /** tokenized: the labels column (default `labels`; -100 = masked). */
  labels?: unknown;
};

/** Special tokens: new tokens and overrides. */
export type TokensFieldDocs = {
  /** New tokens, appended to the vocabulary with fresh ids. */
  add?: unknown;
  /** Default init of the new embedding rows. */
  init?: unknown;
  /** Override the beginning-of-sequence token. */
  bos?: unknown;
  /** Override the end-of-sequence token (the one generation stops on). */
  eos?: unknown;
  /** Override the padding token (never trained). */
  pad?: unknown;
};

/** Override the padding token (never trained). */
export type TokensPadFieldDocs = TokensPadVocabFieldDocs | TokensPadIdFieldDocs;

/** A token by id. */
export type TokensPadIdFieldDocs = {
  /** The token id. */
  id?: unknown;
};

/** A token already in the tokenizer's vocabulary. */
export type TokensPadVocabFieldDocs = {
  /** The token's text in the tokenizer's vocabulary. */
  vocab?: unknown;
};

/** Override the end-of-sequence token (the one generation stops on). */
export type TokensEosFieldDocs = TokensEosVocabFieldDocs | TokensEosIdFieldDocs;

/** A token by id. */
export type TokensEosIdFieldDocs = {
  /** The token id. */
  id?: unknown;
};

/** A token already in the tokenizer's vocabulary. */
export type TokensEosVocabFieldDocs = {
  /** The token's text in the tokenizer's vocabulary. */
  vocab?: unknown;
};

/** Override the beginning-of-sequence token. */
export type TokensBosFieldDocs = TokensBosVocabFieldDocs | TokensBosIdFieldDocs;

/** A token by id. */
export type TokensBosIdFieldDocs = {
  /** The token id. */
  id?: unknown;
};

/** A token already in the tokenizer's vocabulary. */
export type TokensBosVocabFieldDocs = {
  /** The token's text in the tokenizer's vocabulary. */
  vocab?: unknown;
};

/** The chat template trained on; it is saved with the outputs so inference uses the same one. */
export type TemplateFieldDocs = TemplateJinjaFieldDocs | TemplateFileFieldDocs;

export type TemplateFileFieldDocs = {
  /** A .jinja file, relative to the recipe file. */
  file?: unknown;
};

export type TemplateJinjaFieldDocs = {
  /** An inline Jinja chat template. */
  jinja?: unknown;
};

/** The base model. */
export type ModelFieldDocs = {
  /** A local Hugging Face model folder (config.json + safetensors), relative to the recipe file. */
  path?: unknown;
  /** A Hugging Face hub id, resolved offline from the local cache ($HF_HOME or ~/.cache/huggingface/hub). */
  hub?: unknown;
  /** Snapshot revision for `hub` (default: refs/main). */
  revision?: unknown;
  /** An inline architecture, randomly initialised (for tests and experiments). */
  architecture?: ModelArchitectureFieldDocs;
};

/** An inline architecture, randomly initialised (for tests and experiments). */
export type ModelArchitectureFieldDocs = {
  /** Model family (sets defaults such as Qwen2's q/k/v bias). */
  type?: unknown;
  /** Vocabulary size before added tokens. */
  vocabSize?: unknown;
  /** Model width d. */
  hiddenSize?: unknown;
  /** SwiGLU feed-forward width. */
  intermediateSize?: unknown;
  /** Number of decoder layers. */
  numLayers?: unknown;
  /** Attention (query) heads. */
  numHeads?: unknown;
  /** Key/value heads for grouped-query attention; defaults to numHeads. */
  numKvHeads?: unknown;
  /** Per-head width; defaults to hiddenSize / numHeads. */
  headDim?: unknown;
  /** Longest position the model is built for. */
  maxPositionEmbeddings?: unknown;
  /** RoPE base frequency. */
  ropeTheta?: unknown;
  /** RMSNorm epsilon. */
  rmsNormEps?: unknown;
  /** Share the embedding matrix with lm_head. */
  tieWordEmbeddings?: unknown;
  /** Bias on q/k/v/o projections (default: true for qwen2, else false). */
  attentionBias?: unknown;
  /** Bias on the MLP projections. */
  mlpBias?: unknown;
  /** Seed of the random initialisation. */
  seed?: unknown;
};
