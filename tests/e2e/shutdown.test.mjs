/*
 * shutdown.test.mjs - SIGTERM mid-stream: the listener closes at once (new
 * connections are refused), the stream in flight completes with [DONE],
 * then the process exits 0.
 */
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import net from 'node:net';
import {
  lazyStack, mockProvider, model, httpPost, parseSSE, chatStreamSummary, ms, now, sleep,
} from './lib/harness.mjs';

const PACED = { 'x-mock-tokens': '20', 'x-mock-itl-ms': '50' };
const stack = lazyStack({
  config: (mockUrl) => ({
    server: { drain_timeout_ms: 10000 },
    providers: [mockProvider('paced-prov', mockUrl, { headers: PACED })],
    models: [model('mpaced', 'paced-prov')],
  }),
});
after(() => stack.stop().catch(() => {}));

/* 'refused', or a description of what happened instead. */
function tryConnect(port) {
  return new Promise((resolve) => {
    const s = net.connect({ host: '127.0.0.1', port });
    const timer = setTimeout(() => {
      s.destroy();
      resolve('accepted a connection and did not answer within 1 s');
    }, 1000);
    s.on('connect', () => s.write('GET /health/live HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n'));
    let got = '';
    s.on('data', (d) => (got += d));
    s.on('end', () => {
      clearTimeout(timer);
      resolve(got ? `answered: ${got.split('\r\n')[0]}` : 'refused');
    });
    s.on('error', (e) => {
      clearTimeout(timer);
      resolve(e.code === 'ECONNREFUSED' || e.code === 'ECONNRESET' ? 'refused' : `error ${e.code}`);
    });
  });
}

test('SIGTERM mid-stream: stream completes with [DONE], new connections refused, exit 0', { timeout: ms(60000) }, async (t) => {
  const { gw, mock } = await stack.get();
  const port = Number(new URL(gw.url).port);
  const messages = [{ role: 'user', content: 'finish this before you go' }];
  const want = await mock.post('/v1/chat/completions', { model: 'mock-small', messages }, PACED);

  const res = await httpPost(`${gw.baseURL}/chat/completions`, { model: 'mpaced', messages, stream: true });
  assert.equal(res.statusCode, 200);
  res.setEncoding('utf8');
  let text = '';
  let endedAt = 0;
  let how = '';
  const ended = new Promise((resolve) => {
    const fin = (what) => () => {
      if (!endedAt) {
        endedAt = now();
        how = what;
      }
      resolve();
    };
    res.on('data', (c) => (text += c));
    res.on('end', fin('ended'));
    res.on('error', fin('failed'));
    res.on('aborted', fin('was aborted (connection closed mid-response)'));
  });
  while (!/"content":"[^"]/.test(text) && !endedAt) await sleep(5);
  assert.ok(!text.includes('[DONE]'), 'the stream is still running when the signal is sent');
  const tSig = now();
  gw.proc.signal('SIGTERM');

  await sleep(ms(200));
  const conn = await tryConnect(port);
  const streamingAtCheck = !endedAt;
  assert.equal(conn, 'refused', 'a new connection after SIGTERM');
  assert.ok(streamingAtCheck, 'the stream was still in flight when the new connection was refused');

  await ended;
  const exit = await Promise.race([gw.proc.exited, sleep(ms(15000)).then(() => null)]);
  t.diagnostic(`stream ${how} ${Math.round(endedAt - tSig)} ms after SIGTERM; last bytes: ${JSON.stringify(text.slice(-120))}`);
  const sum = chatStreamSummary(parseSSE(text));
  assert.equal(sum.error, null, `no error event: ${JSON.stringify(sum.error)}`);
  assert.ok(sum.done, 'the stream in flight ended with [DONE]');
  assert.equal(sum.content, want.choices[0].message.content, 'every token of the stream in flight arrived');
  assert.ok(exit, 'switchyard exited after draining');
  assert.equal(exit.signal, null, `exited by itself (signal ${exit.signal})`);
  assert.equal(exit.code, 0, 'exit code 0');
});

test('teardown: switchyard exits cleanly', { timeout: ms(30000) }, async () => {
  await stack.stop();
});
