/*
 * errors.test.mjs - bad input and upstream trouble: the status and the
 * OpenAI error JSON {"error":{"message","type","param","code"}} the client
 * gets, checked with the SDK where it applies and raw fetch otherwise.
 */
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import http from 'node:http';
import net from 'node:net';
import OpenAI from 'openai';
import {
  lazyStack, mockProvider, model, request, errorShape, closedPort, ms, now,
} from './lib/harness.mjs';

const stack = lazyStack({
  config: async (mockUrl) => ({
    server: { max_body_bytes: 65536 },
    providers: [
      mockProvider('ratelimited-prov', mockUrl, { headers: { 'x-mock-status': '429' } }),
      mockProvider('broken-prov', mockUrl, { headers: { 'x-mock-status': '500' } }),
      mockProvider('garbage-prov', mockUrl, { headers: { 'x-mock-fault': 'bad-json' } }),
      mockProvider('sleepy-prov', mockUrl, {
        headers: { 'x-mock-latency-ms': '10000' },
        timeouts: { first_byte_ms: ms(500) },
      }),
      mockProvider('dead-prov', mockUrl, {
        baseUrl: `http://127.0.0.1:${await closedPort()}/v1`,
        timeouts: { connect_ms: 2000 },
      }),
    ],
    models: [
      model('m429', 'ratelimited-prov'),
      model('m500', 'broken-prov'),
      model('mbadjson', 'garbage-prov'),
      model('mslow', 'sleepy-prov'),
      model('mdead', 'dead-prov'),
    ],
  }),
});
after(() => stack.stop().catch(() => {}));

const T = { timeout: ms(30000) };
const MSGS = [{ role: 'user', content: 'hello' }];

async function sdkError(promise) {
  try {
    await promise;
  } catch (e) {
    assert.ok(e instanceof OpenAI.APIError, `an APIError, got ${e}`);
    return e;
  }
  assert.fail('the request succeeded');
}

async function post(body, headers = {}) {
  const { gw } = await stack.get();
  return request(`${gw.baseURL}/chat/completions`, { method: 'POST', body, headers });
}

/* A POST with Transfer-Encoding: chunked over a raw socket, so that a
 * server answering before the body ends (and closing) is seen as it is:
 * resolves with {status, headers, text}; rejects when the connection
 * closes without a response. Writing stops as soon as an answer arrives. */
function postChunked(url, pieces) {
  const u = new URL(url);
  return new Promise((resolve, reject) => {
    const sock = net.connect(Number(u.port), u.hostname);
    let got = Buffer.alloc(0);
    let settled = false;
    const parse = (final) => {
      const raw = got.toString('latin1');
      const h = raw.indexOf('\r\n\r\n');
      if (h < 0) return null;
      const lines = raw.slice(0, h).split('\r\n');
      const status = Number(lines[0].split(' ')[1]);
      const headers = {};
      for (const l of lines.slice(1)) {
        const i = l.indexOf(':');
        headers[l.slice(0, i).trim().toLowerCase()] = l.slice(i + 1).trim();
      }
      let body = got.subarray(Buffer.byteLength(raw.slice(0, h + 4), 'latin1'));
      if (headers['content-length'] !== undefined) {
        const n = Number(headers['content-length']);
        if (body.length < n) return null;
        body = body.subarray(0, n);
      } else if (/chunked/i.test(headers['transfer-encoding'] || '')) {
        const parts = [];
        let rest = body.toString('latin1');
        for (;;) {
          const e = rest.indexOf('\r\n');
          if (e < 0) return final ? { status, headers, text: Buffer.from(parts.join(''), 'latin1').toString() } : null;
          const n = parseInt(rest.slice(0, e), 16);
          if (n === 0) break;
          if (rest.length < e + 2 + n) return final ? { status, headers, text: Buffer.from(parts.join(''), 'latin1').toString() } : null;
          parts.push(rest.slice(e + 2, e + 2 + n));
          rest = rest.slice(e + 2 + n + 2);
        }
        body = Buffer.from(parts.join(''), 'latin1');
      } else if (!final) {
        return null;
      }
      return { status, headers, text: body.toString() };
    };
    const finish = (final) => {
      if (settled) return;
      const r = parse(final);
      if (r) {
        settled = true;
        sock.destroy();
        resolve(r);
      } else if (final) {
        settled = true;
        reject(new Error(`connection closed without a complete response (got ${JSON.stringify(got.toString().slice(0, 200))})`));
      }
    };
    sock.on('data', (d) => {
      got = Buffer.concat([got, d]);
      finish(false);
    });
    sock.on('error', () => {}); /* EPIPE/ECONNRESET once the server has answered and closed */
    sock.on('close', () => finish(true));
    sock.on('connect', async () => {
      sock.write(`POST ${u.pathname} HTTP/1.1\r\nHost: ${u.host}\r\nContent-Type: application/json\r\n` +
        'Transfer-Encoding: chunked\r\nConnection: close\r\n\r\n');
      for (const p of pieces) {
        if (got.length || sock.destroyed) return;
        await new Promise((r) => sock.write(`${Buffer.byteLength(p).toString(16)}\r\n${p}\r\n`, () => r()));
        await new Promise((r) => setTimeout(r, 1));
      }
      if (!got.length && !sock.destroyed) sock.write('0\r\n\r\n');
    });
  });
}

/* One request with node:http on agent (false: a fresh connection):
 * {status, text, reused}. */
function rawOnce(base, method, p, body, agent) {
  const u = new URL(base);
  return new Promise((resolve, reject) => {
    const headers = body === undefined ? {} : { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) };
    const req = http.request({ host: u.hostname, port: u.port, path: p, method, agent, headers }, (res) => {
      let text = '';
      res.setEncoding('utf8');
      res.on('data', (c) => (text += c));
      res.on('end', () => resolve({ status: res.statusCode, text, reused: req.reusedSocket }));
      res.on('error', reject);
    });
    req.on('error', reject);
    req.end(body);
  });
}

test('malformed JSON: 400 invalid_json naming the byte offset', T, async () => {
  const body = '{"model":"fast","messages":[x]}';
  const offset = body.indexOf('x');
  const r = await post(body);
  assert.equal(r.status, 400, r.text);
  const e = errorShape(assert, r.json, { code: 'invalid_json' });
  assert.match(e.message, /offset|byte/i, e.message);
  const nums = (e.message.match(/\d+/g) || []).map(Number);
  assert.ok(nums.some((n) => Math.abs(n - offset) <= 1), `message "${e.message}" names offset ~${offset}`);
  assert.ok(r.headers.get('x-request-id'));

  const trunc = await post('{"model":"fast","messages":[{"role":"user"');
  assert.equal(trunc.status, 400);
  errorShape(assert, trunc.json, { code: 'invalid_json' });

  const notObject = await post('[1,2,3]');
  assert.equal(notObject.status, 400, notObject.text);
  errorShape(assert, notObject.json);
});

test('wrong field types: 400 invalid_type with param', T, async () => {
  const { client } = await stack.get();
  const a = await sdkError(client.chat.completions.create({ model: 'fast', messages: 'x' }));
  assert.equal(a.status, 400);
  assert.equal(a.code, 'invalid_type');
  assert.equal(a.param, 'messages');

  const b = await sdkError(client.chat.completions.create({ model: 'fast', messages: MSGS, stream: 'yes' }));
  assert.equal(b.status, 400);
  assert.equal(b.code, 'invalid_type');
  assert.equal(b.param, 'stream');

  const c = await post({ model: 42, messages: MSGS });
  assert.equal(c.status, 400, c.text);
  const e = errorShape(assert, c.json, { code: 'invalid_type' });
  assert.equal(e.param, 'model');
});

test('missing model or messages: 400 missing_required_parameter', T, async () => {
  const { client } = await stack.get();
  const a = await sdkError(client.chat.completions.create({ messages: MSGS }));
  assert.equal(a.status, 400);
  assert.equal(a.code, 'missing_required_parameter');
  assert.equal(a.param, 'model');

  const b = await post({ model: 'fast' });
  assert.equal(b.status, 400, b.text);
  const e = errorShape(assert, b.json, { code: 'missing_required_parameter' });
  assert.equal(e.param, 'messages');
});

test('unknown model: 404 model_not_found', T, async () => {
  const { client } = await stack.get();
  const e = await sdkError(client.chat.completions.create({ model: 'no-such-model', messages: MSGS }));
  assert.ok(e instanceof OpenAI.NotFoundError);
  assert.equal(e.status, 404);
  assert.equal(e.code, 'model_not_found');
  const r = await post({ model: 'no-such-model', messages: MSGS });
  assert.equal(r.status, 404);
  errorShape(assert, r.json, { code: 'model_not_found' });
});

const BIG = JSON.stringify({ model: 'fast', messages: [{ role: 'user', content: 'x'.repeat(100 * 1024) }] });

test('body over max_body_bytes with Content-Length: 413 request_too_large (fresh connection, SDK)', T, async () => {
  const { client, gw } = await stack.get();
  const fresh = await rawOnce(gw.url, 'POST', '/v1/chat/completions', BIG, false);
  assert.equal(fresh.status, 413);
  errorShape(assert, JSON.parse(fresh.text), { code: 'request_too_large' });

  const e = await sdkError(client.chat.completions.create(JSON.parse(BIG)));
  assert.equal(e.status, 413);
  assert.equal(e.code, 'request_too_large', `SDK error body: ${JSON.stringify(e.error)}`);
});

test('body over max_body_bytes on a kept-alive connection: 413 JSON, not an HTML page', T, async () => {
  const { gw } = await stack.get();
  const agent = new http.Agent({ keepAlive: true, maxSockets: 1 });
  try {
    const first = await rawOnce(gw.url, 'GET', '/health/live', undefined, agent);
    assert.equal(first.status, 200);
    const again = await rawOnce(gw.url, 'POST', '/v1/chat/completions', BIG, agent);
    assert.ok(again.reused, 'the second request reused the connection');
    assert.equal(again.status, 413);
    let json;
    try {
      json = JSON.parse(again.text);
    } catch {
      assert.fail(`413 on a reused connection is not JSON: ${JSON.stringify(again.text.slice(0, 80))}`);
    }
    errorShape(assert, json, { code: 'request_too_large' });
  } finally {
    agent.destroy();
  }
});

test('body over max_body_bytes with chunked transfer encoding: 413 request_too_large', T, async () => {
  const { gw } = await stack.get();
  const pieces = [];
  for (let i = 0; i < BIG.length; i += 8192) pieces.push(BIG.slice(i, i + 8192));
  const ch = await postChunked(`${gw.baseURL}/chat/completions`, pieces);
  assert.equal(ch.status, 413, ch.text);
  errorShape(assert, JSON.parse(ch.text), { code: 'request_too_large' });
});

test('a body just under max_body_bytes passes, chunked or not', T, async () => {
  const { gw } = await stack.get();
  const fits = JSON.stringify({ model: 'fast', messages: [{ role: 'user', content: 'y'.repeat(60000) }] });
  assert.ok(Buffer.byteLength(fits) < 65536);
  const ok1 = await post(fits);
  assert.equal(ok1.status, 200, ok1.text.slice(0, 300));
  const ok2 = await postChunked(`${gw.baseURL}/chat/completions`, [fits.slice(0, 30000), fits.slice(30000)]);
  assert.equal(ok2.status, 200, ok2.text.slice(0, 300));
});

test('upstream connect failure: 502 upstream_connect_failed', T, async () => {
  const { client } = await stack.get();
  const e = await sdkError(client.chat.completions.create({ model: 'mdead', messages: MSGS }));
  assert.equal(e.status, 502);
  assert.equal(e.code, 'upstream_connect_failed');
  const r = await post({ model: 'mdead', messages: MSGS });
  assert.equal(r.status, 502);
  errorShape(assert, r.json, { code: 'upstream_connect_failed' });
});

test('upstream timeout: 504 upstream_timeout well before the upstream answers', T, async () => {
  const { client } = await stack.get();
  const t0 = now();
  const e = await sdkError(client.chat.completions.create({ model: 'mslow', messages: MSGS }));
  const took = now() - t0;
  assert.equal(e.status, 504);
  assert.equal(e.code, 'upstream_timeout');
  assert.ok(took < ms(5000), `answered after ${Math.round(took)} ms (first_byte_ms ${ms(500)}, mock latency 10000)`);
  const r = await post({ model: 'mslow', messages: MSGS });
  assert.equal(r.status, 504);
  errorShape(assert, r.json, { code: 'upstream_timeout' });
});

test('upstream 429 and 500 keep their status and name the provider', T, async () => {
  const { client } = await stack.get();
  for (const [m, status, prov] of [['m429', 429, 'ratelimited-prov'], ['m500', 500, 'broken-prov']]) {
    const e = await sdkError(client.chat.completions.create({ model: m, messages: MSGS }));
    assert.equal(e.status, status);
    const r = await post({ model: m, messages: MSGS });
    assert.equal(r.status, status, r.text);
    const err = errorShape(assert, r.json);
    assert.ok(err.message.includes(prov), `message names the provider: "${err.message}"`);
    assert.ok(err.message.includes(`mock error ${status}`), `message carries the upstream's: "${err.message}"`);
  }
});

test('upstream answers 200 with broken JSON: 502', T, async () => {
  const { client } = await stack.get();
  const e = await sdkError(client.chat.completions.create({ model: 'mbadjson', messages: MSGS }));
  assert.equal(e.status, 502);
  const r = await post({ model: 'mbadjson', messages: MSGS });
  assert.equal(r.status, 502, r.text);
  errorShape(assert, r.json);
});

test('teardown: switchyard exits cleanly', T, async () => {
  await stack.stop();
});
