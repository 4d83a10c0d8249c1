// @modelcontextprotocol/conformance (0.2 line) against the gateway, in three parts:
//
//   client         the suite's client auth/* scenarios against the gateway's upstream half: the
//                  gateway is the OAuth client of the suite's mock authorization server
//                  (lib/conformance_client.mjs)
//   authorization  the suite's authorization-server scenarios against the gateway, the browser
//                  part walked headlessly (lib/conformance_authorization.mjs)
//   server         the suite's server scenarios through the gateway, with a gateway token added to
//                  every request the suite sends; the demo upstream in --conformance mode behind
//                  it (lib/conformance_server.mjs)
//
//   node test/node/conformance.mjs [--gateway build/mcp-oauth-gateway] [--part client|authorization|server]...
//        [--scenario NAME]... (client part only) [--keep-results DIR] [--strict]
//
// Prints one line per scenario (ok, known, FAILED; and n/a for those not run, with the reason),
// then one summary line per part. Exit status: non-zero on any unexpected result (a failure not
// listed as known, or a known one that passes now); --strict: on any failure.

import path from 'node:path';
import process from 'node:process';
import { fileURLToPath } from 'node:url';
import { asClient, runClientPart } from './lib/conformance_client.mjs';
import { checkNode22, SUITE_VERSION } from './lib/conformance_suite.mjs';

const HERE = path.dirname(fileURLToPath(import.meta.url));
const PARTS = ['client', 'authorization', 'server'];

function args(argv) {
  const out = { gateway: undefined, parts: [], scenarios: [], asClient: false, keep: undefined, strict: false, rest: [] };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    if (a === '--gateway') out.gateway = argv[++i];
    else if (a.startsWith('--gateway=')) out.gateway = a.slice(10);
    else if (a === '--part') out.parts.push(argv[++i]);
    else if (a === '--scenario') out.scenarios.push(argv[++i]);
    else if (a === '--keep-results') out.keep = path.resolve(argv[++i]);
    else if (a === '--as-client') out.asClient = true;
    else if (a === '--strict') out.strict = true;
    else out.rest.push(a);
  }
  return out;
}

async function main(opts) {
  const gateway = path.resolve(opts.gateway ?? path.join(HERE, '../../build/mcp-oauth-gateway'));
  // The suite runs this file as the client under test, the mock server's URL last.
  if (opts.asClient) return asClient({ gateway, serverUrl: opts.rest.at(-1) });
  if (!checkNode22()) return 2;
  const parts = opts.parts.length ? opts.parts : PARTS;
  const unknown = parts.filter(p => !PARTS.includes(p));
  if (unknown.length) {
    console.error(`conformance: unknown --part ${unknown.join(', ')} (one of ${PARTS.join(', ')})`);
    return 2;
  }
  console.log(`@modelcontextprotocol/conformance ${SUITE_VERSION} against ${gateway}`);
  const common = { gateway, keep: opts.keep, strict: opts.strict };
  let ok = true;
  for (const part of parts) {
    const started = Date.now();
    if (part === 'client') {
      ok = (await runClientPart({ ...common, scenarios: opts.scenarios.length ? opts.scenarios : undefined })) && ok;
    } else if (part === 'authorization') {
      const { runAuthorizationPart } = await import('./lib/conformance_authorization.mjs');
      ok = (await runAuthorizationPart(common)) && ok;
    } else {
      const { runServerPart } = await import('./lib/conformance_server.mjs');
      ok = (await runServerPart(common)) && ok;
    }
    console.log(`(${part}: ${((Date.now() - started) / 1000).toFixed(1)} s)`);
  }
  if (opts.keep) console.log(`results in ${opts.keep}`);
  return ok ? 0 : 1;
}

process.exitCode = await main(args(process.argv.slice(2)));
