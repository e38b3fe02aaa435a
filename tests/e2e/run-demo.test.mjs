/*
 * run-demo.test.mjs - `make run`'s fallback: scripts/run.sh with nothing to
 * serve (no local model server, no cloud key) starts sy-mock as a demo
 * upstream, writes build/run/demo.yaml, says so on stdout, and the gateway
 * warns at start that every demo provider's answers are simulated. Requests
 * go through it (/v1/models, chat on each kind of demo upstream), the demo
 * Ollama's models are discovered, and SIGTERM to the script drains the
 * gateway and stops the mock.
 *
 * SY_LISTEN moves the gateway to a free port; SY_DEMO=1 forces demo mode
 * when this machine happens to run something on 11434 or 8080.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import net from 'node:net';
import { BUILD, ROOT, SANITIZER_RE, ms, request, sleep } from './lib/harness.mjs';

const T = { timeout: ms(60000) };

function listening(port) {
  return new Promise((resolve) => {
    const s = net.connect({ host: '127.0.0.1', port });
    const done = (v) => {
      s.destroy();
      resolve(v);
    };
    s.once('connect', () => done(true));
    s.once('error', () => done(false));
    s.setTimeout(500, () => done(false));
  });
}

function alive(pid) {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

/* Poll fn until it returns a truthy value. */
async function until(fn, timeout, what, lines) {
  const end = Date.now() + timeout;
  for (;;) {
    const v = fn();
    if (v) return v;
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}\n${lines()}`);
    await sleep(20);
  }
}

test('make run with nothing to serve: demo mode on sy-mock, said loudly, cleaned up', T, async () => {
  const env = { ...process.env, BUILD, SY_LISTEN: '127.0.0.1:0' };
  delete env.OPENAI_API_KEY;
  delete env.ANTHROPIC_API_KEY;
  delete env.CONFIG;
  if ((await listening(11434)) || (await listening(8080))) env.SY_DEMO = '1';

  /* its own process group, so a failed test can stop the gateway and the
   * mock with the script (a SIGKILL to the script alone would orphan them) */
  const child = spawn('bash', ['scripts/run.sh'], { cwd: ROOT, env, stdio: ['ignore', 'pipe', 'pipe'], detached: true });
  const out = [];
  const err = [];
  child.stdout.setEncoding('utf8').on('data', (s) => out.push(...s.split('\n')));
  child.stderr.setEncoding('utf8').on('data', (s) => err.push(...s.split('\n')));
  let exit = null;
  const exited = new Promise((resolve) => child.on('close', (code, signal) => resolve((exit = { code, signal }))));
  const lines = () => `stdout:\n${out.join('\n')}\nstderr:\n${err.join('\n')}`;
  const logged = (pred) => err.some((l) => {
    try {
      return pred(JSON.parse(l));
    } catch {
      return false;
    }
  });

  try {
    const url = await until(() => {
      if (exit) throw new Error(`run.sh exited early (${JSON.stringify(exit)})\n${lines()}`);
      for (const l of err) {
        const m = /"msg":"listening","url":"([^"]+)"/.exec(l);
        if (m) return m[1];
      }
      return null;
    }, ms(20000), 'the gateway to listen', lines);
    const mockPid = Number(/sy-mock \(pid (\d+)\)/.exec(out.join('\n'))?.[1]);

    /* loud on both channels */
    assert.ok(out.some((l) => l.includes('DEMO MODE')), `banner on stdout:\n${lines()}`);
    assert.ok(mockPid > 0 && alive(mockPid), `the mock's pid is printed and it runs:\n${lines()}`);
    for (const p of ['demo-openai', 'demo-ollama', 'demo-anthropic']) {
      assert.ok(logged((j) => j.level === 'warn' && j.detail === `provider ${p} is a demo (sy-mock): answers are simulated`),
        `warning for ${p}:\n${lines()}`);
      assert.ok(logged((j) => j.msg === 'provider' && j.name === p && j.state === 'enabled' && j.demo === 1),
        `provider line for ${p}`);
    }
    /* the cloud providers are there, disabled for want of a key */
    for (const p of ['openai', 'anthropic']) {
      assert.ok(logged((j) => j.msg === 'provider' && j.name === p && j.state === 'disabled'), `${p} disabled`);
    }

    const ready = url;
    const models = await request(`${ready}/v1/models`);
    assert.equal(models.status, 200, models.text);
    const ids = models.json.data.map((m) => m.id);
    for (const id of ['local', 'demo', 'demo-claude']) assert.ok(ids.includes(id), `${id} listed: ${ids}`);

    /* one model per kind of demo upstream: the mock echoes the prompt */
    const kinds = { demo: 'demo-openai', local: 'demo-ollama', 'demo-claude': 'demo-anthropic' };
    for (const [model, provider] of Object.entries(kinds)) {
      const r = await request(`${ready}/v1/chat/completions`, {
        method: 'POST',
        body: { model, messages: [{ role: 'user', content: 'hello demo' }] },
      });
      assert.equal(r.status, 200, `${model}: ${r.text}`);
      assert.match(r.json.choices[0].message.content, /^\[hello demo\]/, `${model}: ${r.text}`);
      assert.equal(r.headers.get('x-switchyard-provider'), provider, model);
    }

    /* a cloud model without its key: 503 naming the variable */
    const cloud = await request(`${ready}/v1/chat/completions`, {
      method: 'POST',
      body: { model: 'gpt-4o-mini', messages: [{ role: 'user', content: 'hi' }] },
    });
    assert.equal(cloud.status, 503, cloud.text);
    assert.match(cloud.json.error.message, /OPENAI_API_KEY/);

    /* the demo Ollama's models were discovered */
    await until(() => logged((j) => j.msg === 'provider reachable' && j.provider === 'demo-ollama' && j.models === 2),
      ms(10000), 'demo-ollama discovered', lines);

    /* SIGTERM to the script: the gateway drains, the mock goes */
    child.kill('SIGTERM');
    let timer;
    const st = await Promise.race([exited, new Promise((r) => (timer = setTimeout(r, ms(15000), null)))]);
    clearTimeout(timer);
    assert.ok(st, `run.sh did not exit after SIGTERM\n${lines()}`);
    assert.equal(st.code, 0, `exit status ${JSON.stringify(st)}\n${lines()}`);
    assert.ok(logged((j) => j.msg === 'draining'), 'the gateway drained');
    assert.ok(logged((j) => j.msg === 'stopped'), 'the gateway stopped');
    await until(() => !alive(mockPid), ms(5000), 'the mock to exit', lines);
    assert.doesNotMatch(err.join('\n'), SANITIZER_RE);
  } finally {
    if (!exit) {
      const group = (sig) => {
        try {
          process.kill(-child.pid, sig);
        } catch {
          /* gone */
        }
      };
      group('SIGTERM');
      const t = setTimeout(() => group('SIGKILL'), ms(5000));
      await exited;
      clearTimeout(t);
      group('SIGKILL'); /* whatever outlived the script */
    }
  }
});
