// The report's two front pages: reports/<experiment>/index.html (one self-contained file: inline CSS and SVG, no
// script, no CDN, nothing fetched) and README.md (the same tables in Markdown, figures linked as PNG). Both open with
// "At a glance" (generated sentences and the Figure 2 panel; it says first when runs are missing), then the list of
// what is missing or unreadable, then the detailed tables, the figures, the run list and provenance.
import type { LoadedRun } from "./load.ts";
import type { ReportTable } from "./tables.ts";
import { escapeHtml, toHtml, toMarkdown } from "./tables.ts";

export interface PageFigure {
  name: string;
  title: string;
  caption: string;
  /** SVG markup (inlined into the page). */
  svg: string;
  section: string;
}

export interface PageInput {
  experiment: string;
  /** Sentences from glanceLines and the Figure 2 panel (null without plots or without AdamW + Stable-LoRA runs). */
  glance: { lines: string[]; figure: PageFigure | null };
  generatedAt: string;
  resultsDirRel: string;
  counts: Record<string, number>;
  warnings: string[];
  /** id: anchor; short: its name in the navigation line. */
  sections: { id?: string; short?: string; title: string; intro?: string; tables: ReportTable[] }[];
  figures: PageFigure[];
  runList: ReportTable;
  provenance: [string, string][];
}

const CSS = `
:root { --fg:#1d1d1f; --muted:#5f6368; --line:#d9d9de; --bg-alt:#f6f7f9; --pos:#1a7f37; --neg:#b42318; }
* { box-sizing: border-box; }
body { font: 14px/1.45 "DejaVu Sans", "Liberation Sans", Arial, sans-serif; color: var(--fg); margin: 0; padding: 24px 32px 64px; max-width: 1500px; }
h1 { font-size: 24px; margin: 0 0 4px; } h2 { font-size: 19px; margin: 36px 0 10px; border-bottom: 1px solid var(--line); padding-bottom: 4px; }
h3 { font-size: 15px; margin: 22px 0 6px; }
.meta { color: var(--muted); margin: 0 0 14px; }
.counts span { display: inline-block; margin-right: 14px; }
.warnings { background: #fff8e1; border: 1px solid #f2d27a; padding: 8px 14px; border-radius: 4px; }
.warnings li { margin: 2px 0; }
nav a { margin-right: 14px; }
table.report { border-collapse: collapse; margin: 8px 0 4px; font-variant-numeric: tabular-nums; }
table.report caption { text-align: left; font-weight: bold; padding: 4px 0; }
table.report th, table.report td { border: 1px solid var(--line); padding: 4px 9px; text-align: left; vertical-align: top; }
table.report td.num, table.report td.pos, table.report td.neg, table.report td.missing, table.report td.failed, table.report td.running { text-align: right; white-space: nowrap; }
table.report td.text { max-width: 640px; font-size: 12.5px; }
table.report th { background: var(--bg-alt); }
table.report td.rowhead { white-space: nowrap; }
table.report tbody tr:nth-child(even) { background: #fbfbfc; }
table.report tbody tr.group td { border-top: 2px solid #9aa0a6; }
td.missing { color: #9aa0a6; font-style: italic; } td.failed { color: var(--neg); } td.running { color: #8a6d00; }
td.pos { color: var(--pos); } td.neg { color: var(--neg); }
td.verdict { white-space: nowrap; } td.supported { color: var(--pos); } td.contradicted { color: var(--neg); } td.inconclusive { color: #8a6d00; }
p.note { color: var(--muted); font-size: 12.5px; margin: 2px 0; max-width: 1100px; }
figure { margin: 18px 0 26px; } figure svg { max-width: 100%; height: auto; }
figcaption { color: var(--muted); font-size: 12.5px; } figcaption a { margin-right: 8px; }
.scroll { overflow-x: auto; }
section.glance { background: #f4f8fc; border: 1px solid #cfdcea; border-radius: 6px; padding: 4px 18px 10px; margin: 14px 0 18px; }
section.glance h2 { border: none; margin: 10px 0 6px; }
section.glance ul { margin: 4px 0 8px; padding-left: 20px; max-width: 1150px; } section.glance li { margin: 4px 0; }
section.glance figure { margin: 10px 0 4px; }
dl.prov { display: grid; grid-template-columns: max-content 1fr; gap: 2px 16px; } dl.prov dt { color: var(--muted); } dl.prov dd { margin: 0; font-family: "DejaVu Sans Mono", monospace; font-size: 12.5px; }
`;

/** Prefix every id in an SVG (and its url(#…)/href="#…" references) so several inline SVGs cannot collide. */
export function scopeSvgIds(svg: string, prefix: string): string {
  return svg
    .replace(/\bid="([^"]+)"/g, (_, id) => `id="${prefix}-${id}"`)
    .replace(/url\(#([^)]+)\)/g, (_, id) => `url(#${prefix}-${id})`)
    .replace(/href="#([^"]+)"/g, (_, id) => `href="#${prefix}-${id}"`)
    .replace(/^<svg /, `<svg role="img" aria-label="${prefix}" `);
}

export function renderHtml(p: PageInput): string {
  const counts = Object.entries(p.counts)
    .map(([k, v]) => `<span><strong>${v}</strong> ${escapeHtml(k)}</span>`)
    .join("");
  const warnings = p.warnings.length
    ? `<div class="warnings" id="warnings"><strong>What is missing or could not be read</strong><ul>${p.warnings.map((w) => `<li>${escapeHtml(w)}</li>`).join("")}</ul></div>`
    : "";
  const shown = p.sections.filter((s) => s.tables.length);
  const sections = shown
    .map(
      (s) =>
        `<h2${s.id ? ` id="${escapeHtml(s.id)}"` : ""}>${escapeHtml(s.title)}</h2>${s.intro ? `<p class="note">${escapeHtml(s.intro)}</p>` : ""}${s.tables.map((t) => `<div class="scroll">${toHtml(t)}</div>`).join("\n")}`,
    )
    .join("\n");
  const figureHtml = (f: PageFigure) =>
    `<figure id="fig-${escapeHtml(f.name)}"><div class="scroll">${scopeSvgIds(f.svg, `fig-${f.name}`)}</div><figcaption>${escapeHtml(f.caption)} <a href="plots/${encodeURIComponent(f.name)}.png">PNG</a><a href="plots/${encodeURIComponent(f.name)}.svg">SVG</a><a href="plots/${encodeURIComponent(f.name)}.vl.json">Vega-Lite spec</a></figcaption></figure>`;
  const figureSections = [...new Set(p.figures.map((f) => f.section))];
  const figures = p.figures.length
    ? `<h2 id="figures">Figures</h2>${figureSections
        .map(
          (sec) =>
            `<h3>${escapeHtml(sec)}</h3>${p.figures
              .filter((f) => f.section === sec)
              .map(figureHtml)
              .join("\n")}`,
        )
        .join("\n")}`
    : `<h2 id="figures">Figures</h2><p class="note">No figures yet: no run has logged metrics.</p>`;
  const glance = `<section class="glance" id="glance"><h2>At a glance</h2><ul>${p.glance.lines.map((l) => `<li>${escapeHtml(l)}</li>`).join("")}</ul>${p.glance.figure ? figureHtml(p.glance.figure) : ""}</section>`;
  const nav = [
    ...shown.filter((s) => s.id).map((s) => [s.id!, s.short ?? s.title] as const),
    ["figures", "Figures"],
    ["runs", "Runs"],
    ["provenance", "Provenance"],
  ]
    .map(([id, t]) => `<a href="#${escapeHtml(id)}">${escapeHtml(t)}</a>`)
    .join("");
  const prov = `<h2 id="provenance">Provenance</h2><dl class="prov">${p.provenance.map(([k, v]) => `<dt>${escapeHtml(k)}</dt><dd>${escapeHtml(v)}</dd>`).join("")}</dl>`;
  return `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>lora-lab report: ${escapeHtml(p.experiment)}</title>
<style>${CSS}</style>
</head>
<body>
<h1>lora-lab report: ${escapeHtml(p.experiment)}</h1>
<p class="meta">Generated ${escapeHtml(p.generatedAt)} from <code>${escapeHtml(p.resultsDirRel)}</code> (regenerate: <code>tsx experiments/run.ts report ${escapeHtml(p.experiment)}</code>). Tables as CSV and Markdown are in <a href="tables/">tables/</a>.</p>
<p class="counts">${counts}</p>
${glance}
${warnings}
<nav>${nav}</nav>
${sections}
${figures}
<h2 id="runs">Runs</h2>
<div class="scroll">${toHtml(p.runList)}</div>
${prov}
</body>
</html>
`;
}

export function renderReadme(p: PageInput): string {
  const out: string[] = [];
  out.push(`# lora-lab report: ${p.experiment}`, "");
  out.push(
    `Generated ${p.generatedAt} from \`${p.resultsDirRel}\`; regenerate with \`tsx experiments/run.ts report ${p.experiment}\`. The same content with inline figures: [index.html](index.html).`,
    "",
  );
  out.push(
    Object.entries(p.counts)
      .map(([k, v]) => `${v} ${k}`)
      .join(" · "),
    "",
  );
  out.push("## At a glance", "");
  for (const l of p.glance.lines) out.push(`- ${l}`);
  out.push("");
  if (p.glance.figure) {
    const f = p.glance.figure;
    out.push(
      `![${f.title}](plots/${f.name}.png)`,
      "",
      `${f.caption} ([SVG](plots/${f.name}.svg), [Vega-Lite spec](plots/${f.name}.vl.json))`,
      "",
    );
  }
  if (p.warnings.length) {
    out.push("**What is missing or could not be read:**", "");
    for (const w of p.warnings) out.push(`- ${w}`);
    out.push("");
  }
  for (const s of p.sections) {
    if (!s.tables.length) continue;
    out.push(`## ${s.title}`, "");
    if (s.intro) out.push(s.intro, "");
    for (const t of s.tables)
      out.push(`### ${t.title}`, "", toMarkdown(t), `CSV: [tables/${t.id}.csv](tables/${t.id}.csv)`, "");
  }
  if (p.figures.length) {
    out.push("## Figures", "");
    for (const f of p.figures)
      out.push(
        `### ${f.title}`,
        "",
        `![${f.title}](plots/${f.name}.png)`,
        "",
        `${f.caption} ([SVG](plots/${f.name}.svg), [Vega-Lite spec](plots/${f.name}.vl.json))`,
        "",
      );
  }
  out.push("## Runs", "", toMarkdown(p.runList), "## Provenance", "");
  for (const [k, v] of p.provenance) out.push(`- **${k}**: ${v}`);
  out.push("");
  return out.join("\n");
}

/** Distinct provenance values across runs' summaries (git sha, packages, backend, node, platform). */
export function provenanceOf(runs: readonly LoadedRun[]): [string, string][] {
  const distinct = (f: (r: LoadedRun) => string | null | undefined) => {
    const counts = new Map<string, number>();
    for (const r of runs) {
      const v = f(r);
      if (v) counts.set(v, (counts.get(v) ?? 0) + 1);
    }
    if (!counts.size) return "unknown (no summary.json yet)";
    return [...counts.entries()].map(([v, n]) => (counts.size > 1 ? `${v} (${n} runs)` : v)).join("; ");
  };
  const pv = (r: LoadedRun) => r.summary?.provenance;
  return [
    ["git commit", distinct((r) => (pv(r)?.gitSha ? `${pv(r)!.gitSha}${pv(r)!.gitDirty ? " (dirty)" : ""}` : null))],
    [
      "backend",
      distinct((r) =>
        pv(r)?.backend ? `${pv(r)!.backend.name} (${pv(r)!.backend.provider}) ${pv(r)!.backend.detail}`.trim() : null,
      ),
    ],
    [
      "packages",
      distinct((r) =>
        pv(r)?.packages
          ? Object.entries(pv(r)!.packages)
              .map(([k, v]) => `${k}@${v}`)
              .join(", ")
          : null,
      ),
    ],
    ["node", distinct((r) => pv(r)?.node)],
    ["platform", distinct((r) => (pv(r) ? `${pv(r)!.platform}, ${pv(r)!.cpus} CPUs, ${pv(r)!.hostname}` : null))],
    ["schema version", distinct((r) => (r.summary ? String(r.summary.schemaVersion) : null))],
  ];
}
