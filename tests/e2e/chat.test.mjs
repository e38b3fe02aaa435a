/*
 * chat.test.mjs - POST /v1/chat/completions through the gateway with the
 * official openai SDK: content and usage equal what the mock answers when
 * asked directly, routing headers, model rewrite, credential replacement,
 * passthrough of every other field, request ids, streaming and tool calls.
 */
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { lazyStack, CLIENT_KEY, MOCK_KEY, EXTRA_HEADER, ms } from './lib/harness.mjs';

const stack = lazyStack();
after(() => stack.stop().catch(() => {}));

const T = { timeout: ms(30000) };

/* What the mock says for these messages when asked directly as mock-small. */
async function direct(mock, body) {
  return mock.post('/v1/chat/completions', { ...body, model: 'mock-small' });
}

const WEATHER_TOOL = {
  type: 'function',
  function: {
    name: 'get_weather',
    description: 'Current weather for a city',
    parameters: { type: 'object', properties: { city: { type: 'string' } }, required: ['city'] },
  },
};

test('chat non-stream: content, usage and routing headers', T, async () => {
  const { mock, client } = await stack.get();
  const prompt = 'Tell me about switchyards and trains';
  const messages = [{ role: 'system', content: 'Be brief.' }, { role: 'user', content: prompt }];
  const want = await direct(mock, { messages });
  assert.ok(want.choices[0].message.content.startsWith(`[${prompt}]`), 'mock echoes the prompt first');

  const { data, response } = await client.chat.completions.create({ model: 'fast', messages }).withResponse();
  assert.equal(response.status, 200);
  assert.equal(data.object, 'chat.completion');
  assert.equal(data.choices.length, 1);
  assert.equal(data.choices[0].message.role, 'assistant');
  assert.equal(data.choices[0].message.content, want.choices[0].message.content);
  assert.equal(data.choices[0].finish_reason, want.choices[0].finish_reason);
  assert.ok(data.usage, 'usage present');
  assert.deepEqual(data.usage, want.usage);
  assert.ok(data.usage.prompt_tokens > 0 && data.usage.completion_tokens > 0);
  const rid = response.headers.get('x-request-id');
  assert.ok(rid && rid.length > 0, 'x-request-id present');
  assert.equal(response.headers.get('x-switchyard-provider'), 'mock');
  assert.equal(response.headers.get('x-switchyard-model'), 'mock-small');
});

test('chat: model rewritten, client key replaced, every other field passed through', T, async () => {
  const { mock, client } = await stack.get();
  const marker = `passthrough-${process.pid}-${Date.now()}`;
  const png = 'data:image/png;base64,iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNk+M9QDwADhgGAWjR9awAAAABJRU5ErkJggg==';
  const base = {
    model: 'fast',
    messages: [
      { role: 'system', content: 'You are terse. Ünïcödé ✓ 🚀 "quoted" back\\slash tab\t/slash' },
      {
        role: 'user',
        content: [
          { type: 'text', text: `What is in this image? ${marker}` },
          { type: 'image_url', image_url: { url: png, detail: 'low' } },
        ],
      },
    ],
    tools: [WEATHER_TOOL, {
      type: 'function',
      function: { name: 'lookup', parameters: { type: 'object', properties: { q: { type: 'string' } } } },
    }],
    tool_choice: { type: 'function', function: { name: 'get_weather' } },
    response_format: {
      type: 'json_schema',
      json_schema: { name: 'answer', strict: true, schema: { type: 'object', properties: { a: { type: 'number' } } } },
    },
    n: 2,
    logprobs: true,
    top_logprobs: 3,
    seed: 424242,
    stop: ['END', '\n\n'],
    temperature: 0.25,
    max_completion_tokens: 64,
    user: 'e2e-user',
  };
  await mock.reset();
  await client.chat.completions.create(base);
  const streamBody = { ...base, stream: true, stream_options: { include_usage: true } };
  const stream = await client.chat.completions.create(streamBody);
  for await (const chunk of stream) void chunk;

  const st = await mock.stats();
  const seen = st.last_requests.filter((r) => r.path === '/v1/chat/completions' && r.body.includes(marker));
  assert.equal(seen.length, 2, `the mock saw both requests (saw ${seen.length})`);
  const everything = JSON.stringify(st.last_requests);
  assert.ok(!everything.includes(CLIENT_KEY), 'the client key reached the upstream');
  for (const [i, sent] of [base, streamBody].entries()) {
    const up = seen[i];
    assert.equal(up.method, 'POST');
    assert.equal(up.headers.authorization, `Bearer ${MOCK_KEY}`, 'provider key sent as Bearer');
    assert.equal(up.headers[EXTRA_HEADER[0]], EXTRA_HEADER[1], 'extra provider header sent');
    const body = JSON.parse(up.body);
    assert.equal(body.model, 'mock-small', 'public model name rewritten to the deployment model');
    const { model: _a, ...gotRest } = body;
    const { model: _b, ...sentRest } = JSON.parse(JSON.stringify(sent));
    assert.deepEqual(gotRest, sentRest, 'upstream body minus model equals client body minus model');
  }
});

test('x-request-id echoed when sent, generated and unique otherwise', T, async () => {
  const { client } = await stack.get();
  const messages = [{ role: 'user', content: 'request id please' }];
  const mine = `e2e-rid-${Date.now()}`;
  const a = await client.chat.completions.create({ model: 'fast', messages },
    { headers: { 'x-request-id': mine } }).withResponse();
  assert.equal(a.response.headers.get('x-request-id'), mine);

  const ids = [];
  for (let i = 0; i < 3; i++) {
    const r = await client.chat.completions.create({ model: 'fast', messages }).withResponse();
    ids.push(r.response.headers.get('x-request-id'));
  }
  for (const id of ids) assert.ok(typeof id === 'string' && id.trim().length > 0, `generated id: ${id}`);
  assert.equal(new Set(ids).size, ids.length, `generated ids are unique: ${ids}`);
  assert.ok(!ids.includes(mine));

  /* error responses carry one too */
  let err;
  try {
    await client.chat.completions.create({ model: 'no-such-model', messages });
  } catch (e) {
    err = e;
  }
  assert.equal(err?.status, 404);
  assert.ok(err.headers.get('x-request-id'), 'a 404 carries x-request-id');
});

test('chat stream: deltas equal the non-stream content, usage last, SSE headers', T, async () => {
  const { mock, client } = await stack.get();
  const prompt = 'Stream me a story about a signal box';
  const messages = [{ role: 'user', content: prompt }];
  const want = await direct(mock, { messages });

  const { data: stream, response } = await client.chat.completions.create({
    model: 'fast', messages, stream: true, stream_options: { include_usage: true },
  }).withResponse();
  assert.equal(response.status, 200);
  assert.match(response.headers.get('content-type') || '', /^text\/event-stream/);
  assert.match(response.headers.get('cache-control') || '', /no-cache/);
  assert.equal(response.headers.get('x-accel-buffering'), 'no');
  assert.ok(response.headers.get('x-request-id'));
  assert.equal(response.headers.get('x-switchyard-provider'), 'mock');
  assert.equal(response.headers.get('x-switchyard-model'), 'mock-small');

  const chunks = [];
  for await (const c of stream) chunks.push(c);
  const content = chunks.map((c) => c.choices?.[0]?.delta?.content ?? '').join('');
  assert.equal(content, want.choices[0].message.content);
  assert.ok(chunks.length >= want.usage.completion_tokens + 1, `one chunk per token (${chunks.length} chunks)`);
  const finish = chunks.map((c) => c.choices?.[0]?.finish_reason).filter(Boolean);
  assert.deepEqual(finish, [want.choices[0].finish_reason]);
  const last = chunks.at(-1);
  assert.ok(last.usage, 'last chunk carries usage');
  assert.deepEqual(last.choices, []);
  assert.deepEqual(last.usage, want.usage);
  assert.ok(chunks.slice(0, -1).every((c) => !c.usage), 'only the last chunk has usage');
});

test('tools: non-stream tool_calls, stream deltas reassemble to the same call', T, async () => {
  const { mock, client } = await stack.get();
  const prompt = 'What is the weather in Lyon?';
  const body = { messages: [{ role: 'user', content: prompt }], tools: [WEATHER_TOOL] };
  const want = await direct(mock, body);

  const r = await client.chat.completions.create({ model: 'fast', ...body });
  const choice = r.choices[0];
  assert.equal(choice.finish_reason, 'tool_calls');
  assert.equal(choice.message.tool_calls?.length, 1);
  const call = choice.message.tool_calls[0];
  assert.match(call.id, /^call_[0-9a-f]{8}$/);
  assert.equal(call.type, 'function');
  assert.equal(call.function.name, 'get_weather');
  assert.deepEqual(JSON.parse(call.function.arguments), { echo: prompt });
  assert.deepEqual(choice.message.tool_calls, want.choices[0].message.tool_calls);

  const stream = await client.chat.completions.create({ model: 'fast', ...body, stream: true });
  const calls = [];
  let finish = null;
  for await (const c of stream) {
    const ch = c.choices?.[0];
    if (!ch) continue;
    if (ch.finish_reason) finish = ch.finish_reason;
    for (const d of ch.delta?.tool_calls || []) {
      const slot = (calls[d.index] ??= { id: '', name: '', arguments: '' });
      if (d.id) slot.id = d.id;
      if (d.function?.name) slot.name += d.function.name;
      if (d.function?.arguments) slot.arguments += d.function.arguments;
    }
  }
  assert.equal(finish, 'tool_calls');
  assert.equal(calls.length, 1);
  assert.deepEqual(calls[0], { id: call.id, name: call.function.name, arguments: call.function.arguments });
});

test('teardown: switchyard exits cleanly', T, async () => {
  await stack.stop();
});
