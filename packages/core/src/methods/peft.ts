// PEFT versions the method mappings name.

/** PEFT's trainable tokens take a dict keyed by module since 0.15.0; earlier versions drop or reject them. */
export const MIN_PEFT_TRAINABLE_TOKENS = "0.15.0";
