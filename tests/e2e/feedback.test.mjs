/*
 * feedback.test.mjs - POST /v1/feedback and the experiment side of the
 * reports, against the real binary with A/B experiments and a complexity
 * model configured:
 *
 *   - bad input gets a 400 in OpenAI's error shape: an empty body, bad
 *     JSON, not an object, request_id missing, empty, too long or not a
 *     string, score missing, not a number or out of range;
 *   - an id no experiment remembers is a 404 (not_found) that says why;
 *     without any experiment configured, every id is;
 *   - GET is a 405;
 *   - /api/stats lists every experiment and arm (all counts 0 until
 *     requests are routed to them), /metrics their families;
 *   - a `router: complexity` model is listed by /v1/models and /api/tags,
 *     and the config's new keys fail `validate` with file:line:col.
 *
 * Assigning requests to arms and the complexity tier choice, end to end,
 * are in experiments.test.mjs.
 */
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { writeFile, mkdtemp } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import {
  Mock, Gateway, gatewayConfig, mockProvider, request, errorShape, run, SY_BIN, toYaml,
} from './lib/harness.mjs';

let mock, gw, bare;

const dep = (provider, model) => ({ provider, model, weight: 1 });

function experimentsConfig(url) {
  const cfg = gatewayConfig(url, {
    providers: [mockProvider('other', url)],
    models: [
      { name: 'chat', deployments: [dep('mock', 'mock-small')] },
      { name: 'chat-local', deployments: [dep('other', 'mock-large')] },
      { name: 'auto', router: 'complexity', tiers: [{ below: 40, model: 'chat' }, { model: 'chat-local' }] },
    ],
  });
  cfg.router = {
    ...cfg.router,
    experiments: [{
      name: 'local-vs-cloud', model: 'chat', sticky: 'user',
      arms: [{ name: 'control', weight: 50 }, { name: 'local', weight: 50, model: 'chat-local' }],
    }],
  };
  return cfg;
}

before(async () => {
  mock = await Mock.start();
  [gw, bare] = await Promise.all([Gateway.start(experimentsConfig(mock.url)), Gateway.start(gatewayConfig(mock.url))]);
});

after(async () => {
  await Promise.all([gw?.stop(), bare?.stop()]);
  await mock?.stop();
});

const post = (g, body, headers = { 'content-type': 'application/json' }) =>
  request(`${g.url}/v1/feedback`, { method: 'POST', body, headers });

test('bad bodies get 400 in the OpenAI error shape', async () => {
  const cases = [
    ['', 'invalid_json', null],
    ['{"request_id": "req_1", ', 'invalid_json', null],
    ['[1, 2]', 'invalid_request', null],
    ['{"score": 1}', 'missing_required_parameter', 'request_id'],
    ['{"request_id": "", "score": 1}', 'invalid_type', 'request_id'],
    [JSON.stringify({ request_id: 'r'.repeat(64), score: 1 }), 'invalid_type', 'request_id'],
    ['{"request_id": 42, "score": 1}', 'invalid_type', 'request_id'],
    ['{"request_id": "req_1"}', 'missing_required_parameter', 'score'],
    ['{"request_id": "req_1", "score": "good"}', 'invalid_type', 'score'],
    ['{"request_id": "req_1", "score": null}', 'invalid_type', 'score'],
    ['{"request_id": "req_1", "score": 1e10}', 'invalid_type', 'score'],
    ['{"request_id": "req_1", "score": -1e999}', 'invalid_type', 'score'],
  ];
  for (const [body, code, param] of cases) {
    const r = await post(gw, body);
    const e = errorShape(assert, r.json, { code, status: 400, statusSeen: r.status });
    assert.equal(e.type, 'invalid_request_error', body);
    assert.equal(e.param, param, body);
    assert.ok(r.headers.get('x-request-id'), 'every response has a request id');
  }
});

test('an id no experiment remembers is a 404 that says why', async () => {
  const r = await post(gw, JSON.stringify({ request_id: 'req_never_seen', score: 1 }));
  const e = errorShape(assert, r.json, { code: 'not_found', status: 404, statusSeen: r.status });
  assert.equal(e.param, 'request_id');
  assert.match(e.message, /req_never_seen is not known to an A\/B experiment/);
  assert.match(e.message, /older than the last 65536/);

  /* this feedback request's own id was never part of an experiment either */
  const again = await post(gw, JSON.stringify({ request_id: r.headers.get('x-request-id'), score: 0 }));
  errorShape(assert, again.json, { code: 'not_found', status: 404, statusSeen: again.status });

  const none = await post(bare, JSON.stringify({ request_id: 'req_1', score: 0.5 }));
  const e2 = errorShape(assert, none.json, { code: 'not_found', status: 404, statusSeen: none.status });
  assert.match(e2.message, /no A\/B experiment is configured/);
});

test('GET /v1/feedback is a 405', async () => {
  const r = await request(`${gw.url}/v1/feedback`);
  errorShape(assert, r.json, { code: 'method_not_allowed', status: 405, statusSeen: r.status });
});

test('/api/stats lists the experiments and their arms', async () => {
  const r = await request(`${gw.url}/api/stats`);
  assert.equal(r.status, 200);
  assert.ok(Array.isArray(r.json.experiments));
  assert.equal(r.json.experiments.length, 1);
  const [x] = r.json.experiments;
  assert.equal(x.name, 'local-vs-cloud');
  assert.equal(x.model, 'chat');
  assert.equal(x.sticky, 'user');
  assert.deepEqual(x.arms.map((a) => [a.name, a.model, a.weight]), [['control', 'chat', 50], ['local', 'chat-local', 50]]);
  for (const a of x.arms) {
    for (const k of ['requests', 'errors', 'error_rate', 'latency_ms_mean', 'latency_ms_p50', 'latency_ms_p95',
      'ttft_ms_mean', 'prompt_tokens', 'completion_tokens', 'cost_usd', 'unpriced', 'feedback_count', 'feedback_sum']) {
      assert.equal(a[k], 0, `${a.name}.${k}`);
    }
    assert.equal(a.feedback_mean, null);
  }
  const b = await request(`${bare.url}/api/stats`);
  assert.deepEqual(b.json.experiments, []);
});

test('/metrics has the experiment families', async () => {
  const r = await request(`${gw.url}/metrics`);
  assert.equal(r.status, 200);
  assert.match(r.text, /^switchyard_experiment_requests_total\{experiment="local-vs-cloud",arm="control"\} 0$/m);
  assert.match(r.text, /^switchyard_experiment_duration_seconds_count\{experiment="local-vs-cloud",arm="local"\} 0$/m);
  assert.match(r.text, /^# TYPE switchyard_experiment_feedback_score_sum gauge$/m);
  const b = await request(`${bare.url}/metrics`);
  assert.doesNotMatch(b.text, /switchyard_experiment_/);
});

test('a complexity model is listed', async () => {
  const r = await request(`${gw.url}/v1/models`);
  assert.equal(r.status, 200);
  assert.ok(r.json.data.some((m) => m.id === 'auto'), JSON.stringify(r.json.data.map((m) => m.id)));
  const t = await request(`${gw.url}/api/tags`);
  assert.ok(t.json.models.some((m) => m.name === 'auto'));
});

test('validate reports the new keys with file:line:col', async () => {
  const dir = await mkdtemp(path.join(os.tmpdir(), 'sy-fb-'));
  const file = path.join(dir, 'bad.yaml');
  const cfg = experimentsConfig('http://127.0.0.1:9');
  cfg.router.experiments[0].model = 'chatt';
  cfg.router.experiments[0].arms[1].weight = 40;
  cfg.models.find((m) => m.name === 'auto').tiers[0].model = 'chta';
  await writeFile(file, toYaml(cfg));
  const r = await run(SY_BIN, ['validate', file]);
  assert.equal(r.code, 1);
  assert.match(r.stderr, /bad\.yaml:\d+:\d+: models\[3\]\.tiers\[0\]\.model: unknown model "chta"; did you mean "chat"\?/);
  assert.match(r.stderr, /bad\.yaml:\d+:\d+: router\.experiments\[0\]\.model: unknown model "chatt"; did you mean "chat"\?/);
  assert.match(r.stderr, /bad\.yaml:\d+:\d+: router\.experiments\[0\]\.arms: the arms' weights add up to 90/);
});
