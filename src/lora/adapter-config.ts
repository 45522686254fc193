// An existing PEFT adapter's LoRA configuration, for the commands that use one: `train --init-adapter` continues
// training the adapter with its own r, alpha, target modules, rsLoRA and dropout (as PEFT does when it resumes from
// an adapter), and `eval`/`score --adapter` warn when the adapter was trained on a different base model.
import * as path from "node:path";
import { ConfigError, LORA_TARGETS, type LoraConfig, type LoraTarget } from "../config.ts";
import { ADAPTER_CONFIG, PeftFormatError, readPeftConfig } from "./peft-format.ts";

/** The adapter's settings as this harness's `lora` config section (targets in q,k,v,o,gate,up,down order). */
export function adapterLoraConfig(dir: string): LoraConfig {
  const c = readPeftConfig(dir);
  const file = path.join(dir, ADAPTER_CONFIG);
  const targets = new Set<LoraTarget>();
  for (const name of c.target_modules) {
    // A list entry matches module-name suffixes (PEFT): "q_proj", "self_attn.q_proj" or a full module path.
    const last = name.split(".").pop()!;
    if (!(LORA_TARGETS as readonly string[]).includes(last)) {
      throw new PeftFormatError(
        `${file}: target_modules has "${name}", which is not one of the layers this harness adapts ` +
          `(${LORA_TARGETS.join(", ")})`,
      );
    }
    targets.add(last as LoraTarget);
  }
  if (targets.size === 0) throw new PeftFormatError(`${file}: target_modules is empty`);
  if (c.lora_dropout < 0 || c.lora_dropout >= 1) {
    throw new PeftFormatError(`${file}: lora_dropout must be in [0, 1), got ${c.lora_dropout}`);
  }
  if (c.lora_alpha <= 0) throw new PeftFormatError(`${file}: lora_alpha must be positive, got ${c.lora_alpha}`);
  return {
    r: c.r,
    alpha: c.lora_alpha,
    targets: LORA_TARGETS.filter((t) => targets.has(t)) as [LoraTarget, ...LoraTarget[]],
    dropout: c.lora_dropout,
    rslora: c.use_rslora,
  };
}

const PEFT_NAME: Record<keyof LoraConfig, string> = {
  r: "r",
  alpha: "lora_alpha",
  targets: "target_modules",
  dropout: "lora_dropout",
  rslora: "use_rslora",
};

/**
 * The `lora` section a run that starts from the adapter in `dir` must use: the adapter's own. `explicit` holds the
 * `lora` keys the user set (e.g. by --set); a value that contradicts the adapter is a ConfigError naming both.
 */
export function adoptAdapterLora(
  dir: string,
  explicit: Partial<Record<keyof LoraConfig, unknown>> | undefined,
): LoraConfig {
  const adopted = adapterLoraConfig(dir);
  const file = path.join(dir, ADAPTER_CONFIG);
  const clashes: string[] = [];
  for (const key of Object.keys(adopted) as (keyof LoraConfig)[]) {
    const want = explicit?.[key];
    if (want === undefined) continue;
    const have = adopted[key];
    const same = key === "targets" ? sameSet(want, have as string[]) : want === have;
    if (!same) {
      const adapterHas = `${PEFT_NAME[key]} = ${JSON.stringify(have)}`;
      clashes.push(`lora.${key}=${JSON.stringify(want)} but the adapter has ${adapterHas}`);
    }
  }
  if (clashes.length) {
    throw new ConfigError(
      `--init-adapter ${dir}: ${clashes.join("; ")} (${file}). A run that starts from an adapter trains it with ` +
        `the adapter's own LoRA configuration: drop the contradicting --set, ` +
        `or leave out --init-adapter to start from a fresh init`,
    );
  }
  return adopted;
}

function sameSet(want: unknown, have: readonly string[]): boolean {
  return Array.isArray(want) && new Set(want).size === have.length && want.every((t) => have.includes(t as string));
}

/** A model spec in lower case; an HF-cache snapshot path (…/models--org--name/snapshots/<sha>) becomes "org/name". */
function modelName(spec: string): string {
  const s = spec.replace(/[\\/]+$/, "");
  const cache = /models--([^\\/]+?)--([^\\/]+)(?:[\\/]|$)/.exec(s);
  if (cache) return `${cache[1]}/${cache[2]}`.toLowerCase();
  return s.toLowerCase();
}

/**
 * A warning when the adapter's base_model_name_or_path names another model than `model` (null when they agree or the
 * adapter names none). Names are compared as hub ids or by their last path component, since the same model is often
 * a hub id in one place and a local folder in the other.
 */
export function baseModelMismatch(dir: string, model: string): string | null {
  const base = readPeftConfig(dir).base_model_name_or_path;
  if (!base) return null;
  const a = modelName(base),
    b = modelName(model);
  const last = (x: string) => x.split(/[\\/]/).pop();
  if (a === b || path.resolve(base) === path.resolve(model) || last(a) === last(b)) return null;
  return (
    `warning: adapter ${dir} was trained on "${base}" (base_model_name_or_path in ${ADAPTER_CONFIG}), ` +
    `but is applied to "${model}"; continuing (layer shapes that do not fit are an error)`
  );
}
