// A character-level tokenizer for the random-init models of `quickstart` and the tests: no files, no network.
// Ids 0–2 are <s>, </s>, <pad>; then one id per character of ALPHABET. encode(text, {addSpecialTokens: true})
// prepends <s>, like a Llama tokenizer.
import type { Tokenizer } from "./tokenizer.ts";

const SPECIALS = ["<s>", "</s>", "<pad>"] as const;
export const CHAR_ALPHABET = " abcdefghijklmnopqrstuvwxyz0123456789.,:;?!=+-*/()'\"\n#ABCDEFGHIJKLMNOPQRSTUVWXYZ";

export function createCharTokenizer(alphabet: string = CHAR_ALPHABET): Tokenizer {
  const toId = new Map<string, number>();
  [...alphabet].forEach((ch, i) => toId.set(ch, i + SPECIALS.length));
  const vocab = [...SPECIALS, ...alphabet];
  return {
    encode(text, { addSpecialTokens }) {
      const ids: number[] = addSpecialTokens ? [0] : [];
      for (const ch of text) {
        const id = toId.get(ch);
        if (id === undefined) throw new Error(`char tokenizer: character ${JSON.stringify(ch)} is not in its alphabet`);
        ids.push(id);
      }
      return ids;
    },
    decode(ids, opts) {
      return ids
        .filter((i) => !(opts?.skipSpecialTokens && i < SPECIALS.length))
        .map((i) => vocab[i] ?? "\uFFFD")
        .join("");
    },
    tokenToId: (token) => {
      const s = SPECIALS.indexOf(token as (typeof SPECIALS)[number]);
      return s >= 0 ? s : (toId.get(token) ?? null);
    },
    bosTokenId: 0,
    eosTokenId: 1,
    padTokenId: 2,
    vocabSize: vocab.length,
    tokenizerClass: "CharTokenizer",
  };
}
