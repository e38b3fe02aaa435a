/*
 * health.test.mjs - active health probes and local-backend awareness, end
 * to end against sy-mock instances whose probe answers are set with their
 * /__faults plans (a failing probe path) and /__health state (what /api/ps,
 * /slots and /metrics claim):
 *
 *   - a provider whose probes fail is marked down within ~2 intervals,
 *     gets no traffic while another deployment is up, and comes back;
 *     /health/ready, /api/stats and /metrics show it;
 *   - when every deployment's provider is down, requests are still tried;
 *   - an Ollama server that has the model loaded (GET /api/ps) gets every
 *     request over one that has not, and the preference follows a change;
 *   - a llama.cpp server with an idle slot (GET /slots) gets every request
 *     over one with all slots busy; a server without /slots is read through
 *     /metrics (requests_deferred);
 *   - one GET /api/tags serves both the probe and model discovery;
 *   - server.ready_requires_providers: /health/ready is 503 while no probed
 *     provider is up.
 */
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import {
  Mock, Gateway, gatewayConfig, mockProvider, ollamaProvider, request, ms, now, sleep, pollUntil, CLIENT_KEY,
} from './lib/harness.mjs';

const CHAT = '/v1/chat/completions';
const INTERVAL_S = 0.1;
let A, B, C, D, E, F, gw;

const probe = (extra = {}) => ({ interval_s: INTERVAL_S, timeout_ms: 1000, unhealthy_after: 2, healthy_after: 1, ...extra });

before(async () => {
  [A, B, C, D, E, F] = await Promise.all([1, 2, 3, 4, 5, 6].map(() => Mock.start()));
  const withHealth = (p, h) => ({ ...p, health: h });
  const cfg = gatewayConfig(A.url, {
    router: { defaults: { retries: { max: 1 }, circuit_breaker: { failures: 0 } } },
    providers: [
      withHealth(mockProvider('p1', A.url), probe()),
      withHealth(mockProvider('p2', B.url), probe()),
      { ...withHealth(ollamaProvider('c', C.url), probe()), discover: true },
      withHealth(ollamaProvider('d', D.url), probe()),
      withHealth(mockProvider('e', E.url), probe({ slots: true })),
      withHealth(mockProvider('f', F.url), probe({ slots: true })),
    ],
    models: [
      { name: 'pair', strategy: 'round_robin', deployments: [{ provider: 'p1', model: 'p1-model' }, { provider: 'p2', model: 'p2-model' }] },
      { name: 'local', strategy: 'round_robin', deployments: [{ provider: 'c', model: 'llama3.2' }, { provider: 'd', model: 'llama3.2' }] },
      { name: 'lcpp', strategy: 'round_robin', deployments: [{ provider: 'e', model: 'qwen' }, { provider: 'f', model: 'qwen' }] },
    ],
  });
  gw = await Gateway.start(cfg);
});

after(async () => {
  const stops = [];
  if (gw) stops.push(gw.stop());
  for (const m of [A, B, C, D, E, F]) if (m) stops.push(m.stop());
  await Promise.all(stops);
});

async function setHealth(m, state) {
  const r = await request(`${m.url}/__health`, { method: 'POST', body: state });
  assert.equal(r.status, 200, r.text);
}

async function post(name, content) {
  return request(`${gw.url}${CHAT}`, {
    method: 'POST',
    body: { model: name, messages: [{ role: 'user', content }] },
    headers: { 'content-type': 'application/json', authorization: `Bearer ${CLIENT_KEY}` },
  });
}

async function ready() {
  const r = await request(`${gw.url}/health/ready`);
  return r;
}

async function providerState(name) {
  const r = await ready();
  return r.json && r.json.providers && r.json.providers[name];
}

/* Waits until provider name's state satisfies fn; returns it. */
function waitProvider(name, fn, what, timeout = ms(3000)) {
  return pollUntil(async () => {
    const p = await providerState(name);
    return p && fn(p) ? p : null;
  }, what, timeout, 10);
}

/* Sends n chats to model name; returns the providers that answered. */
async function spread(name, n, tag) {
  const seen = {};
  for (let i = 0; i < n; i++) {
    const r = await post(name, `${tag} ${i}`);
    assert.equal(r.status, 200, r.text);
    const p = r.headers.get('x-switchyard-provider');
    seen[p] = (seen[p] || 0) + 1;
  }
  return seen;
}

test('a provider whose probes fail is down within ~2 intervals, gets no traffic, and comes back', async () => {
  await waitProvider('p1', (p) => p.status === 'up', 'p1 up');
  await waitProvider('p2', (p) => p.status === 'up', 'p2 up');
  await A.faults({ status: 503, paths: ['/v1/models'] });
  const t0 = now();
  const down = await waitProvider('p1', (p) => p.status === 'down', 'p1 down');
  const took = now() - t0;
  /* two failed probes at a 100 ms interval, plus one interval of slack */
  assert.ok(took < ms(1000), `marked down after ${took} ms`);
  assert.match(down.error, /HTTP 503/);
  assert.ok(down.failures >= 2);
  assert.equal(typeof down.latency_ms, 'number');
  assert.equal(typeof down.last_probe_ms_ago, 'number');

  const before1 = (await A.stats()).by_path[CHAT] || 0;
  const seen = await spread('pair', 20, 'while down');
  assert.deepEqual(seen, { p2: 20 });
  assert.equal((await A.stats()).by_path[CHAT] || 0, before1, 'the down provider got no chat');

  /* the stats and metrics say so too */
  const st = await request(`${gw.url}/api/stats`);
  assert.equal(st.json.providers.p1.status, 'down');
  const m = await request(`${gw.url}/metrics`);
  assert.match(m.text, /^switchyard_provider_up\{provider="p1"\} 0$/m);
  assert.match(m.text, /^switchyard_provider_up\{provider="p2"\} 1$/m);
  assert.match(m.text, /^switchyard_provider_probe_latency_seconds\{provider="p2"\} [0-9.]+$/m);
  assert.match(m.text, /^switchyard_provider_probe_failures_total\{provider="p1"\} [1-9]/m);

  await A.faults({});
  const up = await waitProvider('p1', (p) => p.status === 'up', 'p1 back up');
  assert.equal(up.error, null);
  const again = await spread('pair', 20, 'back up');
  assert.deepEqual(again, { p1: 10, p2: 10 });
});

test('/health/ready lists every probed provider and stays 200 while one is down', async () => {
  await A.faults({ status: 500, paths: ['/v1/models'] });
  await waitProvider('p1', (p) => p.status === 'down', 'p1 down');
  const r = await ready();
  assert.equal(r.status, 200);
  assert.equal(r.json.status, 'ready');
  assert.deepEqual(Object.keys(r.json.providers).sort(), ['c', 'd', 'e', 'f', 'p1', 'p2']);
  assert.equal(r.json.providers.mock, undefined, 'a provider without health: is not probed');
  assert.ok(Array.isArray(r.json.providers.c.loaded));
  assert.equal(r.json.providers.e.slots.source, 'slots');
  await A.faults({});
  await waitProvider('p1', (p) => p.status === 'up', 'p1 back up');
});

test('when every deployment is down, requests are still tried', async () => {
  await Promise.all([A, B].map((m) => m.faults({ status: 503, paths: ['/v1/models'] })));
  await waitProvider('p1', (p) => p.status === 'down', 'p1 down');
  await waitProvider('p2', (p) => p.status === 'down', 'p2 down');
  const seen = await spread('pair', 6, 'all down');
  assert.deepEqual(seen, { p1: 3, p2: 3 });
  await Promise.all([A, B].map((m) => m.faults({})));
  await waitProvider('p1', (p) => p.status === 'up', 'p1 up');
  await waitProvider('p2', (p) => p.status === 'up', 'p2 up');
});

test('an Ollama server with the model loaded is preferred, and the preference follows /api/ps', async () => {
  await setHealth(C, { loaded: ['llama3.2:latest'] });
  await setHealth(D, { loaded: [] });
  await waitProvider('c', (p) => p.loaded && p.loaded.includes('llama3.2:latest'), 'c lists llama3.2 loaded');
  await waitProvider('d', (p) => p.loaded && p.loaded.length === 0, 'd lists nothing loaded');
  assert.deepEqual(await spread('local', 20, 'loaded on c'), { c: 20 });

  await setHealth(C, { loaded: ['other:7b'] });
  await setHealth(D, { loaded: ['llama3.2:latest'] });
  await waitProvider('d', (p) => p.loaded && p.loaded.includes('llama3.2:latest'), 'd lists llama3.2 loaded');
  await waitProvider('c', (p) => p.loaded && p.loaded.includes('other:7b'), 'c lists only other:7b');
  assert.deepEqual(await spread('local', 20, 'loaded on d'), { d: 20 });

  /* loaded nowhere: the strategy alone decides */
  await setHealth(D, { loaded: [] });
  await waitProvider('d', (p) => p.loaded && p.loaded.length === 0, 'd lists nothing loaded');
  assert.deepEqual(await spread('local', 20, 'loaded nowhere'), { c: 10, d: 10 });
  const m = await request(`${gw.url}/metrics`);
  assert.match(m.text, /^switchyard_provider_loaded_models\{provider="c"\} 1$/m);
  await Promise.all([C, D].map((x) => setHealth(x, {})));
});

test('one GET /api/tags serves both the health probe and discovery', async () => {
  await C.reset();
  await sleep(ms(600));
  const st = await C.stats();
  const tags = st.by_path['/api/tags'] || 0;
  const ps = st.by_path['/api/ps'] || 0;
  assert.ok(tags >= 3, `probed ${tags} times`);
  /* one /api/tags per round, one /api/ps after each (that discovery then
   * sends nothing of its own is the unit test discovery.shared_sends_nothing_of_its_own:
   * its default interval of 60 s would not show here) */
  assert.ok(Math.abs(tags - ps) <= 1, `/api/tags ${tags} vs /api/ps ${ps}`);
  /* the discovered models are listed */
  const models = await request(`${gw.url}/v1/models`, { headers: { authorization: `Bearer ${CLIENT_KEY}` } });
  assert.equal(models.status, 200, models.text);
  assert.ok(models.json.data.some((x) => x.id === 'mock-small' || x.id === 'c/mock-small'), models.text);
});

test('a llama.cpp server with an idle slot is preferred over one with every slot busy', async () => {
  await setHealth(E, { slots: { total: 2, idle: 1 } });
  await setHealth(F, { slots: { total: 2, idle: 0 } });
  await waitProvider('e', (p) => p.slots.idle === 1, 'e has an idle slot');
  await waitProvider('f', (p) => p.slots.idle === 0, 'f has none');
  assert.deepEqual(await spread('lcpp', 20, 'idle on e'), { e: 20 });
  const m = await request(`${gw.url}/metrics`);
  assert.match(m.text, /^switchyard_provider_idle_slots\{provider="f"\} 0$/m);

  /* the older shape ("state": 0 idle) reads the same */
  await setHealth(E, { slots: { total: 2, idle: 0 }, legacy_slots: true });
  await setHealth(F, { slots: { total: 3, idle: 2 }, legacy_slots: true });
  await waitProvider('f', (p) => p.slots.idle === 2 && p.slots.total === 3, 'f has two idle slots');
  await waitProvider('e', (p) => p.slots.idle === 0, 'e has none');
  assert.deepEqual(await spread('lcpp', 20, 'idle on f'), { f: 20 });
});

test('a llama.cpp server without /slots is read through /metrics', async () => {
  await setHealth(E, { slots_endpoint: false, deferred: 0 });
  await setHealth(F, { slots_endpoint: false, slots: { total: 2, idle: 0 }, deferred: 3 });
  await waitProvider('f', (p) => p.slots.source === 'metrics' && p.slots.deferred === 3, 'f read through /metrics');
  await waitProvider('e', (p) => p.slots.source === 'metrics' && p.slots.deferred === 0, 'e read through /metrics');
  assert.deepEqual(await spread('lcpp', 20, 'metrics'), { e: 20 });
  assert.ok(((await F.stats()).by_path['/metrics'] || 0) >= 1);
  await Promise.all([E, F].map((x) => setHealth(x, {})));
});

test('ready_requires_providers: /health/ready is 503 while no probed provider is up', async () => {
  const M = await Mock.start();
  await M.faults({ status: 503, paths: ['/v1/models'] });
  const cfg = gatewayConfig(M.url, {
    server: { ready_requires_providers: true },
    providers: [{ ...mockProvider('solo', M.url), health: probe({ unhealthy_after: 1 }) }],
  });
  cfg.providers = cfg.providers.filter((p) => p.name !== 'mock');
  cfg.models = [{ name: 'fast', deployments: [{ provider: 'solo', model: 'mock-small' }] }];
  const g = await Gateway.start(cfg, { ready: false });
  try {
    const r = await pollUntil(async () => {
      const x = await request(`${g.url}/health/ready`);
      return x.json && x.json.providers && x.json.providers.solo.status === 'down' ? x : null;
    }, 'solo down', ms(3000), 10);
    assert.equal(r.status, 503);
    assert.equal(r.json.status, 'no_provider_up');
    await M.faults({});
    const ok = await pollUntil(async () => {
      const x = await request(`${g.url}/health/ready`);
      return x.status === 200 ? x : null;
    }, 'ready again', ms(3000), 10);
    assert.equal(ok.json.providers.solo.status, 'up');
  } finally {
    await g.stop();
    await M.stop();
  }
});
