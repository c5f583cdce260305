// Benchmark: capnweb's WebSocket client against any TestApi server (api.mjs documents the API).
//
//   node bench.mjs <ws-url> [--seconds S] [--echo-url URL]
//
//   node bench.mjs ws://127.0.0.1:PORT/rpc                 # short mode: 1 s per measure
//   node bench.mjs ws://127.0.0.1:PORT/rpc --seconds 10    # long mode
//   node bench.mjs ws://127.0.0.1:PORT/rpc --echo-url ws://127.0.0.1:PORT/echo
//
// Measures, each for S seconds (default 1) after a short warm-up, on ONE WebSocket session:
//   sequential_calls_per_s   `await api.square(i)` one at a time
//   sequential_cpu_us_per_call  process CPU time (user + system) per sequential call
//   inflight100_calls_per_s  100 concurrent workers, each awaiting api.square(i) in a loop
//                            (so ~100 calls are always outstanding)
//   chain10_*_ms             10 dependent calls pipelined into one round trip:
//                            x = api.add(0, 1); 9x: x = api.add(x, 1); await x   (-> 10)
//   map1000_*_ms             api.bigPayload(1000).map(x => api.square(x.id))   (one round trip:
//                            a 1,000-object result that never crosses the wire, remapped on the
//                            server into 1,000 square() calls; the client receives 1,000 numbers)
//   payload1000_*_ms         await api.bigPayload(1000)   (a ~60 kB, 1,000-object result)
//   echo_roundtrips_per_s    only with --echo-url: raw WebSocket message round trips against
//                            the server's /echo path, one at a time: the floor under "sequential"
// Latency measures report median and p90 in milliseconds and their iteration count.
//
// stdout: exactly ONE JSON object. Results are checked for correctness; on a wrong answer or an
// operation stalling for 10 s, it prints {"error": ...} and exits 1.

import { WebSocket as WsWebSocket } from "ws";
import { newWebSocketRpcSession } from "capnweb";

globalThis.WebSocket ??= WsWebSocket; // Node 20 has no global WebSocket; capnweb needs it.

const OP_TIMEOUT_MS = 10_000;

function usage(msg) {
  if (msg) process.stderr.write(msg + "\n");
  process.stderr.write("usage: node bench.mjs <ws-url> [--seconds S] [--echo-url URL]\n");
  process.exit(2);
}

const argv = process.argv.slice(2);
let url = null, seconds = 1, echoUrl = null;
for (let i = 0; i < argv.length; i++) {
  const a = argv[i];
  if (a === "--seconds") seconds = Number(argv[++i]);
  else if (a.startsWith("--seconds=")) seconds = Number(a.slice(10));
  else if (a === "--echo-url") echoUrl = argv[++i];
  else if (a.startsWith("--echo-url=")) echoUrl = a.slice(11);
  else if (a === "-h" || a === "--help") usage();
  else if (url === null) url = a;
  else usage(`unexpected argument: ${a}`);
}
if (!url) usage("missing <ws-url>");
if (!(seconds > 0)) usage("bad --seconds");
const durationMs = seconds * 1000;
const warmupMs = Math.min(300, durationMs / 4);

function fail(msg) {
  // stdout to a file or pipe is synchronous on Linux, so exiting right away loses nothing.
  process.stdout.write(JSON.stringify({ error: String(msg), url }) + "\n");
  process.exit(1);
}
process.on("unhandledRejection", (e) => fail(e?.message ?? e));

function timed(promise, what) {
  let t;
  return Promise.race([
    promise,
    new Promise((_, rej) => { t = setTimeout(() => rej(new Error(`${what}: no answer in ${OP_TIMEOUT_MS} ms`)), OP_TIMEOUT_MS); }),
  ]).finally(() => clearTimeout(t));
}

const now = () => performance.now();
const round = (x, d = 3) => Math.round(x * 10 ** d) / 10 ** d;

function stats(samples) {
  const s = [...samples].sort((a, b) => a - b);
  const pick = (q) => s[Math.min(s.length - 1, Math.floor(q * s.length))];
  return { median: round(pick(0.5)), p90: round(pick(0.9)), n: s.length };
}

// Runs `op` back-to-back for warm-up then for the measuring window; returns per-op latencies.
async function latencies(name, op, minIters = 5) {
  const warmEnd = now() + warmupMs;
  while (now() < warmEnd) await timed(op(), name);
  const out = [];
  const end = now() + durationMs;
  while (now() < end || out.length < minIters) {
    const t0 = now();
    await timed(op(), name);
    out.push(now() - t0);
  }
  return stats(out);
}

// Fails the run if `counter.n` stops moving for OP_TIMEOUT_MS. One watchdog for a whole measure
// rather than a timer per call, so the timed loop does the same work as the Python client's.
function watchdog(name, counter) {
  let last = -1;
  const t = setInterval(() => {
    if (counter.n === last) fail(`${name}: no answer in ${OP_TIMEOUT_MS} ms`);
    last = counter.n;
  }, OP_TIMEOUT_MS);
  return () => clearInterval(t);
}

// Runs `workers` concurrent loops of `op` for the window; returns completed ops per second and
// the process CPU time per op (user + system, microseconds).
async function throughput(name, op, workers) {
  const loop = async (until, counter) => {
    let i = 0;
    while (now() < until) { await op(i++); counter.n++; }
  };
  const warm = { n: 0 };
  const warmEnd = now() + warmupMs;
  let stop = watchdog(name, warm);
  await Promise.all(Array.from({ length: workers }, () => loop(warmEnd, warm)));
  stop();
  const done = { n: 0 };
  stop = watchdog(name, done);
  const cpu0 = process.cpuUsage();
  const t0 = now();
  await Promise.all(Array.from({ length: workers }, () => loop(t0 + durationMs, done)));
  const elapsed = (now() - t0) / 1000;
  const cpu = process.cpuUsage(cpu0);
  stop();
  return {
    perSec: Math.round(done.n / elapsed),
    n: done.n,
    cpuUsPerOp: round((cpu.user + cpu.system) / done.n, 1),
  };
}

function openSession(u) {
  const ws = new WsWebSocket(u, { maxPayload: 32 * 1024 * 1024 });
  ws.on("error", () => {});
  return { ws, api: newWebSocketRpcSession(ws) };
}

async function echoFloor(u) {
  const ws = new WsWebSocket(u, { maxPayload: 32 * 1024 * 1024 });
  await timed(new Promise((res, rej) => { ws.once("open", res); ws.once("error", rej); }), "echo connect");
  let pending = null;
  ws.on("message", () => { const r = pending; pending = null; r?.(); });
  const rt = (msg) => new Promise((res) => { pending = res; ws.send(msg); });
  const msg = JSON.stringify(["push", ["pipeline", 0, ["square"], [7]]]);
  const r = await throughput("echo", () => rt(msg), 1);
  ws.terminate();
  return r;
}

async function main() {
  const { ws, api } = openSession(url);

  // Sanity: the server answers and implements TestApi correctly for everything we time.
  if ((await timed(api.square(12), "square")) !== 144) fail("square(12) != 144");
  {
    let x = api.add(0, 1);
    for (let i = 0; i < 9; i++) x = api.add(x, 1);
    if ((await timed(x, "chain")) !== 10) fail("10-call chain != 10");
    const m = await timed(api.bigPayload(1000).map((x) => api.square(x.id)), "map");
    if (!Array.isArray(m) || m.length !== 1000 || m[999] !== 999 * 999) fail("bigPayload(1000).map(square(id)) wrong");
    const p = await timed(api.bigPayload(1000), "bigPayload");
    if (!Array.isArray(p) || p.length !== 1000 || p[999].name !== "item999") fail("bigPayload(1000) wrong");
  }

  const result = {
    url,
    seconds_per_measure: seconds,
    node: process.version,
    capnweb: "0.12.0",
  };

  const seq = await throughput("square", (i) => api.square(i), 1);
  result.sequential_calls_per_s = seq.perSec;
  result.sequential_calls = seq.n;
  result.sequential_cpu_us_per_call = seq.cpuUsPerOp;

  const par = await throughput("square", (i) => api.square(i), 100);
  result.inflight100_calls_per_s = par.perSec;
  result.inflight100_calls = par.n;

  const chain = await latencies("chain10", () => {
    let x = api.add(0, 1);
    for (let i = 0; i < 9; i++) x = api.add(x, 1);
    return x;
  });
  result.chain10_median_ms = chain.median;
  result.chain10_p90_ms = chain.p90;
  result.chain10_iterations = chain.n;

  const map = await latencies("map1000", () => api.bigPayload(1000).map((x) => api.square(x.id)));
  result.map1000_median_ms = map.median;
  result.map1000_p90_ms = map.p90;
  result.map1000_iterations = map.n;

  const payload = await latencies("payload1000", () => api.bigPayload(1000));
  result.payload1000_median_ms = payload.median;
  result.payload1000_p90_ms = payload.p90;
  result.payload1000_iterations = payload.n;

  if (echoUrl) {
    const e = await echoFloor(echoUrl);
    result.echo_roundtrips_per_s = e.perSec;
    result.echo_roundtrips = e.n;
  }

  ws.terminate();
  process.stdout.write(JSON.stringify(result) + "\n");
  process.exit(0);
}

main().catch((e) => fail(e?.message ?? e));
