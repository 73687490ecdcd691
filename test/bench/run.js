/**
 * `npm run bench`: every performance case of issue 10 against its target, each measured side by
 * side with its baseline. Prints medians and PASS/FAIL, writes test/bench/results/latest.json.
 * `node test/bench/run.js startup download` runs only those cases (after `npm run build`).
 * BENCH_RUNS sets the runs per variant (default 10).
 */
import { execFileSync } from 'node:child_process';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { cpus, loadavg } from 'node:os';
import { join } from 'node:path';
import { ROOT } from './lib.js';
import { batch } from './batch.js';
import { cdn, download } from './download.js';
import { history } from './history.js';
import { polling } from './polling.js';
import { startup } from './startup.js';

/** Timed in a quiet machine, before anything else starts: a few ms of noise is a ratio of 0.1 here. */
const QUIET = { startup };
/** Run one after another, so they do not compete for the CPU… */
const SEQUENTIAL = { download, cdn, history, batch };
/** …except polling, which mostly sleeps for 300 s of real time, so it runs alongside them. */
const BACKGROUND = { polling };
const CASES = { ...QUIET, ...SEQUENTIAL, ...BACKGROUND };
const runs = Number(process.env.BENCH_RUNS ?? 10);
const wanted = process.argv.slice(2);
const selected = Object.keys(CASES).filter((name) => wanted.length === 0 || wanted.includes(name));

const machine = {
  cpus: cpus().length,
  cpu_model: /model name\s*:\s*(.*)/.exec(readFileSync('/proc/cpuinfo', 'utf8'))?.[1] ?? cpus()[0]?.model,
  node: process.version,
  platform: `${process.platform} ${process.arch}`,
};
const load = () => loadavg().map((average) => average.toFixed(2)).join(' ');
const startLoad = load();
console.log(`omni-video bench: ${machine.cpus} CPUs (${machine.cpu_model}), Node ${machine.node}, ${runs} runs per variant`);
console.log(`${new Date().toISOString()}, load average ${startLoad} (1, 5, 15 min)\n`);

const started = Date.now();
const results = {};
async function runCase(name) {
  const caseStarted = Date.now();
  try {
    results[name] = await CASES[name]({ runs });
  } catch (error) {
    results[name] = { error: String(error.stack ?? error), checks: [{ name, value: Number.NaN, unit: '', target: 'a complete run', pass: false, detail: String(error.message ?? error) }] };
  }
  console.log(`  ${name}: done in ${((Date.now() - caseStarted) / 1000).toFixed(0)} s`);
}
// The build just wrote dist/: its write-back must not land in the start-up timings.
execFileSync('sync');
for (const name of selected.filter((name) => name in QUIET)) await runCase(name);
const background = Promise.all(selected.filter((name) => name in BACKGROUND).map(runCase));
for (const name of selected.filter((name) => name in SEQUENTIAL)) await runCase(name);
await background;
console.log('');

const checks = selected.flatMap((name) => results[name].checks);
const width = Math.max(...checks.map((c) => c.name.length));
for (const c of checks) {
  console.log(`${c.pass ? 'PASS' : 'FAIL'}  ${c.name.padEnd(width)}  ${String(c.value).padStart(9)}${c.unit}  (target ${c.target})  ${c.detail}`);
}
const failed = checks.filter((c) => !c.pass).length;
const endLoad = load();
console.log(`\n${checks.length - failed}/${checks.length} targets met in ${((Date.now() - started) / 1000).toFixed(0)} s; load average at the end ${endLoad}`);

const dir = join(ROOT, 'test', 'bench', 'results');
mkdirSync(dir, { recursive: true });
writeFileSync(join(dir, 'latest.json'), `${JSON.stringify({ at: new Date().toISOString(), machine, load: { start: startLoad, end: endLoad }, runs, results }, null, 2)}\n`);
console.log(`results: ${join('test', 'bench', 'results', 'latest.json')}`);
process.exitCode = failed ? 1 : 0;
