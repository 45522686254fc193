// LanguageModel (src/eval/types.ts) for our decoder + tokenizer, with lm-evaluation-harness's HFLM semantics:
// loglikelihood = Σ log p(continuation token | prefix), batched longest-first with right padding, isGreedy = every
// continuation token is the argmax; generate_until = greedy decoding (KV cache) cut at the first stop string.
// Only continuation rows of the hidden states go through lm_head, in chunks, so a 151,936-token vocabulary never
// needs B·T·V floats. Requests that share their context (a question's choices) run it once (src/eval/shared-context.ts).
import * as tf from "@tensorflow/tfjs";
import type { BackendInfo } from "../backend.ts";
import type { Decoder } from "../models/decoder.ts";
import { generateGreedy } from "../models/generate.ts";
import { loadModel } from "../models/load.ts";
import type { Tokenizer } from "../models/tokenizer.ts";
import { disposePairs, loadAdapter } from "../lora/lora.ts";
import { batchFromSequences, continuationRows, encodePair } from "../models/batch.ts";
import { scoreHidden } from "./score-hidden.ts";
import { scoreSharedContexts, sharedContextGroups } from "./shared-context.ts";
import type { GenerateRequest, LanguageModel, LoglikelihoodRequest, LoglikelihoodResult } from "./types.ts";

export interface ModelLmOptions {
  /** Requests per forward pass (default 16). */
  batchSize?: number;
  /** Longest sequence fed to the model (default: the model's max_position_embeddings). */
  maxLength?: number;
  /**
   * Run a context shared by several requests (a question's choices) once, through the KV cache
   * (src/eval/shared-context.ts); default true. false: one full forward per request, as lm-eval does.
   */
  shareContexts?: boolean;
}

export function createLanguageModel(decoder: Decoder, tokenizer: Tokenizer, opts: ModelLmOptions = {}): LanguageModel {
  const maxLength = Math.min(opts.maxLength ?? Infinity, decoder.config.maxPositionEmbeddings);
  const stopIds = [
    ...new Set([...decoder.config.eosTokenIds, ...(tokenizer.eosTokenId === null ? [] : [tokenizer.eosTokenId])]),
  ];

  async function loglikelihood(
    requests: readonly LoglikelihoodRequest[],
    o: { batchSize?: number; onProgress?: (done: number, total: number) => void } = {},
  ): Promise<LoglikelihoodResult[]> {
    const bs = o.batchSize ?? opts.batchSize ?? 16;
    const encoded = requests.map((r, i) => {
      try {
        return encodePair(tokenizer, r.context, r.continuation);
      } catch (e) {
        throw new Error(`request ${i + 1}: ${(e as Error).message}`);
      }
    });
    const results: LoglikelihoodResult[] = new Array(requests.length);
    let done = 0;
    const progress = async (n: number) => {
      done += n;
      o.onProgress?.(done, requests.length);
      await new Promise((r) => setImmediate(r)); // let progress output and signals through
    };
    const groups = opts.shareContexts === false ? [] : sharedContextGroups(encoded, maxLength);
    for (const [i, r] of await scoreSharedContexts(decoder, encoded, groups, bs, progress)) results[i] = r;
    const shared = new Set(groups.flat());
    // The rest longest first (lm-eval's order): the first batch shows at once whether memory suffices.
    const order = encoded
      .map((_, i) => i)
      .filter((i) => !shared.has(i))
      .sort((a, b) => total(encoded[b]!) - total(encoded[a]!) || a - b);
    for (let s = 0; s < order.length; s += bs) {
      const idx = order.slice(s, s + bs);
      const batch = batchFromSequences(
        idx.map((i) => encoded[i]!),
        maxLength,
      );
      const { logprob, greedy } = await scoreRows(decoder, batch);
      // Rows come back b-major, t ascending: split them per request.
      let k = 0;
      idx.forEach((reqIndex, b) => {
        let lp = 0;
        let isGreedy = true;
        for (let t = 0; t < batch.T; t++) {
          if (!batch.mask[b * batch.T + t]) continue;
          lp += logprob[k]!;
          isGreedy &&= greedy[k]!;
          k++;
        }
        results[reqIndex] = { logprob: lp, isGreedy };
      });
      await progress(idx.length);
    }
    return results;
  }

  async function generateUntil(
    requests: readonly GenerateRequest[],
    o: { onProgress?: (done: number, total: number) => void } = {},
  ): Promise<string[]> {
    const out: string[] = [];
    for (const [i, r] of requests.entries()) {
      let ids = r.context.length > 0 ? tokenizer.encode(r.context, { addSpecialTokens: true }) : [];
      if (ids.length === 0) ids = [tokenizer.bosTokenId ?? tokenizer.eosTokenId ?? 0];
      const room = Math.max(1, maxLength - r.maxNewTokens);
      if (ids.length > room) ids = ids.slice(ids.length - room); // lm-eval: keep the end of the context
      const cut = (text: string) => r.until.reduce((s, u) => (u && s.includes(u) ? s.slice(0, s.indexOf(u)) : s), text);
      const res = await generateGreedy(decoder, ids, {
        maxNewTokens: r.maxNewTokens,
        stopIds,
        shouldStop: (gen) =>
          r.until.length > 0 &&
          r.until.some((u) => u && tokenizer.decode(gen, { skipSpecialTokens: true }).includes(u)),
      });
      out.push(cut(tokenizer.decode(res.ids, { skipSpecialTokens: true })));
      o.onProgress?.(i + 1, requests.length);
      await new Promise((r) => setImmediate(r));
    }
    return out;
  }

  return { loglikelihood, generateUntil };
}

function total(e: { context: readonly number[]; continuation: readonly number[] }): number {
  return e.context.length + e.continuation.length;
}

/** log p(target) and argmax == target for every masked position of the batch (in index order). */
async function scoreRows(
  decoder: Decoder,
  batch: ReturnType<typeof batchFromSequences>,
): Promise<{ logprob: Float32Array; greedy: boolean[] }> {
  const { rows, targets } = continuationRows(batch);
  const h = tf.tidy(() => decoder.hiddenAt(batch.idsTensor(), rows)); // [M, d]
  return scoreHidden(decoder, h, targets);
}

export interface LoadedLanguageModel extends LanguageModel {
  readonly decoder: Decoder;
  readonly tokenizer: Tokenizer;
  /** The tfjs backend in use. */
  readonly backend: string;
  /** The resolved local model folder. */
  readonly dir: string;
  dispose(): void;
}

/** Load a model folder / hub id (+ optional PEFT adapter) as a LanguageModel. */
export async function loadLanguageModel(
  model: string,
  backend: BackendInfo,
  opts: { adapter?: string; batchSize?: number; maxLength?: number } = {},
): Promise<LoadedLanguageModel> {
  const loaded = await loadModel(model, backend);
  try {
    if (opts.adapter) loadAdapter(loaded.decoder, opts.adapter);
  } catch (e) {
    loaded.decoder.dispose();
    throw e;
  }
  const lm = createLanguageModel(loaded.decoder, loaded.tokenizer, {
    batchSize: opts.batchSize,
    maxLength: opts.maxLength,
  });
  return {
    ...lm,
    decoder: loaded.decoder,
    tokenizer: loaded.tokenizer,
    backend: loaded.backend.name,
    dir: loaded.dir,
    dispose() {
      disposePairs(loaded.decoder.removeLora());
      loaded.decoder.dispose();
    },
  };
}
