/*
 * proxy.test.mjs - upstream requests honour the proxy settings of the
 * environment (http_proxy, NO_PROXY), on either transport: with a proxy
 * set, the gateway hands the request to libcurl, which sends it through
 * the proxy (here sy-mock itself, which answers the absolute-form request
 * line); a host on NO_PROXY is reached directly.
 */
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { Mock, Gateway, gatewayConfig, mockProvider, model, request, closedPort, ms } from './lib/harness.mjs';

const T = { timeout: ms(30000) };
const started = [];
after(async () => {
  for (const s of started.reverse()) await s.stop().catch(() => {});
});

const body = { messages: [{ role: 'user', content: 'through the proxy' }] };

async function stack(env, upstreamPort) {
  const mock = await Mock.start();
  started.push(mock);
  const cfg = gatewayConfig(mock.url, {
    providers: [mockProvider('far', mock.url, { baseUrl: `http://127.0.0.1:${upstreamPort}/v1` })],
    models: [model('far', 'far')],
  });
  const gw = await Gateway.start(cfg, { env: { ...env(mock.url) } });
  started.push(gw);
  return { mock, gw };
}

test('http_proxy: the request reaches the upstream through the proxy', T, async () => {
  const port = await closedPort(); /* nothing listens there: only the proxy can answer */
  const { mock, gw } = await stack((url) => ({ http_proxy: url, NO_PROXY: '', no_proxy: '' }), port);
  const r = await request(`${gw.baseURL}/chat/completions`, { method: 'POST', body: { model: 'far', ...body } });
  assert.equal(r.status, 200, r.text);
  const st = await mock.stats();
  const up = st.last_requests[st.last_requests.length - 1];
  assert.ok(up.path.endsWith('/v1/chat/completions'), up.path);
  assert.equal(up.headers.authorization, 'Bearer sk-provider-secret');
  await gw.stop();
});

test('NO_PROXY: a listed host is reached directly, not through the proxy', T, async () => {
  const port = await closedPort();
  const { mock, gw } = await stack((url) => ({ http_proxy: url, NO_PROXY: '127.0.0.1', no_proxy: '127.0.0.1' }), port);
  const r = await request(`${gw.baseURL}/chat/completions`, { method: 'POST', body: { model: 'far', ...body } });
  assert.equal(r.status, 502, r.text);
  assert.equal(r.json.error.code, 'upstream_connect_failed');
  const st = await mock.stats();
  assert.equal(st.requests, 0, 'the proxy saw nothing');
  await gw.stop();
});
