/*
 * hedge.test.mjs - hedged requests, end to end against two sy-mock
 * instances: a is made slow with its /__faults plan, b answers at once.
 *
 *   - a first attempt with no first byte after the model's after_ms gets a
 *     second one on the other deployment; the hedge answers, the slow one
 *     is cancelled (the mock sees its stream closed), for the three client
 *     protocols, streamed and whole, and the OpenAI SDK;
 *   - a fast first attempt is never hedged;
 *   - the first attempt failing while the hedge runs hands the answer to
 *     the hedge; both failing is retried as any failure;
 *   - max_fraction caps the hedges (every other request at 0.5);
 *   - `percentile` waits for the deployment's own time to first byte once
 *     it has enough samples;
 *   - /api/stats and /metrics count the hedges and their wins;
 *   - a shared call (cache, dedup) hedges the same way, and a client that
 *     leaves during a race cancels both calls.
 */
import { test, before, after } from 'node:test';
import http from 'node:http';
import assert from 'node:assert/strict';
import {
  Mock, Gateway, gatewayConfig, mockProvider, request, ms, now, sleep, rawChat, rawStreamSummary, CLIENT_KEY,
} from './lib/harness.mjs';

const CHAT = '/v1/chat/completions';
let A, B, gw, empty;

/* a is (all but) always the first choice: weights 10^6 to 1 */
const deps = () => [
  { provider: 'a', model: 'a-model', weight: 1000000 },
  { provider: 'b', model: 'b-model', weight: 1 },
];

before(async () => {
  [A, B] = await Promise.all([Mock.start(), Mock.start()]);
  /* an upstream that answers 200 with an empty body */
  empty = http.createServer((req, res) => {
    req.resume();
    req.on('end', () => res.writeHead(200, { 'content-type': 'application/json', 'content-length': '0' }).end());
  });
  await new Promise((r) => empty.listen(0, '127.0.0.1', r));
  const emptyUrl = `http://127.0.0.1:${empty.address().port}`;
  const cfg = gatewayConfig(A.url, {
    router: { defaults: { retries: { max: 0 }, circuit_breaker: { failures: 0 } } },
    providers: [mockProvider('a', A.url), mockProvider('b', B.url), mockProvider('e', emptyUrl)],
    models: [
      { name: 'hedged', deployments: deps(), hedge: { after_ms: ms(150), max_fraction: 1 } },
      { name: 'retried', deployments: deps(), hedge: { after_ms: ms(100), max_fraction: 1 }, retries: { max: 1, backoff_ms: 1 } },
      { name: 'capped', deployments: deps(), hedge: { after_ms: ms(100), max_fraction: 0.5 } },
      { name: 'pct', deployments: deps(), hedge: { percentile: 95, max_fraction: 1 } },
      { name: 'plain', deployments: deps() },
      { name: 'cached', deployments: deps(), hedge: { after_ms: ms(150), max_fraction: 1 }, cache: { mode: 'exact' } },
      {
        name: 'cached-retry', deployments: deps(), hedge: { after_ms: ms(150), max_fraction: 1 }, cache: { mode: 'exact' },
        retries: { max: 1, backoff_ms: 1 },
      },
      {
        name: 'to-empty', hedge: { after_ms: ms(150), max_fraction: 1 },
        deployments: [{ provider: 'a', model: 'a-model', weight: 1000000 }, { provider: 'e', model: 'e-model', weight: 1 }],
      },
    ],
  });
  gw = await Gateway.start(cfg);
});

after(async () => {
  const stops = [];
  if (gw) stops.push(gw.stop());
  for (const m of [A, B]) if (m) stops.push(m.stop());
  if (empty) stops.push(new Promise((r) => empty.close(r)));
  await Promise.all(stops);
});

async function resetAll() {
  await Promise.all([A, B].map((m) => m.reset()));
}

async function calls(m) {
  return (await m.stats()).by_path[CHAT] || 0;
}

function send(proto, name, content, stream = false) {
  const { url, body } = rawChat(gw, proto, { model: name, messages: [{ role: 'user', content }], stream });
  return request(url, { method: 'POST', body, headers: { authorization: `Bearer ${CLIENT_KEY}`, 'x-api-key': CLIENT_KEY } });
}

async function routerStats(name) {
  const r = await request(`${gw.url}/api/stats`);
  assert.equal(r.status, 200);
  return r.json.router.models.find((m) => m.name === name);
}

async function until(fn, what, limit = ms(3000)) {
  const t0 = now();
  for (;;) {
    if (await fn()) return;
    if (now() - t0 > limit) assert.fail(`timed out waiting for ${what}`);
    await sleep(20);
  }
}

test('a slow first attempt is hedged: the hedge answers, the slow one is cancelled', async () => {
  await resetAll();
  await A.faults({ latency_ms: ms(4000) });
  for (const proto of ['openai', 'ollama', 'anthropic']) {
    for (const stream of [false, true]) {
      const t0 = now();
      const r = await send(proto, 'hedged', `hedge ${proto} ${stream}`, stream);
      const took = now() - t0;
      assert.equal(r.status, 200, `${proto} stream=${stream}: ${r.text}`);
      assert.equal(r.headers.get('x-switchyard-provider'), 'b');
      assert.equal(r.headers.get('x-switchyard-model'), 'b-model');
      assert.equal(r.headers.get('x-switchyard-attempts'), '2');
      assert.equal(r.headers.get('x-switchyard-hedge'), 'won');
      assert.ok(took >= ms(140) && took < ms(2000), `answered in ${took} ms`);
      if (stream) {
        const s = rawStreamSummary(proto, r.text);
        assert.ok(s.complete && !s.error, r.text);
        assert.match(s.content, new RegExp(`hedge ${proto} true`));
      } else {
        assert.match(r.text, new RegExp(`hedge ${proto} false`));
      }
    }
  }
  /* a got every first attempt; each was cancelled when b answered */
  /* the 3 streamed calls show as cancelled streams (the mock counts only streams) */
  await until(async () => (await A.stats()).streams_cancelled === 3, 'the slow streams to be closed');
  assert.equal((await A.stats()).open_streams, 0, 'no call to a is left open');
  assert.equal(await calls(A), 6);
  assert.equal(await calls(B), 6);
  const st = await routerStats('hedged');
  assert.equal(st.hedges, 6);
  assert.equal(st.hedge_wins, 6);
  /* the SDK sees an ordinary answer */
  const res = await gw.client().chat.completions.create({ model: 'hedged', messages: [{ role: 'user', content: 'sdk hedge' }] });
  assert.match(res.choices[0].message.content, /sdk hedge/);
  await A.faults({});
});

test('a fast first attempt is not hedged', async () => {
  await resetAll();
  for (let i = 0; i < 5; i++) {
    const r = await send('openai', 'hedged', `fast ${i}`, i % 2 === 1);
    assert.equal(r.status, 200, r.text);
    assert.equal(r.headers.get('x-switchyard-hedge'), null);
    assert.equal(r.headers.get('x-switchyard-attempts'), '1');
  }
  assert.equal(await calls(A) + await calls(B), 5);
});

test('the first attempt failing during the race leaves the answer to the hedge', async () => {
  await resetAll();
  /* a fails at 400 ms, after the hedge (150 ms) went to b, which answers at 700 ms */
  await A.faults({ latency_ms: ms(400), status: 500 });
  await B.faults({ latency_ms: ms(700) });
  const t0 = now();
  const r = await send('openai', 'hedged', 'lead fails', true);
  assert.equal(r.status, 200, r.text);
  assert.ok(rawStreamSummary('openai', r.text).complete, r.text);
  assert.equal(r.headers.get('x-switchyard-provider'), 'b');
  assert.equal(r.headers.get('x-switchyard-attempts'), '2');
  assert.ok(now() - t0 >= ms(650), 'b answered');
  /* both fail: the error is answered (no retries left for 'hedged') */
  await B.faults({ latency_ms: ms(600), status: 503 });
  const f = await send('openai', 'hedged', 'both fail');
  /* the last to fail answers: a at 400 ms, then b at 750 ms */
  assert.equal(f.status, 503, f.text);
  assert.match(f.json.error.message, /provider "b" returned HTTP 503/);
  /* with a retry left, both failing moves on to a retry */
  await A.faults({ latency_ms: ms(300), status: 500, count: 1 });
  await B.faults({ latency_ms: ms(300), status: 500, count: 1 });
  const g = await send('openai', 'retried', 'retry after race');
  assert.equal(g.status, 200, g.text);
  assert.equal(g.headers.get('x-switchyard-attempts'), '3');
  await A.faults({});
  await B.faults({});
});

test('max_fraction caps the share of hedged requests', async () => {
  await resetAll();
  await A.faults({ latency_ms: ms(500) });
  const hedged = [];
  for (let i = 0; i < 6; i++) {
    const r = await send('openai', 'capped', `capped ${i}`);
    assert.equal(r.status, 200, r.text);
    hedged.push(r.headers.get('x-switchyard-hedge') === 'won');
  }
  /* starts with one hedge in hand, earns half a hedge per request */
  assert.deepEqual(hedged, [true, false, true, false, true, false]);
  assert.equal((await routerStats('capped')).hedges, 3);
  await A.faults({});
});

test("percentile waits for the deployment's own time to first byte", async () => {
  await resetAll();
  /* no samples yet: no hedge, however slow */
  await A.faults({ latency_ms: ms(300), count: 1 });
  let r = await send('openai', 'pct', 'no samples');
  assert.equal(r.headers.get('x-switchyard-hedge'), null);
  /* 30 quick answers from a give it a p95 of a few ms */
  for (let i = 0; i < 30; i++) {
    r = await send('openai', 'pct', `sample ${i}`);
    assert.equal(r.status, 200);
  }
  const st = await routerStats('pct');
  const a = st.deployments.find((d) => d.provider === 'a');
  assert.ok(a.ttfb_p95_ms > 0 && a.ttfb_p95_ms < 300, `p95 ${a.ttfb_p95_ms}`);
  await A.faults({ latency_ms: ms(3000) });
  const t0 = now();
  r = await send('openai', 'pct', 'slow now');
  assert.equal(r.status, 200, r.text);
  assert.equal(r.headers.get('x-switchyard-hedge'), 'won');
  assert.ok(now() - t0 < ms(1500));
  await A.faults({});
});

test('hedges show in /metrics', async () => {
  const r = await request(`${gw.url}/metrics`);
  assert.equal(r.status, 200);
  const m = r.text.match(/^switchyard_router_hedges_total\{model="hedged"\} (\d+)$/m);
  assert.ok(m && Number(m[1]) >= 6, r.text.slice(0, 200));
  assert.match(r.text, /^switchyard_router_hedge_wins_total\{model="hedged"\} \d+$/m);
  assert.match(r.text, /^switchyard_router_hedges_total\{model="plain"\} 0$/m);
});

test('a client that leaves during the race cancels both calls', async () => {
  await resetAll();
  await A.faults({ latency_ms: ms(4000) });
  await B.faults({ latency_ms: ms(4000) });
  const ctl = new AbortController();
  const { url, body } = rawChat(gw, 'openai', { model: 'hedged', messages: [{ role: 'user', content: 'leaving' }], stream: true });
  const p = fetch(url, {
    method: 'POST', body: typeof body === 'string' ? body : JSON.stringify(body), signal: ctl.signal,
    headers: { 'content-type': 'application/json', authorization: `Bearer ${CLIENT_KEY}` },
  }).then((res) => res.text()).catch((e) => e.name);
  await until(async () => (await B.stats()).open_streams === 1, 'the hedge to reach b');
  ctl.abort();
  assert.equal(await p, 'AbortError');
  await until(async () => (await A.stats()).open_streams === 0 && (await B.stats()).open_streams === 0,
    'both calls to be closed');
  await A.faults({});
  await B.faults({});
  const r = await send('openai', 'hedged', 'still serving');
  assert.equal(r.status, 200);
  const st = await routerStats('hedged');
  assert.ok(st.deployments.every((d) => d.inflight === 0), JSON.stringify(st.deployments));
});

test('a shared call (cache miss, merged duplicates) hedges too', async () => {
  await resetAll();
  await A.faults({ latency_ms: ms(4000) });
  const t0 = now();
  const [r1, r2] = await Promise.all([
    send('openai', 'cached', 'shared hedge', true),
    send('ollama', 'cached', 'shared hedge', false),
  ]);
  assert.ok(now() - t0 < ms(2000));
  for (const r of [r1, r2]) {
    assert.equal(r.status, 200, r.text);
    assert.equal(r.headers.get('x-switchyard-provider'), 'b');
    assert.equal(r.headers.get('x-switchyard-attempts'), '2');
    assert.equal(r.headers.get('x-switchyard-hedge'), 'won');
    assert.equal(r.headers.get('x-switchyard-cache'), 'miss');
  }
  assert.ok(rawStreamSummary('openai', r1.text).complete, r1.text);
  assert.match(r2.text, /shared hedge/);
  assert.equal(await calls(B), 1, 'one call for both clients');
  /* the answer was cached: no call at all now */
  const h = await send('anthropic', 'cached', 'shared hedge');
  assert.equal(h.status, 200, h.text);
  assert.equal(h.headers.get('x-switchyard-cache'), 'hit');
  assert.equal(await calls(B), 1);
  await until(async () => (await A.stats()).open_streams === 0, 'the slow call to a to be closed');
  await A.faults({});
});

test('a hedge that wins with a bad answer is retried like any failure', async () => {
  await resetAll();
  /* a is slow once, so b's hedge wins; b's answer is not JSON; the retry goes to a, fast now */
  await A.faults({ latency_ms: ms(1500), count: 1 });
  await B.faults({ fault: 'bad-json', count: 1 });
  const r = await send('openai', 'cached-retry', 'bad winner', true);
  assert.equal(r.status, 200, r.text);
  assert.ok(rawStreamSummary('openai', r.text).complete, r.text);
  assert.equal(r.headers.get('x-switchyard-provider'), 'a');
  assert.equal(r.headers.get('x-switchyard-attempts'), '3');
  assert.equal(r.headers.get('x-switchyard-hedge'), null, 'the answer came from a later attempt, not a race');
  await until(async () => (await A.stats()).open_streams === 0, 'the slow call to a to be closed');
  await A.faults({});
  await B.faults({});
});

test('a hedge that wins with an empty 2xx answer is a bad answer, not a crash', async () => {
  await resetAll();
  await A.faults({ latency_ms: ms(4000) });
  const r = await send('openai', 'to-empty', 'empty winner');
  assert.equal(r.status, 502, r.text);
  assert.match(r.json.error.message, /provider "e"/);
  await A.faults({});
  const ok = await send('openai', 'hedged', 'still alive');
  assert.equal(ok.status, 200);
});
