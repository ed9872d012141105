#!/usr/bin/env node
// Runs the whole vitest suite and ends with the one plain line CI reads: "N passed, N failed".
// Extra arguments are passed to vitest (e.g. a file filter).
import { spawnSync } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";

const dir = mkdtempSync(join(tmpdir(), "quantlab-test-"));
const out = join(dir, "vitest.json");
const args = [
  "exec", "vitest", "run",
  "--reporter=default", "--reporter=json", `--outputFile.json=${out}`,
  ...process.argv.slice(2),
];
const res = spawnSync("pnpm", args, { stdio: "inherit", env: process.env });
let passed = 0;
let failed = 0;
let skipped = 0;
try {
  const report = JSON.parse(readFileSync(out, "utf8"));
  passed = report.numPassedTests ?? 0;
  failed = (report.numFailedTests ?? 0);
  skipped = (report.numPendingTests ?? 0) + (report.numTodoTests ?? 0);
  // A file that fails to load has no tests but must count as a failure.
  for (const f of report.testResults ?? []) {
    if (f.status === "failed" && (f.assertionResults ?? []).length === 0) failed += 1;
  }
} catch (e) {
  console.error(`could not read the vitest JSON report: ${e instanceof Error ? e.message : String(e)}`);
  failed = Math.max(failed, 1);
}
rmSync(dir, { recursive: true, force: true });
if (res.status !== 0 && failed === 0) failed = 1;
console.log(`${passed} passed, ${failed} failed${skipped ? `, ${skipped} skipped` : ""}`);
process.exit(failed > 0 || res.status !== 0 ? 1 : 0);
