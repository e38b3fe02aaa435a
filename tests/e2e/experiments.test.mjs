/*
 * experiments.test.mjs - complexity routing and A/B experiments wired into
 * the routing decision, end to end against two sy-mock instances (a serves
 * the small/control models, b the large/variant ones):
 *
 *   - a `router: complexity` model sends a short question to its low tier
 *     and a long, code-and-math, many-step one to its high tier, for the
 *     three client protocols, with x-switchyard-route-reason explaining the
 *     score; the same request always gets the same score;
 *   - an experiment splits a model's traffic by the user id (sticky: a user
 *     stays on its arm), near its percentages over 400 users; the variant
 *     arm's model and its `set` parameters reach the upstream;
 *   - /api/stats counts requests, errors, tokens and latency per arm, and
 *     POST /v1/feedback records a score on the arm of a finished request;
 *   - a rule routes into an experiment; /admin/route/explain shows the
 *     experiment's arm and the complexity tier without sending anything.
 */
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { Mock, Gateway, gatewayConfig, mockProvider, request, rawChat, CLIENT_KEY } from './lib/harness.mjs';

const CHAT = '/v1/chat/completions';
let A, B, gw;

before(async () => {
  [A, B] = await Promise.all([Mock.start(), Mock.start()]);
  const cfg = gatewayConfig(A.url, {
    providers: [mockProvider('a', A.url), mockProvider('b', B.url)],
    models: [
      { name: 'small', deployments: [{ provider: 'a', model: 'small-model' }] },
      { name: 'large', deployments: [{ provider: 'b', model: 'large-model' }] },
      { name: 'auto', router: 'complexity', tiers: [{ below: 30, model: 'small' }, { model: 'large' }] },
      { name: 'chat', deployments: [{ provider: 'a', model: 'chat-a' }] },
      { name: 'chat-b', deployments: [{ provider: 'b', model: 'chat-b' }] },
    ],
  });
  cfg.router = {
    ...cfg.router,
    rules: [{ name: 'legacy-name', match: { model: 'old-chat' }, action: { route: 'chat' } }],
    experiments: [{
      name: 'ab', model: 'chat', sticky: 'user',
      arms: [
        { name: 'control', weight: 70 },
        { name: 'variant', weight: 30, model: 'chat-b', set: { temperature: 0.3 } },
      ],
    }],
  };
  gw = await Gateway.start(cfg);
});

after(async () => {
  await Promise.all([gw?.stop(), A?.stop(), B?.stop()]);
});

function send(proto, model, content, headers = {}, extra = {}) {
  const { url, body } = rawChat(gw, proto, { model, messages: [{ role: 'user', content }] });
  return request(url, {
    method: 'POST', body: { ...body, ...extra }, headers: { authorization: `Bearer ${CLIENT_KEY}`, 'x-api-key': CLIENT_KEY, ...headers },
  });
}

const HARD = [
  'Step 1: prove the theorem below. Then, step 2: derive the integral of x^2 + 3x.',
  '1. Read the code\n2. Fix the bug\n3. Write a test\n4. Prove it terminates\n5. Finally explain',
  '```c\nint f(int x) { return x * 2; }\n```\n```python\ndef g(y):\n    return y ** 2\n```\n```js\nconst h = (z) => z + 1;\n```',
  'Compute \\frac{a}{b} + \\sum_{i=1}^{n} i and the derivative, the eigenvalue, the matrix. '.repeat(40),
].join('\n');

test('a complexity model routes a simple request low and a hard one high, for every protocol', async () => {
  for (const proto of ['openai', 'ollama', 'anthropic']) {
    const easy = await send(proto, 'auto', 'hi there');
    assert.equal(easy.status, 200, `${proto}: ${easy.text}`);
    assert.equal(easy.headers.get('x-switchyard-provider'), 'a');
    assert.equal(easy.headers.get('x-switchyard-model'), 'small-model');
    assert.match(easy.headers.get('x-switchyard-route-reason'), /^complexity=\d+ tier=small tokens=\d+ code=0 /);

    const hard = await send(proto, 'auto', HARD);
    assert.equal(hard.status, 200, `${proto}: ${hard.text}`);
    assert.equal(hard.headers.get('x-switchyard-provider'), 'b');
    assert.equal(hard.headers.get('x-switchyard-model'), 'large-model');
    const why = hard.headers.get('x-switchyard-route-reason');
    const m = why.match(/^complexity=(\d+) tier=large tokens=\d+ code=(\d+) math=(\d+) steps=(\d+)/);
    assert.ok(m, why);
    assert.ok(Number(m[1]) >= 30 && Number(m[2]) >= 3 && Number(m[3]) >= 5 && Number(m[4]) >= 5, why);
    /* deterministic: the same request, the same reason */
    const again = await send(proto, 'auto', HARD);
    assert.equal(again.headers.get('x-switchyard-route-reason'), why);
  }
});

test('an experiment splits by user, sticks, and sends the variant its model and parameters', async () => {
  await Promise.all([A.reset(), B.reset()]);
  const arms = {};
  for (let i = 0; i < 400; i++) {
    const r = await send('openai', 'chat', `user ${i}`, { 'x-switchyard-user': `user-${i}` });
    assert.equal(r.status, 200, r.text);
    const why = r.headers.get('x-switchyard-route-reason');
    const arm = why.match(/^experiment=ab arm=(control|variant)$/)[1];
    arms[arm] = (arms[arm] || 0) + 1;
    assert.equal(r.headers.get('x-switchyard-provider'), arm === 'control' ? 'a' : 'b');
  }
  assert.ok(Math.abs(arms.control / 400 - 0.7) < 0.07, JSON.stringify(arms));
  /* sticky: a user keeps its arm */
  const first = (await send('openai', 'chat', 'x', { 'x-switchyard-user': 'alice' })).headers.get('x-switchyard-route-reason');
  for (let i = 0; i < 5; i++) {
    const r = await send(['openai', 'ollama', 'anthropic'][i % 3], 'chat', `again ${i}`, { 'x-switchyard-user': 'alice' });
    assert.equal(r.headers.get('x-switchyard-route-reason'), first);
  }
  /* the body's user id counts too (OpenAI user, Anthropic metadata.user_id) */
  for (const [proto, extra] of [['openai', { user: 'bob' }], ['anthropic', { metadata: { user_id: 'carol' } }]]) {
    const viaBody = [];
    for (let i = 0; i < 8; i++)
      viaBody.push((await send(proto, 'chat', `body user ${i}`, {}, extra)).headers.get('x-switchyard-route-reason'));
    assert.equal(new Set(viaBody).size, 1, viaBody.join(' | '));
  }
  /* no user at all: drawn per request (40 draws at 70/30 all alike: p < 1e-6) */
  const drawn = new Set();
  for (let i = 0; i < 40; i++) drawn.add((await send('openai', 'chat', `anon ${i}`)).headers.get('x-switchyard-route-reason'));
  assert.equal(drawn.size, 2, 'anonymous requests land on both arms');
  /* the variant's temperature reached b, and its upstream model name */
  const seen = (await B.stats()).last_requests.map((q) => JSON.parse(q.body));
  assert.ok(seen.length > 0);
  for (const body of seen) {
    assert.equal(body.model, 'chat-b');
    assert.equal(body.temperature, 0.3);
  }
  const seenA = (await A.stats()).last_requests.map((q) => JSON.parse(q.body));
  assert.ok(seenA.every((b) => b.temperature === undefined), 'control unchanged');
});

test('per-arm stats and feedback', async () => {
  const before = (await request(`${gw.url}/api/stats`)).json.experiments.find((e) => e.name === 'ab');
  const count = (e, arm) => e.arms.find((a) => a.name === arm);
  await B.faults({ status: 500, count: 1 });
  /* find a user on the variant arm */
  let user = null;
  for (let i = 0; !user && i < 200; i++) {
    const r = await (await fetch(`${gw.url}/admin/route/explain`, {
      method: 'POST', headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ headers: { 'x-switchyard-user': `probe-${i}` }, request: { model: 'chat', messages: [{ role: 'user', content: 'x' }] } }),
    })).json();
    if (r.experiment.arm === 'variant') user = `probe-${i}`;
  }
  assert.ok(user, 'no user on the variant arm among 200 (a 50/50 split)');
  const bad = await send('openai', 'chat', 'fails', { 'x-switchyard-user': user });
  assert.equal(bad.status, 500, bad.text);
  const good = await send('openai', 'chat', 'works', { 'x-switchyard-user': user });
  assert.equal(good.status, 200);
  const id = good.headers.get('x-request-id');
  const fb = await request(`${gw.url}/v1/feedback`, { method: 'POST', body: { request_id: id, score: 0.75 } });
  assert.equal(fb.status, 200, fb.text);
  assert.equal(fb.json.experiment, 'ab');
  assert.equal(fb.json.arm, 'variant');
  const after = (await request(`${gw.url}/api/stats`)).json.experiments.find((e) => e.name === 'ab');
  const b0 = count(before, 'variant'), b1 = count(after, 'variant');
  assert.equal(b1.requests - b0.requests, 2);
  assert.equal(b1.errors - b0.errors, 1);
  assert.ok(b1.completion_tokens > b0.completion_tokens);
  assert.ok(b1.latency_ms_mean > 0);
  assert.equal(b1.feedback_count - b0.feedback_count, 1);
  assert.ok(Math.abs(b1.feedback_sum - b0.feedback_sum - 0.75) < 1e-9);
});

test('a rule routes into an experiment; explain shows the arm and the tier without a call', async () => {
  const r = await send('openai', 'old-chat', 'legacy', { 'x-switchyard-user': 'alice' });
  assert.equal(r.status, 200, r.text);
  assert.match(r.headers.get('x-switchyard-route-reason'), /^rule=legacy-name experiment=ab arm=(control|variant)$/);

  await Promise.all([A.reset(), B.reset()]);
  const ex = await request(`${gw.url}/admin/route/explain`, {
    method: 'POST', body: { api: 'anthropic', request: { model: 'auto', max_tokens: 100, messages: [{ role: 'user', content: HARD }] } },
  });
  assert.equal(ex.status, 200, ex.text);
  assert.equal(ex.json.final_model, 'large');
  assert.ok(ex.json.complexity.score >= 30);
  assert.equal(ex.json.complexity.tier, 1);
  assert.equal(ex.json.experiment, null);
  assert.match(ex.json.reason, /^complexity=\d+ tier=large /);
  const st = await Promise.all([A.stats(), B.stats()]);
  assert.equal(st[0].requests + st[1].requests, 0, 'a dry run calls nobody');
});
