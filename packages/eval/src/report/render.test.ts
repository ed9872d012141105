import { readFileSync } from "node:fs";
import { describe, expect, it } from "vitest";
import { sharedPath } from "@quantlab/testing/fixtures";
import { renderReportHtml, renderReportMarkdown, reportCharts } from "./render.js";
import { niceTicks, paretoFrontier, renderScatterSvg } from "./svg.js";
import type { SweepReport, SweepRow } from "./types.js";

/** A report built from llama.cpp's own figures for tinystories-5m (golden results.tsv), so the shapes are real. */
function goldenReport(): SweepReport {
  const text = readFileSync(sharedPath("golden", "llamacpp-c392e50", "tinystories-5m", "results.tsv"), "utf8").trim().split("\n");
  const head = text[0]!.split("\t");
  const col = (cells: string[], name: string): string => cells[head.indexOf(name)]!;
  const rows: SweepRow[] = [];
  let baseline: SweepRow | undefined;
  for (const line of text.slice(1)) {
    const c = line.split("\t");
    const preset = col(c, "preset");
    const imatrix = col(c, "imatrix") === "yes";
    const ppl = Number(col(c, "ppl"));
    const row: SweepRow = {
      label: `${preset}${imatrix ? "-imatrix" : ""}`,
      preset,
      imatrix,
      status: "ok",
      fileBytes: Number(col(c, "size_bytes")),
      bpw: Number(col(c, "bpw")),
      ppl,
      pplErr: Number(col(c, "ppl_stderr")),
      meanKld: Number(col(c, "mean_kld")),
      sameTopP: Number(col(c, "same_top_p")),
      rmsDp: Number(col(c, "rms_dp")),
    };
    if (preset === "F32") baseline = { ...row, label: "F32", meanKld: undefined };
    else rows.push(row);
  }
  const base = baseline!;
  return {
    version: 1,
    createdAt: "2026-11-23T00:00:00Z",
    model: { file: "tinystories-5m-f32.gguf", arch: "llama", fileBytes: 19_951_104, nWeights: 4_984_064, nLayer: 6 },
    settings: { text: "tinystories_heldout.txt", ctx: 256, backend: "llama.cpp", threads: 2 },
    baseline: base,
    rows: rows.map((r) => ({ ...r, dPplPct: (r.ppl! / base.ppl! - 1) * 100 })),
    recommendation: { label: "Q4_K_M-imatrix", reason: "test" },
  };
}

describe("report rendering (figures from llama.cpp's results.tsv for tinystories-5m)", () => {
  const r = goldenReport();

  it("the Pareto frontier: no point beats a frontier point on both size and KLD, and every other point is beaten", () => {
    const pts = r.rows.filter((x) => x.meanKld! > 0).map((x) => ({ x: x.bpw!, y: x.meanKld!, label: x.label }));
    const front = paretoFrontier(pts);
    const onFront = new Set(front.map((p) => p.label));
    for (const f of front) expect(pts.some((p) => p.x <= f.x && p.y <= f.y && (p.x < f.x || p.y < f.y))).toBe(false);
    for (const p of pts) if (!onFront.has(p.label)) expect(pts.some((q) => q !== p && q.x <= p.x && q.y <= p.y)).toBe(true); // beaten, or tied (Q8_0 with and without imatrix)
    // Known from the table: F16 is the most accurate, IQ1_S the smallest; both are on the frontier.
    expect(onFront.has("F16")).toBe(true);
    expect(onFront.has("IQ1_S-imatrix")).toBe(true);
    expect(onFront.has("TQ1_0")).toBe(false); // 1.9 bpw but KLD 1.96: beaten by IQ1_M/IQ1_S
  });

  it("charts: one point per measured row, a log-scale KLD chart, and a frontier line", () => {
    const charts = reportCharts(r);
    expect(charts.map((c) => c.id)).toEqual(["kld-vs-bpw", "ppl-vs-bpw"]);
    const kld = renderScatterSvg(charts[0]!.chart);
    const nPositive = r.rows.filter((x) => x.meanKld! > 0).length;
    expect(kld.match(/<circle class="point"/g)!.length).toBe(nPositive);
    expect(kld).toContain("(log scale)");
    expect(kld).toContain('class="frontier"');
    const ppl = renderScatterSvg(charts[1]!.chart);
    expect(ppl.match(/<circle class="point"/g)!.length).toBe(r.rows.length);
    expect(ppl).toContain("F32 6.828"); // the reference line
    expect(kld.startsWith("<svg")).toBe(true);
    expect(renderScatterSvg(charts[0]!.chart)).toBe(kld); // deterministic
  });

  it("markdown: a row per preset, sorted by bpw, the recommendation, chart links", () => {
    const md = renderReportMarkdown(r);
    const tableLines = md.split("\n").filter((l) => l.startsWith("| ") && !l.startsWith("| label"));
    expect(tableLines.length).toBe(r.rows.length + 1);
    expect(tableLines[0]!.startsWith("| F32 |")).toBe(true);
    expect(tableLines[1]!.startsWith("| F16")).toBe(true); // then by bpw, descending
    expect(tableLines.at(-1)!.startsWith("| IQ1_S-imatrix")).toBe(true);
    expect(md).toContain("**Recommendation: Q4_K_M-imatrix**");
    expect(md).toContain("](kld-vs-bpw.svg)");
  });

  it("html: self-contained, one svg per chart, the recommended row marked", () => {
    const html = renderReportHtml(r);
    expect(html.match(/<svg /g)!.length).toBe(2);
    expect(html).not.toMatch(/<script|src="http|href="http/);
    expect(html).toMatch(/<tr class="[a-z ]*recommended"><td>Q4_K_M-imatrix</);
  });

  it("niceTicks covers the range with 1-2-5 steps", () => {
    expect(niceTicks(1.8, 8.6)).toEqual([2, 4, 6, 8]);
    expect(niceTicks(6.8, 36.2)).toEqual([10, 15, 20, 25, 30, 35]);
  });
});
