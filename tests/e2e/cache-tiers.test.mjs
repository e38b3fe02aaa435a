/*
 * cache-tiers.test.mjs - the cache tiers below memory, and the semantic
 * cache, seen from the clients:
 *
 *   - SQLite: an answer survives a restart of the gateway (SIGTERM, a new
 *     process on the same file) and is served with no upstream call;
 *   - Redis shared by two gateways: what one stores the other hits, across
 *     protocols (OpenAI SDK on one, Ollama SDK on the other), and promotes
 *     into its memory tier;
 *   - Redis killed (SIGKILL) mid-run: every request still succeeds, none
 *     slow, the state goes down with one log line, and comes back up by
 *     itself once a server listens on the port again, storing new answers;
 *     the same for a Redis that stops answering (SIGSTOP) and for one not
 *     reachable at all when the gateway starts;
 *   - semantic mode: paraphrases hit with their similarity, near misses
 *     (another country, other numbers) and another temperature do not, and
 *     the vectors come back from SQLite after a restart.
 *
 * Every test starts its own sy-mock, its own gateways, its own redis-server
 * (tests/e2e/lib/redis.mjs: a free loopback port, no persistence) and a
 * temporary directory for SQLite files, and stops them at its end. The
 * upstream is counted with the mock's request total, which only the
 * gateways' calls move (the expected answers come from mockEcho, not from
 * asking the mock).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, rm, stat } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import {
  Mock, Gateway, gatewayConfig, model, request, recordingFetch, closedPort, mockEcho, ms, now, sleep,
} from './lib/harness.mjs';
import { RedisServer } from './lib/redis.mjs';

const T = { timeout: ms(120000) };
const TTL_S = 600;
const EXACT = { mode: 'exact', ttl_s: TTL_S };
const SEMANTIC = { mode: 'semantic', ttl_s: TTL_S };
const THRESHOLD = 0.92;
/* No request may take longer than this while Redis is dead or silent: the
 * command timeout is 100 ms and the connect timeout 200 ms. */
const BOUND_MS = ms(1000);
/* How long the client's retry (backoff up to 5 s, +25% jitter) may take to
 * notice a Redis that is back. */
const RECOVER_MS = Math.max(10000, ms(5000));

/* ---- the processes of one test --------------------------------------------------- */

/* Everything a test started, stopped in reverse order at its end (stopAll
 * throws the first failure: a sanitizer report, an unclean exit) or, when
 * the test failed before, from t.after. */
class Rig {
  constructor(t) {
    this.items = [];
    this.t = t;
    t.after(() => this.stopAll().catch(() => {}));
  }

  add(name, stop) {
    let p = null;
    const item = { name, stop: () => (p ||= stop()) };
    this.items.push(item);
    return item;
  }

  async mock(args = []) {
    const m = await Mock.start(args);
    this.add('sy-mock', () => m.stop());
    return m;
  }

  async redis(opts) {
    const r = await RedisServer.start(opts);
    this.add('redis-server', () => r.stop());
    return r;
  }

  async tmpdir() {
    const d = await mkdtemp(path.join(os.tmpdir(), 'sy-e2e-tiers-'));
    this.add('tmpdir', () => rm(d, { recursive: true, force: true }));
    return d;
  }

  /* A gateway in front of mock whose models cache as `modes` says
   * ({name: cacheMode}), with the cache section `cache`. */
  async gateway(mock, { cache = {}, modes = { cached: EXACT } } = {}) {
    const gw = await Gateway.start(tiersConfig(mock, { cache, modes }));
    const item = this.add('switchyard', () => gw.stop());
    gw.stopNow = item.stop; /* a restart stops it mid-test, checked like at the end */
    return gw;
  }

  async stopAll() {
    let first = null;
    for (const it of this.items.splice(0).reverse()) {
      try {
        await it.stop();
      } catch (e) {
        first ||= e;
      }
    }
    if (first) throw first;
  }
}

/* The gateway config: provider "mock", and a model per entry of modes
 * ({name: its cache setting}) served by it; `cache` is the cache section. */
function tiersConfig(mock, { cache = {}, modes = { cached: EXACT } } = {}) {
  const cfg = gatewayConfig(mock.url, {
    models: Object.entries(modes).map(([name, c]) => ({ ...model(name, 'mock'), cache: c })),
  });
  cfg.cache = cache;
  return cfg;
}

/* ---- what the clients and the gateway say ------------------------------------------ */

const TAG = Math.random().toString(36).slice(2, 8);
const q = (text) => `${text} (${TAG})`;
/* What the mock answers a conversation whose last user text is text starts with. */
const answerOf = (text) => `[${mockEcho(text)}]`;

/* One chat through the OpenAI SDK: {content, chunks, cache, similarity,
 * provider, ms}. */
async function openaiChat(gw, name, text, { stream = false, temperature, headers = {} } = {}) {
  const body = { model: name, messages: [{ role: 'user', content: text }], stream };
  if (temperature !== undefined) body.temperature = temperature;
  const t0 = now();
  const { data, response } = await gw.client().chat.completions.create(body, { headers }).withResponse();
  let content = '';
  let chunks = 0;
  if (stream) {
    for await (const c of data) {
      const d = c.choices?.[0]?.delta?.content;
      if (d) {
        content += d;
        chunks++;
      }
    }
  } else {
    content = data.choices[0].message.content;
  }
  return { content, chunks, ms: now() - t0, ...shareOf(response.headers) };
}

/* One chat through the Ollama SDK (its fetch records the headers). */
async function ollamaChat(gw, name, text, { stream = false, options } = {}) {
  const f = recordingFetch();
  const body = { model: name, messages: [{ role: 'user', content: text }], stream };
  if (options) body.options = options;
  const t0 = now();
  const res = await gw.ollama({ fetch: f }).chat(body);
  let content = '';
  let chunks = 0;
  if (stream) {
    for await (const part of res) {
      if (part.message?.content) {
        content += part.message.content;
        chunks++;
      }
    }
  } else {
    content = res.message.content;
  }
  assert.equal(f.last.status, 200);
  return { content, chunks, ms: now() - t0, ...shareOf(f.last.headers) };
}

function shareOf(h) {
  return {
    cache: h.get('x-switchyard-cache'),
    similarity: h.get('x-switchyard-similarity'),
    provider: h.get('x-switchyard-provider'),
  };
}

async function cacheStats(gw) {
  const r = await request(`${gw.url}/api/stats`);
  assert.equal(r.status, 200, `/api/stats: ${r.text}`);
  assert.ok(r.json && r.json.cache, `/api/stats has a cache object: ${r.text}`);
  return r.json.cache;
}

/* The value of a sample without labels on /metrics. */
async function metric(gw, name) {
  const r = await request(`${gw.url}/metrics`);
  assert.equal(r.status, 200);
  const m = new RegExp(`^${name} (\\S+)$`, 'm').exec(r.text);
  assert.ok(m, `/metrics has ${name}`);
  return Number(m[1]);
}

/* Requests the mock has answered (only the gateways ask it here). */
async function upstreamCalls(mock) {
  return (await mock.stats()).requests;
}

/* Calls fn until it returns something truthy; fails after timeout naming
 * what was awaited and the last value. */
async function until(fn, what, timeout = ms(5000), every = 25) {
  const t0 = now();
  let v;
  for (;;) {
    v = await fn();
    if (v) return v;
    if (now() - t0 > timeout) throw new Error(`timed out after ${Math.round(now() - t0)} ms waiting for ${what} (last: ${JSON.stringify(v)})`);
    await sleep(every);
  }
}

const logCount = (gw, msg) => gw.logs().filter((l) => l.msg === msg).length;

/* The Redis entry holding the answer to text, once the gateway wrote it
 * (writes go behind the response). */
function redisEntryFor(rs, text, timeout = ms(5000)) {
  return until(async () => (await rs.cacheEntries()).find((e) => e.entry.text?.startsWith(answerOf(text))),
    `the answer to ${JSON.stringify(text)} in Redis`, timeout);
}

/* An entry as the Redis tier must keep it: the 8-byte expiry and PX TTL
 * both about TTL_S from now, the entry's JSON holding the answer. */
function assertRedisEntry(e, text) {
  assert.match(e.key, /^switchyard:c:1:[0-9a-f]{64}$/, 'the key names the version and the SHA-256');
  assert.ok(e.entry.text.startsWith(answerOf(text)), `the entry holds the answer: ${e.text}`);
  const left = e.expireMs - Date.now();
  assert.ok(left > (TTL_S - 60) * 1000 && left <= TTL_S * 1000 + 1000, `expiry header ~${TTL_S} s ahead (${left} ms)`);
  assert.ok(e.pttl > (TTL_S - 60) * 1000 && e.pttl <= TTL_S * 1000, `PX TTL ~${TTL_S} s (${e.pttl} ms)`);
}

/* ---- SQLite ----------------------------------------------------------------------- */

test('SQLite tier: an answer survives a restart and is served with no upstream call', T, async (t) => {
  const rig = new Rig(t);
  const mock = await rig.mock();
  const dir = await rig.tmpdir();
  const file = path.join(dir, 'var', 'cache.db'); /* its parent does not exist yet */
  const cache = { sqlite: { path: file, max_bytes: 16 * 1024 * 1024 } };
  const text = q('what survives a restart');
  const other = q('asked only after the restart');

  const g1 = await rig.gateway(mock, { cache });
  const a = await openaiChat(g1, 'cached', text);
  assert.equal(a.cache, 'miss');
  assert.equal(a.provider, 'mock');
  assert.ok(a.content.startsWith(answerOf(text)), a.content);
  const b = await openaiChat(g1, 'cached', text);
  assert.equal(b.cache, 'hit');
  assert.equal(b.content, a.content);
  assert.equal(await upstreamCalls(mock), 1, 'one upstream call before the restart');
  /* the writer commits behind the response */
  const s1 = await until(async () => {
    const s = await cacheStats(g1);
    return s.tiers.sqlite.entries >= 1 && s;
  }, 'the entry committed to SQLite');
  assert.equal(s1.tiers.sqlite.entries, 1);
  assert.ok(s1.tiers.sqlite.bytes > 0);
  assert.equal(s1.tiers.sqlite.errors, 0);
  assert.equal(s1.tiers.memory.hits, 1, 'the first process hit its memory tier');

  const exit = await g1.stopNow();
  assert.equal(exit.code, 0, `the gateway exits 0 on SIGTERM (${JSON.stringify(exit)})`);
  assert.ok((await stat(file)).size > 0, 'the SQLite file is on disk');

  const g2 = await rig.gateway(mock, { cache });
  assert.notEqual(g2.pid, g1.pid);
  const c = await openaiChat(g2, 'cached', text);
  assert.equal(c.cache, 'hit', 'the new process finds the answer in SQLite');
  assert.equal(c.provider, null, 'a hit names no provider');
  assert.equal(c.content, a.content);
  let s2 = await cacheStats(g2);
  assert.equal(s2.tiers.sqlite.hits, 1);
  assert.equal(s2.tiers.memory.hits, 0);
  assert.equal(s2.tiers.memory.misses, 1);
  assert.equal(s2.misses, 0);

  /* promoted: the next hit comes from memory, and a stream replays it */
  const d = await openaiChat(g2, 'cached', text, { stream: true });
  assert.equal(d.cache, 'hit');
  assert.equal(d.content, a.content, 'the replayed stream has the same text');
  assert.ok(d.chunks >= 2, `replayed in several chunks (${d.chunks})`);
  const e = await ollamaChat(g2, 'cached', text);
  assert.equal(e.cache, 'hit', 'the same answer for an Ollama client');
  assert.equal(e.content, a.content);
  s2 = await cacheStats(g2);
  assert.equal(s2.tiers.sqlite.hits, 1, 'promoted into memory: SQLite not asked again');
  assert.equal(s2.tiers.memory.hits, 2);
  assert.equal(await upstreamCalls(mock), 1, 'no upstream call after the restart');

  /* something never asked is still a miss */
  const f = await openaiChat(g2, 'cached', other);
  assert.equal(f.cache, 'miss');
  assert.ok(f.content.startsWith(answerOf(other)));
  assert.equal(await upstreamCalls(mock), 2);

  await rig.stopAll();
});

/* ---- Redis shared by two gateways --------------------------------------------------- */

test('Redis tier: two gateways share answers across protocols (OpenAI SDK on A, Ollama SDK on B)', T, async (t) => {
  const rig = new Rig(t);
  const mock = await rig.mock();
  const rs = await rig.redis();
  const cache = { redis: { url: rs.url } };
  const ga = await rig.gateway(mock, { cache });
  const gb = await rig.gateway(mock, { cache });
  const one = q('stored by A, read by B');
  const two = q('stored by B, read by A');

  const a1 = await openaiChat(ga, 'cached', one);
  assert.equal(a1.cache, 'miss');
  assert.equal(a1.provider, 'mock');
  assert.ok(a1.content.startsWith(answerOf(one)), a1.content);
  assertRedisEntry(await redisEntryFor(rs, one), one);

  const b1 = await ollamaChat(gb, 'cached', one);
  assert.equal(b1.cache, 'hit', 'B finds what A stored');
  assert.equal(b1.provider, null);
  assert.equal(b1.content, a1.content, 'the same answer, in the Ollama protocol');
  assert.equal(await upstreamCalls(mock), 1, 'the mock saw one call');
  let sb = await cacheStats(gb);
  assert.equal(sb.tiers.redis.hits, 1, 'B: a Redis hit');
  assert.equal(sb.tiers.redis.state, 'up');
  assert.equal(sb.misses, 0);

  /* B promoted it: its next hit is from memory, Redis not asked */
  const b2 = await openaiChat(gb, 'cached', one);
  assert.equal(b2.cache, 'hit');
  assert.equal(b2.content, a1.content);
  sb = await cacheStats(gb);
  assert.equal(sb.tiers.memory.hits, 1, 'B: promoted into memory');
  assert.equal(sb.tiers.redis.hits, 1);

  /* the other way round, replayed to A as a stream */
  const b3 = await ollamaChat(gb, 'cached', two);
  assert.equal(b3.cache, 'miss');
  assert.ok(b3.content.startsWith(answerOf(two)), b3.content);
  assertRedisEntry(await redisEntryFor(rs, two), two);
  const a2 = await openaiChat(ga, 'cached', two, { stream: true });
  assert.equal(a2.cache, 'hit', 'A finds what B stored');
  assert.equal(a2.content, b3.content);
  assert.ok(a2.chunks >= 2, `replayed in several chunks (${a2.chunks})`);
  const sa = await cacheStats(ga);
  assert.equal(sa.tiers.redis.hits, 1, 'A: a Redis hit');
  assert.ok(sa.tiers.redis.misses >= 1, 'A: its first lookup missed in Redis');
  assert.equal(await upstreamCalls(mock), 2, 'one upstream call per question, for two gateways');
  assert.equal((await rs.cacheEntries()).length, 2, 'two entries in Redis');
  assert.equal(await metric(ga, 'switchyard_redis_up'), 1);

  await rig.stopAll();
});

/* ---- Redis failures ------------------------------------------------------------- */

test('Redis killed mid-run: requests keep succeeding, state down once, back up by itself', T, async (t) => {
  const rig = new Rig(t);
  const mock = await rig.mock();
  const rs = await rig.redis();
  const gw = await rig.gateway(mock, { cache: { redis: { url: rs.url } } });

  const warm = q('before the kill');
  const w = await openaiChat(gw, 'cached', warm);
  assert.equal(w.cache, 'miss');
  await redisEntryFor(rs, warm);
  await until(async () => (await cacheStats(gw)).tiers.redis.state === 'up', 'redis state up');
  assert.equal(logCount(gw, 'redis up'), 1);
  assert.equal(logCount(gw, 'redis down'), 0);

  await rs.kill('SIGKILL');

  /* requests while it is dead: new questions (misses, answered by the
   * upstream, stored in memory) and repeats (hits from memory), one after
   * another and several at once */
  const texts = [1, 2, 3, 4].map((i) => q(`while Redis is dead #${i}`));
  const times = [];
  for (const text of texts) {
    const r = await openaiChat(gw, 'cached', text);
    assert.equal(r.cache, 'miss');
    assert.ok(r.content.startsWith(answerOf(text)), r.content);
    times.push(r.ms);
  }
  const again = await Promise.all([warm, ...texts].map((text) => openaiChat(gw, 'cached', text)));
  for (const [i, r] of again.entries()) {
    assert.equal(r.cache, 'hit', `request ${i}: from memory`);
    times.push(r.ms);
  }
  const more = await Promise.all([5, 6, 7, 8].map((i) => openaiChat(gw, 'cached', q(`while Redis is dead, at once #${i}`), { stream: i % 2 === 0 })));
  for (const r of more) {
    assert.equal(r.cache, 'miss');
    times.push(r.ms);
  }
  const slowest = Math.max(...times);
  t.diagnostic(`slowest request ${Math.round(slowest)} ms of ${times.length}`);
  assert.ok(slowest < BOUND_MS, `no request took more than ${BOUND_MS} ms while Redis was dead (slowest ${Math.round(slowest)} ms: ${times.map(Math.round)})`);
  assert.equal(await upstreamCalls(mock), 1 + 4 + 4, 'every miss asked the upstream once');

  let s = await until(async () => {
    const x = await cacheStats(gw);
    return x.tiers.redis.state === 'down' && x;
  }, 'redis state down');
  assert.ok(s.tiers.redis.downs >= 1);
  assert.ok(s.tiers.redis.refused >= 1, `lookups while down were refused at once: ${JSON.stringify(s.tiers.redis)}`);
  assert.equal(await metric(gw, 'switchyard_redis_up'), 0);
  await sleep(ms(300)); /* room for a second "down" line, if the gateway wrote one */
  assert.equal(logCount(gw, 'redis down'), 1, 'one "redis down" log line for the whole outage');
  const down = gw.logs().find((l) => l.msg === 'redis down');
  assert.equal(down.level, 'warn');
  assert.equal(down.redis, rs.url);
  assert.equal(typeof down.reason, 'string');

  /* back on the same port: the gateway notices by itself (no request sent) */
  await rs.restart();
  const t0 = now();
  s = await until(async () => {
    const x = await cacheStats(gw);
    return x.tiers.redis.state === 'up' && x;
  }, 'redis state up again', RECOVER_MS, 100);
  t.diagnostic(`redis up again after ${Math.round(now() - t0)} ms`);
  assert.equal(logCount(gw, 'redis up'), 2, 'one more "redis up" line');
  assert.equal(logCount(gw, 'redis down'), 1);
  assert.equal(await metric(gw, 'switchyard_redis_up'), 1);
  assert.deepEqual(await rs.cacheEntries(), [], 'the new server starts empty');

  /* a new answer reaches the new server */
  const fresh = q('after Redis came back');
  const f = await openaiChat(gw, 'cached', fresh);
  assert.equal(f.cache, 'miss');
  assertRedisEntry(await redisEntryFor(rs, fresh), fresh);
  /* and the answers kept in memory meanwhile still hit */
  const h = await openaiChat(gw, 'cached', texts[0]);
  assert.equal(h.cache, 'hit');

  await rig.stopAll();
});

test('Redis that stops answering (SIGSTOP): requests wait at most its timeouts, then recover after SIGCONT', T, async (t) => {
  const rig = new Rig(t);
  const mock = await rig.mock();
  const rs = await rig.redis();
  const gw = await rig.gateway(mock, { cache: { redis: { url: rs.url } } });

  const warm = q('before the pause');
  await openaiChat(gw, 'cached', warm);
  await redisEntryFor(rs, warm);

  await rs.pause();
  const times = [];
  for (let i = 0; i < 6; i++) {
    const text = q(`while Redis is silent #${i}`);
    const r = await openaiChat(gw, 'cached', text);
    assert.equal(r.cache, 'miss');
    assert.ok(r.content.startsWith(answerOf(text)), r.content);
    times.push(r.ms);
    const h = await openaiChat(gw, 'cached', text);
    assert.equal(h.cache, 'hit', 'from memory');
    times.push(h.ms);
  }
  const slowest = Math.max(...times);
  t.diagnostic(`slowest request ${Math.round(slowest)} ms of ${times.length}`);
  assert.ok(slowest < BOUND_MS, `no request took more than ${BOUND_MS} ms while Redis was silent (slowest ${Math.round(slowest)} ms: ${times.map(Math.round)})`);
  const s = await until(async () => {
    const x = await cacheStats(gw);
    return x.tiers.redis.state === 'down' && x;
  }, 'redis state down');
  assert.ok(s.tiers.redis.timeouts >= 1, `the silence counted as timeouts: ${JSON.stringify(s.tiers.redis)}`);
  assert.equal(logCount(gw, 'redis down'), 1);

  await rs.resume();
  await until(async () => (await cacheStats(gw)).tiers.redis.state === 'up', 'redis state up after SIGCONT', RECOVER_MS, 100);
  assert.equal(logCount(gw, 'redis up'), 2);
  assert.equal(logCount(gw, 'redis down'), 1, 'no flapping while it was silent');
  const fresh = q('after SIGCONT');
  assert.equal((await openaiChat(gw, 'cached', fresh)).cache, 'miss');
  assertRedisEntry(await redisEntryFor(rs, fresh), fresh);

  await rig.stopAll();
});

test('Redis not reachable at start: the gateway starts and serves from memory, and picks Redis up when it appears', T, async (t) => {
  const rig = new Rig(t);
  const mock = await rig.mock();
  const port = await closedPort();
  const url = `redis://127.0.0.1:${port}/0`;
  const gw = await rig.gateway(mock, { cache: { redis: { url } } });

  const texts = [1, 2, 3].map((i) => q(`no Redis #${i}`));
  const times = [];
  for (const text of texts) {
    const a = await openaiChat(gw, 'cached', text);
    assert.equal(a.cache, 'miss');
    assert.ok(a.content.startsWith(answerOf(text)), a.content);
    const b = await ollamaChat(gw, 'cached', text);
    assert.equal(b.cache, 'hit');
    assert.equal(b.content, a.content);
    times.push(a.ms, b.ms);
  }
  const slowest = Math.max(...times);
  t.diagnostic(`slowest request ${Math.round(slowest)} ms of ${times.length}`);
  assert.ok(slowest < BOUND_MS, `no request took more than ${BOUND_MS} ms (slowest ${Math.round(slowest)} ms: ${times.map(Math.round)})`);
  assert.equal(await upstreamCalls(mock), 3);
  const s = await until(async () => {
    const x = await cacheStats(gw);
    return x.tiers.redis.state === 'down' && x;
  }, 'redis state down');
  assert.equal(s.tiers.redis.hits, 0);
  assert.equal(s.tiers.memory.hits, 3);
  assert.equal(await metric(gw, 'switchyard_redis_up'), 0);
  assert.equal(logCount(gw, 'redis down'), 1);
  assert.equal(logCount(gw, 'redis up'), 0);

  /* a server appears on that port: picked up by itself */
  const rs = await rig.redis({ port });
  await until(async () => (await cacheStats(gw)).tiers.redis.state === 'up', 'redis state up', RECOVER_MS, 100);
  assert.equal(logCount(gw, 'redis up'), 1);
  const fresh = q('Redis appeared');
  assert.equal((await openaiChat(gw, 'cached', fresh)).cache, 'miss');
  assertRedisEntry(await redisEntryFor(rs, fresh), fresh);

  await rig.stopAll();
});

/* ---- semantic ------------------------------------------------------------------------ */

test('semantic cache: paraphrases hit with their similarity, near misses and another temperature do not, vectors reload after a restart', T, async (t) => {
  const rig = new Rig(t);
  const mock = await rig.mock();
  const dir = await rig.tmpdir();
  const cache = { sqlite: { path: path.join(dir, 'sem.db') }, semantic: { embedder: 'builtin', threshold: THRESHOLD } };
  const modes = { sem: SEMANTIC };
  const simOk = (r, what) => {
    assert.equal(r.cache, 'semantic-hit', `${what}: a semantic hit`);
    assert.match(r.similarity || '', /^[01]\.\d{4}$/, `${what}: x-switchyard-similarity`);
    const sim = Number(r.similarity);
    assert.ok(sim >= THRESHOLD && sim <= 1, `${what}: similarity ${sim} >= ${THRESHOLD}`);
    assert.equal(r.provider, null, `${what}: no provider asked`);
    return sim;
  };
  const france = 'What is the capital of France?';
  const python = 'How do I read a file line by line in Python?';

  const g1 = await rig.gateway(mock, { cache, modes });
  const a = await openaiChat(g1, 'sem', france);
  assert.equal(a.cache, 'miss');
  assert.equal(a.similarity, null);
  assert.ok(a.content.startsWith(answerOf(france)), a.content);

  const p1 = await openaiChat(g1, 'sem', 'what is the capital of france');
  simOk(p1, 'lower case, no question mark');
  assert.equal(p1.content, a.content, 'the stored answer to the other wording');
  const p2 = await ollamaChat(g1, 'sem', "What's the capital of France?");
  simOk(p2, 'a contraction, through the Ollama SDK');
  assert.equal(p2.content, a.content);

  const b = await openaiChat(g1, 'sem', python);
  assert.equal(b.cache, 'miss');
  const p3 = await openaiChat(g1, 'sem', 'Python: how to read a file line by line?', { stream: true });
  const sim3 = simOk(p3, 'reordered words, streamed');
  assert.ok(sim3 < 1, `not the same text: similarity ${sim3} < 1`);
  assert.equal(p3.content, b.content);
  assert.equal(await upstreamCalls(mock), 2, 'paraphrases asked no upstream');

  /* near misses get their own answer */
  for (const text of ['What is the capital of Spain?', 'What is 2+2?', 'What is 2+3?']) {
    const r = await openaiChat(g1, 'sem', text);
    assert.equal(r.cache, 'miss', `${JSON.stringify(text)} is not a paraphrase of what is cached`);
    assert.equal(r.similarity, null);
    assert.ok(r.content.startsWith(answerOf(text)), `${text}: its own answer, got ${r.content}`);
  }
  const spaced = await openaiChat(g1, 'sem', 'what is 2 + 2');
  simOk(spaced, '2+2 spelled with spaces');
  assert.ok(spaced.content.startsWith(answerOf('What is 2+2?')), `2+2's answer, not 2+3's: ${spaced.content}`);

  /* the same question with another temperature is another partition */
  const warm = await openaiChat(g1, 'sem', 'what is the capital of france', { temperature: 0.3 });
  assert.equal(warm.cache, 'miss', 'another temperature: a miss');
  assert.ok(warm.content.startsWith(answerOf('what is the capital of france')), warm.content);
  const warm2 = await openaiChat(g1, 'sem', france, { temperature: 0.3 });
  simOk(warm2, 'a paraphrase within the temperature 0.3 partition');
  assert.equal(warm2.content, warm.content, 'the answer of its own partition');
  assert.equal(await upstreamCalls(mock), 2 + 3 + 1);

  let s = await cacheStats(g1);
  assert.equal(s.semantic.hits, 5);
  assert.equal(s.semantic.threshold, THRESHOLD);
  assert.equal(s.semantic.similarity.length, 11);
  assert.equal(s.semantic.similarity.reduce((x, y) => x + y, 0), s.semantic.searches,
    `the histogram counts every search: ${s.semantic.similarity}`);
  assert.ok(s.semantic.searches >= 11, `every lookup of a semantic model searched: ${s.semantic.searches}`);
  assert.ok(s.semantic.similarity[10] >= 5, `the hits are in the top bucket (>= 0.9): ${s.semantic.similarity}`);
  assert.equal(s.misses, 6);
  const stored = 6; /* one vector per miss */
  s = await until(async () => {
    const x = await cacheStats(g1);
    return x.tiers.sqlite.vectors >= stored && x;
  }, 'the vectors committed to SQLite');
  assert.equal(s.tiers.sqlite.vectors, stored);
  assert.equal(s.semantic.entries, stored);

  const exit = await g1.stopNow();
  assert.equal(exit.code, 0, `the gateway exits 0 on SIGTERM (${JSON.stringify(exit)})`);

  const g2 = await rig.gateway(mock, { cache, modes });
  const reloaded = g2.logs().find((l) => l.msg === 'semantic cache reloaded');
  assert.ok(reloaded, `a "semantic cache reloaded" log line:\n${g2.stderrText()}`);
  s = await cacheStats(g2);
  assert.equal(s.semantic.entries, stored, 'every vector back in the index');
  const r1 = await openaiChat(g2, 'sem', 'Could you tell me what the capital of France is?');
  simOk(r1, 'after the restart');
  assert.equal(r1.content, a.content, 'the answer stored before the restart');
  const r2 = await ollamaChat(g2, 'sem', 'python: how to read a file line by line');
  simOk(r2, 'after the restart, Ollama SDK');
  assert.equal(r2.content, b.content);
  const r3 = await openaiChat(g2, 'sem', 'What is the capital of Spain');
  assert.equal(r3.cache, 'semantic-hit', 'Spain found its own entry');
  assert.ok(r3.content.startsWith(answerOf('What is the capital of Spain?')), r3.content);
  s = await cacheStats(g2);
  assert.equal(s.tiers.sqlite.hits, 3, 'answered from the SQLite file');
  assert.equal(s.semantic.hits, 3);
  assert.equal(await upstreamCalls(mock), 6, 'no upstream call after the restart');

  await rig.stopAll();
});

/* ---- start and exit with a Redis tier ---------------------------------------------- */

/*
 * A regression test for a start-up race: the Redis subscriber was once made
 * from the main thread on worker 0's loop while worker 0 already ran it (a
 * hiredis client touched by two threads: use after free at start, heap
 * corruption at exit). It is now made on worker 0's own thread.
 *
 * An earlier form of the gateway hung at exit instead (the Redis clients
 * freed after their event bases); main fixed that by freeing them in
 * sy_cache_stop. This test checks both: every start succeeds and every
 * SIGTERM ends in exit 0.
 */
test('gateways with a Redis tier start and exit 0 on SIGTERM, every time', T, async (t) => {
  const rig = new Rig(t);
  const mock = await rig.mock();
  const rs = await rig.redis();
  /* a Redis that answers, and one that refuses (its failure reaches worker
   * 0 sooner: the race shows more often) */
  const urls = [rs.url, `redis://127.0.0.1:${await closedPort()}/0`];
  const problems = [];
  let started = 0;
  const ROUNDS = 10;
  for (let round = 0; round < ROUNDS; round++) {
    const gws = [];
    for (const url of urls) {
      try {
        const gw = await Gateway.start(tiersConfig(mock, { cache: { redis: { url } } }));
        /* stopped below; by the rig too should the test fail before */
        gw.stopOnce = rig.add('switchyard', () => gw.stop().catch(() => {})).stop;
        gws.push(gw);
        started++;
      } catch (e) {
        const report = e.message.split('\n').filter((l) => /ERROR: |SUMMARY: |^\s+#[0-4] /.test(l)).join('\n');
        problems.push({ round, url, start: report || e.message.split('\n')[0] });
      }
    }
    for (const [i, gw] of gws.entries()) {
      /* enough connections for both workers to make their Redis client */
      try {
        await Promise.all([0, 1, 2, 3].map((k) => openaiChat(gw, 'cached', q(`exit ${round}.${i}.${k}`))));
      } catch (e) {
        problems.push({ round, pid: gw.pid, request: e.message });
      }
    }
    for (const gw of gws) {
      const exit = await gw.proc.stop(ms(3000));
      const text = gw.stderrText();
      const odd = text.split('\n').filter((l) => l && !l.startsWith('{')).slice(0, 3).join(' | ');
      if (exit.code !== 0 || gw.proc.killed || odd) {
        problems.push({ round, pid: gw.pid, code: exit.code, signal: exit.signal, killed: gw.proc.killed, stderr: odd });
      }
      await gw.stopOnce(); /* logs kept, directory removed */
    }
  }
  t.diagnostic(`${started} of ${ROUNDS * urls.length} gateways started`);
  assert.deepEqual(problems, [], `every gateway starts, and exits 0 on SIGTERM within ${ms(3000)} ms:\n${JSON.stringify(problems, null, 1)}`);
  await rig.stopAll();
});
