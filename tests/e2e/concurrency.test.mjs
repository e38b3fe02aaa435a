/*
 * concurrency.test.mjs - 300 concurrent requests through the gateway, half
 * streamed, each with its own prompt: every answer echoes its own prompt
 * (no cross-talk between requests), every status is 200.
 */
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { lazyStack, mockProvider, model, ms } from './lib/harness.mjs';

const N = 300;
const stack = lazyStack({
  config: (mockUrl) => ({
    /* a little upstream latency so that the requests really overlap */
    providers: [mockProvider('lat-prov', mockUrl, { headers: { 'x-mock-latency-ms': '100' } })],
    models: [model('mlat', 'lat-prov')],
  }),
});
after(() => stack.stop().catch(() => {}));

test(`${N} concurrent requests, mixed stream and not, no cross-talk`, { timeout: ms(90000) }, async (t) => {
  const { mock, client } = await stack.get();
  const before = await mock.stats();
  const tag = Math.random().toString(36).slice(2, 8);
  const t0 = Date.now();
  const results = await Promise.all(Array.from({ length: N }, async (_, i) => {
    const prompt = `concurrent request ${i} tag ${tag}`;
    const messages = [{ role: 'user', content: prompt }];
    try {
      if (i % 2) {
        const { data: stream, response } = await client.chat.completions.create(
          { model: 'mlat', messages, stream: true }).withResponse();
        let content = '';
        for await (const c of stream) content += c.choices?.[0]?.delta?.content ?? '';
        return { i, prompt, messages, content, status: response.status, rid: response.headers.get('x-request-id') };
      }
      const { data, response } = await client.chat.completions.create({ model: 'mlat', messages }).withResponse();
      return { i, prompt, messages, content: data.choices[0].message.content, status: response.status,
        rid: response.headers.get('x-request-id') };
    } catch (e) {
      return { i, prompt, error: String(e), status: e.status };
    }
  }));
  t.diagnostic(`${N} requests in ${Date.now() - t0} ms`);
  const failed = results.filter((r) => r.error || r.status !== 200);
  assert.equal(failed.length, 0, `failed: ${failed.slice(0, 5).map((r) => `#${r.i} ${r.status} ${r.error}`).join('; ')}`);
  const crossed = results.filter((r) => !r.content.startsWith(`[${r.prompt}] `));
  assert.equal(crossed.length, 0, `answers not echoing their prompt: ${crossed.slice(0, 3).map((r) => `#${r.i}: ${r.content.slice(0, 80)}`).join('; ')}`);
  const rids = new Set(results.map((r) => r.rid));
  assert.equal(rids.size, N, 'distinct x-request-id per request');
  /* a sample checked word for word against the mock */
  for (const r of [results[0], results[1], results[N - 2], results[N - 1]]) {
    const want = await mock.post('/v1/chat/completions', { model: 'mock-small', messages: r.messages });
    assert.equal(r.content, want.choices[0].message.content, `request #${r.i}`);
  }
  const st = await mock.stats();
  const path = '/v1/chat/completions';
  assert.equal((st.by_path[path] || 0) - (before.by_path[path] || 0), N + 4, 'one upstream request each');
});

test('teardown: switchyard exits cleanly', { timeout: ms(30000) }, async () => {
  await stack.stop();
});
