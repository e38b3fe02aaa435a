/*
 * harness.mjs - starts sy-mock and switchyard for one end-to-end test file.
 *
 * Every test file starts its own mock and gateway on ports the kernel picks
 * (listen address port 0), so files run in parallel without sharing state.
 * The mock prints its URL on stdout; the gateway logs a JSON "listening" line
 * with its URL on stderr, and is used only once GET /health/ready answers 200.
 * Every stderr line of the gateway is kept (raw and parsed) for assertions.
 * Teardown sends SIGTERM, then SIGKILL after 5 s, and fails when the gateway
 * printed a sanitizer report or, on an ASan build, did not exit 0. Both
 * processes' stderr is saved in $BUILD/e2e-logs/<file>.<process>.log.
 *
 * Fault and timing scenarios are configured as providers whose extra headers
 * carry the mock's x-mock-* controls (the contract guarantees provider
 * headers reach the upstream; it says nothing about client headers), so each
 * scenario is one public model name.
 */
import { spawn } from 'node:child_process';
import { appendFile, mkdtemp, mkdir, writeFile, rm, readFile } from 'node:fs/promises';
import { fileURLToPath } from 'node:url';
import http from 'node:http';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import OpenAI from 'openai';
import { Ollama } from 'ollama';
import Anthropic from '@anthropic-ai/sdk';

export const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../..');
export const BUILD = process.env.BUILD || 'build';
export const SY_BIN = path.resolve(ROOT, process.env.SY_BIN || path.join(BUILD, 'switchyard'));
export const MOCK_BIN = path.resolve(ROOT, process.env.MOCK_BIN || path.join(BUILD, 'sy-mock'));
export const ASAN = /asan/i.test(process.env.BUILD || '') || !!process.env.ASAN_OPTIONS;
/* Sanitized binaries run several times slower: every wait is scaled. */
export const SLOW = ASAN ? 3 : 1;
export const ms = (n) => n * SLOW;
export const MOCK_KEY = 'sk-provider-secret';
export const CLIENT_KEY = 'client-secret';

export const sleep = (n) => new Promise((r) => setTimeout(r, n));
export const now = () => Number(process.hrtime.bigint()) / 1e6;

export const SANITIZER_RE =
  /ERROR: (AddressSanitizer|LeakSanitizer)|SUMMARY: (Address|Leak|Undefined(Behavior)?)Sanitizer|runtime error:/;

/* A child process whose stdout and stderr lines are collected. */
class Proc {
  constructor(name, bin, args, env) {
    this.name = name;
    this.bin = bin;
    this.stdout = [];
    this.stderr = [];
    this.waiters = [];
    this.exit = null; /* {code, signal} once exited */
    this.killed = false;
    this.child = spawn(bin, args, { env, stdio: ['ignore', 'pipe', 'pipe'] });
    this.pid = this.child.pid;
    this.exited = new Promise((resolve) => {
      this.child.on('error', (err) => {
        this.spawnError = err;
        this.exit = { code: null, signal: null, error: err };
        this._wake();
        resolve(this.exit);
      });
      this.child.on('close', (code, signal) => {
        if (!this.exit) this.exit = { code, signal };
        this._wake();
        resolve(this.exit);
      });
    });
    this._lines(this.child.stdout, this.stdout);
    this._lines(this.child.stderr, this.stderr);
  }

  _lines(stream, into) {
    let rest = '';
    stream.setEncoding('utf8');
    stream.on('data', (s) => {
      rest += s;
      let i;
      while ((i = rest.indexOf('\n')) >= 0) {
        into.push(rest.slice(0, i));
        rest = rest.slice(i + 1);
      }
      this._wake();
    });
    stream.on('end', () => {
      if (rest) into.push(rest);
      rest = '';
      this._wake();
    });
  }

  _wake() {
    for (const w of this.waiters.splice(0)) w();
  }

  /* Resolves with the first value pred returns truthy for (pred is called
   * on every change), rejects after timeout or when the process exits. */
  waitFor(pred, timeout, what) {
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        reject(new Error(`${this.name}: timed out after ${timeout} ms waiting for ${what}\n` +
          `stdout:\n${this.stdout.join('\n')}\nstderr:\n${this.stderr.join('\n')}`));
      }, timeout);
      const check = () => {
        let v;
        try {
          v = pred();
        } catch (e) {
          clearTimeout(timer);
          reject(e);
          return;
        }
        if (v) {
          clearTimeout(timer);
          resolve(v);
        } else if (this.exit) {
          clearTimeout(timer);
          const why = this.exit.error ? `could not start (${this.exit.error.message})`
            : `exited (code ${this.exit.code}, signal ${this.exit.signal})`;
          reject(new Error(`${this.name} (${this.bin}) ${why} before ${what}\n` +
            `stdout:\n${this.stdout.join('\n')}\nstderr:\n${this.stderr.join('\n')}`));
        } else {
          this.waiters.push(check);
        }
      };
      check();
    });
  }

  signal(sig) {
    if (!this.exit) {
      try {
        this.child.kill(sig);
      } catch {
        /* already gone */
      }
    }
  }

  /* SIGTERM, then SIGKILL after graceMs. Returns the exit status. */
  async stop(graceMs = ms(5000)) {
    if (!this.exit) {
      this.signal('SIGTERM');
      const t = setTimeout(() => {
        this.killed = true;
        this.signal('SIGKILL');
      }, graceMs);
      await this.exited;
      clearTimeout(t);
    }
    return this.exit;
  }

  stderrText() {
    return this.stderr.join('\n');
  }
}

/* Each file's processes' stderr is kept in $BUILD/e2e-logs/<file>.<proc>.log
 * for the post-mortem of a failed run. */
export const LOG_DIR = path.resolve(ROOT, BUILD, 'e2e-logs');
const FILE_TAG = path.basename(process.argv[1] || 'e2e', '.mjs').replace(/\.test$/, '');
const logsWritten = new Set();

async function saveLog(what, text) {
  try {
    await mkdir(LOG_DIR, { recursive: true });
    const f = path.join(LOG_DIR, `${FILE_TAG}.${what}.log`);
    /* the first process of a kind in this file truncates, later ones append */
    await (logsWritten.has(f) ? appendFile : writeFile)(f, text);
    logsWritten.add(f);
  } catch {
    /* logs are a convenience */
  }
}

/* ---- HTTP helpers -------------------------------------------------------- */

/* fetch with a JSON body; returns {status, headers, text, json}. */
export async function request(url, { method = 'GET', body, headers = {}, raw = false } = {}) {
  const init = { method, headers: { ...headers } };
  if (body !== undefined) {
    init.body = typeof body === 'string' || body instanceof Uint8Array ? body : JSON.stringify(body);
    if (!Object.keys(init.headers).some((h) => h.toLowerCase() === 'content-type')) {
      init.headers['content-type'] = 'application/json';
    }
  }
  const res = await fetch(url, init);
  if (raw) return res;
  const text = await res.text();
  let json;
  try {
    json = JSON.parse(text);
  } catch {
    json = undefined;
  }
  return { status: res.status, headers: res.headers, text, json };
}

/* Splits an SSE text into events: {comment} for ": x" lines, {data} for
 * data events (several data lines joined with \n), in arrival order. */
export function parseSSE(text) {
  const events = [];
  for (const block of text.split(/\r?\n\r?\n/)) {
    if (!block) continue;
    const data = [];
    for (const line of block.split(/\r?\n/)) {
      if (line.startsWith(':')) events.push({ comment: line.slice(1).trim() });
      else if (line.startsWith('data:')) data.push(line.slice(5).replace(/^ /, ''));
    }
    if (data.length) events.push({ data: data.join('\n') });
  }
  return events;
}

/* The content of an OpenAI chat stream's data events and whether it ended with [DONE]. */
export function chatStreamSummary(events) {
  let content = '';
  let done = false;
  let error = null;
  let chunks = 0;
  for (const e of events) {
    if (e.data === undefined) continue;
    if (e.data === '[DONE]') {
      done = true;
      continue;
    }
    const j = JSON.parse(e.data);
    if (j.error) {
      error = j.error;
      continue;
    }
    chunks++;
    for (const c of j.choices || []) {
      if (c.delta && typeof c.delta.content === 'string') content += c.delta.content;
      if (typeof c.text === 'string') content += c.text;
    }
  }
  return { content, done, error, chunks };
}

/* A free loopback port nothing listens on (bound, then closed). */
export function closedPort() {
  return new Promise((resolve, reject) => {
    const s = net.createServer();
    s.once('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const { port } = s.address();
      s.close(() => resolve(port));
    });
  });
}

/* Resident set size of pid in kB (from /proc/PID/status). */
export async function rssKb(pid) {
  const s = await readFile(`/proc/${pid}/status`, 'utf8');
  const m = /^VmRSS:\s+(\d+)\s+kB/m.exec(s);
  return m ? Number(m[1]) : NaN;
}

/* A streaming POST with node:http (no fetch buffering): resolves with the
 * IncomingMessage once headers arrive. */
export function httpPost(url, body, headers = {}) {
  const u = new URL(url);
  const data = typeof body === 'string' ? body : JSON.stringify(body);
  return new Promise((resolve, reject) => {
    const req = http.request({
      host: u.hostname,
      port: u.port,
      path: u.pathname + u.search,
      method: 'POST',
      agent: false,
      headers: { 'content-type': 'application/json', 'content-length': Buffer.byteLength(data), ...headers },
    }, resolve);
    req.on('error', reject);
    req.end(data);
  });
}

/* ---- sy-mock ------------------------------------------------------------- */

export class Mock {
  static async start(args = []) {
    const m = new Mock();
    m.proc = new Proc('sy-mock', MOCK_BIN, ['--listen', '127.0.0.1:0', '--workers', '2', ...args], process.env);
    const line = await m.proc.waitFor(
      () => m.proc.stdout.find((l) => /^sy-mock listening on http:\/\/127\.0\.0\.1:\d+\s*$/.test(l)),
      ms(10000), 'its "sy-mock listening on" line');
    m.url = /(http:\/\/\S+)/.exec(line)[1];
    m.port = Number(new URL(m.url).port);
    return m;
  }

  async stats() {
    const r = await request(`${this.url}/__stats`);
    if (r.status !== 200 || !r.json) throw new Error(`sy-mock /__stats answered ${r.status}: ${r.text}`);
    return r.json;
  }

  async reset() {
    const r = await request(`${this.url}/__reset`, { method: 'POST', body: '{}' });
    if (r.status !== 200) throw new Error(`sy-mock /__reset answered ${r.status}`);
  }

  /* Sets the mock's instance-wide fault plan (POST /__faults; {} clears it),
   * which affects later requests without any x-mock-* header. Throws when
   * the mock refuses the plan. */
  async faults(plan) {
    const r = await request(`${this.url}/__faults`, { method: 'POST', body: plan });
    if (r.status !== 200) throw new Error(`sy-mock /__faults refused ${JSON.stringify(plan)}: ${r.status} ${r.text}`);
    return r.json;
  }

  /* The mock's fault plan: {plan (null when none), remaining (null when
   * unbounded), applied}. */
  async getFaults() {
    const r = await request(`${this.url}/__faults`);
    if (r.status !== 200 || !r.json) throw new Error(`sy-mock GET /__faults answered ${r.status}: ${r.text}`);
    return r.json;
  }

  /* POST a JSON body straight to the mock (what the gateway's answer is
   * compared with). Returns the parsed reply; throws on a non-200. */
  async post(p, body, headers = {}) {
    const r = await request(`${this.url}${p}`, { method: 'POST', body, headers });
    if (r.status !== 200) throw new Error(`sy-mock ${p} answered ${r.status}: ${r.text}`);
    return r.json;
  }

  async stop() {
    const exit = await this.proc.stop();
    await saveLog('sy-mock', `${this.proc.stderrText()}\n`);
    if (SANITIZER_RE.test(this.proc.stderrText())) {
      /* The mock is a tool, not the system under test: report, do not fail. */
      console.error(`# warning: sy-mock printed a sanitizer report:\n${this.proc.stderrText()}`);
    }
    return exit;
  }
}

/* ---- configuration -------------------------------------------------------- */

function isScalar(v) {
  return v === null || typeof v !== 'object';
}

function yamlScalar(v) {
  if (typeof v === 'string') return JSON.stringify(v); /* a valid YAML double-quoted scalar */
  if (v === null) return 'null';
  return String(v);
}

/* Block-style YAML of plain objects, arrays and scalars. */
export function toYaml(v, ind = 0) {
  const pad = ' '.repeat(ind);
  if (Array.isArray(v)) {
    return v.map((item) => {
      if (isScalar(item)) return `${pad}- ${yamlScalar(item)}\n`;
      return `${pad}- ${toYaml(item, ind + 2).slice(ind + 2)}`;
    }).join('');
  }
  return Object.entries(v).map(([k, val]) => {
    if (isScalar(val)) return `${pad}${k}: ${yamlScalar(val)}\n`;
    if (Array.isArray(val) && val.length === 0) return `${pad}${k}: []\n`;
    if (!Array.isArray(val) && Object.keys(val).length === 0) return `${pad}${k}: {}\n`;
    return `${pad}${k}:\n${toYaml(val, ind + 2)}`;
  }).join('');
}

export const DEFAULT_TIMEOUTS = { connect_ms: 5000, first_byte_ms: 120000, idle_ms: 60000, total_ms: 600000 };
export const EXTRA_HEADER = ['x-extra', 'e2e-extra-value'];

/* A provider of type openai pointing at the mock; headers add to x-extra. */
export function mockProvider(name, mockUrl, { headers = {}, timeouts = {}, baseUrl } = {}) {
  return {
    name,
    type: 'openai',
    base_url: baseUrl || `${mockUrl}/v1`,
    api_key_env: 'MOCK_KEY',
    timeouts: { ...DEFAULT_TIMEOUTS, ...timeouts },
    headers: { [EXTRA_HEADER[0]]: EXTRA_HEADER[1], ...headers },
    // the suite runs once per upstream transport (scripts/run-e2e.sh)
    transport: process.env.SY_TRANSPORT || 'auto',
  };
}

export function model(name, provider, upstream = 'mock-small') {
  return { name, deployments: [{ provider, model: upstream, weight: 1 }] };
}

/* The routing the suites written before retries and circuit breakers
 * assume: one attempt per request, no breaker (they provoke upstream
 * failures on purpose, many times over). routing.test.mjs passes
 * router: null to run on the gateway's real defaults. */
export const ONE_ATTEMPT = { defaults: { retries: { max: 0 }, circuit_breaker: { failures: 0 } } };

/* The gateway config: provider "mock" serving public model "fast" as
 * mock-small, plus the providers and models a test file adds. */
export function gatewayConfig(mockUrl, { server = {}, providers = [], models = [], log = {}, router = ONE_ATTEMPT } = {}) {
  return {
    server: {
      listen: '127.0.0.1:0',
      workers: 2,
      max_body_bytes: 65536,
      drain_timeout_ms: 3000,
      stream_high_water_bytes: 262144,
      sse_keepalive_ms: 15000,
      ...server,
    },
    log: { level: 'info', requests: true, ...log },
    providers: [mockProvider('mock', mockUrl), ...providers],
    models: [model('fast', 'mock'), ...models],
    ...(router ? { router } : {}),
  };
}

/* ---- switchyard ------------------------------------------------------------ */

export class Gateway {
  /* config: an object (written as YAML) or a YAML string. */
  static async start(config, { env = {}, ready = true } = {}) {
    const g = new Gateway();
    g.dir = await mkdtemp(path.join(os.tmpdir(), 'sy-e2e-'));
    g.configPath = path.join(g.dir, 'switchyard.yaml');
    g.configText = typeof config === 'string' ? config : toYaml(config);
    await writeFile(g.configPath, g.configText);
    g.proc = new Proc('switchyard', SY_BIN, ['serve', '--config', g.configPath],
      { ...process.env, MOCK_KEY, ...env });
    const listening = await g.proc.waitFor(
      () => g.logs().find((l) => l.msg === 'listening' && typeof l.url === 'string'),
      ms(15000), 'its {"msg":"listening","url":...} log line');
    g.url = listening.url.replace(/\/+$/, '');
    g.baseURL = `${g.url}/v1`;
    g.pid = g.proc.pid;
    if (ready) await g.waitReady();
    return g;
  }

  async waitReady(timeout = ms(15000)) {
    const t0 = now();
    let last = '';
    while (now() - t0 < timeout) {
      if (this.proc.exit) break;
      try {
        const r = await request(`${this.url}/health/ready`);
        if (r.status === 200) return;
        last = `${r.status} ${r.text}`;
      } catch (e) {
        last = e.message;
      }
      await sleep(50);
    }
    throw new Error(`switchyard: /health/ready not 200 within ${timeout} ms (last: ${last})\n` +
      `stderr:\n${this.proc.stderrText()}`);
  }

  /* Every stderr line that parses as a JSON object. */
  logs() {
    const out = [];
    for (const l of this.proc.stderr) {
      if (!l.startsWith('{')) continue;
      try {
        out.push(JSON.parse(l));
      } catch {
        /* not a JSON line */
      }
    }
    return out;
  }

  stderrText() {
    return this.proc.stderrText();
  }

  client(opts = {}) {
    return new OpenAI({ apiKey: CLIENT_KEY, baseURL: this.baseURL, maxRetries: 0, timeout: ms(60000), ...opts });
  }

  /* The ollama client on the gateway's root. Pass fetch: recordingFetch()
   * to see the response headers, which the library does not expose. */
  ollama(opts = {}) {
    return new Ollama({ host: this.url, ...opts });
  }

  /* The Anthropic client; its base URL is the root (the SDK adds /v1). */
  anthropic(opts = {}) {
    return new Anthropic({ apiKey: CLIENT_KEY, baseURL: this.url, maxRetries: 0, timeout: ms(60000), ...opts });
  }

  /* Stops the gateway; throws when it left a sanitizer report or, on an ASan
   * build, did not exit 0 on SIGTERM. */
  async stop() {
    const exit = await this.proc.stop();
    await rm(this.dir, { recursive: true, force: true });
    const text = this.proc.stderrText();
    await saveLog('switchyard', `${text}\n`);
    if (SANITIZER_RE.test(text)) {
      throw new Error(`switchyard printed a sanitizer report:\n${text.split('\n').filter((l) => !l.startsWith('{')).join('\n')}`);
    }
    if (ASAN && (this.proc.killed || exit.code !== 0)) {
      throw new Error(`switchyard did not exit 0 on SIGTERM (code ${exit.code}, signal ${exit.signal}` +
        `${this.proc.killed ? ', killed after the grace period' : ''})`);
    }
    if (this.proc.killed) console.error('# warning: switchyard needed SIGKILL after SIGTERM');
    return exit;
  }
}

/* Starts a mock and a gateway in front of it. opts.config(mockUrl) may return
 * extra {server, providers, models, log} for gatewayConfig. */
export async function startStack({ mockArgs = [], config = () => ({}), env = {} } = {}) {
  const mock = await Mock.start(mockArgs);
  let gw;
  try {
    gw = await Gateway.start(gatewayConfig(mock.url, await config(mock.url)), { env });
  } catch (e) {
    await mock.stop();
    throw e;
  }
  return {
    mock,
    gw,
    client: gw.client(),
    async stop() {
      try {
        await gw.stop();
      } finally {
        await mock.stop();
      }
    },
  };
}

/* A stack started on first use and stopped once. Tests call get() (so a
 * start failure fails every test that needs it, and counts as a failure);
 * the file's last test calls stop(), which throws on a sanitizer report or
 * an unclean exit; an after() hook calls stop() too in case tests failed. */
export function lazyStack(opts = {}) {
  let started = null;
  let stopped = null;
  return {
    get() {
      if (!started) started = startStack(opts);
      return started;
    },
    stop() {
      if (!stopped) {
        stopped = (async () => {
          if (!started) return;
          let s;
          try {
            s = await started;
          } catch {
            return; /* nothing runs */
          }
          await s.stop();
        })();
      }
      return stopped;
    },
  };
}

/* Runs a binary to completion: {code, signal, stdout, stderr}. */
export function run(bin, args, { env = {}, timeout = ms(20000) } = {}) {
  return new Promise((resolve, reject) => {
    const child = spawn(bin, args, { env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.setEncoding('utf8').on('data', (s) => (stdout += s));
    child.stderr.setEncoding('utf8').on('data', (s) => (stderr += s));
    const t = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`${bin} ${args.join(' ')}: no exit within ${timeout} ms`));
    }, timeout);
    child.on('error', (e) => {
      clearTimeout(t);
      reject(e);
    });
    child.on('close', (code, signal) => {
      clearTimeout(t);
      resolve({ code, signal, stdout, stderr });
    });
  });
}

/* Asserts the OpenAI error shape and returns the error object. */
export function errorShape(assert, json, { code, status, statusSeen } = {}) {
  assert.ok(json && typeof json === 'object', `error body is JSON: ${JSON.stringify(json)}`);
  assert.ok(json.error && typeof json.error === 'object', `body has an "error" object: ${JSON.stringify(json)}`);
  const e = json.error;
  assert.equal(typeof e.message, 'string', 'error.message is a string');
  assert.ok(e.message.length > 0, 'error.message is not empty');
  assert.equal(typeof e.type, 'string', 'error.type is a string');
  assert.ok('param' in e, 'error.param present (string or null)');
  assert.ok(e.param === null || typeof e.param === 'string', 'error.param is a string or null');
  assert.ok('code' in e, 'error.code present');
  if (code !== undefined) assert.equal(e.code, code, `error.code (${e.message})`);
  if (status !== undefined) assert.equal(statusSeen, status, `HTTP status (body ${JSON.stringify(json)})`);
  return e;
}

/* ---- the three API kinds ------------------------------------------------------ */

/* The upstream kinds a provider can be, in the order the translation tests
 * walk them. */
export const KINDS = ['openai', 'ollama', 'anthropic'];

/* A provider of kind pointing at the mock, which speaks all three APIs:
 * openai at <mock>/v1, ollama and anthropic at the mock's root (their
 * clients add /api/... and /v1/messages). Options as mockProvider. */
export function kindProvider(kind, name, mockUrl, opts = {}) {
  const p = mockProvider(name, mockUrl, opts);
  p.type = kind;
  if (!opts.baseUrl) p.base_url = kind === 'openai' ? `${mockUrl}/v1` : mockUrl;
  return p;
}

export const ollamaProvider = (name, mockUrl, opts) => kindProvider('ollama', name, mockUrl, opts);
export const anthropicProvider = (name, mockUrl, opts) => kindProvider('anthropic', name, mockUrl, opts);

/* One provider and one public model per kind: provider `${prefix}-${kind}`
 * serving model `${prefix}-${kind}` as mock-small. Returns
 * {providers, models} to merge into a gateway config. */
export function kindsConfig(prefix, mockUrl, opts = {}) {
  const providers = [];
  const models = [];
  for (const kind of KINDS) {
    providers.push(kindProvider(kind, `${prefix}-${kind}`, mockUrl, opts));
    models.push(model(`${prefix}-${kind}`, `${prefix}-${kind}`));
  }
  return { providers, models };
}

/* A fetch for the ollama client that keeps the last response (status and
 * headers) as .last, so tests can read x-switchyard-provider. */
export function recordingFetch() {
  const f = async (url, init) => {
    const res = await fetch(url, init);
    f.last = res;
    return res;
  };
  f.last = null;
  return f;
}

/* The mock's first token for a conversation whose last user text is s:
 * "[" + its first 64 bytes (whole UTF-8 characters) + "]". */
export function mockEcho(s) {
  const b = Buffer.from(s, 'utf8');
  if (b.length <= 64) return s;
  let n = 64;
  while (n > 0 && (b[n] & 0xc0) === 0x80) n--; /* b[n] starts the cut character */
  return b.subarray(0, n).toString('utf8');
}

/* What the mock answers, asked directly in OpenAI's API, for messages
 * (OpenAI-shaped): {content, finish, prompt_tokens, completion_tokens}.
 * The mock's answer depends on the texts only, so this is what every
 * protocol's client must see for the same conversation. */
export async function mockChat(mock, messages, extra = {}) {
  const j = await mock.post('/v1/chat/completions', { model: 'mock-small', messages, ...extra });
  return {
    content: j.choices[0].message.content,
    message: j.choices[0].message,
    finish: j.choices[0].finish_reason,
    prompt_tokens: j.usage.prompt_tokens,
    completion_tokens: j.usage.completion_tokens,
  };
}

/* The requests the gateway sent the mock (they carry the providers' extra
 * header; a test's direct requests do not) whose path is p and whose body
 * holds marker, oldest first, with the body parsed. */
export async function mockSaw(mock, p, marker) {
  const st = await mock.stats();
  return st.last_requests
    .filter((r) => r.path === p && r.body.includes(marker) && r.headers[EXTRA_HEADER[0]] === EXTRA_HEADER[1])
    .map((r) => ({ ...r, json: JSON.parse(r.body) }));
}

/* Splits an NDJSON text into parsed objects (blank lines skipped). */
export function parseNDJSON(text) {
  return text.split('\n').filter((l) => l.trim() !== '').map((l) => JSON.parse(l));
}

/* Splits an SSE text with named events into {event, data} (data parsed
 * when it is JSON), in order. */
export function parseNamedSSE(text) {
  const out = [];
  for (const block of text.split(/\r?\n\r?\n/)) {
    if (!block.trim()) continue;
    let event = null;
    const data = [];
    for (const line of block.split(/\r?\n/)) {
      if (line.startsWith('event:')) event = line.slice(6).trim();
      else if (line.startsWith('data:')) data.push(line.slice(5).replace(/^ /, ''));
    }
    if (!event && !data.length) continue;
    const d = data.join('\n');
    let json;
    try {
      json = JSON.parse(d);
    } catch {
      json = undefined;
    }
    out.push({ event, data: d, json });
  }
  return out;
}

/* ---- cache and dedup ------------------------------------------------------------ */

/* What the gateway said about a shared answer, from a response's headers
 * (a fetch Headers, or node's IncomingMessage headers object). */
export function shareHeaders(h) {
  const get = (k) => (typeof h.get === 'function' ? h.get(k) : h[k]) ?? null;
  return {
    cache: get('x-switchyard-cache'),
    dedup: get('x-switchyard-dedup'),
    provider: get('x-switchyard-provider'),
  };
}

/* How many requests for path the mock has seen (all of them, the tests'
 * direct ones included: take the difference around the requests counted). */
export async function mockCount(mock, p = '/v1/chat/completions') {
  return (await mock.stats()).by_path[p] || 0;
}

/* Calls fn (async) until it returns something truthy; returns that value,
 * or fails after timeout naming what was awaited and the last value seen. */
export async function pollUntil(fn, what, timeout = ms(5000), every = 20) {
  const t0 = now();
  let v;
  for (;;) {
    v = await fn();
    if (v) return v;
    if (now() - t0 > timeout) throw new Error(`timed out after ${timeout} ms waiting for ${what} (last: ${JSON.stringify(v)})`);
    await sleep(every);
  }
}

/* The text the mock answers messages with when sent headers (its x-mock-*
 * controls), asked directly. Counts as one request to the mock. */
export async function mockText(mock, messages, headers = {}) {
  const j = await mock.post('/v1/chat/completions', { model: 'mock-small', messages }, headers);
  return j.choices[0].message.content;
}

/* One chat through a client protocol's official SDK: proto is openai,
 * ollama or anthropic. max_tokens defaults to 256 in every protocol (the
 * Anthropic API needs one, and it is part of the cache key), null leaves it
 * out; temperature and seed are sent when given (Ollama: in options).
 * Returns {content, chunks (stream pieces with text), finish, model, usage
 * ({input, output} tokens, when the protocol gave them), status, headers (a
 * fetch Headers)}; an error rejects as the SDK throws it. */
export async function sdkChat(gw, proto, {
  model: name, messages, stream = false, max_tokens = 256, temperature, seed, headers = {},
} = {}) {
  const out = { proto, stream, content: '', chunks: 0, finish: null, model: null, usage: null, status: 0, headers: null };
  if (proto === 'openai') {
    const body = { model: name, messages, stream };
    if (max_tokens !== null) body.max_tokens = max_tokens;
    if (temperature !== undefined) body.temperature = temperature;
    if (seed !== undefined) body.seed = seed;
    const { data, response } = await gw.client().chat.completions.create(body, { headers }).withResponse();
    out.status = response.status;
    out.headers = response.headers;
    if (!stream) {
      out.content = data.choices[0].message.content ?? '';
      out.finish = data.choices[0].finish_reason;
      out.model = data.model;
      if (data.usage) out.usage = { input: data.usage.prompt_tokens, output: data.usage.completion_tokens };
      return out;
    }
    for await (const c of data) {
      out.model = c.model;
      const d = c.choices?.[0]?.delta?.content;
      if (d) {
        out.content += d;
        out.chunks++;
      }
      if (c.choices?.[0]?.finish_reason) out.finish = c.choices[0].finish_reason;
      if (c.usage) out.usage = { input: c.usage.prompt_tokens, output: c.usage.completion_tokens };
    }
    return out;
  }
  if (proto === 'ollama') {
    const rec = recordingFetch();
    const o = gw.ollama({ fetch: rec, headers });
    const body = { model: name, messages, stream };
    const options = {};
    if (max_tokens !== null) options.num_predict = max_tokens;
    if (temperature !== undefined) options.temperature = temperature;
    if (seed !== undefined) options.seed = seed;
    if (Object.keys(options).length) body.options = options;
    const r = await o.chat(body);
    out.status = rec.last.status;
    out.headers = rec.last.headers;
    if (!stream) {
      out.content = r.message.content;
      out.finish = r.done_reason;
      out.model = r.model;
      out.usage = { input: r.prompt_eval_count, output: r.eval_count };
      return out;
    }
    for await (const part of r) {
      out.model = part.model;
      if (part.message?.content) {
        out.content += part.message.content;
        out.chunks++;
      }
      if (part.done) {
        out.finish = part.done_reason;
        out.usage = { input: part.prompt_eval_count, output: part.eval_count };
      }
    }
    return out;
  }
  if (proto === 'anthropic') {
    const body = { model: name, messages, stream, max_tokens: max_tokens ?? 256 };
    if (temperature !== undefined) body.temperature = temperature;
    const { data, response } = await gw.anthropic().messages.create(body, { headers }).withResponse();
    out.status = response.status;
    out.headers = response.headers;
    if (!stream) {
      out.content = data.content.filter((b) => b.type === 'text').map((b) => b.text).join('');
      out.finish = data.stop_reason;
      out.model = data.model;
      out.usage = { input: data.usage.input_tokens, output: data.usage.output_tokens };
      return out;
    }
    for await (const ev of data) {
      if (ev.type === 'message_start') {
        out.model = ev.message.model;
        out.usage = { input: ev.message.usage?.input_tokens, output: null };
      }
      if (ev.type === 'content_block_delta' && ev.delta.type === 'text_delta') {
        out.content += ev.delta.text;
        out.chunks++;
      }
      if (ev.type === 'message_delta') {
        out.finish = ev.delta.stop_reason;
        /* as the SDK's own accumulator: message_delta's counts are final */
        if (out.usage) out.usage.output = ev.usage?.output_tokens;
        if (out.usage && ev.usage?.input_tokens != null) out.usage.input = ev.usage.input_tokens;
      }
    }
    return out;
  }
  throw new Error(`sdkChat: unknown protocol ${proto}`);
}

/* The URL and body of a raw chat in a client protocol (as sdkChat sends it). */
export function rawChat(gw, proto, { model: name, messages, stream = false, max_tokens = 256 }) {
  if (proto === 'ollama') {
    return { url: `${gw.url}/api/chat`, body: { model: name, messages, stream, options: { num_predict: max_tokens } } };
  }
  if (proto === 'anthropic') {
    return { url: `${gw.url}/v1/messages`, body: { model: name, messages, stream, max_tokens } };
  }
  return { url: `${gw.baseURL}/chat/completions`, body: { model: name, messages, stream, max_tokens } };
}

/* A raw streamed chat answer read in a client protocol: its text, whether
 * it ended the way that protocol ends a good stream, and the error it
 * carried in-stream (the protocol's error object, or null). */
export function rawStreamSummary(proto, text) {
  if (proto === 'ollama') {
    const lines = parseNDJSON(text);
    const last = lines[lines.length - 1];
    return {
      content: lines.map((l) => l.message?.content ?? '').join(''),
      complete: !!last && last.done === true,
      error: lines.find((l) => l.error !== undefined) || null,
    };
  }
  if (proto === 'anthropic') {
    const evs = parseNamedSSE(text);
    return {
      content: evs.filter((e) => e.event === 'content_block_delta').map((e) => e.json.delta.text ?? '').join(''),
      complete: evs.length > 0 && evs[evs.length - 1].event === 'message_stop',
      error: evs.find((e) => e.event === 'error')?.json || null,
    };
  }
  const s = chatStreamSummary(parseSSE(text));
  return { content: s.content, complete: s.done && !s.error, error: s.error ? { error: s.error } : null };
}
