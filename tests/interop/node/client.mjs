// Interop scenario suite: capnweb's own CLIENT against any server implementing TestApi
// (api.mjs documents the API).
//
//   node client.mjs <url> <websocket|http-batch> [--timeout SECONDS] [--only SUBSTR[,SUBSTR...]]
//
//   node client.mjs ws://127.0.0.1:PORT/rpc websocket
//   node client.mjs http://127.0.0.1:PORT/rpc http-batch
//
// stdout: one JSON line per case  {"case": "...", "ok": true|false, "detail": ...}
//         then one summary line     {"summary": true, "transport": ..., "passed": n, "failed": n,
//                                    "skipped": [...], "failures": [...], "ms": ...}
// Exit code 0 only if every case that ran passed. Each case has a 5 s limit and the whole run
// has a --timeout limit (default 30 s); on overall timeout the summary has "timedOut": true and
// the exit code is 1.
//
// websocket: ONE session is shared by all cases (like a real app), so the server must keep
//   imports/exports straight across many calls.
// http-batch: every case group opens a fresh batch session; everything a group needs is issued
//   in the same tick and awaited together, so it travels in ONE POST. Cases that need the server
//   to call back into the client (callbacks, client-side RpcTarget) are skipped: in a batch the
//   client cannot answer until the response arrives (capnweb's own Node server deadlocks too).

import { WebSocket as WsWebSocket } from "ws";
import { newWebSocketRpcSession, newHttpBatchRpcSession, RpcTarget } from "capnweb";

// Node 20 has no global WebSocket; capnweb's transport needs `WebSocket.CONNECTING`.
globalThis.WebSocket ??= WsWebSocket;

const CASE_TIMEOUT_MS = 5000;

function usage(msg) {
  if (msg) process.stderr.write(msg + "\n");
  process.stderr.write("usage: node client.mjs <url> <websocket|http-batch> [--timeout S] [--only a,b]\n");
  process.exit(2);
}

const argv = process.argv.slice(2);
const positional = [];
let overallTimeoutS = 30;
let only = null;
for (let i = 0; i < argv.length; i++) {
  const a = argv[i];
  if (a === "--timeout") overallTimeoutS = Number(argv[++i]);
  else if (a.startsWith("--timeout=")) overallTimeoutS = Number(a.slice(10));
  else if (a === "--only") only = argv[++i].split(",");
  else if (a.startsWith("--only=")) only = a.slice(7).split(",");
  else if (a === "-h" || a === "--help") usage();
  else positional.push(a);
}
if (positional.length !== 2) usage("expected <url> and <transport>");
const [url, transport] = positional;
if (transport !== "websocket" && transport !== "http-batch") usage(`unknown transport: ${transport}`);
if (!(overallTimeoutS > 0)) usage("bad --timeout");
const isWs = transport === "websocket";

// ---------------------------------------------------------------------------------------------
// Helpers

// Count HTTP batch requests, so pipelining cases can assert "one round trip".
let httpRequests = 0;
const realFetch = globalThis.fetch;
globalThis.fetch = (...args) => {
  httpRequests++;
  return realFetch(...args);
};

let wsSession = null;
let wsSocket = null;
function session() {
  if (!isWs) return newHttpBatchRpcSession(url);
  if (!wsSession) {
    wsSocket = new WsWebSocket(url, { maxPayload: 32 * 1024 * 1024 });
    wsSocket.on("error", () => {}); // surfaced to capnweb via its own 'error' listener
    wsSession = newWebSocketRpcSession(wsSocket);
  }
  return wsSession;
}

// Compact one-line rendering of a value for "detail" (JSON cannot show NaN, undefined, bigint...).
function describe(v, depth = 0) {
  const s = render(v, depth);
  return s.length > 300 ? s.slice(0, 297) + "..." : s;
}
function render(v, depth) {
  if (depth > 6) return "...";
  if (v === undefined) return "undefined";
  if (v === null || typeof v === "boolean") return String(v);
  if (typeof v === "number") return Object.is(v, -0) ? "-0" : String(v);
  if (typeof v === "bigint") return `${v}n`;
  if (typeof v === "string") return JSON.stringify(v);
  if (typeof v === "function") return isStub(v) ? "<stub>" : "<function>";
  if (v instanceof Error) return `${v.name}(${JSON.stringify(v.message)})`;
  if (v instanceof Date) return `Date(${Number.isNaN(v.getTime()) ? "NaN" : v.toISOString()})`;
  if (v instanceof Uint8Array) return `bytes[${Buffer.from(v.buffer, v.byteOffset, v.byteLength).toString("hex")}]`;
  if (Array.isArray(v)) {
    const items = v.slice(0, 12).map((x) => render(x, depth + 1));
    if (v.length > 12) items.push(`... ${v.length - 12} more`);
    return `[${items.join(", ")}]`;
  }
  if (typeof v === "object") {
    const keys = Object.keys(v);
    const items = keys.slice(0, 12).map((k) => `${/^[A-Za-z_$][\w$]*$/.test(k) ? k : JSON.stringify(k)}: ${render(v[k], depth + 1)}`);
    if (keys.length > 12) items.push(`... ${keys.length - 12} more`);
    const proto = Object.getPrototypeOf(v);
    const name = proto && proto !== Object.prototype ? (proto.constructor?.name ?? "") + " " : "";
    return `${name}{${items.join(", ")}}`;
  }
  return String(v);
}

function isStub(v) {
  return typeof v === "function" && v.raw !== undefined;
}

// Deep equality with the semantics the wire format promises: NaN equals NaN, -0 is not
// distinguished (JSON cannot carry it), bytes compare by content (Node decodes bytes as a
// Buffer, a Uint8Array subclass), Errors compare by name + message, and an own property whose
// value is undefined must survive as an own property.
function deepEqual(a, b, path = "$") {
  const fail = (why) => `${path}: ${why} (expected ${describe(a)}, got ${describe(b)})`;
  if (typeof a !== typeof b) return fail("type differs");
  if (typeof a === "number") return (a === b || (Number.isNaN(a) && Number.isNaN(b))) ? null : fail("number differs");
  if (a === null || b === null || typeof a !== "object") return a === b ? null : fail("value differs");
  if (a instanceof Uint8Array) {
    if (!(b instanceof Uint8Array)) return fail("not a Uint8Array");
    if (a.length !== b.length) return fail("byte length differs");
    for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return fail(`byte ${i} differs`);
    return null;
  }
  if (a instanceof Date) {
    if (!(b instanceof Date)) return fail("not a Date");
    return a.getTime() === b.getTime() || (Number.isNaN(a.getTime()) && Number.isNaN(b.getTime())) ? null : fail("time differs");
  }
  if (a instanceof Error) {
    if (!(b instanceof Error)) return fail("not an Error");
    if (a.name !== b.name) return fail("error name differs");
    if (a.message !== b.message) return fail("error message differs");
    if (Object.getPrototypeOf(a) !== Object.getPrototypeOf(b)) return fail("error class differs");
    return null;
  }
  if (Array.isArray(a)) {
    if (!Array.isArray(b)) return fail("not an array");
    if (a.length !== b.length) return fail("length differs");
    for (let i = 0; i < a.length; i++) {
      const r = deepEqual(a[i], b[i], `${path}[${i}]`);
      if (r) return r;
    }
    return null;
  }
  if (Array.isArray(b) || Object.getPrototypeOf(b) !== Object.prototype) return fail("not a plain object");
  const ka = Object.keys(a).sort(), kb = Object.keys(b).sort();
  if (ka.join("\u0000") !== kb.join("\u0000")) return fail(`keys differ: ${describe(ka)} vs ${describe(kb)}`);
  for (const k of ka) {
    const r = deepEqual(a[k], b[k], `${path}.${k}`);
    if (r) return r;
  }
  return null;
}

function check(expected, got) {
  const diff = deepEqual(expected, got);
  if (diff) throw new Error(diff);
  return describe(got);
}

function assert(cond, msg) {
  if (!cond) throw new Error(msg);
}

function withTimeout(promise, ms, what) {
  let t;
  return Promise.race([
    promise,
    new Promise((_, rej) => { t = setTimeout(() => rej(new Error(`${what} timed out after ${ms} ms`)), ms); }),
  ]).finally(() => clearTimeout(t));
}

async function expectReject(promise) {
  try {
    const v = await promise;
    throw new Error(`expected rejection, got ${describe(v)}`);
  } catch (e) {
    if (e?.message?.startsWith("expected rejection")) throw e;
    return e;
  }
}

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

async function pollDisposeCount(atLeast, ms = 3000) {
  const deadline = Date.now() + ms;
  let n;
  for (;;) {
    n = await session().disposeCount();
    if (n >= atLeast) return n;
    if (Date.now() > deadline) throw new Error(`disposeCount stayed at ${n}, expected >= ${atLeast}`);
    await sleep(50);
  }
}

// ---------------------------------------------------------------------------------------------
// Cases. Each: [name, fn, {wsOnly}]. fn returns a detail value (JSON-able string) or throws.

const cases = [];
const add = (name, fn, opts = {}) => cases.push({ name, fn, ...opts });

// -- basic calls
add("call:square", async () => check(49, await session().square(7)));
add("call:add", async () => check(5, await session().add(2, 3)));
add("call:add-strings", async () => check("ab", await session().add("a", "b")));
add("call:nullValue", async () => check(null, await session().nullValue()));
add("call:undefinedValue", async () => check(undefined, await session().undefinedValue()));
add("call:getUser", async () => check({ id: 7, name: "user7" }, await session().getUser(7)));
add("call:generateFibonacci", async () =>
  check([0, 1, 1, 2, 3, 5, 8, 13, 21, 34], await session().generateFibonacci(10)));
add("call:bigPayload", async () => {
  const r = await session().bigPayload(1000);
  assert(Array.isArray(r) && r.length === 1000, `expected 1000 items, got ${describe(r)}`);
  check({ id: 999, name: "item999", tags: ["a", "b"], score: 1498.5 }, r[999]);
  return check({ id: 0, name: "item0", tags: ["a", "b"], score: 0 }, r[0]) + " ... x1000";
});
add("call:parallel-100", async () => {
  const api = session();
  const got = await Promise.all(Array.from({ length: 100 }, (_, i) => api.square(i)));
  check(Array.from({ length: 100 }, (_, i) => i * i), got);
  return "100 concurrent squares ok";
});

// -- echo: every value type must round-trip unchanged
const echoValues = [
  ["null", null],
  ["true", true],
  ["false", false],
  ["zero", 0],
  ["int", 42],
  ["negative", -17],
  ["float", 3.141592653589793],
  ["max-safe-int", Number.MAX_SAFE_INTEGER],
  ["tiny-float", 5e-324],
  ["huge-float", 1.7976931348623157e308],
  ["empty-string", ""],
  ["string", "hello"],
  ["unicode", "héllo wörld — 日本語 🎉 \u{1F600}"],
  ["control-chars", "tab\tnl\ncr\rquote\"bs\\nul\u0000bell\u0007"],
  ["empty-array", []],
  ["empty-object", {}],
  ["array", [1, "two", null, true, 2.5]],
  ["nested", { a: { b: { c: [1, [2, [3, { d: "deep" }]]] } }, list: [{ x: 1 }, { y: [[]] }] }],
  ["array-looking-like-tag", ["date", 5]],
  ["array-of-arrays", [["undefined"], ["inf"], ["bytes", "AA"]]],
  ["object-with-tag-like-keys", { push: 1, pull: 2, resolve: 3, "": 4 }],
  ["undefined", undefined],
  ["object-with-undefined", { a: undefined, b: 1 }],
  ["array-with-undefined", [undefined, 1, undefined]],
  ["Infinity", Infinity],
  ["-Infinity", -Infinity],
  ["NaN", NaN],
  ["Uint8Array", new Uint8Array([0, 1, 2, 127, 128, 254, 255])],
  ["Uint8Array-empty", new Uint8Array([])],
  ["Uint8Array-3n+1", new Uint8Array([1, 2, 3, 4])],
  ["bigint", 12345678901234567890123n],
  ["bigint-negative", -42n],
  ["bigint-zero", 0n],
  ["Date", new Date(1749342170815)],
  ["Date-epoch", new Date(0)],
  ["Error", new Error("plain error")],
  ["TypeError", new TypeError("type error")],
  ["RangeError", new RangeError("range error")],
  ["mixed", {
    n: null, u: undefined, inf: Infinity, ninf: -Infinity, nan: NaN, big: 9007199254740993n,
    d: new Date(1), bytes: new Uint8Array([9, 8, 7]), err: new RangeError("inner"),
    arr: [undefined, NaN, [new Date(2)]], s: "ü",
  }],
];
for (const [name, value] of echoValues) {
  add(`echo:${name}`, async () => check(value, await session().echo(value)));
}

// -- capabilities returned by the server
add("counter:makeCounter", async () => {
  const c = session().makeCounter(10);
  const [a, b, v] = await Promise.all([c.increment(), c.increment(5), c.value]);
  check([11, 16, 16], [a, b, v]);
  c[Symbol.dispose]();
  return "increment() -> 11, increment(5) -> 16, value -> 16";
});
add("counter:awaited-stub", async () => {
  const c = await session().makeCounter(100);
  assert(isStub(c), `expected a stub, got ${describe(c)}`);
  try {
    check(101, await c.increment());
    check(103, await c.increment(2));
    return check(103, await c.value);
  } finally {
    c[Symbol.dispose]();
  }
}, { wsOnly: true });
add("counter:nested-in-object", async () => {
  const r = session().returnCounterInObject(3);
  const [inc, label] = await Promise.all([r.counter.increment(1), r.label]);
  r[Symbol.dispose]();
  return check([4, "c"], [inc, label]);
});
add("counter:nested-in-object-awaited", async () => {
  const r = await session().returnCounterInObject(20);
  try {
    assert(r.label === "c", `label: ${describe(r.label)}`);
    assert(isStub(r.counter), `counter is not a stub: ${describe(r.counter)}`);
    return check(25, await r.counter.increment(5));
  } finally {
    r[Symbol.dispose]();
  }
}, { wsOnly: true });

// -- pipelining
add("pipeline:counter-increment", async () => {
  const c = session().makeCounter(1);
  const v = await c.increment(2);
  c[Symbol.dispose]();
  return check(3, v);
});
add("pipeline:property-into-call", async () => {
  const api = session();
  const user = api.getUser(5);
  const profile = api.getProfile(user.id);
  return check({ userId: 5, bio: "bio of 5" }, await profile);
});
add("pipeline:chain-10", async () => {
  const api = session();
  const before = httpRequests;
  let x = api.add(0, 1);
  for (let i = 0; i < 9; i++) x = api.add(x, 1);
  const v = await x;
  check(10, v);
  if (!isWs) assert(httpRequests - before === 1, `expected 1 HTTP request, saw ${httpRequests - before}`);
  return isWs ? "10 dependent adds -> 10" : "10 dependent adds -> 10 in 1 HTTP request";
});
add("pipeline:capability-passing", async () => {
  // A server-side Counter, never awaited, passed back to the server as an argument.
  // (No c.value in the same batch: incrementCounter is async on the server, so a directly
  // delivered c.value may legitimately run before the increment.)
  const api = session();
  const c = api.makeCounter(5);
  const r = api.incrementCounter(c, 3);
  try {
    check(8, await r);
    if (isWs) check(8, await c.value);
    return "incrementCounter(<pipelined counter 5>, 3) -> 8";
  } finally {
    c[Symbol.dispose]();
  }
});

// -- .map()
add("map:fibonacci-square", async () => {
  const api = session();
  return check([0, 1, 1, 4, 9, 25], await api.generateFibonacci(6).map((x) => api.square(x)));
});
add("map:object-result", async () => {
  const api = session();
  const got = await api.generateFibonacci(5).map((x) => ({ x, sq: api.square(x) }));
  return check([0, 1, 1, 2, 3].map((x) => ({ x, sq: x * x })), got);
});
add("map:property", async () => {
  const api = session();
  return check(["item0", "item1", "item2"], await api.bigPayload(3).map((x) => x.name));
});
add("map:empty", async () => {
  const api = session();
  return check([], await api.generateFibonacci(0).map((x) => api.square(x)));
});

// -- streams: a ReadableStream each way (pipe + stream messages); websocket only
add("stream:from-server", async () => {
  const stream = await session().streamNumbers(100);
  const got = [];
  for await (const chunk of stream) got.push(chunk);
  check(Array.from({ length: 100 }, (_, i) => i), got);
  return "100 chunks";
}, { wsOnly: true });
add("stream:to-server", async () => {
  let i = 0;
  const stream = new ReadableStream({
    pull(controller) { if (i < 50) controller.enqueue(i++); else controller.close(); },
  });
  return check(1225, await session().sumStream(stream));
}, { wsOnly: true });

// -- callbacks (server -> client); websocket only
add("callback:callFunction", async () =>
  check({ result: 40 }, await session().callFunction((x) => x * 10, 4)), { wsOnly: true });
add("callback:callFunction-async", async () =>
  check({ result: "hi!" }, await session().callFunction(async (s) => { await sleep(5); return s + "!"; }, "hi")),
  { wsOnly: true });
add("callback:callTwice", async () => {
  const seen = [];
  const got = await session().callTwice((x) => { seen.push(x); return x + 1; }, 2, 3);
  check([2, 3], seen);
  return check([3, 4], got);
}, { wsOnly: true });
add("callback:throws", async () => {
  const e = await expectReject(session().callFunction(() => { throw new RangeError("from client"); }, 0));
  assert(e instanceof RangeError && e.message === "from client", `got ${describe(e)}`);
  return `${e.name}: ${e.message}`;
}, { wsOnly: true });

// -- capability passing (client -> server)
class LocalCounter extends RpcTarget {
  constructor(v) { super(); this.v = v; }
  increment(by = 1) { this.v += by; return this.v; }
}
add("capability:client-target", async () => {
  const lc = new LocalCounter(100);
  const r = await session().incrementCounter(lc, 7);
  check(107, lc.v);
  return check(107, r);
}, { wsOnly: true });
add("capability:server-stub-roundtrip", async () => {
  const api = session();
  const c = await api.makeCounter(50);
  try {
    check(51, await api.incrementCounter(c, 1));
    return check(51, await c.value);
  } finally {
    c[Symbol.dispose]();
  }
}, { wsOnly: true });

// -- errors
for (const type of ["Error", "TypeError", "RangeError"]) {
  add(`error:${type}`, async () => {
    const e = await expectReject(session().throwError(type, `boom ${type} ü`));
    assert(e instanceof Error, `not an Error: ${describe(e)}`);
    assert(e.name === type, `name ${describe(e.name)} != ${type}`);
    assert(e.constructor.name === type, `class ${e.constructor.name} != ${type}`);
    assert(e.message === `boom ${type} ü`, `message ${describe(e.message)}`);
    return `${e.name}: ${e.message}`;
  });
}
add("error:unknown-method", async () => {
  // Only the rejection and the method name in the message are required; capnweb itself says
  // TypeError("'noSuchMethod' is not a function.").
  const e = await expectReject(session().noSuchMethod(1));
  assert(e instanceof Error, `not an Error: ${describe(e)}`);
  assert(String(e.message).includes("noSuchMethod"), `message should name the method: ${describe(e)}`);
  return `${e.name}: ${e.message}`;
});
add("error:pipelined-on-rejected", async () => {
  // A call pipelined on a rejected promise must reject too (with the original error).
  const api = session();
  const bad = api.throwError("TypeError", "first");
  const e = await expectReject(bad.foo());
  assert(e instanceof TypeError && e.message === "first", `expected TypeError("first"), got ${describe(e)}`);
  return `${e.name}: ${e.message}`;
});
add("error:session-still-usable", async () => check(9, await session().square(3)));

// -- disposal
if (isWs) {
  add("dispose:released-counters", async () => {
    const api = session();
    const before = await api.disposeCount();
    const c1 = await api.makeCounter(1);
    const c2 = await api.makeCounter(2);
    const obj = await api.returnCounterInObject(3);
    check(2, await c1.increment());
    c1[Symbol.dispose]();
    c2[Symbol.dispose]();
    obj[Symbol.dispose]();
    const after = await pollDisposeCount(before + 3);
    return `disposeCount ${before} -> ${after}`;
  });
} else {
  add("dispose:released-in-batch", async () => {
    const before = await session().disposeCount();
    const api = session();
    const c = api.makeCounter(1);
    const v = c.increment(1);
    c[Symbol.dispose](); // release travels in the same batch, after the pipelined call
    check(2, await v);
    const after = await pollDisposeCount(before + 1);
    return `disposeCount ${before} -> ${after}`;
  });
}

// ---------------------------------------------------------------------------------------------
// Runner

const results = [];
const skipped = [];
const started = Date.now();
let finished = false;
let current = null;

function emit(obj) {
  process.stdout.write(JSON.stringify(obj) + "\n");
}

function finish(timedOut = false) {
  if (finished) return;
  finished = true;
  const failures = results.filter((r) => !r.ok).map((r) => r.case);
  const passed = results.length - failures.length;
  emit({
    summary: true, transport, url, passed, failed: failures.length, skipped, failures,
    ms: Date.now() - started, ...(timedOut ? { timedOut: true } : {}),
  });
  const code = failures.length === 0 && !timedOut && results.length > 0 ? 0 : 1;
  const exit = () => process.exit(code);
  // Close the WebSocket politely (1000) so the server sees a clean end of session, but never
  // wait on an unresponsive peer for more than 300 ms.
  if (wsSocket && wsSocket.readyState === WsWebSocket.OPEN && !timedOut) {
    wsSocket.once("close", exit);
    wsSocket.close(1000, "done");
    setTimeout(exit, 300);
  } else {
    try { wsSocket?.terminate(); } catch {}
    exit();
  }
}

const overall = setTimeout(() => {
  emit({ case: "overall-timeout", ok: false, detail: `suite exceeded ${overallTimeoutS} s while running ${current}` });
  results.push({ case: "overall-timeout", ok: false });
  finish(true);
}, overallTimeoutS * 1000);

process.on("unhandledRejection", () => {}); // stray rejections from abandoned calls are not failures

for (const c of cases) {
  if (finished) break;
  if (only && !only.some((s) => c.name.includes(s))) continue;
  if (c.wsOnly && !isWs) {
    skipped.push(c.name);
    continue;
  }
  let rec;
  current = c.name;
  try {
    const detail = await withTimeout(Promise.resolve().then(c.fn), CASE_TIMEOUT_MS, c.name);
    rec = { case: c.name, ok: true, detail: detail ?? null };
  } catch (e) {
    rec = { case: c.name, ok: false, detail: e instanceof Error ? `${e.name}: ${e.message}` : describe(e) };
  }
  if (finished) break;
  results.push(rec);
  emit(rec);
}
clearTimeout(overall);
finish(false);
