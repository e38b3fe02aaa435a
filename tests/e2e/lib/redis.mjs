/*
 * redis.mjs - a real redis-server for end-to-end tests, and a tiny RESP
 * client to look inside it.
 *
 * RedisServer.start() runs /usr/bin/redis-server (or $REDIS_SERVER) on a free
 * loopback port with no persistence (--save "" --appendonly no) and resolves
 * once it answers PING. The tests kill it (SIGKILL), pause it (SIGSTOP) and
 * start it again on the same port; stop() ends it for good. A server left
 * running when node exits is killed from the 'exit' handler, so a failed run
 * leaves nothing behind.
 *
 * redisCommand() opens one connection per command (a test's pace does not
 * need more), sends it as a RESP array of bulk strings and parses one reply:
 * simple strings and integers as JS values, bulk strings as Buffers (the cache
 * tier's values start with 8 binary bytes), arrays as arrays, nil as null, an
 * error reply as a rejected Error.
 *
 * The gateway's Redis tier keeps an answer under "switchyard:c:<v>:<64 hex>"
 * with the value: its expiry in unix ms (8 bytes, little-endian) then the
 * entry's JSON; cacheEntries() reads them all back.
 */
import { spawn } from 'node:child_process';
import net from 'node:net';
import { closedPort, ms, sleep, now } from './harness.mjs';

export const REDIS_BIN = process.env.REDIS_SERVER || '/usr/bin/redis-server';

const live = new Set(); /* servers to kill if node exits with them running */
process.on('exit', () => {
  for (const s of live) {
    try {
      process.kill(s.pid, 'SIGKILL');
    } catch {
      /* gone */
    }
  }
});

/* ---- RESP ------------------------------------------------------------------ */

function encode(args) {
  const parts = [Buffer.from(`*${args.length}\r\n`)];
  for (const a of args) {
    const b = Buffer.isBuffer(a) ? a : Buffer.from(String(a));
    parts.push(Buffer.from(`$${b.length}\r\n`), b, Buffer.from('\r\n'));
  }
  return Buffer.concat(parts);
}

/* Parses one reply at buf[i..]: {value, next}, or null when incomplete. */
function parse(buf, i = 0) {
  if (i >= buf.length) return null;
  const eol = buf.indexOf('\r\n', i);
  if (eol < 0) return null;
  const type = String.fromCharCode(buf[i]);
  const line = buf.toString('utf8', i + 1, eol);
  const after = eol + 2;
  switch (type) {
    case '+':
      return { value: line, next: after };
    case '-':
      return { value: new RedisError(line), next: after };
    case ':':
      return { value: Number(line), next: after };
    case '$': {
      const n = Number(line);
      if (n < 0) return { value: null, next: after };
      if (buf.length < after + n + 2) return null;
      return { value: buf.subarray(after, after + n), next: after + n + 2 };
    }
    case '*': {
      const n = Number(line);
      if (n < 0) return { value: null, next: after };
      const out = [];
      let at = after;
      for (let k = 0; k < n; k++) {
        const r = parse(buf, at);
        if (!r) return null;
        out.push(r.value);
        at = r.next;
      }
      return { value: out, next: at };
    }
    default:
      throw new Error(`RESP: unexpected reply type ${JSON.stringify(type)}`);
  }
}

export class RedisError extends Error {}

/* Sends one command to 127.0.0.1:port; resolves with its reply. Rejects on a
 * refused connection, an error reply, or no reply within timeout ms. */
export function redisCommand(port, args, { timeout = ms(3000) } = {}) {
  return new Promise((resolve, reject) => {
    const sock = net.connect({ host: '127.0.0.1', port });
    let buf = Buffer.alloc(0);
    let done = false;
    const finish = (err, v) => {
      if (done) return;
      done = true;
      clearTimeout(t);
      sock.destroy();
      if (err) reject(err);
      else resolve(v);
    };
    const t = setTimeout(() => finish(new Error(`redis :${port} ${args[0]}: no reply within ${timeout} ms`)), timeout);
    sock.on('connect', () => sock.write(encode(args)));
    sock.on('data', (d) => {
      buf = Buffer.concat([buf, d]);
      let r;
      try {
        r = parse(buf);
      } catch (e) {
        finish(e);
        return;
      }
      if (!r) return;
      if (r.value instanceof RedisError) finish(r.value);
      else finish(null, r.value);
    });
    sock.on('error', (e) => finish(e));
    sock.on('close', () => finish(new Error(`redis :${port} ${args[0]}: connection closed before a reply`)));
  });
}

/* A cache tier value: {expireMs, entry (parsed JSON), text (the JSON)}. */
export function decodeCacheValue(buf) {
  if (!Buffer.isBuffer(buf) || buf.length < 8) throw new Error(`not a cache value: ${buf}`);
  const expireMs = Number(buf.readBigUInt64LE(0));
  const text = buf.toString('utf8', 8);
  return { expireMs, text, entry: JSON.parse(text) };
}

/* ---- the server ------------------------------------------------------------- */

export class RedisServer {
  /* Starts a server on port (a free one when not given). */
  static async start({ port } = {}) {
    const s = new RedisServer();
    for (let attempt = 0; ; attempt++) {
      s.port = port || (await closedPort());
      try {
        await s._spawn();
        return s;
      } catch (e) {
        /* a free port taken between the check and the bind: try another */
        if (port || attempt >= 3) throw e;
      }
    }
  }

  constructor() {
    this.log = [];
    this.proc = null;
    this.exited = null;
    this.starts = 0;
  }

  get url() {
    return `redis://127.0.0.1:${this.port}/0`;
  }

  get pid() {
    return this.proc ? this.proc.pid : null;
  }

  get running() {
    return !!this.proc;
  }

  async _spawn() {
    const args = ['--port', String(this.port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no',
      '--daemonize', 'no', '--protected-mode', 'no', '--loglevel', 'notice'];
    const child = spawn(REDIS_BIN, args, { stdio: ['ignore', 'pipe', 'pipe'] });
    this.starts++;
    this.proc = child;
    live.add(child);
    for (const st of [child.stdout, child.stderr]) {
      st.setEncoding('utf8');
      st.on('data', (d) => this.log.push(d));
    }
    this.exited = new Promise((resolve) => {
      child.on('error', (err) => resolve({ code: null, signal: null, error: err }));
      child.on('close', (code, signal) => resolve({ code, signal }));
    });
    this.exited.then(() => {
      live.delete(child);
      if (this.proc === child) this.proc = null;
    });
    /* ready once it answers PING */
    const t0 = now();
    let last = '';
    while (now() - t0 < ms(10000)) {
      if (this.proc !== child) break;
      try {
        if ((await redisCommand(this.port, ['PING'], { timeout: ms(1000) })) === 'PONG') return;
      } catch (e) {
        last = e.message;
      }
      await sleep(20);
    }
    const exit = this.proc === child ? null : await this.exited;
    if (this.proc === child) await this.kill();
    throw new Error(`redis-server on port ${this.port} did not answer PING ` +
      `(${exit ? `exited: ${JSON.stringify(exit)}` : `last: ${last}`})\n${this.log.join('')}`);
  }

  /* Sends sig and, for signals that end it, waits for the exit. */
  async kill(sig = 'SIGKILL') {
    const child = this.proc;
    if (!child) return;
    const exited = this.exited;
    try {
      child.kill(sig);
    } catch {
      /* gone */
    }
    if (sig === 'SIGKILL' || sig === 'SIGTERM') await exited;
  }

  pause() {
    return this.kill('SIGSTOP');
  }

  resume() {
    return this.kill('SIGCONT');
  }

  /* Starts it again on the same port (after kill). */
  async restart() {
    if (this.proc) throw new Error('redis-server is still running');
    await this._spawn();
  }

  /* Ends the server for good: SIGCONT (in case it is paused), SIGTERM, then
   * SIGKILL after 3 s. */
  async stop() {
    const child = this.proc;
    if (!child) return;
    const exited = this.exited;
    try {
      child.kill('SIGCONT');
      child.kill('SIGTERM');
    } catch {
      /* gone */
    }
    const t = setTimeout(() => {
      try {
        child.kill('SIGKILL');
      } catch {
        /* gone */
      }
    }, 3000);
    await exited;
    clearTimeout(t);
  }

  command(...args) {
    return redisCommand(this.port, args);
  }

  /* The gateway's cache entries: [{key, expireMs, entry, text, pttl}]. */
  async cacheEntries(pattern = 'switchyard:c:*') {
    const keys = (await this.command('KEYS', pattern)).map((k) => k.toString('utf8')).sort();
    const out = [];
    for (const key of keys) {
      const v = await this.command('GET', key);
      if (v === null) continue; /* expired in between */
      const pttl = await this.command('PTTL', key);
      out.push({ key, pttl, ...decodeCacheValue(v) });
    }
    return out;
  }
}
