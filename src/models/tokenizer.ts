// Tokenizer for a model folder (tokenizer.json + tokenizer_config.json), built with @huggingface/transformers'
// PreTrainedTokenizer straight from the two JSON files: no hub lookup, no network, no global `env` changes.
// Semantics follow Python transformers: special-token ids come from tokenizer_config.json (pad is null when the
// config names none; transformers.js would fall back to eos), Llama-class fast tokenizers add BOS/EOS per
// add_bos_token/add_eos_token (LlamaTokenizerFast.update_post_processor), everything else uses tokenizer.json's
// post-processor (Llama-3 adds <|begin_of_text|>, Qwen2 adds nothing), decode cleans up spaces only when asked.
import * as fs from "node:fs";
import * as path from "node:path";

export interface Tokenizer {
  encode(text: string, opts: { addSpecialTokens: boolean }): number[];
  decode(ids: readonly number[], opts?: { skipSpecialTokens?: boolean }): string;
  /** The id of a token string (e.g. "<|im_end|>"), or null if it is not in the vocabulary. */
  tokenToId(token: string): number | null;
  readonly bosTokenId: number | null;
  readonly eosTokenId: number | null;
  readonly padTokenId: number | null;
  /** Tokens known to the tokenizer, added tokens included (Python's len(tokenizer)); may be below config.vocab_size. */
  readonly vocabSize: number;
  /** tokenizer_config.json's tokenizer_class, or null. */
  readonly tokenizerClass: string | null;
}

export class TokenizerError extends Error {
  override name = "TokenizerError";
}

/** Python's LlamaTokenizerFast rebuilds its post-processor from add_bos_token/add_eos_token (defaults true/false). */
const LLAMA_CLASSES = new Set(["LlamaTokenizer", "LlamaTokenizerFast", "CodeLlamaTokenizer", "CodeLlamaTokenizerFast"]);

type TokenSpec = string | { content?: string; __type?: string } | null | undefined;

function tokenContent(cfg: Record<string, unknown>, key: string): string | null {
  const v = cfg[key] as TokenSpec;
  if (!v) return null;
  if (typeof v === "string") return v;
  if (typeof v === "object" && typeof v.content === "string") return v.content;
  return null;
}

function readJson(file: string, what: string): Record<string, unknown> {
  let j: unknown;
  try {
    j = JSON.parse(fs.readFileSync(file, "utf8"));
  } catch (e) {
    throw new TokenizerError(`${file}: cannot read ${what} (${(e as Error).message})`);
  }
  if (typeof j !== "object" || j === null || Array.isArray(j))
    throw new TokenizerError(`${file}: ${what} is not a JSON object`);
  return j as Record<string, unknown>;
}

/** Load the tokenizer of a model folder. tokenizer_config.json is optional (then no special-token names are known). */
export async function loadTokenizer(dir: string): Promise<Tokenizer> {
  if (!fs.existsSync(dir) || !fs.statSync(dir).isDirectory())
    throw new TokenizerError(`tokenizer folder ${dir} not found`);
  const tokFile = path.join(dir, "tokenizer.json");
  if (!fs.existsSync(tokFile)) {
    const slow = ["tokenizer.model", "vocab.json"].filter((f) => fs.existsSync(path.join(dir, f)));
    const hint = slow.length
      ? ` (found ${slow.join(", ")}: only the fast-tokenizer tokenizer.json is supported; save one with transformers' tokenizer.save_pretrained)`
      : "";
    throw new TokenizerError(`${dir}: no tokenizer.json${hint}`);
  }
  const json = readJson(tokFile, "tokenizer.json");
  const cfgFile = path.join(dir, "tokenizer_config.json");
  const config = fs.existsSync(cfgFile) ? readJson(cfgFile, "tokenizer_config.json") : {};

  const { PreTrainedTokenizer } = await import("@huggingface/transformers");
  let hf: InstanceType<typeof PreTrainedTokenizer>;
  try {
    hf = new PreTrainedTokenizer(json, config);
  } catch (e) {
    throw new TokenizerError(`${tokFile}: cannot build the tokenizer (${(e as Error).message})`);
  }
  const vocab = hf.get_vocab();
  const idOf = (token: string | null): number | null => {
    if (token === null) return null;
    const id = vocab.get(token);
    return id === undefined ? null : id;
  };
  const bosTokenId = idOf(tokenContent(config, "bos_token"));
  const eosTokenId = idOf(tokenContent(config, "eos_token"));
  const padTokenId = idOf(tokenContent(config, "pad_token"));
  const tokenizerClass = typeof config.tokenizer_class === "string" ? config.tokenizer_class : null;
  const cleanUp = config.clean_up_tokenization_spaces === true;

  let addSpecial: (ids: number[]) => number[] = (ids) => ids;
  let useTemplate = true;
  if (tokenizerClass && LLAMA_CLASSES.has(tokenizerClass)) {
    const addBos = config.add_bos_token !== false;
    const addEos = config.add_eos_token === true;
    if (addBos && bosTokenId === null)
      throw new TokenizerError(
        `${cfgFile}: add_bos_token is on but bos_token ${JSON.stringify(config.bos_token)} is not in the vocabulary`,
      );
    if (addEos && eosTokenId === null)
      throw new TokenizerError(
        `${cfgFile}: add_eos_token is on but eos_token ${JSON.stringify(config.eos_token)} is not in the vocabulary`,
      );
    useTemplate = false;
    addSpecial = (ids) => [...(addBos ? [bosTokenId!] : []), ...ids, ...(addEos ? [eosTokenId!] : [])];
  }

  return {
    bosTokenId,
    eosTokenId,
    padTokenId,
    vocabSize: vocab.size,
    tokenizerClass,
    tokenToId: (token) => idOf(token),
    encode(text, { addSpecialTokens }) {
      if (addSpecialTokens && useTemplate) return hf.encode(text, { add_special_tokens: true });
      const ids = hf.encode(text, { add_special_tokens: false });
      return addSpecialTokens ? addSpecial(ids) : ids;
    },
    decode(ids, opts = {}) {
      return hf.decode([...ids], {
        skip_special_tokens: opts.skipSpecialTokens ?? false,
        clean_up_tokenization_spaces: cleanUp,
      });
    },
  };
}
