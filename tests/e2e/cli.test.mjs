/*
 * cli.test.mjs - the switchyard command line: validate (good file, misspelt
 * keys with file:line:col and a suggestion), unknown flags and commands,
 * --version, --help, and serve with a config file that does not exist.
 */
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, writeFile, readFile, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import {
  SY_BIN, ROOT, SANITIZER_RE, run as runRaw, toYaml, gatewayConfig, mockProvider, model, ms,
} from './lib/harness.mjs';

/* Every run of the binary must be free of sanitizer reports (ASan build). */
async function run(...args) {
  const r = await runRaw(...args);
  assert.doesNotMatch(r.stderr, SANITIZER_RE, `sanitizer report from switchyard ${args[1].join(' ')}`);
  return r;
}

const dirP = mkdtemp(path.join(os.tmpdir(), 'sy-e2e-cli-'));
after(async () => rm(await dirP, { recursive: true, force: true }));
const T = { timeout: ms(30000) };

function goodYaml() {
  return toYaml(gatewayConfig('http://127.0.0.1:9', {
    providers: [mockProvider('other', 'http://127.0.0.1:9')],
    models: [model('other-model', 'other')],
  }));
}

async function file(name, text) {
  const p = path.join(await dirP, name);
  await writeFile(p, text);
  return p;
}

/* 1-based line and column of the first occurrence of needle in text. */
function position(text, needle) {
  const i = text.indexOf(needle);
  assert.ok(i >= 0, `${needle} in the test file`);
  const before = text.slice(0, i).split('\n');
  return [before.length, before.at(-1).length + 1];
}

test('validate: a good file exits 0 with "FILE: ok"', T, async () => {
  const p = await file('good.yaml', goodYaml());
  const r = await run(SY_BIN, ['validate', p]);
  assert.equal(r.code, 0, `stderr: ${r.stderr}`);
  assert.ok(r.stdout.includes(`${p}: ok`), `stdout: ${r.stdout}`);
});

test('validate: misspelt keys exit 1 with FILE:LINE:COL: and did you mean', T, async () => {
  const good = goodYaml();
  assert.ok(good.startsWith('server:\n  listen: '), good.slice(0, 40));
  const bad = good.replace('  listen: ', '  listn: ').replace('    api_key_env: ', '    api_key_envv: ');
  const p = await file('misspelt.yaml', bad);
  const r = await run(SY_BIN, ['validate', p]);
  assert.equal(r.code, 1, `exit code; stderr: ${r.stderr}`);
  const [l1, c1] = position(bad, 'listn:');
  const [l2, c2] = position(bad, 'api_key_envv:');
  assert.equal(l1, 2);
  assert.equal(c1, 3);
  assert.ok(r.stderr.includes(`${p}:${l1}:${c1}:`), `stderr has ${p}:${l1}:${c1}: -> ${r.stderr}`);
  assert.ok(r.stderr.includes('did you mean "listen"'), `suggestion for listn: ${r.stderr}`);
  assert.ok(r.stderr.includes(`${p}:${l2}:${c2}:`), `second problem at ${l2}:${c2} reported too: ${r.stderr}`);
  assert.ok(r.stderr.includes('did you mean "api_key_env"'), `suggestion for api_key_envv: ${r.stderr}`);
  const problems = r.stderr.split('\n').filter((l) => l.startsWith(`${p}:`));
  assert.equal(problems.length, 2, `one line per problem: ${r.stderr}`);
});

test('unknown flag or command exits 2 with a message', T, async () => {
  for (const args of [['--bogus-flag'], ['frobnicate'], ['serve', '--config', '/dev/null', '--bogus-flag']]) {
    const r = await run(SY_BIN, args);
    assert.equal(r.code, 2, `${args.join(' ')}: exit code (stderr ${r.stderr})`);
    assert.ok(r.stderr.trim().length > 0, `${args.join(' ')}: a message on stderr`);
  }
});

test('--version prints "switchyard <VERSION>", --help lists the commands', T, async () => {
  const version = (await readFile(path.join(ROOT, 'VERSION'), 'utf8')).trim();
  assert.equal(version, '0.1.0');
  const r = await run(SY_BIN, ['--version']);
  assert.equal(r.code, 0);
  assert.match(r.stdout, new RegExp(`^switchyard ${version.replace(/\./g, '\\.')}( \\(.+\\))?\\n?$`));
  const h = await run(SY_BIN, ['--help']);
  assert.equal(h.code, 0);
  assert.match(h.stdout, /serve/);
  assert.match(h.stdout, /validate/);
});

test('serve with a missing config file fails with a clear message', T, async () => {
  const missing = path.join(await dirP, 'does-not-exist.yaml');
  const r = await run(SY_BIN, ['serve', '--config', missing], { timeout: ms(10000) });
  assert.notEqual(r.code, 0, 'non-zero exit');
  assert.equal(r.signal, null, 'exits by itself');
  assert.ok(r.stderr.includes(missing), `names the file: ${r.stderr}`);
  assert.match(r.stderr, /no such file|not found|does not exist|cannot open|can't open|could not open|failed to open/i,
    `says why: ${r.stderr}`);
  const v = await run(SY_BIN, ['validate', missing]);
  assert.equal(v.code, 1, `validate on a missing file exits 1: ${v.stderr}`);
  assert.ok(v.stderr.includes(missing));
});
