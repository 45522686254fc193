// GSM8K answer extraction and comparison, after lm-evaluation-harness's gsm8k.yaml filter_list and metric_list:
//   strict-match:     regex "#### (\-?[0-9\.\,]+)", first match (lm-eval RegexFilter, group_select 0)
//   flexible-extract: regex "(-?[$0-9.,]{2,})|(-?[0-9]+)", last match (group_select -1), first non-empty group
//   exact_match:      ignore_case, regexes_to_ignore [",", "\$", "(?s).*#### ", "\.$"] on prediction and target.
// The "metamath" answer style (our default gsm8k task) also accepts MetaMath's "The answer is: N" in strict-match and
// drops trailing zeros after a decimal point ("18.0" → "18", which lm-eval would score as wrong). Both deviations
// apply only to the gsm8k task; gsm8k_lm_eval uses lm-eval's rules unchanged.
import type { FilterName } from "../tasks/types.ts";

export type AnswerStyle = "lm-eval" | "metamath";
export const INVALID = "[invalid]";

const STRICT_LM_EVAL = /#### (\-?[0-9\.\,]+)/g;
// MetaMath responses end "#### N\nThe answer is: N"; MetaMath's eval_gsm8k.py splits on "The answer is: ".
const STRICT_METAMATH = /(?:#### |The answer is:? ?)\$?(\-?[0-9\.\,]+)/g;
const FLEXIBLE = /(-?[$0-9.,]{2,})|(-?[0-9]+)/g;

/**
 * lm-eval's RegexFilter on one response: all matches (re.findall), pick `groupSelect` (negative counts from the
 * end), a match with groups yields its first non-empty group, then strip; no match → "[invalid]".
 */
export function regexExtract(text: string, pattern: RegExp, groupSelect = 0): string {
  const re = new RegExp(pattern.source, pattern.flags.includes("g") ? pattern.flags : pattern.flags + "g");
  const matches = [...text.matchAll(re)];
  if (matches.length === 0) return INVALID;
  const idx = groupSelect < 0 ? matches.length + groupSelect : groupSelect;
  const m = matches[idx];
  if (!m) return INVALID;
  // re.findall returns the groups when the pattern has any; the first non-empty one is kept.
  const value = m.length > 1 ? (m.slice(1).find((g) => g) ?? "") : m[0];
  return value.trim();
}

export function strictMatch(text: string, style: AnswerStyle): string {
  return regexExtract(text, style === "metamath" ? STRICT_METAMATH : STRICT_LM_EVAL, 0);
}

export function flexibleExtract(text: string): string {
  return regexExtract(text, FLEXIBLE, -1);
}

export function applyFilter(name: FilterName, text: string, style: AnswerStyle): string {
  switch (name) {
    case "strict-match":
      return strictMatch(text, style);
    case "flexible-extract":
      return flexibleExtract(text);
    default: {
      const never: never = name;
      throw new Error(`unknown filter ${String(never)}`);
    }
  }
}

/**
 * lm-eval exact_match normalisation for gsm8k: remove ",", "$", everything up to "#### ", a trailing ".", then
 * lower-case. The "metamath" style additionally strips whitespace and trailing zeros of a decimal ("3.0" → "3",
 * "2.50" → "2.5").
 */
export function normalizeAnswer(s: string, style: AnswerStyle): string {
  let t = s
    .replace(/,/g, "")
    .replace(/\$/g, "")
    .replace(/^[\s\S]*#### /, "")
    .replace(/\.$/, "")
    .toLowerCase();
  if (style === "metamath") {
    t = t.trim();
    if (/^-?\d*\.\d+$/.test(t)) t = t.replace(/0+$/, "").replace(/\.$/, "");
    if (t === "-0") t = "0";
  }
  return t;
}

/** exact_match for one response under one filter: 1 when the normalised extraction equals the normalised target. */
export function exactMatch(extracted: string, target: string, style: AnswerStyle): 0 | 1 {
  if (extracted === INVALID) return 0;
  return normalizeAnswer(extracted, style) === normalizeAnswer(target, style) ? 1 : 0;
}
