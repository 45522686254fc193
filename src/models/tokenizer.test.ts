// Tests for loadTokenizer: stories260K ids equal ../shared/models/stories260K/reference_tokenizer.json (made by
// llama2.c's algorithm and cross-checked there with transformers.js AutoTokenizer) and the greedy ids of
// reference_greedy.json decode to its text; tiny byte-level BPE tokenizers written here check Llama-3-style
// TemplateProcessing BOS and Qwen2-style (no BOS) encoding, decoding and added special tokens by hand-derived ids.
import { test, after } from "node:test";
import assert from "node:assert/strict";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { fileURLToPath } from "node:url";
import { loadTokenizer } from "./tokenizer.ts";

const repoRoot = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "../..");
const stories = path.resolve(repoRoot, "../shared/models/stories260K");
const haveStories = fs.existsSync(path.join(stories, "tokenizer.json"));
const tmp = fs.mkdtempSync(path.join(os.tmpdir(), "tokenizer-test-"));
after(() => fs.rmSync(tmp, { recursive: true, force: true }));

test("stories260K: encode with BOS equals reference_tokenizer.json", async (t) => {
  if (!haveStories) return t.skip(`${stories} not present`);
  const ref = JSON.parse(fs.readFileSync(path.join(stories, "reference_tokenizer.json"), "utf8")) as {
    cases: { text: string; ids: number[] }[];
  };
  const tok = await loadTokenizer(stories);
  assert.equal(tok.bosTokenId, 1);
  assert.equal(tok.eosTokenId, 2);
  assert.equal(tok.padTokenId, null); // tokenizer_config.json names no pad token
  assert.equal(tok.vocabSize, 512);
  assert.ok(ref.cases.length >= 6);
  for (const c of ref.cases) {
    assert.deepEqual(tok.encode(c.text, { addSpecialTokens: true }), c.ids, c.text);
    assert.deepEqual(tok.encode(c.text, { addSpecialTokens: false }), c.ids.slice(1), c.text);
    assert.equal(tok.decode(c.ids, { skipSpecialTokens: true }), c.text, c.text);
  }
  // context ++ continuation, as scoring does: the continuation gets no BOS
  assert.notEqual(tok.encode(" park", { addSpecialTokens: false })[0], 1);
});

test("stories260K: reference greedy ids decode to the reference text", async (t) => {
  if (!haveStories) return t.skip(`${stories} not present`);
  const ref = JSON.parse(fs.readFileSync(path.join(stories, "reference_greedy.json"), "utf8")) as {
    greedy_ids: number[];
    decoded_text_until_bos: string;
    first_bos_in_generation_at_step: number | null;
  };
  const tok = await loadTokenizer(stories);
  const stop = ref.first_bos_in_generation_at_step ?? ref.greedy_ids.length;
  const text = tok.decode(ref.greedy_ids.slice(0, stop), { skipSpecialTokens: true });
  assert.equal(text, ref.decoded_text_until_bos);
  assert.equal(tok.decode([1, 403, 407], { skipSpecialTokens: false }), "<s> Once upon");
});

test("stories260K with add_bos_token false / add_eos_token true follows LlamaTokenizerFast", async (t) => {
  if (!haveStories) return t.skip(`${stories} not present`);
  const dir = path.join(tmp, "stories-noboseos");
  fs.mkdirSync(dir);
  fs.copyFileSync(path.join(stories, "tokenizer.json"), path.join(dir, "tokenizer.json"));
  const cfg = JSON.parse(fs.readFileSync(path.join(stories, "tokenizer_config.json"), "utf8"));
  fs.writeFileSync(
    path.join(dir, "tokenizer_config.json"),
    JSON.stringify({ ...cfg, add_bos_token: false, add_eos_token: true }),
  );
  const tok = await loadTokenizer(dir);
  const plain = tok.encode("Once upon a time", { addSpecialTokens: false });
  assert.deepEqual(tok.encode("Once upon a time", { addSpecialTokens: true }), [...plain, 2]);
});

/** A byte-level BPE (GPT-2/Llama-3/Qwen2 family) over a 15-piece vocabulary, with merges ranked as listed. */
function byteLevelBpe(added: { id: number; content: string }[], postProcessor: unknown) {
  const vocab = ["h", "e", "l", "o", "Ġ", "w", "r", "d", "he", "ll", "hell", "hello", "Ġw", "or", "Ġwor"];
  return {
    version: "1.0",
    truncation: null,
    padding: null,
    added_tokens: added.map((a) => ({
      ...a,
      single_word: false,
      lstrip: false,
      rstrip: false,
      normalized: false,
      special: true,
    })),
    normalizer: null,
    pre_tokenizer: { type: "ByteLevel", add_prefix_space: false, trim_offsets: true, use_regex: true },
    post_processor: postProcessor,
    decoder: { type: "ByteLevel", add_prefix_space: true, trim_offsets: true, use_regex: true },
    model: {
      type: "BPE",
      dropout: null,
      unk_token: null,
      continuing_subword_prefix: null,
      end_of_word_suffix: null,
      fuse_unk: false,
      byte_fallback: false,
      ignore_merges: false,
      vocab: Object.fromEntries(vocab.map((v, i) => [v, i])),
      merges: ["h e", "l l", "he ll", "hell o", "Ġ w", "o r", "Ġw or"],
    },
  };
}

function writeTokenizer(name: string, json: unknown, config: unknown): string {
  const dir = path.join(tmp, name);
  fs.mkdirSync(dir);
  fs.writeFileSync(path.join(dir, "tokenizer.json"), JSON.stringify(json));
  if (config) fs.writeFileSync(path.join(dir, "tokenizer_config.json"), JSON.stringify(config));
  return dir;
}

test("byte-level BPE with a TemplateProcessing BOS (Llama-3 style)", async () => {
  const bos = "<|begin_of_text|>";
  const post = {
    type: "TemplateProcessing",
    single: [{ SpecialToken: { id: bos, type_id: 0 } }, { Sequence: { id: "A", type_id: 0 } }],
    pair: [
      { SpecialToken: { id: bos, type_id: 0 } },
      { Sequence: { id: "A", type_id: 0 } },
      { SpecialToken: { id: bos, type_id: 1 } },
      { Sequence: { id: "B", type_id: 1 } },
    ],
    special_tokens: { [bos]: { id: bos, ids: [16], tokens: [bos] } },
  };
  const dir = writeTokenizer(
    "llama3",
    byteLevelBpe(
      [
        { id: 15, content: "<|end_of_text|>" },
        { id: 16, content: bos },
      ],
      post,
    ),
    {
      tokenizer_class: "PreTrainedTokenizerFast",
      bos_token: bos,
      eos_token: "<|end_of_text|>",
      clean_up_tokenization_spaces: true,
    },
  );
  const tok = await loadTokenizer(dir);
  assert.equal(tok.bosTokenId, 16);
  assert.equal(tok.eosTokenId, 15);
  assert.equal(tok.padTokenId, null);
  assert.equal(tok.vocabSize, 17);
  // "hello" → h e l l o → he ll o → hell o → hello; "Ġworld" → Ġw o r l d → Ġw or l d → Ġwor l d
  assert.deepEqual(tok.encode("hello world", { addSpecialTokens: true }), [16, 11, 14, 2, 7]);
  assert.deepEqual(tok.encode("hello world", { addSpecialTokens: false }), [11, 14, 2, 7]);
  assert.deepEqual(tok.encode("hello<|end_of_text|>", { addSpecialTokens: false }), [11, 15]);
  assert.equal(tok.decode([16, 11, 14, 2, 7], { skipSpecialTokens: true }), "hello world");
  assert.equal(tok.decode([16, 11, 14, 2, 7]), "<|begin_of_text|>hello world");
  assert.equal(tok.tokenToId("Ġwor"), 14);
  assert.equal(tok.tokenToId("nope"), null);
});

test("byte-level BPE with a ByteLevel post-processor adds nothing (Qwen2 style)", async () => {
  const eos = "<|endoftext|>";
  const dir = writeTokenizer(
    "qwen2",
    byteLevelBpe([{ id: 15, content: eos }], {
      type: "ByteLevel",
      add_prefix_space: false,
      trim_offsets: false,
      use_regex: false,
    }),
    {
      tokenizer_class: "Qwen2Tokenizer",
      bos_token: null,
      eos_token: eos,
      pad_token: eos,
      clean_up_tokenization_spaces: false,
    },
  );
  const tok = await loadTokenizer(dir);
  assert.equal(tok.bosTokenId, null);
  assert.equal(tok.eosTokenId, 15);
  assert.equal(tok.padTokenId, 15);
  assert.deepEqual(tok.encode("hello world", { addSpecialTokens: true }), [11, 14, 2, 7]);
  assert.deepEqual(tok.encode(" world", { addSpecialTokens: false }), [14, 2, 7]);
  assert.equal(tok.decode([11, 15], { skipSpecialTokens: true }), "hello");
});

test("missing folder or tokenizer.json is a clear error", async () => {
  await assert.rejects(loadTokenizer(path.join(tmp, "nope")), /tokenizer folder .*nope not found/);
  const dir = path.join(tmp, "empty");
  fs.mkdirSync(dir);
  fs.writeFileSync(path.join(dir, "tokenizer.model"), "x");
  await assert.rejects(loadTokenizer(dir), /empty: no tokenizer\.json \(found tokenizer\.model/);
  fs.writeFileSync(path.join(dir, "tokenizer.json"), "{not json");
  await assert.rejects(loadTokenizer(dir), /tokenizer\.json: cannot read tokenizer\.json/);
});
