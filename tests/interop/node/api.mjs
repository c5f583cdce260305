// TestApi — the shared Cap'n Web interop test API.
//
// The Node reference server (server.mjs) serves this class as the session's main
// interface (import ID 0). The Python side of dotdo implements the SAME API, so
// that client.mjs / bench.mjs (capnweb's own client) can be pointed at either.
// Keep both implementations in sync with this table:
//
//   square(x)                 -> x * x
//   add(a, b)                 -> a + b
//   echo(value)               -> value, unchanged (round-trips every wire type:
//                                null, bool, numbers, unicode strings, nested
//                                objects/arrays, undefined, Infinity/-Infinity/NaN,
//                                Uint8Array, bigint, Date, Error)
//   makeCounter(start)        -> Counter (an RpcTarget, passed by reference)
//       Counter.increment(by = 1) -> the new value
//       Counter.value             -> getter, the current value
//   generateFibonacci(n)      -> first n Fibonacci numbers: [0, 1, 1, 2, 3, 5, ...]
//   callFunction(fn, arg)     -> { result: await fn(arg) }   (calls back into the client)
//   callTwice(fn, a, b)       -> [await fn(a), await fn(b)]
//   throwError(type, message) -> throws `new <type>(message)`, type in
//                                "Error" | "TypeError" | "RangeError" (anything else: Error)
//   getUser(id)               -> { id, name: "user" + id }
//   getProfile(userId)        -> { userId, bio: "bio of " + userId }
//                                (userId is typically a pipelined `getUser(..).id`)
//   returnCounterInObject(s)  -> { counter: Counter(s), label: "c" }  (capability nested in a result)
//   incrementCounter(c, by)   -> await c.increment(by)  (c is a capability passed by the caller:
//                                either a Counter stub the server handed out earlier, or a
//                                caller-side RpcTarget/function-bearing object)
//   nullValue()               -> null
//   undefinedValue()          -> undefined
//   bigPayload(n)             -> [{ id: i, name: "item" + i, tags: ["a", "b"], score: i * 1.5 }
//                                 for i in 0..n-1]
//   streamNumbers(n)          -> a ReadableStream of the numbers 0..n-1 (one chunk each)
//   sumStream(stream)         -> the sum of every number read from a ReadableStream
//   disposeCount()            -> how many Counter objects have had [Symbol.dispose] run, i.e.
//                                were released by every peer holding them. PROCESS-WIDE (not per
//                                session), so it is observable across HTTP batches and sessions;
//                                tests must compare before/after, never absolute values.
//
// Nothing else is exposed: capnweb only lets a peer reach methods/getters on the prototype
// of an RpcTarget subclass, never instance fields or Object.prototype members.

import { RpcTarget } from "capnweb";

let disposedCounters = 0;

export class Counter extends RpcTarget {
  #value;
  #disposed = false;

  constructor(start = 0) {
    super();
    this.#value = Number(start);
  }

  increment(by = 1) {
    this.#value += by;
    return this.#value;
  }

  get value() {
    return this.#value;
  }

  [Symbol.dispose]() {
    if (!this.#disposed) {
      this.#disposed = true;
      disposedCounters++;
    }
  }
}

const ERROR_TYPES = { Error, TypeError, RangeError };

export class TestApi extends RpcTarget {
  square(x) {
    return x * x;
  }

  add(a, b) {
    return a + b;
  }

  echo(value) {
    return value;
  }

  makeCounter(start) {
    return new Counter(start);
  }

  generateFibonacci(n) {
    const out = [];
    let a = 0, b = 1;
    for (let i = 0; i < n; i++) {
      out.push(a);
      [a, b] = [b, a + b];
    }
    return out;
  }

  async callFunction(fn, arg) {
    return { result: await fn(arg) };
  }

  async callTwice(fn, a, b) {
    return [await fn(a), await fn(b)];
  }

  throwError(type, message) {
    const Ctor = Object.hasOwn(ERROR_TYPES, type) ? ERROR_TYPES[type] : Error;
    throw new Ctor(message);
  }

  getUser(id) {
    return { id, name: "user" + id };
  }

  getProfile(userId) {
    return { userId, bio: "bio of " + userId };
  }

  returnCounterInObject(start) {
    return { counter: new Counter(start), label: "c" };
  }

  async incrementCounter(counter, by) {
    return await counter.increment(by);
  }

  nullValue() {
    return null;
  }

  undefinedValue() {
    return undefined;
  }

  bigPayload(n) {
    const out = new Array(n);
    for (let i = 0; i < n; i++) {
      out[i] = { id: i, name: "item" + i, tags: ["a", "b"], score: i * 1.5 };
    }
    return out;
  }

  streamNumbers(n) {
    let i = 0;
    return new ReadableStream({
      pull(controller) {
        if (i < n) controller.enqueue(i++);
        else controller.close();
      },
    });
  }

  async sumStream(stream) {
    let total = 0;
    for await (const chunk of stream) total += chunk;
    return total;
  }

  disposeCount() {
    return disposedCounters;
  }
}
