/**
 * A small dependency-free SVG scatter chart for quality-vs-size plots: linear or log y axis, "nice" ticks, one
 * colour per series, point labels, and an optional line through a Pareto frontier.
 *
 * Why not vega-lite: it would add ~10 MB of dependencies to a package that otherwise has none beyond the workspace,
 * and the charts we draw are one shape. The output is deterministic text (same input → same bytes), which keeps
 * reports diffable and testable.
 */

export interface ChartPoint {
  readonly x: number;
  readonly y: number;
  /** Drawn beside the point (e.g. the preset name). */
  readonly label?: string;
}

export interface ChartSeries {
  readonly name: string;
  readonly points: readonly ChartPoint[];
  /** CSS colour; default from a colour-blind-safe palette. */
  readonly color?: string;
}

export interface ScatterChart {
  readonly title: string;
  readonly xLabel: string;
  readonly yLabel: string;
  readonly series: readonly ChartSeries[];
  /** Log-scale y (for KLD, which spans decades). Non-positive values are dropped from a log chart. */
  readonly logY?: boolean;
  /** Points (from any series) to join as the Pareto frontier, drawn as a dashed line and listed in the legend. */
  readonly frontier?: readonly ChartPoint[];
  /** A horizontal reference line (e.g. the F32 perplexity). */
  readonly reference?: { readonly y: number; readonly label: string };
  readonly width?: number;
  readonly height?: number;
}

/** Okabe–Ito palette (colour-blind safe). */
export const PALETTE = ["#0072B2", "#D55E00", "#009E73", "#CC79A7", "#E69F00", "#56B4E9", "#F0E442", "#000000"] as const;

const esc = (s: string): string => s.replace(/&/g, "&amp;").replace(/</g, "&lt;").replace(/>/g, "&gt;").replace(/"/g, "&quot;");
const fmt = (v: number): string => (Number.isInteger(v) ? String(v) : v.toFixed(2).replace(/\.?0+$/, ""));

/** Ticks at 1, 2, 5 × 10^k covering [lo, hi]. */
export function niceTicks(lo: number, hi: number, target = 6): number[] {
  if (!(hi > lo)) return [lo];
  const raw = (hi - lo) / Math.max(1, target);
  const mag = 10 ** Math.floor(Math.log10(raw));
  const step = [1, 2, 2.5, 5, 10].map((m) => m * mag).find((s) => s >= raw) ?? 10 * mag;
  const out: number[] = [];
  for (let v = Math.ceil(lo / step - 1e-9) * step; v <= hi + step * 1e-9; v += step) out.push(Number(v.toPrecision(12)));
  return out;
}

function tickLabel(v: number): string {
  if (v === 0) return "0";
  const a = Math.abs(v);
  if (a >= 1e4 || a < 1e-3) return v.toExponential(0).replace("e+", "e");
  return Number(v.toPrecision(4)).toString();
}

/** Renders the chart as a standalone SVG document (also valid inline in HTML). */
export function renderScatterSvg(c: ScatterChart): string {
  const W = c.width ?? 720;
  const H = c.height ?? 440;
  const m = { l: 72, r: 150, t: 40, b: 56 };
  const logY = c.logY === true;
  const keep = (p: ChartPoint): boolean => Number.isFinite(p.x) && Number.isFinite(p.y) && (!logY || p.y > 0);
  const series = c.series.map((s, i) => ({ ...s, color: s.color ?? PALETTE[i % PALETTE.length]!, points: s.points.filter(keep) }));
  const all = series.flatMap((s) => s.points);
  const xs = all.map((p) => p.x);
  const ys = all.map((p) => (logY ? Math.log10(p.y) : p.y));
  if (c.reference && (!logY || c.reference.y > 0)) ys.push(logY ? Math.log10(c.reference.y) : c.reference.y);
  let x0 = xs.length ? Math.min(...xs) : 0;
  let x1 = xs.length ? Math.max(...xs) : 1;
  let y0 = ys.length ? Math.min(...ys) : 0;
  let y1 = ys.length ? Math.max(...ys) : 1;
  if (x1 === x0) { x0 -= 1; x1 += 1; }
  if (y1 === y0) { y0 -= logY ? 0.5 : Math.abs(y0) * 0.1 || 1; y1 += logY ? 0.5 : Math.abs(y1) * 0.1 || 1; }
  const xPad = (x1 - x0) * 0.05;
  const yPad = (y1 - y0) * 0.06;
  x0 -= xPad; x1 += xPad; y0 -= yPad; y1 += yPad;
  const pw = W - m.l - m.r;
  const ph = H - m.t - m.b;
  const sx = (x: number): number => m.l + ((x - x0) / (x1 - x0)) * pw;
  const syv = (v: number): number => m.t + ph - ((v - y0) / (y1 - y0)) * ph;
  const sy = (y: number): number => syv(logY ? Math.log10(y) : y);
  const o: string[] = [];
  o.push(`<svg xmlns="http://www.w3.org/2000/svg" width="${W}" height="${H}" viewBox="0 0 ${W} ${H}" font-family="system-ui, sans-serif" font-size="12" role="img" aria-label="${esc(c.title)}">`);
  o.push(`<title>${esc(c.title)}</title>`);
  o.push(`<rect width="${W}" height="${H}" fill="#fff"/>`);
  o.push(`<text x="${m.l}" y="22" font-size="15" font-weight="600">${esc(c.title)}</text>`);
  // Grid and ticks.
  o.push(`<g class="axis" stroke="#ddd">`);
  const xt = niceTicks(x0, x1);
  for (const v of xt) o.push(`<line x1="${fmt(sx(v))}" y1="${m.t}" x2="${fmt(sx(v))}" y2="${m.t + ph}"/>`);
  const yt = logY
    ? Array.from({ length: Math.floor(y1) - Math.ceil(y0) + 1 }, (_, i) => Math.ceil(y0) + i)
    : niceTicks(y0, y1);
  for (const v of yt) o.push(`<line x1="${m.l}" y1="${fmt(syv(v))}" x2="${m.l + pw}" y2="${fmt(syv(v))}"/>`);
  o.push(`</g>`);
  o.push(`<g class="ticks" fill="#333">`);
  for (const v of xt) o.push(`<text x="${fmt(sx(v))}" y="${m.t + ph + 18}" text-anchor="middle">${tickLabel(v)}</text>`);
  for (const v of yt) o.push(`<text x="${m.l - 8}" y="${fmt(syv(v) + 4)}" text-anchor="end">${tickLabel(logY ? 10 ** v : v)}</text>`);
  o.push(`</g>`);
  o.push(`<rect x="${m.l}" y="${m.t}" width="${pw}" height="${ph}" fill="none" stroke="#888"/>`);
  o.push(`<text x="${m.l + pw / 2}" y="${H - 14}" text-anchor="middle">${esc(c.xLabel)}</text>`);
  o.push(`<text transform="translate(18 ${m.t + ph / 2}) rotate(-90)" text-anchor="middle">${esc(c.yLabel)}${logY ? " (log scale)" : ""}</text>`);
  if (c.reference && (!logY || c.reference.y > 0)) {
    const y = fmt(sy(c.reference.y));
    o.push(`<g class="reference"><line x1="${m.l}" y1="${y}" x2="${m.l + pw}" y2="${y}" stroke="#999" stroke-dasharray="2 3"/>`);
    o.push(`<text x="${m.l + pw - 4}" y="${fmt(sy(c.reference.y) - 5)}" text-anchor="end" fill="#666">${esc(c.reference.label)}</text></g>`);
  }
  const frontier = (c.frontier ?? []).filter(keep);
  if (frontier.length > 1) {
    const pts = [...frontier].sort((a, b) => a.x - b.x).map((p) => `${fmt(sx(p.x))},${fmt(sy(p.y))}`).join(" ");
    o.push(`<polyline class="frontier" points="${pts}" fill="none" stroke="#444" stroke-width="1.5" stroke-dasharray="6 4"/>`);
  }
  for (const [si, s] of series.entries()) {
    // Alternate label placement between series (above / below the point), so the labels of two series with points
    // at the same x (a preset with and without imatrix) do not print over each other.
    const dy = si % 2 === 0 ? -6 : 14;
    o.push(`<g class="series" data-series="${esc(s.name)}" fill="${s.color}">`);
    for (const p of s.points) {
      const label = p.label !== undefined ? `${p.label}: ` : "";
      o.push(`<circle class="point" cx="${fmt(sx(p.x))}" cy="${fmt(sy(p.y))}" r="4.5"><title>${esc(`${label}${tickLabel(p.x)}, ${tickLabel(p.y)}`)}</title></circle>`);
      if (p.label !== undefined) o.push(`<text x="${fmt(sx(p.x) + 7)}" y="${fmt(sy(p.y) + dy)}" font-size="10" fill="#333">${esc(p.label)}</text>`);
    }
    o.push(`</g>`);
  }
  // Legend.
  let ly = m.t + 8;
  o.push(`<g class="legend">`);
  for (const s of series) {
    o.push(`<circle cx="${m.l + pw + 18}" cy="${ly}" r="5" fill="${s.color}"/><text x="${m.l + pw + 28}" y="${ly + 4}">${esc(s.name)}</text>`);
    ly += 20;
  }
  if (frontier.length > 1) {
    o.push(`<line x1="${m.l + pw + 10}" y1="${ly}" x2="${m.l + pw + 26}" y2="${ly}" stroke="#444" stroke-width="1.5" stroke-dasharray="6 4"/><text x="${m.l + pw + 28}" y="${ly + 4}">Pareto frontier</text>`);
  }
  o.push(`</g>`);
  o.push(`</svg>`);
  return o.join("\n") + "\n";
}

/**
 * The Pareto frontier for "smaller x and smaller y are both better" (size vs error): the points no other point beats
 * on both. Sorted by x.
 */
export function paretoFrontier<P extends ChartPoint>(points: readonly P[]): P[] {
  const sorted = points.filter((p) => Number.isFinite(p.x) && Number.isFinite(p.y)).sort((a, b) => a.x - b.x || a.y - b.y);
  const out: P[] = [];
  let best = Infinity;
  for (const p of sorted) {
    if (p.y < best) {
      out.push(p);
      best = p.y;
    }
  }
  return out;
}
