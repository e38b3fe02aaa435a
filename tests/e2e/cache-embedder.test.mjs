/*
 * cache-embedder.test.mjs - a semantic cache whose embedder is a model
 * (cache.semantic.embedder names a configured model), not the built-in one.
 *
 * The mock's embeddings are a hash of the text, so only conversations whose
 * text is the same embed alike. Two conversations that differ only in a
 * tool call's id have different exact keys (the id is part of the
 * conversation) but the same text for the embedder (ids are not words):
 * the second must be a semantic hit with similarity 1, found through the
 * embedding model's vectors. An embedding model that cannot be reached
 * leaves requests exact misses that still succeed.
 */
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import {
  Mock, Gateway, gatewayConfig, model, mockProvider, closedPort, request, ms,
} from './lib/harness.mjs';

const T = { timeout: ms(30000) };
let mock;
let gw;
let gwDead;

async function stack() {
  if (gw) return;
  mock = await Mock.start();
  const cfg = gatewayConfig(mock.url, {
    models: [model('emb', 'mock', 'mock-embed'), { ...model('sem', 'mock'), cache: { mode: 'semantic', ttl_s: 60 } }],
  });
  cfg.cache = { semantic: { embedder: 'emb', threshold: 0.92 } };
  gw = await Gateway.start(cfg);
  const port = await closedPort();
  const dead = gatewayConfig(mock.url, {
    providers: [mockProvider('nowhere', `http://127.0.0.1:${port}`, { timeouts: { connect_ms: 500 } })],
    models: [model('emb', 'nowhere', 'mock-embed'), { ...model('sem', 'mock'), cache: { mode: 'semantic', ttl_s: 60 } }],
  });
  dead.cache = { semantic: { embedder: 'emb' } };
  gwDead = await Gateway.start(dead);
}

after(async () => {
  for (const p of [gw, gwDead, mock]) await p?.stop().catch(() => {});
});

const TOOLS = [{
  type: 'function',
  function: { name: 'get_weather', parameters: { type: 'object', properties: { city: { type: 'string' } } } },
}];

/* A second turn after a tool call whose id is `id`. */
function turn(id) {
  return {
    model: 'sem',
    tools: TOOLS,
    messages: [
      { role: 'user', content: 'What is the weather in Lisbon today?' },
      {
        role: 'assistant', content: null,
        tool_calls: [{ id, type: 'function', function: { name: 'get_weather', arguments: '{"city":"Lisbon"}' } }],
      },
      { role: 'tool', tool_call_id: id, content: 'sunny, 24 degrees' },
    ],
  };
}

async function chat(url, body) {
  return request(`${url}/v1/chat/completions`, {
    method: 'POST', body: JSON.stringify(body), headers: { 'content-type': 'application/json' },
  });
}

test('the embedding model finds an answer to the same conversation under another exact key', T, async () => {
  await stack();
  await mock.reset();
  const a = await chat(gw.url, turn('call_first'));
  assert.equal(a.status, 200);
  assert.equal(a.headers.get('x-switchyard-cache'), 'miss');
  const b = await chat(gw.url, turn('call_second'));
  assert.equal(b.status, 200, b.text);
  assert.equal(b.headers.get('x-switchyard-cache'), 'semantic-hit');
  assert.equal(Number(b.headers.get('x-switchyard-similarity')), 1);
  assert.equal(b.json.choices[0].message.content, a.json.choices[0].message.content);
  const st = await mock.stats();
  assert.equal(st.by_path['/v1/chat/completions'], 1, 'one chat upstream: the second was served from the cache');
  assert.equal(st.by_path['/v1/embeddings'], 2, 'each conversation was embedded by the model');
  const s = (await request(`${gw.url}/api/stats`)).json.cache.semantic;
  assert.equal(s.embedder, 'emb');
  assert.ok(s.dims > 0, 'the index took the model\'s dimension');
  assert.equal(s.embeds, 2);
  assert.equal(s.hits, 1);
});

test('a different conversation is a miss, and an exact repeat never asks the embedder', T, async () => {
  await stack();
  await mock.reset();
  const body = turn('call_third');
  body.messages[2].content = 'raining, 12 degrees';
  const a = await chat(gw.url, body);
  assert.equal(a.headers.get('x-switchyard-cache'), 'miss');
  const b = await chat(gw.url, body);
  assert.equal(b.headers.get('x-switchyard-cache'), 'hit');
  const st = await mock.stats();
  assert.equal(st.by_path['/v1/embeddings'], 1, 'the exact hit came before any embedding');
  assert.equal(st.by_path['/v1/chat/completions'], 1);
});

test('an embedding model that cannot be reached leaves the request an exact miss that succeeds', T, async () => {
  await stack();
  const a = await chat(gwDead.url, turn('call_fourth'));
  assert.equal(a.status, 200, a.text);
  assert.equal(a.headers.get('x-switchyard-cache'), 'miss');
  const b = await chat(gwDead.url, turn('call_fifth'));
  assert.equal(b.status, 200);
  assert.equal(b.headers.get('x-switchyard-cache'), 'miss', 'no vector, no semantic hit');
  const s = (await request(`${gwDead.url}/api/stats`)).json.cache.semantic;
  assert.ok(s.embed_errors >= 2, `embed_errors ${s.embed_errors}`);
  assert.ok(gwDead.logs().some((l) => l.msg === 'semantic cache: embedding failed'));
});

test('teardown: both gateways exit cleanly', T, async () => {
  await stack();
  for (const g of [gw, gwDead]) {
    const exit = await g.stop();
    assert.equal(exit.code, 0, `exit ${JSON.stringify(exit)}`);
  }
  gw = gwDead = null;
});
