// Running @modelcontextprotocol/conformance (the 0.2 line) and judging its results, shared by the
// three parts of conformance.mjs (client, authorization, server).
//
// The suite needs Node 22 (it imports fs.globSync); the system node stays as it is: the npm
// package `node@22` (a devDependency of test/node, its install script approved in package.json
// `allowScripts`) provides node_modules/node/bin/node, which runs only the suite.
//
// Judging: a scenario passes when none of its checks is a FAILURE (and, in client mode, the client
// under test exited 0). WARNING checks (SHOULDs) are printed, never fatal. Each part keeps a list
// of known failures, check by check, each with its reason: a listed check that fails is reported
// and tolerated; an unlisted failure, or a listed check that no longer fails (a stale entry: delete
// it), fails the run. --strict ignores the lists.

import { spawn } from 'node:child_process';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import path from 'node:path';
import process from 'node:process';
import { fileURLToPath } from 'node:url';

const HERE = path.dirname(fileURLToPath(import.meta.url));
const require = createRequire(import.meta.url);

export const NODE22 = path.join(HERE, '../node_modules/node/bin/node');
export const SUITE = path.join(path.dirname(require.resolve('@modelcontextprotocol/conformance/package.json')), 'dist/index.js');
export const SUITE_VERSION = JSON.parse(
  readFileSync(require.resolve('@modelcontextprotocol/conformance/package.json'), 'utf8')
).version;

// The pseudo-check of a client scenario whose client under test exited non-zero.
export const CLIENT_EXIT = 'client-exit';

export function checkNode22() {
  if (existsSync(NODE22)) return true;
  console.error(`conformance: ${NODE22} is missing (npm ci in test/node; the node@22 install script must be allowed)`);
  return false;
}

// Runs the suite with Node 22. `onLine` sees each line of its standard output as it comes;
// `signal` kills it. Resolves with {code, out} (out: stdout and stderr together).
export function runSuite(args, { env, onLine, signal, nodeOptions = [] } = {}) {
  return new Promise(resolve => {
    const child = spawn(NODE22, [...nodeOptions, SUITE, ...args], {
      env: { ...process.env, ...env },
      stdio: ['ignore', 'pipe', 'pipe'],
      signal
    });
    let out = '';
    let pending = '';
    child.stdout.setEncoding('utf8');
    child.stderr.setEncoding('utf8');
    child.stdout.on('data', d => {
      out += d;
      pending += d;
      const lines = pending.split('\n');
      pending = lines.pop();
      for (const line of lines) onLine?.(line);
    });
    child.stderr.on('data', d => (out += d));
    child.on('close', code => resolve({ code, out }));
    child.on('error', err => {
      out += `\n[${err.message}]`;
      if (child.pid === undefined) resolve({ code: -1, out }); // never started
    });
  });
}

// Every checks.json under `dir` (the suite's -o directory), keyed by the directory the suite made
// for it, relative to `dir`: an optional mode, the scenario name and a timestamp
// ("auth/iss-supported-2026-...", "server-ping-2026-...", "authorization-server-...-2026-...").
export function readChecks(dir) {
  const byDir = new Map();
  if (!existsSync(dir)) return byDir;
  for (const file of readdirSync(dir, { recursive: true }).map(String)) {
    if (path.basename(file) !== 'checks.json') continue;
    byDir.set(path.dirname(file), JSON.parse(readFileSync(path.join(dir, file), 'utf8')));
  }
  return byDir;
}

// The checks of `scenario` among readChecks()'s results.
export function checksOf(byDir, scenario) {
  const escaped = scenario.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
  const own = new RegExp(`^(?:server-|authorization-server-)?${escaped}-\\d{4}-\\d{2}-\\d{2}T`);
  return [...byDir].filter(([dir]) => own.test(dir.split(path.sep).join('/'))).flatMap(([, checks]) => checks);
}

// A part's report: one line per scenario, known failures tolerated as described above.
export class Report {
  constructor(part, { knownFailures = {}, notApplicable = {}, strict = false } = {}) {
    this.part = part;
    this.known = strict ? {} : knownFailures;
    this.notApplicable = notApplicable;
    this.passed = 0;
    this.failed = 0;
    this.knownFailed = 0;
    this.unexpected = 0;
  }

  // `failures`: check ids that failed (CLIENT_EXIT included); `checks`: all of them (for the
  // counts, the messages and the warnings); `extra`: printed under the line when anything is off.
  scenario(scenario, { checks, failures = checks.filter(c => c.status === 'FAILURE').map(c => c.id), extra = '' }) {
    const known = this.known[scenario] ?? {};
    const unknownFailures = failures.filter(id => !(id in known));
    const stale = Object.keys(known).filter(id => !failures.includes(id));
    const noChecks = checks.length === 0;
    const ok = failures.length === 0 && !noChecks;
    const unexpected = unknownFailures.length > 0 || stale.length > 0 || noChecks;
    if (ok) this.passed++;
    else this.failed++;
    if (unexpected) this.unexpected++;
    else if (!ok) this.knownFailed++;

    const count = status => checks.filter(c => c.status === status).length;
    const label = unexpected ? 'FAILED' : ok ? 'ok    ' : 'known ';
    console.log(
      `${label} ${this.part} ${scenario} (${count('SUCCESS')} checks passed, ${count('FAILURE')} failed, ${count('WARNING')} warnings)`
    );
    const messages = new Map([
      [CLIENT_EXIT, 'the client under test exited non-zero'],
      ...checks.map(c => [c.id, c.errorMessage ?? c.description])
    ]);
    for (const id of failures) {
      const why = id in known ? `known: ${known[id]}` : 'UNEXPECTED';
      console.log(`         FAILURE ${id}: ${messages.get(id)} [${why}]`);
    }
    for (const id of stale) console.log(`         STALE   ${id}: listed as a known failure but passed: remove it from the list`);
    for (const c of checks.filter(c => c.status === 'WARNING')) console.log(`         WARNING ${c.id}: ${c.errorMessage ?? c.description}`);
    if (noChecks) console.log('         no checks were recorded');
    if ((unexpected || process.env.GW_TEST_VERBOSE) && extra) {
      console.log(extra.split('\n').map(l => `         | ${l}`).join('\n'));
    }
  }

  // Prints the scenarios of this part that are not run, with the reason.
  listNotApplicable() {
    for (const [scenario, reason] of Object.entries(this.notApplicable)) {
      console.log(`n/a    ${this.part} ${scenario}: ${reason}`);
    }
  }

  summary() {
    console.log(
      `conformance ${this.part}: ${this.passed} scenarios passed, ${this.failed} failed ` +
        `(${this.knownFailed} known), ${this.unexpected} unexpected; ` +
        `${Object.keys(this.notApplicable).length} not applicable`
    );
    return this.unexpected === 0;
  }
}
