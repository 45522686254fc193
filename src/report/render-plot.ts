// Render a Vega-Lite spec in Node: compile with vega-lite, draw to SVG with a headless vega View (renderer "none"),
// and rasterise to PNG with @resvg/resvg-js using a system font (DejaVu Sans from Debian's fonts-dejavu-core, or
// Liberation Sans; without either resvg falls back to whatever system fonts it finds, and text may be missing).
import * as fs from "node:fs";
import * as path from "node:path";
import * as vega from "vega";
import { compile } from "vega-lite";
import { renderAsync } from "@resvg/resvg-js";
import type { VlSpec } from "./plots.ts";

const FONT_CANDIDATES = [
  "/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf",
  "/usr/share/fonts/truetype/dejavu/DejaVuSans-Bold.ttf",
  "/usr/share/fonts/truetype/liberation/LiberationSans-Regular.ttf",
  "/usr/share/fonts/truetype/liberation/LiberationSans-Bold.ttf",
  "/usr/share/fonts/TTF/DejaVuSans.ttf",
  "/Library/Fonts/Arial.ttf",
];

/** Font files found on this machine (empty: resvg loads system fonts itself). */
export function fontFiles(): string[] {
  return FONT_CANDIDATES.filter((f) => fs.existsSync(f));
}

export interface RenderedPlot {
  name: string;
  svg: string;
  specPath: string;
  svgPath: string;
  pngPath: string;
  /** PNG size in pixels (2× the SVG's). */
  pngWidth: number;
  pngHeight: number;
}

/** Spec → SVG string. */
export async function specToSvg(spec: VlSpec): Promise<string> {
  const vg = compile(spec as unknown as Parameters<typeof compile>[0]).spec;
  const view = new vega.View(vega.parse(vg), { renderer: "none" });
  try {
    return await view.toSVG();
  } finally {
    view.finalize();
  }
}

/** SVG → PNG at `zoom`× (default 2 for crisp text). */
export async function svgToPng(svg: string, zoom = 2): Promise<{ png: Buffer; width: number; height: number }> {
  const files = fontFiles();
  // Off the main thread (libuv's pool), so the figures of a report render side by side.
  const img = await renderAsync(svg, {
    fitTo: { mode: "zoom", value: zoom },
    font: files.length
      ? { loadSystemFonts: false, fontFiles: files, defaultFontFamily: "DejaVu Sans" }
      : { loadSystemFonts: true },
  });
  return { png: img.asPng(), width: img.width, height: img.height };
}

/** Write <dir>/<name>.vl.json, .svg and .png. */
export async function renderPlot(spec: VlSpec, dir: string, name: string): Promise<RenderedPlot> {
  fs.mkdirSync(dir, { recursive: true });
  const specPath = path.join(dir, `${name}.vl.json`);
  const svgPath = path.join(dir, `${name}.svg`);
  const pngPath = path.join(dir, `${name}.png`);
  fs.writeFileSync(specPath, JSON.stringify(spec, null, 1) + "\n");
  const svg = await specToSvg(spec);
  fs.writeFileSync(svgPath, svg);
  const { png, width, height } = await svgToPng(svg);
  fs.writeFileSync(pngPath, png);
  return { name, svg, specPath, svgPath, pngPath, pngWidth: width, pngHeight: height };
}
