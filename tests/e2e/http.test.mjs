/*
 * http.test.mjs - requests that are not valid HTTP, or use a method nothing
 * serves, are answered in JSON like every other error (evhttp's own HTML
 * error pages never reach a client), and the connection is closed.
 */
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import net from 'node:net';
import { lazyStack, ms } from './lib/harness.mjs';

const stack = lazyStack();
after(() => stack.stop().catch(() => {}));
const T = { timeout: ms(30000) };

function raw(url, bytes) {
  const { hostname, port } = new URL(url);
  return new Promise((resolve, reject) => {
    const s = net.connect(Number(port), hostname, () => s.write(bytes));
    let out = '';
    s.setEncoding('utf8');
    s.on('data', (d) => (out += d));
    s.on('end', () => resolve(out));
    s.on('error', reject);
    s.setTimeout(ms(5000), () => {
      s.destroy();
      resolve(out);
    });
  });
}

function parse(resp) {
  const [head, body] = resp.split('\r\n\r\n');
  const status = Number(head.split(' ')[1]);
  return { status, head: head.toLowerCase(), json: JSON.parse(body) };
}

test('a malformed request line gets a JSON 400 and the connection closes', T, async () => {
  const { gw } = await stack.get();
  const r = parse(await raw(gw.url, 'GARBAGE LINE\r\nHost: x\r\n\r\n'));
  assert.equal(r.status, 400);
  assert.match(r.head, /content-type: application\/json/);
  assert.match(r.head, /x-request-id: req_/);
  assert.equal(r.json.error.code, 'invalid_request');
});

test('a header line without a colon gets a JSON 400', T, async () => {
  const { gw } = await stack.get();
  const r = parse(await raw(gw.url, 'GET /health/live HTTP/1.1\r\nHost: x\r\nno colon here\r\n\r\n'));
  assert.equal(r.status, 400);
  assert.equal(r.json.error.type, 'invalid_request_error');
});

test('an unknown method gets a JSON 501', T, async () => {
  const { gw } = await stack.get();
  const r = parse(await raw(gw.url, 'BREW /v1/models HTTP/1.1\r\nHost: x\r\n\r\n'));
  assert.equal(r.status, 501);
  assert.match(r.head, /^http\/1\.1 501 not implemented/);
  assert.equal(r.json.error.code, 'method_not_allowed');
});

test('the gateway still serves after those', T, async () => {
  const { gw } = await stack.get();
  const r = await fetch(`${gw.url}/health/live`);
  assert.equal(r.status, 200);
});

test('teardown: switchyard exits cleanly', T, async () => {
  await stack.stop();
});
