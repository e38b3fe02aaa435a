/*
 * observability.test.mjs - health endpoints, Prometheus metrics whose
 * counts match the requests sent, and one JSON log line per request that
 * never contains prompt or completion text (nor a key).
 */
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import {
  lazyStack, mockProvider, model, request, closedPort, CLIENT_KEY, MOCK_KEY, ms, sleep,
} from './lib/harness.mjs';

const stack = lazyStack({
  config: async (mockUrl) => ({
    providers: [mockProvider('dead-prov', mockUrl, {
      baseUrl: `http://127.0.0.1:${await closedPort()}/v1`, timeouts: { connect_ms: 2000 },
    })],
    models: [model('mdead', 'dead-prov')],
  }),
});
after(() => stack.stop().catch(() => {}));

const T = { timeout: ms(30000) };

/* Prometheus text -> [{name, labels, value}] */
function parseProm(text) {
  const out = [];
  for (const line of text.split('\n')) {
    if (!line || line.startsWith('#')) continue;
    const m = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})?\s+(\S+)/.exec(line);
    if (!m) continue;
    const labels = {};
    for (const l of (m[2] || '').matchAll(/([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"/g)) labels[l[1]] = l[2];
    out.push({ name: m[1], labels, value: Number(m[3]) });
  }
  return out;
}

function sum(samples, name, where = {}) {
  return samples.filter((s) => s.name === name && Object.entries(where).every(([k, v]) => s.labels[k] === v))
    .reduce((a, s) => a + s.value, 0);
}

async function scrape(gw) {
  const r = await request(`${gw.url}/metrics`);
  assert.equal(r.status, 200);
  assert.match(r.headers.get('content-type') || '', /^text\/plain/);
  return { text: r.text, samples: parseProm(r.text) };
}

test('health: /health/live and /health/ready answer 200', T, async () => {
  const { gw } = await stack.get();
  const live = await request(`${gw.url}/health/live`);
  assert.equal(live.status, 200);
  assert.deepEqual(live.json, { status: 'ok' });
  assert.ok(live.headers.get('x-request-id'));
  const ready = await request(`${gw.url}/health/ready`);
  assert.equal(ready.status, 200);
  assert.deepEqual(ready.json, { status: 'ready' });
  assert.ok(ready.headers.get('x-request-id'));
});

test('metrics: request counts, histograms and upstream errors', T, async () => {
  const { gw, client } = await stack.get();
  const m0 = await scrape(gw);
  const messages = [{ role: 'user', content: 'count me' }];
  for (let i = 0; i < 3; i++) await client.chat.completions.create({ model: 'fast', messages });
  for (let i = 0; i < 2; i++) {
    const s = await client.chat.completions.create({ model: 'fast', messages, stream: true });
    for await (const c of s) void c;
  }
  for (let i = 0; i < 2; i++) {
    await client.chat.completions.create({ model: 'nope-model', messages }).catch((e) => assert.equal(e.status, 404));
  }
  await client.chat.completions.create({ model: 'mdead', messages }).catch((e) => assert.equal(e.status, 502));

  const RT = 'switchyard_requests_total';
  let m1;
  for (let i = 0; i < 40; i++) {
    m1 = await scrape(gw);
    const ok = sum(m1.samples, RT, { model: 'fast', status: '200' }) - sum(m0.samples, RT, { model: 'fast', status: '200' });
    const bad = sum(m1.samples, RT, { status: '502' }) - sum(m0.samples, RT, { status: '502' });
    if (ok >= 5 && bad >= 1) break;
    await sleep(50);
  }
  const d = (name, where) => sum(m1.samples, name, where) - sum(m0.samples, name, where);
  const series = m1.samples.filter((s) => s.name === RT);
  assert.ok(series.length > 0, `${RT} present:\n${m1.text}`);
  for (const s of series) {
    for (const l of ['route', 'model', 'status']) assert.ok(l in s.labels, `${RT} has label ${l}: ${JSON.stringify(s.labels)}`);
  }
  assert.ok(series.filter((s) => s.labels.model === 'fast').every((s) => s.labels.route), 'route label not empty');
  assert.equal(d(RT, { model: 'fast', status: '200' }), 5, `5 successful requests on model fast:\n${m1.text}`);
  assert.equal(d(RT, { status: '404' }), 2, '2 requests with an unknown model');
  assert.equal(d(RT, { status: '502' }), 1, '1 request to an unreachable upstream');

  for (const h of ['switchyard_request_duration_seconds', 'switchyard_ttft_seconds']) {
    const buckets = m1.samples.filter((s) => s.name === `${h}_bucket`);
    assert.ok(buckets.length > 0, `${h}_bucket present`);
    assert.ok(buckets.some((s) => s.labels.le === '+Inf'), `${h} has le="+Inf"`);
    assert.ok(m1.samples.some((s) => s.name === `${h}_sum`), `${h}_sum present`);
    assert.ok(buckets.every((s) => 'route' in s.labels), `${h} has a route label`);
    /* each series: cumulative buckets, +Inf equals _count */
    const byKey = new Map();
    for (const b of buckets) {
      const { le, ...rest } = b.labels;
      const k = JSON.stringify(rest);
      if (!byKey.has(k)) byKey.set(k, []);
      byKey.get(k).push({ le: le === '+Inf' ? Infinity : Number(le), v: b.value });
    }
    for (const [k, bs] of byKey) {
      bs.sort((x, y) => x.le - y.le);
      for (let i = 1; i < bs.length; i++) assert.ok(bs[i].v >= bs[i - 1].v, `${h}${k} buckets cumulative`);
      const count = m1.samples.find((s) => s.name === `${h}_count` &&
        JSON.stringify(s.labels) === k);
      assert.ok(count, `${h}_count${k} present`);
      assert.equal(bs.at(-1).v, count.value, `${h}${k}: +Inf bucket equals _count`);
    }
  }
  assert.ok(d('switchyard_request_duration_seconds_count') >= 8, 'every request timed');
  assert.ok(m1.samples.filter((s) => s.name === 'switchyard_ttft_seconds_count').every((s) => 'model' in s.labels),
    'ttft has a model label');
  assert.ok(d('switchyard_ttft_seconds_count') >= 2, 'the streams have a time to first token');
  const UE = 'switchyard_upstream_errors_total';
  const ue = m1.samples.filter((s) => s.name === UE && s.labels.provider === 'dead-prov');
  assert.ok(ue.length > 0 && ue.every((s) => s.labels.kind), `${UE}{provider="dead-prov",kind} present:\n${m1.text}`);
  assert.ok(d(UE, { provider: 'dead-prov' }) >= 1, 'the connect failure counted');
});

test('logs: one JSON line per request with the contract fields, no prompt or completion text', T, async () => {
  const { gw, mock, client } = await stack.get();
  const tag = `${process.pid}${Date.now()}`;
  const p1 = `secret prompt alpha ${tag}`;
  const p2 = `secret prompt bravo ${tag}`;
  const m1 = [{ role: 'user', content: p1 }];
  const m2 = [{ role: 'user', content: p2 }];
  const rid = (n) => `log-${n}-${tag}`;
  const want1 = await mock.post('/v1/chat/completions', { model: 'mock-small', messages: m1 });
  const want2 = await mock.post('/v1/chat/completions', { model: 'mock-small', messages: m2 });

  const r1 = await client.chat.completions.create({ model: 'fast', messages: m1 }, { headers: { 'x-request-id': rid(1) } });
  const s2 = await client.chat.completions.create({ model: 'fast', messages: m2, stream: true },
    { headers: { 'x-request-id': rid(2) } });
  let c2 = '';
  for await (const c of s2) c2 += c.choices?.[0]?.delta?.content ?? '';
  await client.chat.completions.create({ model: 'nope-model', messages: m1 }, { headers: { 'x-request-id': rid(3) } })
    .catch(() => {});
  assert.equal(r1.choices[0].message.content, want1.choices[0].message.content);
  assert.equal(c2, want2.choices[0].message.content);

  const lines = (id) => gw.logs().filter((l) => l.msg === 'request' && l.request_id === id);
  for (let i = 0; i < 40 && [1, 2, 3].some((n) => lines(rid(n)).length === 0); i++) await sleep(50);
  for (const n of [1, 2, 3]) assert.equal(lines(rid(n)).length, 1, `exactly one request line for ${rid(n)}`);

  const FIELDS = ['request_id', 'method', 'route', 'model', 'deployment', 'provider', 'status', 'duration_ms',
    'ttft_ms', 'prompt_tokens', 'completion_tokens'];
  const [l1] = lines(rid(1));
  const [l2] = lines(rid(2));
  const [l3] = lines(rid(3));
  for (const l of [l1, l2]) {
    for (const f of FIELDS) assert.ok(f in l, `field ${f} in ${JSON.stringify(l)}`);
    assert.equal(typeof l.level, 'string');
    assert.equal(l.method, 'POST');
    assert.equal(typeof l.route, 'string');
    assert.ok(l.route.length > 0);
    assert.equal(l.model, 'fast');
    assert.equal(l.provider, 'mock');
    assert.equal(typeof l.deployment, 'string');
    assert.equal(l.status, 200);
    assert.equal(typeof l.duration_ms, 'number');
    assert.ok(l.duration_ms >= 0);
  }
  assert.equal(l1.prompt_tokens, want1.usage.prompt_tokens);
  assert.equal(l1.completion_tokens, want1.usage.completion_tokens);
  assert.equal(typeof l2.ttft_ms, 'number', 'a stream logs its time to first token');
  assert.ok(l2.ttft_ms >= 0 && l2.ttft_ms <= l2.duration_ms + 1, `ttft ${l2.ttft_ms} within duration ${l2.duration_ms}`);
  assert.equal(l3.status, 404);
  assert.equal(l3.method, 'POST');
  assert.equal(typeof l3.duration_ms, 'number');

  const err = gw.stderrText();
  const words = (s) => s.slice(s.indexOf(']') + 1).trim();
  for (const [what, s] of [['prompt 1', p1], ['prompt 2', p2],
    ['completion 1', want1.choices[0].message.content], ['completion 2', want2.choices[0].message.content],
    ['completion 1 words', words(want1.choices[0].message.content)],
    ['completion 2 words', words(want2.choices[0].message.content)],
    ['the client key', CLIENT_KEY], ['the provider key', MOCK_KEY]]) {
    assert.ok(!err.includes(s), `${what} appears in switchyard's stderr`);
  }
  const notJson = gw.proc.stderr.filter((l) => {
    try {
      return typeof JSON.parse(l) !== 'object';
    } catch {
      return true;
    }
  });
  assert.deepEqual(notJson, [], 'every stderr line is a JSON object');
});

test('teardown: switchyard exits cleanly', T, async () => {
  await stack.stop();
});
