// Starts dstar-server on a synthetic tiny model for the npm-client tests.
//
// The binaries come from DSTAR_BIN_DIR (CTest sets it to <build>/src/cli).  Each server gets
// its own free port and temporary directory; stop() sends SIGTERM and waits for exit.
import { spawn, execFileSync } from 'node:child_process';
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';

export const BIN_DIR = process.env.DSTAR_BIN_DIR || path.resolve('build/src/cli');
export const MODEL_ID = 'deepseek-v4-flash';

// A tiny random-weight model in the ds4 layout (written once per process).
let tinyModel = null;
export function tinyModelPath() {
  if (tinyModel) return tinyModel;
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'dstar-node-model-'));
  tinyModel = path.join(dir, 'tiny-SYNTHETIC.gguf');
  execFileSync(path.join(BIN_DIR, 'dstar-gguf'), ['synth', '--preset', 'tiny', '--out', tinyModel],
               { stdio: ['ignore', 'ignore', 'inherit'] });
  process.on('exit', () => fs.rmSync(dir, { recursive: true, force: true }));
  return tinyModel;
}

export async function freePort() {
  return new Promise((resolve, reject) => {
    const s = net.createServer();
    s.once('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const { port } = s.address();
      s.close(() => resolve(port));
    });
  });
}

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

// Starts a server and waits until GET /health says ok.  `args`: extra flags.
export async function startServer(args = [], { model = tinyModelPath(), env = {} } = {}) {
  const port = await freePort();
  const lockDir = fs.mkdtempSync(path.join(os.tmpdir(), 'dstar-node-lock-'));
  const child = spawn(path.join(BIN_DIR, 'dstar-server'),
                      ['-m', model, '--port', String(port), '-t', '1', ...args],
                      { stdio: ['ignore', 'ignore', 'pipe'],
                        env: { ...process.env, DSTAR_LOCK_FILE: path.join(lockDir, 'lock'), ...env } });
  let log = '';
  child.stderr.on('data', (d) => { log += d.toString(); });
  const exited = new Promise((resolve) => child.once('exit', (code, signal) => resolve({ code, signal })));
  const base = `http://127.0.0.1:${port}`;
  const deadline = Date.now() + 60000;
  for (;;) {
    if (child.exitCode !== null) throw new Error(`dstar-server exited early:\n${log}`);
    try {
      const r = await fetch(`${base}/health`);
      if (r.status === 200) break;
    } catch { /* not listening yet */ }
    if (Date.now() > deadline) {
      child.kill('SIGKILL');
      throw new Error(`dstar-server did not become healthy:\n${log}`);
    }
    await sleep(50);
  }
  return {
    port,
    base,
    log: () => log,
    async metrics() {
      return (await fetch(`${base}/metrics`)).text();
    },
    async stop() {
      if (child.exitCode === null) child.kill('SIGTERM');
      const r = await exited;
      fs.rmSync(lockDir, { recursive: true, force: true });
      return r;
    },
  };
}

// Value of a Prometheus sample line `name{labels} value` (labels: exact text inside {}).
export function metric(text, name, labels = null) {
  for (const line of text.split('\n')) {
    if (line.startsWith('#')) continue;
    const m = line.match(/^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{[^}]*\})?\s+(\S+)$/);
    if (!m || m[1] !== name) continue;
    if (labels !== null && (m[2] || '') !== `{${labels}}`) continue;
    return Number(m[3]);
  }
  return undefined;
}

// Deterministic settings for the random-weight model: no thinking, greedy.
export const GREEDY = { temperature: 0 };
