/*
 * dedup-nodes.test.mjs - in-flight dedup across two switchyard processes
 * that share a real redis-server (docs/dedup.md, "Across nodes").
 *
 * Identical requests sent to both gateways at once make one upstream call
 * between them: one node's flight takes the Redis lock and calls, the
 * other's follows and receives the answer when the leader announces it.
 * When the leading gateway dies mid-call (SIGKILL), the followers on the
 * other node call upstream themselves once its lock has expired, and every
 * client still gets its whole answer.
 */
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import {
  Mock, Gateway, gatewayConfig, model, mockEcho, ms, now,
} from './lib/harness.mjs';
import { RedisServer } from './lib/redis.mjs';

const T = { timeout: ms(60000) };
const TAG = `nodes-${process.pid}-${Date.now()}`;
let mock;
let redis;
const gws = [];

after(async () => {
  for (const g of gws) await g.stop().catch(() => {});
  await mock?.stop().catch(() => {});
  await redis?.stop().catch(() => {});
});

async function node() {
  const cfg = gatewayConfig(mock.url, { models: [{ ...model('shared', 'mock'), cache: { mode: 'exact', ttl_s: 600 } }] });
  cfg.cache = { redis: { url: redis.url } };
  const g = await Gateway.start(cfg);
  gws.push(g);
  return g;
}

async function setup() {
  if (mock) return;
  /* a stream of 16 tokens 60 ms apart: about a second for requests to overlap */
  mock = await Mock.start(['--itl-ms', '60']);
  redis = await RedisServer.start();
}

/* A streamed chat through the OpenAI SDK: the text and the headers. */
async function streamChat(gw, text) {
  const { data, response } = await gw.client().chat.completions.create({
    model: 'shared', stream: true, messages: [{ role: 'user', content: text }],
  }).withResponse();
  let content = '';
  for await (const c of data) content += c.choices?.[0]?.delta?.content || '';
  return { content, dedup: response.headers.get('x-switchyard-dedup'), cache: response.headers.get('x-switchyard-cache') };
}

/* Every worker of gw talks to Redis before the test counts: a lookup makes
 * the worker's client and connects it. */
async function warm(gw, n = 8) {
  await Promise.all(Array.from({ length: n }, (_, i) => streamChat(gw, `warm ${i} (${TAG} ${gw.pid})`)));
}

test('identical requests on two nodes share one upstream call', T, async () => {
  await setup();
  const a = await node();
  const b = await node();
  await warm(a);
  await warm(b);
  const before = (await mock.stats()).requests;
  const text = `one call for two nodes (${TAG})`;
  const calls = [];
  for (let i = 0; i < 10; i++) calls.push(streamChat(i % 2 ? b : a, text));
  const got = await Promise.all(calls);
  const after_ = (await mock.stats()).requests;
  assert.equal(after_ - before, 1, 'one upstream call for the 10 requests on two nodes');
  const want = got[0].content;
  assert.ok(want.startsWith(`[${mockEcho(text)}]`), `the mock's answer: ${want}`);
  for (const g of got) {
    assert.equal(g.content, want, 'every client gets the whole answer');
    assert.equal(g.cache, 'miss');
  }
  assert.equal(got.filter((g) => g.dedup === 'leader').length >= 1, true);
  assert.equal(got.filter((g) => g.dedup === 'follower').length >= 8, true, JSON.stringify(got.map((g) => g.dedup)));
  /* and the answer is now shared through the Redis tier */
  const again = await streamChat(b, text);
  assert.equal(again.cache, 'hit');
});

test('followers call upstream themselves when the leading node dies mid-call', T, async () => {
  await setup();
  const [a, b] = gws.length >= 2 ? gws : [await node(), await node()];
  const text = `the leader dies (${TAG})`;
  const before = (await mock.stats()).requests;
  /* a leads: its request starts first and takes the lock */
  const lead = streamChat(a, text).catch((e) => ({ error: e }));
  const t0 = now();
  while ((await mock.stats()).requests === before) {
    if (now() - t0 > ms(5000)) throw new Error('the leader never called upstream');
  }
  const followers = [streamChat(b, text), streamChat(b, text)];
  await new Promise((r) => setTimeout(r, 200));
  a.proc.child.kill('SIGKILL');
  const got = await Promise.all(followers);
  const r = await lead;
  assert.ok(r.error, 'the killed node\'s client lost its connection');
  for (const g of got) {
    assert.ok(g.content.startsWith(`[${mockEcho(text)}]`), `a follower still gets the whole answer: ${g.content}`);
    assert.equal(g.dedup, 'follower');
  }
  assert.equal((await mock.stats()).requests - before, 2, 'the dead leader\'s call and one call of the follower node');
  gws.splice(gws.indexOf(a), 1);
  await a.stop().catch(() => {});
});
