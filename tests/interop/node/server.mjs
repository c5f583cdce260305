// Node reference server for dotdo's Cap'n Web interop tests and benchmarks.
//
//   node server.mjs [--port N] [--host H] [--trace] [--no-stdin-watch]
//
// Serves TestApi (api.mjs) on ONE http server:
//   ws://H:N/rpc    WebSocket upgrade  -> capnweb newWebSocketRpcSession (ws, maxPayload 32 MiB)
//   POST http://H:N/rpc                -> capnweb nodeHttpBatchRpcResponse (HTTP batch)
//   ws://H:N/echo   WebSocket upgrade  -> echoes every message back raw (benchmark floor)
//
// Defaults: --port 0 (ephemeral), --host 127.0.0.1. When ready it prints exactly one
// stdout line `LISTENING <port>`; nothing else is ever written to stdout.
// --trace logs every RPC frame to stderr (`[ws#1 <<] ...` = received, `[ws#1 >>] ...` = sent;
// `[http#1 <<]` / `[http#1 >>]` for a batch's request / response lines).
//
// Exits on SIGTERM, SIGINT, and when stdin reaches EOF (so a harness that spawns it with a stdin
// pipe never leaves it orphaned, even if the harness is SIGKILLed). Stdin is NOT watched when
// it is /dev/null (e.g. `node server.mjs &` from a script) or with --no-stdin-watch.

import http from "node:http";
import fs from "node:fs";
import { WebSocketServer, WebSocket as WsWebSocket } from "ws";
import { newWebSocketRpcSession, nodeHttpBatchRpcResponse } from "capnweb";
import { TestApi } from "./api.mjs";

// capnweb's WebSocketTransport compares `readyState` with the global `WebSocket.CONNECTING`.
// Node 20 has no global WebSocket (Node 22+ does), so provide ws's class, which is compatible.
globalThis.WebSocket ??= WsWebSocket;

const MAX_PAYLOAD = 32 * 1024 * 1024;

function parseArgs(argv) {
  const opts = { port: 0, host: "127.0.0.1", trace: false, stdinWatch: true };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    if (a === "--port") opts.port = Number(argv[++i]);
    else if (a.startsWith("--port=")) opts.port = Number(a.slice(7));
    else if (a === "--host") opts.host = argv[++i];
    else if (a.startsWith("--host=")) opts.host = a.slice(7);
    else if (a === "--trace") opts.trace = true;
    else if (a === "--no-stdin-watch") opts.stdinWatch = false;
    else {
      process.stderr.write(`unknown argument: ${a}\n`);
      process.exit(2);
    }
  }
  if (!Number.isInteger(opts.port) || opts.port < 0 || opts.port > 65535) {
    process.stderr.write(`invalid --port\n`);
    process.exit(2);
  }
  return opts;
}

const opts = parseArgs(process.argv.slice(2));
const trace = opts.trace ? (tag, line) => process.stderr.write(`[${tag}] ${line}\n`) : null;
let connSeq = 0;

function pathOf(req) {
  try {
    return new URL(req.url, "http://x").pathname;
  } catch {
    return "";
  }
}

const httpServer = http.createServer(async (req, res) => {
  if (pathOf(req) !== "/rpc") {
    res.writeHead(404, { "content-type": "text/plain" });
    res.end("Not Found");
    return;
  }
  if (trace) {
    const tag = `http#${++connSeq}`;
    const chunks = [];
    req.on("data", (c) => chunks.push(c));
    req.on("end", () => {
      const body = Buffer.concat(chunks).toString();
      if (body) for (const l of body.split("\n")) trace(`${tag} <<`, l);
    });
    const end = res.end.bind(res);
    res.end = (body, ...rest) => {
      if (typeof body === "string" && body) for (const l of body.split("\n")) trace(`${tag} >>`, l);
      return end(body, ...rest);
    };
  }
  try {
    await nodeHttpBatchRpcResponse(req, res, new TestApi(), {
      headers: { "content-type": "text/plain; charset=utf-8" },
    });
  } catch (err) {
    if (!res.headersSent) res.writeHead(500, { "content-type": "text/plain" });
    res.end(String(err?.stack || err));
  }
});

const rpcWss = new WebSocketServer({ noServer: true, maxPayload: MAX_PAYLOAD });
const echoWss = new WebSocketServer({ noServer: true, maxPayload: MAX_PAYLOAD });

rpcWss.on("connection", (ws) => {
  if (trace) {
    const tag = `ws#${++connSeq}`;
    ws.on("message", (data, isBinary) => trace(`${tag} <<`, isBinary ? `<binary ${data.length}B>` : data.toString()));
    const send = ws.send.bind(ws);
    ws.send = (data, ...rest) => {
      trace(`${tag} >>`, typeof data === "string" ? data : `<binary ${data.byteLength}B>`);
      return send(data, ...rest);
    };
    ws.on("close", (code, reason) => trace(tag, `closed ${code} ${reason}`));
  }
  newWebSocketRpcSession(ws, new TestApi());
});

echoWss.on("connection", (ws) => {
  ws.on("message", (data, isBinary) => ws.send(data, { binary: isBinary }));
});

for (const wss of [rpcWss, echoWss]) {
  wss.on("connection", (ws) => ws.on("error", () => {}));
}

httpServer.on("upgrade", (req, socket, head) => {
  const path = pathOf(req);
  const wss = path === "/rpc" ? rpcWss : path === "/echo" ? echoWss : null;
  if (!wss) {
    socket.end("HTTP/1.1 404 Not Found\r\nConnection: close\r\nContent-Length: 0\r\n\r\n");
    return;
  }
  wss.handleUpgrade(req, socket, head, (ws) => wss.emit("connection", ws, req));
});

let shuttingDown = false;
function shutdown(code = 0) {
  if (shuttingDown) return;
  shuttingDown = true;
  for (const wss of [rpcWss, echoWss]) {
    for (const ws of wss.clients) ws.terminate();
    wss.close();
  }
  httpServer.close();
  httpServer.closeAllConnections?.();
  // Don't wait for stragglers: a test harness wants us gone now.
  setImmediate(() => process.exit(code));
}

process.on("SIGTERM", () => shutdown(0));
process.on("SIGINT", () => shutdown(0));
process.on("SIGHUP", () => shutdown(0));

function stdinIsDevNull() {
  try {
    const a = fs.fstatSync(0), b = fs.statSync("/dev/null");
    return a.dev === b.dev && a.ino === b.ino && a.rdev === b.rdev;
  } catch {
    return false;
  }
}

if (opts.stdinWatch && !stdinIsDevNull()) {
  process.stdin.on("end", () => shutdown(0));
  process.stdin.on("close", () => shutdown(0));
  process.stdin.on("error", () => shutdown(0));
  process.stdin.on("data", () => {}); // discard input, keep flowing so EOF is seen
  process.stdin.resume();
}

httpServer.on("error", (err) => {
  process.stderr.write(`server error: ${err?.stack || err}\n`);
  process.exit(1);
});

httpServer.listen(opts.port, opts.host, () => {
  process.stdout.write(`LISTENING ${httpServer.address().port}\n`);
});
