// GSM8K answer extraction and exact-match normalisation, against lm-evaluation-harness's gsm8k.yaml
// (filter_list strict-match "#### (\-?[0-9\.\,]+)", flexible-extract "(-?[$0-9.,]{2,})|(-?[0-9]+)" with
// group_select -1, regexes_to_ignore [",", "\$", "(?s).*#### ", "\.$"]) and MetaMath's "The answer is: N".
import { test } from "node:test";
import assert from "node:assert/strict";
import { exactMatch, flexibleExtract, INVALID, normalizeAnswer, regexExtract, strictMatch } from "./filters.ts";

test("strict-match (lm-eval): first '#### N'", () => {
  assert.equal(strictMatch("so 1,000+234.\n#### 1,234", "lm-eval"), "1,234");
  assert.equal(strictMatch("#### -5\n#### 7", "lm-eval"), "-5");
  assert.equal(strictMatch("The answer is: 18", "lm-eval"), INVALID);
  assert.equal(strictMatch("no number here", "lm-eval"), INVALID);
});

test("strict-match (metamath): also 'The answer is: N', with or without '$'", () => {
  assert.equal(strictMatch("9 * 2 = 18 dollars.\nThe answer is: 18", "metamath"), "18");
  assert.equal(strictMatch("#### 240\nThe answer is: 240", "metamath"), "240");
  assert.equal(strictMatch("The answer is: $1,000", "metamath"), "1,000");
  assert.equal(strictMatch("The answer is 3.0.", "metamath"), "3.0.");
});

test("flexible-extract: the last number-like span, first non-empty group", () => {
  assert.equal(flexibleExtract("She pays $1,000 then 20 more, total $1,020."), "$1,020.");
  assert.equal(flexibleExtract("5 apples and 7 pears"), "7");
  assert.equal(flexibleExtract("x = -5"), "-5");
  assert.equal(flexibleExtract("none"), INVALID);
  assert.equal(regexExtract("a1 b22 c333", /(\d{2,})|(\d)/, 0), "1");
});

test("normalisation and exact_match: commas, $, trailing '.', '.0'", () => {
  assert.equal(normalizeAnswer("$1,000", "lm-eval"), "1000");
  assert.equal(normalizeAnswer("1,234.", "lm-eval"), "1234");
  assert.equal(normalizeAnswer("3.0", "lm-eval"), "3.0"); // lm-eval keeps it, so "3.0" ≠ "3"
  assert.equal(normalizeAnswer("3.0", "metamath"), "3");
  assert.equal(normalizeAnswer("2.50", "metamath"), "2.5");
  assert.equal(normalizeAnswer("-5", "metamath"), "-5");
  assert.equal(exactMatch("$1,000", "1000", "lm-eval"), 1);
  assert.equal(exactMatch("$1,020.", "1,020", "lm-eval"), 1);
  assert.equal(exactMatch("3.0", "3", "lm-eval"), 0);
  assert.equal(exactMatch("3.0", "3", "metamath"), 1);
  assert.equal(exactMatch("-5", "5", "metamath"), 0);
  assert.equal(exactMatch(strictMatch("The answer is: 18", "metamath"), "18", "metamath"), 1);
  assert.equal(exactMatch(strictMatch("#### 1,234", "lm-eval"), "1234", "lm-eval"), 1);
  assert.equal(exactMatch(INVALID, "[invalid]", "lm-eval"), 0);
});
