/*
 * backpressure.test.mjs - a client that stops reading a long stream must
 * make the gateway stop reading the upstream (so the mock's tokens_sent
 * stops growing) without the gateway's memory growing; once the client
 * reads again every token arrives and the stream ends with [DONE].
 */
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { lazyStack, mockProvider, model, httpPost, rssKb, ms, sleep, ASAN } from './lib/harness.mjs';

const TOKENS = 200000;
const stack = lazyStack({
  config: (mockUrl) => ({
    server: { stream_high_water_bytes: 262144 },
    providers: [mockProvider('big-prov', mockUrl, { headers: { 'x-mock-tokens': String(TOKENS), 'x-mock-itl-ms': '0' } })],
    models: [model('mbig', 'big-prov')],
  }),
});
after(() => stack.stop().catch(() => {}));

async function openStream(mock) {
  const st = await mock.stats();
  const s = st.streams.find((x) => x.path === '/v1/chat/completions');
  return { st, s };
}

test('slow client: upstream paused while the client does not read, resumed after', { timeout: ms(120000) }, async (t) => {
  const { mock, gw } = await stack.get();
  const before = await mock.stats();
  const rss0 = await rssKb(gw.pid);
  const res = await httpPost(`${gw.baseURL}/chat/completions`, {
    model: 'mbig', messages: [{ role: 'user', content: 'an endless stream' }], stream: true,
  });
  assert.equal(res.statusCode, 200);
  res.setEncoding('utf8');
  let buf = await new Promise((resolve, reject) => {
    res.once('data', (c) => {
      res.pause();
      resolve(c);
    });
    res.once('error', reject);
  });

  /* The gateway stops reading the upstream once its own buffer for this
   * client is over the high-water mark; the kernel's socket buffers (which
   * autotune upwards for a while) may still take some bytes. So: the count
   * must settle - two samples 500 ms apart equal - and stay far from the end. */
  await sleep(ms(1000));
  let a = await openStream(mock);
  const rssA = await rssKb(gw.pid);
  let b = a;
  let settled = false;
  for (let i = 0; i < 8 && !settled; i++) {
    await sleep(ms(500));
    b = await openStream(mock);
    settled = Boolean(a.s && b.s && b.s.tokens_sent === a.s.tokens_sent);
    if (!settled) a = b;
  }
  const rssB = await rssKb(gw.pid);
  t.diagnostic(`paused: tokens_sent settled at ${b.s?.tokens_sent} of ${b.s?.tokens_total ?? TOKENS}; ` +
    `switchyard RSS ${rss0} -> ${rssA} -> ${rssB} kB`);

  assert.ok(a.s && b.s, `the mock's stream is still open while the client does not read ` +
    `(completed ${b.st.streams_completed - before.streams_completed}): the gateway read the whole upstream`);
  assert.equal(b.s.tokens_total, TOKENS);
  assert.ok(settled, `tokens_sent kept growing while the client did not read (last ${b.s.tokens_sent})`);
  assert.ok(b.s.tokens_sent < TOKENS / 2, `tokens_sent ${b.s.tokens_sent} is far below ${TOKENS}`);
  const rssMax = Math.max(rssA, rssB);
  if (ASAN) {
    assert.ok(rssMax - rss0 < 100 * 1024, `switchyard RSS grew by ${rssMax - rss0} kB while paused`);
  } else {
    assert.ok(rssMax < 100 * 1024, `switchyard RSS ${rssMax} kB < 100 MB while paused`);
  }

  /* read again: everything arrives */
  let tokens = 0;
  let done = false;
  let errorEvent = null;
  const consume = (final) => {
    let i;
    while ((i = buf.indexOf('\n\n')) >= 0 || (final && buf.length)) {
      const block = i >= 0 ? buf.slice(0, i) : buf;
      buf = i >= 0 ? buf.slice(i + 2) : '';
      for (const line of block.split('\n')) {
        if (!line.startsWith('data:')) continue;
        const data = line.slice(5).trim();
        if (data === '[DONE]') {
          done = true;
          continue;
        }
        const j = JSON.parse(data);
        if (j.error) errorEvent = j.error;
        const c = j.choices?.[0]?.delta?.content;
        if (typeof c === 'string' && c.length) tokens++;
      }
    }
  };
  consume(false);
  await new Promise((resolve, reject) => {
    res.on('data', (c) => {
      buf += c;
      consume(false);
    });
    res.on('end', resolve);
    res.on('error', reject);
    res.resume();
  });
  consume(true);
  assert.equal(errorEvent, null, `no error event: ${JSON.stringify(errorEvent)}`);
  assert.equal(tokens, TOKENS, 'every token arrived');
  assert.ok(done, '[DONE] present');
  let end = await mock.stats();
  for (let i = 0; i < 100 && end.streams_completed === before.streams_completed; i++) {
    await sleep(10);
    end = await mock.stats();
  }
  assert.equal(end.streams_completed, before.streams_completed + 1);
  assert.equal(end.open_streams, 0);
});

test('teardown: switchyard exits cleanly', { timeout: ms(30000) }, async () => {
  await stack.stop();
});
