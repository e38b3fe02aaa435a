/*
 * forwarding.test.mjs - which client headers reach the upstream: only those
 * a provider's forward_headers allows (exact names and prefixes), never a
 * credential even when a pattern would match it, and by default none at all.
 * A client header also drives the mock through the allowed prefix.
 */
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { lazyStack, mockProvider, model, request, ms, CLIENT_KEY } from './lib/harness.mjs';

const stack = lazyStack({
  config: (mockUrl) => ({
    providers: [{ ...mockProvider('fwd', mockUrl), forward_headers: ['x-mock-*', 'OpenAI-Beta', 'x-*'] }],
    models: [model('forwarding', 'fwd')],
  }),
});
after(() => stack.stop().catch(() => {}));

const T = { timeout: ms(30000) };
const body = { messages: [{ role: 'user', content: 'which headers travel?' }] };

async function lastUpstream(mock) {
  const st = await mock.stats();
  return st.last_requests[st.last_requests.length - 1];
}

test('allowed client headers are forwarded, credentials never', T, async () => {
  const { mock, gw } = await stack.get();
  await mock.reset();
  const r = await request(`${gw.baseURL}/chat/completions`, {
    method: 'POST',
    body: { model: 'forwarding', ...body },
    headers: {
      authorization: `Bearer ${CLIENT_KEY}`,
      'x-api-key': CLIENT_KEY,
      cookie: 'session=secret',
      'openai-beta': 'assistants=v2',
      'x-trace-id': 'trace-123',
      'user-agent': 'e2e-agent',
      'x-mock-tokens': '3',
    },
  });
  assert.equal(r.status, 200, r.text);
  const up = await lastUpstream(mock);
  assert.equal(up.headers['openai-beta'], 'assistants=v2');
  assert.equal(up.headers['x-trace-id'], 'trace-123');
  assert.equal(up.headers['x-mock-tokens'], '3');
  assert.equal(up.headers['x-api-key'], undefined, 'x-api-key matched x-* but is a credential');
  assert.equal(up.headers.cookie, undefined);
  assert.equal(up.headers.authorization, 'Bearer sk-provider-secret');
  assert.notEqual(up.headers['user-agent'], 'e2e-agent', 'user-agent is not on the list');
  assert.ok(!JSON.stringify(up).includes(CLIENT_KEY), 'the client key reached the upstream');
  /* the forwarded control header took effect: 3 tokens */
  assert.equal(r.json.usage.completion_tokens, 3);
});

test('by default nothing of the client is forwarded', T, async () => {
  const { mock, gw } = await stack.get();
  await mock.reset();
  const r = await request(`${gw.baseURL}/chat/completions`, {
    method: 'POST',
    body: { model: 'fast', ...body },
    headers: { 'x-trace-id': 'trace-456', 'x-mock-tokens': '3', 'x-request-id': 'rid-fwd-1' },
  });
  assert.equal(r.status, 200, r.text);
  const up = await lastUpstream(mock);
  assert.equal(up.headers['x-trace-id'], undefined);
  assert.equal(up.headers['x-mock-tokens'], undefined);
  assert.notEqual(r.json.usage.completion_tokens, 3);
  assert.equal(up.headers['x-request-id'], 'rid-fwd-1', 'the request id always travels');
});

test('a key that differs from a known field only in case is refused', T, async () => {
  const { mock, gw } = await stack.get();
  await mock.reset();
  /* Go's encoding/json (Ollama's /v1) would read "Model" as the model and
   * route around the deployment Switchyard chose */
  for (const extra of [{ Model: 'mock-large' }, { STREAM: true }]) {
    const r = await request(`${gw.baseURL}/chat/completions`, {
      method: 'POST',
      body: { model: 'fast', ...body, ...extra },
    });
    assert.equal(r.status, 400, r.text);
    assert.equal(r.json.error.code, 'invalid_request');
    assert.match(r.json.error.message, /only in case/);
  }
  const st = await mock.stats();
  assert.equal(st.requests, 0, 'nothing went upstream');
});

test('teardown: switchyard exits cleanly', T, async () => {
  await stack.stop();
});
