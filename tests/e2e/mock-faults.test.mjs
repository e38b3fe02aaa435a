/*
 * mock-faults.test.mjs - sy-mock's instance-wide fault plan (POST/GET
 * /__faults): a status, fault or delay set once for the whole mock, with no
 * x-mock-* header on the requests, as the routing and failover tests need
 * when one of two mocks behind a gateway must fail. Checks every protocol's
 * error body, `count` (exact across worker threads), `retry_after`, `close`,
 * `latency_ms`, `paths`, clearing with {} and /__reset, that headers still
 * override the plan, and that a bad plan is refused without replacing the
 * one in force. Talks to the mock directly; no gateway.
 */
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { Mock, request, ms, now, SANITIZER_RE } from './lib/harness.mjs';

const T = { timeout: ms(30000) };
const MESSAGES = [{ role: 'user', content: 'hello plan' }];

/* One chat request per protocol, each answered 200 without a plan. */
const CHATS = {
  openai: { path: '/v1/chat/completions', body: { model: 'mock-small', messages: MESSAGES } },
  ollama: { path: '/api/chat', body: { model: 'mock-small', messages: MESSAGES, stream: false } },
  anthropic: { path: '/v1/messages', body: { model: 'mock-small', messages: MESSAGES, max_tokens: 16 } },
};

let mock;
let stopped = false;
before(async () => {
  mock = await Mock.start();
});
after(async () => {
  if (mock && !stopped) await mock.stop();
});

/* Each test starts from a mock with no plan and zeroed counters. */
async function fresh() {
  await mock.reset();
  assert.deepEqual(await mock.getFaults(), { plan: null, remaining: null, applied: 0 });
}

const chat = (proto, { headers = {}, extra = {} } = {}) =>
  request(`${mock.url}${CHATS[proto].path}`, { method: 'POST', body: { ...CHATS[proto].body, ...extra }, headers });

/* Asserts r is the mock's error reply for status in proto's shape. */
function assertError(proto, r, status) {
  assert.equal(r.status, status, `${proto}: HTTP status (body ${r.text})`);
  const msg = `mock error ${status}`;
  if (proto === 'openai') {
    assert.equal(r.json?.error?.message, msg, r.text);
    assert.equal(r.json.error.type, status >= 500 ? 'server_error' : 'rate_limit_error', r.text);
    assert.equal(r.json.error.param, null);
    assert.ok('code' in r.json.error, r.text);
  } else if (proto === 'ollama') {
    assert.deepEqual(r.json, { error: msg });
  } else {
    assert.equal(r.json?.type, 'error', r.text);
    assert.equal(r.json.error.message, msg, r.text);
    assert.equal(r.json.error.type, status === 529 ? 'overloaded_error' : 'api_error', r.text);
  }
}

test('no plan: GET /__faults says so; every protocol answers 200', T, async () => {
  await fresh();
  for (const proto of Object.keys(CHATS)) {
    const r = await chat(proto);
    assert.equal(r.status, 200, `${proto}: ${r.text}`);
  }
});

test('status plan: every protocol and endpoint answers it with its own error body, streams too', T, async () => {
  await fresh();
  assert.deepEqual(await mock.faults({ status: 503 }), { ok: true });
  assert.deepEqual(await mock.getFaults(), { plan: { status: 503 }, remaining: null, applied: 0 });
  for (const proto of Object.keys(CHATS)) {
    assertError(proto, await chat(proto), 503);
    assertError(proto, await chat(proto, { extra: { stream: true } }), 503);
  }
  /* GET endpoints and the other POST ones are affected too */
  assertError('openai', await request(`${mock.url}/v1/models`), 503);
  assertError('openai', await request(`${mock.url}/v1/embeddings`, {
    method: 'POST', body: { model: 'mock-small', input: 'x' },
  }), 503);
  assertError('ollama', await request(`${mock.url}/api/tags`), 503);
  /* the control endpoints are not */
  const st = await request(`${mock.url}/__stats`);
  assert.equal(st.status, 200);
  assert.equal((await mock.getFaults()).applied, 9);

  await mock.faults({ status: 529 });
  assertError('anthropic', await chat('anthropic'), 529);
  assertError('anthropic', await chat('anthropic', { extra: { stream: true } }), 529);
  assertError('openai', await chat('openai'), 529);
});

test('count: 2 fails exactly two requests, then the mock answers normally', T, async () => {
  await fresh();
  await mock.faults({ status: 500, count: 2 });
  assert.deepEqual(await mock.getFaults(), { plan: { status: 500, count: 2 }, remaining: 2, applied: 0 });
  assertError('openai', await chat('openai'), 500);
  assert.deepEqual(await mock.getFaults(), { plan: { status: 500, count: 2 }, remaining: 1, applied: 1 });
  assertError('ollama', await chat('ollama'), 500);
  for (const proto of Object.keys(CHATS)) {
    const r = await chat(proto);
    assert.equal(r.status, 200, `${proto} after the count: ${r.text}`);
  }
  /* the used-up plan is still shown, with nothing left to affect */
  assert.deepEqual(await mock.getFaults(), { plan: { status: 500, count: 2 }, remaining: 0, applied: 2 });
});

test('retry_after: the status comes with a Retry-After header', T, async () => {
  await fresh();
  await mock.faults({ status: 429, retry_after: '7' });
  for (const proto of Object.keys(CHATS)) {
    const r = await chat(proto);
    assert.equal(r.status, 429, `${proto}: ${r.text}`);
    assert.equal(r.headers.get('retry-after'), '7', proto);
  }
  await mock.faults({ status: 503 });
  const r = await chat('openai');
  assert.equal(r.status, 503);
  assert.equal(r.headers.get('retry-after'), null, 'no Retry-After without retry_after');
});

test('fault close: the connection drops with no response, for count requests', T, async () => {
  await fresh();
  await mock.faults({ fault: 'close', count: 2 });
  await assert.rejects(chat('openai'), 'the connection closed without a response');
  await assert.rejects(chat('anthropic', { extra: { stream: true } }), 'the stream request too');
  const r = await chat('openai');
  assert.equal(r.status, 200, r.text);
  assert.deepEqual(await mock.getFaults(), { plan: { fault: 'close', count: 2 }, remaining: 0, applied: 2 });
});

test('fault cut-after and tokens: a stream is cut after N tokens', T, async () => {
  await fresh();
  await mock.faults({ fault: 'CUT-AFTER=2', tokens: 5 });
  assert.deepEqual((await mock.getFaults()).plan, { fault: 'cut-after=2', tokens: 5 });
  const r = await chat('openai');
  assert.equal(r.status, 200, 'cut-after does not touch a non-stream reply');
  assert.equal(r.json.usage.completion_tokens, 5, 'tokens comes from the plan');
  await assert.rejects(async () => {
    const res = await request(`${mock.url}/v1/chat/completions`, {
      method: 'POST', body: { ...CHATS.openai.body, stream: true }, raw: true,
    });
    await res.text();
  }, 'the stream ends without its terminating chunk');
  const st = await mock.stats();
  assert.equal(st.streams_cut, 1);
});

test('latency_ms delays every reply; an x-mock-latency-ms header still overrides it', T, async () => {
  await fresh();
  const delay = 400;
  await mock.faults({ latency_ms: delay });
  for (const proto of Object.keys(CHATS)) {
    const t0 = now();
    const r = await chat(proto);
    const took = now() - t0;
    assert.equal(r.status, 200, r.text);
    assert.ok(took >= delay - 5, `${proto} took ${Math.round(took)} ms, the plan says ${delay}`);
  }
  const t0 = now();
  const r = await chat('openai', { headers: { 'x-mock-latency-ms': '0' } });
  const took = now() - t0;
  assert.equal(r.status, 200);
  assert.ok(took < delay - 100, `with x-mock-latency-ms: 0 it took ${Math.round(took)} ms`);
});

test('x-mock-* headers override the plan field by field', T, async () => {
  await fresh();
  await mock.faults({ status: 503, retry_after: '9', tokens: 3 });
  let r = await chat('openai', { headers: { 'x-mock-status': '429' } });
  assertError('openai', r, 429);
  assert.equal(r.headers.get('retry-after'), '9', "the plan's retry_after stays");
  r = await chat('openai', { headers: { 'x-mock-retry-after': '1' } });
  assertError('openai', r, 503);
  assert.equal(r.headers.get('retry-after'), '1');
  /* a plan with only tokens, and a header that sets it again */
  await mock.faults({ tokens: 3 });
  r = await chat('openai');
  assert.equal(r.json.usage.completion_tokens, 3);
  r = await chat('openai', { headers: { 'x-mock-tokens': '5' } });
  assert.equal(r.json.usage.completion_tokens, 5);
  /* an x-mock-fault beats the plan's status as it beats x-mock-status */
  await mock.faults({ status: 503 });
  await assert.rejects(chat('openai', { headers: { 'x-mock-fault': 'close' } }));
});

test('paths: only requests under the prefixes are affected and counted', T, async () => {
  await fresh();
  await mock.faults({ status: 502, count: 1, paths: ['/api/'] });
  let r = await chat('openai');
  assert.equal(r.status, 200, `/v1/chat/completions is not under /api/: ${r.text}`);
  r = await chat('anthropic');
  assert.equal(r.status, 200, r.text);
  assert.deepEqual(await mock.getFaults(),
    { plan: { status: 502, count: 1, paths: ['/api/'] }, remaining: 1, applied: 0 }, 'nothing counted yet');
  assertError('ollama', await chat('ollama'), 502);
  r = await chat('ollama');
  assert.equal(r.status, 200, 'the one request was used up');

  await mock.faults({ status: 503, paths: ['/v1/chat', '/v1/messages'] });
  assertError('openai', await chat('openai'), 503);
  assertError('anthropic', await chat('anthropic'), 503);
  r = await chat('ollama');
  assert.equal(r.status, 200, r.text);
  r = await request(`${mock.url}/v1/completions`, { method: 'POST', body: { model: 'mock-small', prompt: 'x' } });
  assert.equal(r.status, 200, r.text);
  assert.equal((await mock.getFaults()).applied, 2);
});

test('a request answered 404 or 405 neither takes nor uses up the plan', T, async () => {
  await fresh();
  await mock.faults({ status: 503, count: 1 });
  let r = await request(`${mock.url}/no/such/path`);
  assert.equal(r.status, 404);
  r = await request(`${mock.url}/v1/chat/completions`);
  assert.equal(r.status, 405);
  assert.equal((await mock.getFaults()).remaining, 1);
  assertError('openai', await chat('openai'), 503);
});

test('{} clears the plan', T, async () => {
  await fresh();
  await mock.faults({ status: 503 });
  assertError('openai', await chat('openai'), 503);
  assert.deepEqual(await mock.faults({}), { ok: true });
  assert.deepEqual(await mock.getFaults(), { plan: null, remaining: null, applied: 0 });
  for (const proto of Object.keys(CHATS)) {
    const r = await chat(proto);
    assert.equal(r.status, 200, `${proto}: ${r.text}`);
  }
});

test('a bad plan gets 400 with a JSON message and the plan in force stays', T, async () => {
  await fresh();
  await mock.faults({ status: 502, count: 100 });
  const bad = [
    'this is not JSON',
    '',
    '{"status":503',
    '[]',
    '"status"',
    '{"status":200}',
    '{"status":600}',
    '{"status":"503"}',
    '{"status":503.5}',
    '{"status":null}',
    '{"stauts":503}',
    '{"status":503,"extra":true}',
    '{"status":503,"count":0}',
    '{"status":503,"count":"2"}',
    '{"status":503,"retry_after":7}',
    '{"status":503,"retry_after":"a\\nb"}',
    '{"fault":"explode"}',
    '{"fault":"cut-after=x"}',
    '{"fault":1}',
    '{"latency_ms":-1}',
    '{"latency_ms":"100"}',
    '{"tokens":1000001}',
    '{"status":503,"paths":"/v1"}',
    '{"status":503,"paths":[]}',
    '{"status":503,"paths":["v1"]}',
    '{"status":503,"paths":[1]}',
    '{"count":3}',
    '{"paths":["/v1"]}',
  ];
  for (const body of bad) {
    const r = await request(`${mock.url}/__faults`, { method: 'POST', body });
    assert.equal(r.status, 400, `${JSON.stringify(body)} answered ${r.status} ${r.text}`);
    assert.equal(r.json?.ok, false, `${JSON.stringify(body)}: ${r.text}`);
    assert.equal(typeof r.json.error, 'string');
    assert.ok(r.json.error.length > 0);
  }
  const r = await request(`${mock.url}/__faults`, { method: 'POST', body: '{"stauts":503}' });
  assert.match(r.json.error, /stauts/, 'the message names the unknown field');
  assert.deepEqual(await mock.getFaults(), { plan: { status: 502, count: 100 }, remaining: 100, applied: 0 });
  assertError('openai', await chat('openai'), 502);
});

test('POST /__reset clears the plan', T, async () => {
  await fresh();
  await mock.faults({ status: 503, count: 5 });
  assertError('openai', await chat('openai'), 503);
  const r = await request(`${mock.url}/__reset`, { method: 'POST', body: '{}' });
  assert.equal(r.status, 200);
  assert.deepEqual(await mock.getFaults(), { plan: null, remaining: null, applied: 0 });
  assert.equal((await chat('openai')).status, 200);
});

test('50 concurrent requests with count 10: exactly 10 fail', T, async () => {
  await fresh();
  await mock.faults({ status: 503, count: 10 });
  const protos = Object.keys(CHATS);
  const replies = await Promise.all(Array.from({ length: 50 }, (_, i) => chat(protos[i % protos.length])));
  const failed = replies.filter((r) => r.status === 503);
  const ok = replies.filter((r) => r.status === 200);
  assert.equal(failed.length, 10, `statuses: ${replies.map((r) => r.status).join(',')}`);
  assert.equal(ok.length, 40);
  assert.deepEqual(await mock.getFaults(), { plan: { status: 503, count: 10 }, remaining: 0, applied: 10 });
  assert.equal((await mock.stats()).requests, 50);
});

test('the mock exits 0 on SIGTERM with no sanitizer report', T, async () => {
  await mock.faults({ status: 503, paths: ['/v1'] });
  stopped = true;
  const exit = await mock.stop();
  assert.equal(exit.code, 0, `exit ${JSON.stringify(exit)}`);
  assert.doesNotMatch(mock.proc.stderrText(), SANITIZER_RE);
});
