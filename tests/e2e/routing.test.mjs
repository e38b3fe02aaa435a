/*
 * routing.test.mjs - deployments, retries, fallbacks and circuit breakers,
 * end to end against three sy-mock instances whose faults are set with
 * their /__faults plans (so no client header is involved):
 *
 *   - a dead deployment (500s) is failed over to the next, for the three
 *     client protocols, streamed and whole, with the routing headers
 *     (x-switchyard-provider, -model, -attempts, -fallback);
 *   - a flaky upstream (503 twice) answers through retries, after a
 *     backoff; a 429's Retry-After (seconds or an HTTP-date) is waited out; errors that are not
 *     retryable (400) are answered at once;
 *   - a breaker opens after its failures (the dead deployment stops
 *     receiving calls), shows in /api/stats and /metrics, and closes after
 *     its cooldown through a half-open probe;
 *   - every deployment open: 503 with Retry-After in under 100 ms;
 *     when_all_open: wait holds the request until a probe may go;
 *   - a weighted split of 2000 requests lands within 5% of the weights;
 *   - fallbacks are tried in order; a context-length error goes to the
 *     context fallbacks;
 *   - a stream that fails after its first byte is not retried: the client's
 *     stream ends with its protocol's error;
 *   - the request's deadline (timeout_ms) bounds the retries;
 *   - max_inflight spills to the other deployment; caching models fail
 *     over too.
 */
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import {
  Mock, Gateway, gatewayConfig, mockProvider, request, ms, now, sleep, rawChat, rawStreamSummary,
  errorShape, CLIENT_KEY,
} from './lib/harness.mjs';

const CHAT = '/v1/chat/completions';
let A, B, C, gw;

const dep = (provider, extra = {}) => ({ provider, model: `${provider}-model`, weight: 1, ...extra });

before(async () => {
  [A, B, C] = await Promise.all([Mock.start(), Mock.start(), Mock.start()]);
  const cfg = gatewayConfig(A.url, {
    router: null, /* the real defaults */
    providers: [mockProvider('a', A.url), mockProvider('b', B.url), mockProvider('c', C.url)],
    models: [
      /* failover: a first (all but always), then b */
      { name: 'ha', deployments: [dep('a', { weight: 1000000 }), dep('b')] },
      { name: 'ha-stream', deployments: [dep('a', { weight: 1000000 }), dep('b')] },
      { name: 'flaky', deployments: [dep('a')], retries: { max: 3, backoff_ms: 20, max_backoff_ms: 100 } },
      { name: 'limited', deployments: [dep('a')], retries: { max: 2, backoff_ms: 10, max_backoff_ms: 2000 } },
      { name: 'strict', deployments: [dep('a')] },
      {
        name: 'breaker', strategy: 'round_robin', deployments: [dep('a'), dep('b')],
        circuit_breaker: { failures: 3, window_s: 30, cooldown_s: 1 },
      },
      {
        name: 'lonely', deployments: [dep('a')], retries: { max: 0 },
        circuit_breaker: { failures: 1, window_s: 30, cooldown_s: 2 },
      },
      {
        name: 'patient', deployments: [dep('c')], retries: { max: 0 }, when_all_open: 'wait',
        circuit_breaker: { failures: 1, window_s: 30, cooldown_s: 1 },
      },
      { name: 'split', deployments: [dep('a', { weight: 3 }), dep('b', { weight: 1 })] },
      { name: 'first', deployments: [dep('a')], retries: { max: 1, backoff_ms: 1 }, fallbacks: ['second', 'third'] },
      { name: 'second', deployments: [dep('b')], retries: { max: 0 } },
      { name: 'third', deployments: [dep('c')], retries: { max: 0 } },
      { name: 'small-ctx', deployments: [dep('a')], context_fallbacks: ['big-ctx'], fallbacks: ['second'] },
      { name: 'big-ctx', deployments: [dep('c')] },
      { name: 'midstream', strategy: 'round_robin', deployments: [dep('a'), dep('b')] },
      {
        name: 'hurried', deployments: [dep('a')], timeout_ms: ms(400), circuit_breaker: { failures: 0 },
        retries: { max: 10, backoff_ms: 1, max_backoff_ms: 1 },
      },
      { name: 'narrow', strategy: 'least_inflight', deployments: [dep('a', { max_inflight: 1 }), dep('b', { max_inflight: 1 })] },
      {
        name: 'cached-ha', strategy: 'round_robin', deployments: [dep('a'), dep('b')], cache: { mode: 'exact' },
      },
      { name: 'cached-one', deployments: [dep('a')], cache: { mode: 'exact' } },
    ],
  });
  gw = await Gateway.start(cfg);
});

after(async () => {
  const stops = [];
  if (gw) stops.push(gw.stop());
  for (const m of [A, B, C]) if (m) stops.push(m.stop());
  await Promise.all(stops);
});

async function resetAll() {
  await Promise.all([A, B, C].map((m) => m.reset()));
}

async function calls(m) {
  return (await m.stats()).by_path[CHAT] || 0;
}

function chatBody(modelName, content = 'hello routing', extra = {}) {
  return JSON.stringify({ model: modelName, messages: [{ role: 'user', content }], ...extra });
}

async function post(modelName, content, extra = {}, headers = {}) {
  return request(`${gw.url}${CHAT}`, {
    method: 'POST', body: JSON.parse(chatBody(modelName, content, extra)),
    headers: { 'content-type': 'application/json', authorization: `Bearer ${CLIENT_KEY}`, ...headers },
  });
}

/* A raw chat in a client protocol. */
function send(proto, name, content, stream = false) {
  const { url, body } = rawChat(gw, proto, { model: name, messages: [{ role: 'user', content }], stream });
  return request(url, { method: 'POST', body, headers: { authorization: `Bearer ${CLIENT_KEY}`, 'x-api-key': CLIENT_KEY } });
}

async function routerStats(name) {
  const r = await request(`${gw.url}/api/stats`);
  assert.equal(r.status, 200);
  return r.json.router.models.find((m) => m.name === name);
}

test('a dead deployment is failed over for every client protocol, whole and streamed', async () => {
  await resetAll();
  await A.faults({ status: 500 });
  for (const proto of ['openai', 'ollama', 'anthropic']) {
    for (const stream of [false, true]) {
      const name = stream ? 'ha-stream' : 'ha';
      const r = await send(proto, name, `fo ${proto} ${stream}`, stream);
      assert.equal(r.status, 200, `${proto} stream=${stream}: ${r.text}`);
      assert.equal(r.headers.get('x-switchyard-provider'), 'b');
      assert.equal(r.headers.get('x-switchyard-model'), 'b-model');
      assert.equal(r.headers.get('x-switchyard-attempts'), '2');
      assert.equal(r.headers.get('x-switchyard-fallback'), null);
      if (stream) assert.ok(rawStreamSummary(proto, r.text).complete, r.text);
    }
  }
  /* every first attempt went to a and was failed over */
  assert.equal(await calls(A), 6);
  assert.equal(await calls(B), 6);
  /* the SDKs see a normal answer */
  const c = gw.client();
  const res = await c.chat.completions.create({ model: 'ha', messages: [{ role: 'user', content: 'sdk failover' }] });
  assert.match(res.choices[0].message.content, /sdk failover/);
  await A.faults({});
});

test('a flaky upstream answers through retries with backoff', async () => {
  await resetAll();
  await A.faults({ status: 503, count: 2 });
  const t0 = now();
  const r = await post('flaky', 'flaky one');
  assert.equal(r.status, 200, r.text);
  assert.equal(r.headers.get('x-switchyard-attempts'), '3');
  /* the request succeeded: its log line carries no error of the failed attempts */
  const id = r.headers.get('x-request-id');
  let line;
  for (let i = 0; i < 100 && !line; i++) {
    line = gw.logs().find((l) => l.msg === 'request' && l.request_id === id);
    if (!line) await sleep(20);
  }
  assert.ok(line, 'the request was logged');
  assert.equal(line.status, 200);
  assert.equal(line.error, undefined, JSON.stringify(line));
  assert.equal(await calls(A), 3);
  assert.ok(now() - t0 < ms(2000));
  const st = await routerStats('flaky');
  assert.ok(st.retries >= 2);
});

test("a 429's Retry-After is waited out before the same deployment is called again", async () => {
  await resetAll();
  await A.faults({ status: 429, retry_after: '1', count: 1 });
  const t0 = now();
  const r = await post('limited', 'limited one');
  const took = now() - t0;
  assert.equal(r.status, 200, r.text);
  assert.equal(r.headers.get('x-switchyard-attempts'), '2');
  assert.ok(took >= 950, `waited ${took} ms`);
  /* a Retry-After longer than max_backoff_ms is the client's to honour */
  await A.faults({ status: 429, retry_after: '30', count: 1 });
  const t1 = now();
  const r2 = await post('limited', 'limited two');
  assert.equal(r2.status, 429);
  assert.equal(r2.headers.get('retry-after'), '30');
  assert.ok(now() - t1 < ms(1000));
  assert.equal(await calls(A), 3);
});

test('a Retry-After given as an HTTP-date counts from now', async () => {
  await resetAll();
  /* whole seconds: a date 2 s ahead is 1 to 2 s away */
  await A.faults({ status: 429, retry_after: new Date(Date.now() + 2000).toUTCString(), count: 1 });
  const t0 = now();
  const r = await post('limited', 'limited date');
  const took = now() - t0;
  assert.equal(r.status, 200, r.text);
  assert.equal(r.headers.get('x-switchyard-attempts'), '2');
  assert.ok(took >= 900, `waited ${took} ms`);
  /* far ahead: handed back to the client, in seconds */
  await A.faults({ status: 429, retry_after: new Date(Date.now() + 30000).toUTCString(), count: 1 });
  const r2 = await post('limited', 'limited far date');
  assert.equal(r2.status, 429);
  const ra = Number(r2.headers.get('retry-after'));
  assert.ok(ra >= 28 && ra <= 30, `Retry-After ${r2.headers.get('retry-after')}`);
  assert.equal(await calls(A), 3);
});

test('a request the upstream refuses (400) is not retried', async () => {
  await resetAll();
  await A.faults({ status: 400 });
  const r = await post('strict', 'bad one');
  assert.equal(r.status, 400);
  assert.equal(r.headers.get('x-switchyard-attempts'), '1');
  assert.equal(await calls(A), 1);
  await A.faults({});
});

test('a breaker opens, stops the calls to its dead deployment, and closes after its cooldown', async () => {
  await resetAll();
  await A.faults({ status: 500 });
  for (let i = 0; i < 12; i++) {
    const r = await post('breaker', `breaker ${i}`);
    assert.equal(r.status, 200, r.text);
  }
  const seen = await calls(A);
  assert.equal(seen, 3, 'a got exactly the failures that opened its breaker');
  let st = await routerStats('breaker');
  const da = st.deployments.find((d) => d.provider === 'a');
  assert.equal(da.circuit, 'open');
  assert.equal(da.circuit_opens, 1);
  let m = await request(`${gw.url}/metrics`);
  assert.match(m.text, /switchyard_circuit_state\{model="breaker",provider="a",deployment="a-model"\} 2/);
  assert.match(m.text, /switchyard_circuit_state\{model="breaker",provider="b",deployment="b-model"\} 0/);
  for (let i = 0; i < 10; i++) assert.equal((await post('breaker', `open ${i}`)).status, 200);
  assert.equal(await calls(A), seen, 'no call reached the open deployment');
  /* a recovers; after the cooldown one probe closes the breaker */
  await A.faults({});
  await sleep(1100);
  m = await request(`${gw.url}/metrics`);
  assert.match(m.text, /switchyard_circuit_state\{model="breaker",provider="a",deployment="a-model"\} 1/);
  for (let i = 0; i < 4; i++) assert.equal((await post('breaker', `closed ${i}`)).status, 200);
  st = await routerStats('breaker');
  assert.equal(st.deployments.find((d) => d.provider === 'a').circuit, 'closed');
  assert.ok(await calls(A) >= seen + 2, 'a is called again');
  const logs = gw.logs().filter((l) => l.model === 'breaker' && /^circuit/.test(l.msg)).map((l) => l.msg);
  assert.deepEqual(logs, ['circuit open', 'circuit closed']);
});

test('every deployment open: 503 with Retry-After at once', async () => {
  await resetAll();
  await A.faults({ status: 500 });
  const first = await post('lonely', 'lonely 1');
  assert.equal(first.status, 500);
  const t0 = now();
  const r = await post('lonely', 'lonely 2');
  const took = now() - t0;
  assert.equal(r.status, 503);
  assert.ok(took < 100, `answered in ${took} ms`);
  const ra = Number(r.headers.get('retry-after'));
  assert.ok(ra >= 1 && ra <= 2, `Retry-After ${ra}`);
  errorShape(assert, r.json, { code: 'no_deployment_available', status: 503, statusSeen: r.status });
  assert.equal(await calls(A), 1);
  /* the other protocols get it in their own shape */
  const an = await send('anthropic', 'lonely', 'x');
  assert.equal(an.status, 503);
  assert.equal(an.json.type, 'error');
  const ol = await send('ollama', 'lonely', 'x');
  assert.equal(ol.status, 503);
  assert.equal(typeof ol.json.error, 'string');
  assert.equal((await routerStats('lonely')).unavailable, 3);
  await A.faults({});
});

test('when_all_open: wait holds the request until the breaker lets a probe through', async () => {
  await resetAll();
  await C.faults({ status: 500, count: 1 });
  assert.equal((await post('patient', 'patient 1')).status, 500);
  const t0 = now();
  const r = await post('patient', 'patient 2');
  const took = now() - t0;
  assert.equal(r.status, 200, r.text);
  assert.ok(took >= 700 && took < ms(3000), `waited ${took} ms`);
});

test('a weighted split of 2000 requests is within 5% of the weights', async () => {
  await resetAll();
  const N = 2000;
  let next = 0;
  const worker = async () => {
    while (next < N) {
      const i = next++;
      const r = await post('split', `split ${i}`);
      assert.equal(r.status, 200);
    }
  };
  await Promise.all(Array.from({ length: 32 }, worker));
  const a = await calls(A), b = await calls(B);
  assert.equal(a + b, N);
  const share = a / N;
  assert.ok(Math.abs(share - 0.75) <= 0.75 * 0.05, `a got ${share}`);
});

test('fallbacks are tried in order, after the model\'s own retries', async () => {
  await resetAll();
  await A.faults({ status: 500 });
  await B.faults({ status: 502 });
  const r = await post('first', 'fallback chain');
  assert.equal(r.status, 200, r.text);
  assert.equal(r.headers.get('x-switchyard-fallback'), 'third');
  assert.equal(r.headers.get('x-switchyard-provider'), 'c');
  assert.equal(r.headers.get('x-switchyard-attempts'), '4');
  assert.deepEqual([await calls(A), await calls(B), await calls(C)], [2, 1, 1]);
  /* with the second one back, the chain stops there */
  await B.faults({});
  const r2 = await post('first', 'fallback chain 2');
  assert.equal(r2.headers.get('x-switchyard-fallback'), 'second');
  const st = await routerStats('first');
  assert.equal(st.fallbacks, 3); /* to second, to third; to second */
  /* the SDK sees the answer; the log line says which model answered */
  const line = gw.logs().find((l) => l.msg === 'request' && l.fallback === 'third');
  assert.ok(line, 'the log line names the fallback');
  assert.equal(line.attempts, 4);
  await A.faults({});
});

test('a context-length error goes to the context fallbacks', async () => {
  await resetAll();
  await A.faults({ status: 400, message: "This model's maximum context length is 8192 tokens" });
  const r = await post('small-ctx', 'a long prompt');
  assert.equal(r.status, 200, r.text);
  assert.equal(r.headers.get('x-switchyard-fallback'), 'big-ctx');
  assert.deepEqual([await calls(A), await calls(B), await calls(C)], [1, 0, 1]);
  await A.faults({});
});

test('a stream that fails after its first byte is not retried', async () => {
  await resetAll();
  await A.faults({ fault: 'cut-after=3', tokens: 10 });
  await B.faults({ fault: 'cut-after=3', tokens: 10 });
  for (const proto of ['openai', 'ollama', 'anthropic']) {
    const r = await send(proto, 'midstream', `cut ${proto}`, true);
    assert.equal(r.status, 200);
    assert.equal(r.headers.get('x-switchyard-attempts'), '1');
    const s = rawStreamSummary(proto, r.text);
    assert.ok(s.error, `${proto}: the stream ends with an error: ${r.text.slice(-300)}`);
  }
  assert.equal((await calls(A)) + (await calls(B)), 3);
  /* through the SDK, the error surfaces */
  const c = gw.client();
  const stream = await c.chat.completions.create({ model: 'midstream', stream: true, messages: [{ role: 'user', content: 'sdk cut' }] });
  await assert.rejects(async () => {
    for await (const chunk of stream) void chunk;
  });
  await Promise.all([A.faults({}), B.faults({})]);
});

test("the request's deadline bounds its retries", async () => {
  await resetAll();
  /* each attempt fails after 100 ms: 11 allowed, about 4 fit in the 400 ms
   * deadline, which also cuts the last one short (a timeout: 504) */
  await A.faults({ status: 500, latency_ms: ms(100) });
  const t0 = now();
  const r = await post('hurried', 'in a hurry');
  const took = now() - t0;
  assert.equal(r.status, 504, r.text);
  assert.ok(took >= ms(400) - 5 && took < ms(400) + 150, `answered after ${took} ms`);
  const n = await calls(A);
  assert.ok(n >= 3 && n <= 5, `${n} attempts`);
  await A.faults({});
});

test('max_inflight sends the overflow to the other deployment', async () => {
  await resetAll();
  await Promise.all([A.faults({ latency_ms: 300 }), B.faults({ latency_ms: 300 })]);
  const rs = await Promise.all([0, 1].map((i) => post('narrow', `narrow ${i}`)));
  for (const r of rs) assert.equal(r.status, 200);
  assert.deepEqual(rs.map((r) => r.headers.get('x-switchyard-provider')).sort(), ['a', 'b']);
  /* a third at once finds both full */
  const three = await Promise.all([0, 1, 2].map((i) => post('narrow', `narrow3 ${i}`)));
  const codes = three.map((r) => r.status).sort();
  assert.deepEqual(codes, [200, 200, 503]);
  const busy = three.find((r) => r.status === 503);
  assert.match(busy.json.error.message, /max_inflight/);
  await Promise.all([A.faults({}), B.faults({})]);
});

test('a caching model fails over too, and its answer is cached', async () => {
  await resetAll();
  await A.faults({ status: 500 });
  const r = await post('cached-ha', 'cache me', { temperature: 0 });
  assert.equal(r.status, 200, r.text);
  assert.equal(r.headers.get('x-switchyard-provider'), 'b');
  assert.equal(r.headers.get('x-switchyard-cache'), 'miss');
  const again = await post('cached-ha', 'cache me', { temperature: 0 });
  assert.equal(again.headers.get('x-switchyard-cache'), 'hit');
  assert.equal(await calls(B), 1);
  await A.faults({});
});

test('a failed attempt is counted once in the upstream errors, shared or not', async () => {
  const errors = async () => {
    const t = (await request(`${gw.url}/metrics`)).text;
    return [...t.matchAll(/^switchyard_upstream_errors_total\{[^}]*provider="a"[^}]*\} (\d+)$/gm)]
      .reduce((n, m) => n + Number(m[1]), 0);
  };
  for (const name of ['strict', 'cached-one']) {
    await resetAll();
    /* one 503 whose Retry-After is longer than a backoff: handed back at once */
    await A.faults({ status: 503, retry_after: '100', count: 1 });
    const before = await errors();
    const r = await post(name, `counted once ${name}`);
    assert.equal(r.status, 503, r.text);
    assert.equal(await calls(A), 1);
    assert.equal(await errors() - before, 1, name);
  }
  await A.faults({});
});
