/**
 * The isolate-side half of the sandbox: plain JavaScript compiled inside each
 * cell's isolate before the cell's own code. It evaluates to a `setup`
 * function; the task runner calls it with the host entry points (isolated-vm
 * `Reference`s to host functions and a `Callback` for logs) and gets back the
 * `run` function. The references stay in this closure: user code sees only the
 * plain functions defined here (console.*, ctx.log, ctx.rows, the `inputs`
 * getters), never a Reference, so it cannot call the host with arguments of
 * its choosing beyond what these functions pass on. The code is strict, so
 * V8's CallSite API (`Error.prepareStackTrace`) yields no function or `this`
 * for its frames.
 *
 * Everything the host receives from here is a string — batches of rows as JSON
 * text, log lines, and a JSON result descriptor — or, once the host asked for
 * binary COPY, batches of rows as binary tuples. The runner and the host
 * re-parse and check all of it, so a cell that tampers with the builtins used
 * below only breaks its own task — as long as nothing here that runs after the
 * cell uses what the cell can replace (iterators, prototype lookups): what crosses
 * to the runner must be what the bootstrap built.
 */
import { MAX_BATCH_CHARS, MAX_BATCH_ROWS } from "./protocol";
import { CELL_FILENAME, DEFAULT_SLOT } from "./transform";

/** Largest single row (JSON characters); a batch holds at least one row. */
export const MAX_ROW_CHARS = 16 * 1024 * 1024;
/** Batch size ctx.rows() asks for unless the cell passes { batchSize }. */
export const DEFAULT_READ_BATCH = 2_000;

export const BOOTSTRAP_FILENAME = "tributary-sandbox.js";

export const BOOTSTRAP_SOURCE = String.raw`
(function setup(hostRead, hostReadSync, hostWrite, hostLog) {
  "use strict";
  const G = globalThis;
  const SLOT = ${JSON.stringify(DEFAULT_SLOT)};
  const MAX_BATCH_ROWS = ${MAX_BATCH_ROWS};
  const MAX_BATCH_CHARS = ${MAX_BATCH_CHARS};
  const MAX_ROW_CHARS = ${MAX_ROW_CHARS};
  const DEFAULT_READ_BATCH = ${DEFAULT_READ_BATCH};
  const MAX_DEPTH = 100;

  // Captured before any cell code runs.
  const call = Function.prototype.call;
  const uncurry = (fn) => call.bind(fn);
  const JSONparse = JSON.parse;
  const JSONstringify = JSON.stringify;
  const getProto = Object.getPrototypeOf;
  const ObjectKeys = Object.keys;
  const ObjectValues = Object.values;
  const defineProperty = Object.defineProperty;
  const ObjectCreate = Object.create;
  const freeze = Object.freeze;
  const isArray = Array.isArray;
  const ObjectProto = Object.prototype;
  const DateProto = Date.prototype;
  const join = uncurry(Array.prototype.join);
  const strSlice = uncurry(String.prototype.slice);
  const arraySlice = uncurry(Array.prototype.slice);
  const strSplit = uncurry(String.prototype.split);
  const regexExec = uncurry(RegExp.prototype.exec);
  const promiseThen = uncurry(Promise.prototype.then);
  const refApply = uncurry(getProto(hostRead).apply);
  const refApplySyncPromise = uncurry(getProto(hostReadSync).applySyncPromise);
  const StringCtor = String;
  const NumberIsInteger = Number.isInteger;
  const MathMin = Math.min;
  const ErrorCtor = Error;
  const ASYNC_ITER = Symbol.asyncIterator;
  const ITER = Symbol.iterator;
  const FRAME = /^\s+at /;
  const SLOT_RE = new RegExp(SLOT, "g");
  const strReplace = uncurry(String.prototype.replace);
  const CELL_POS = /${CELL_FILENAME.replace(".", "\\.")}:(\d+):(\d+)/;
  // Options for isolated-vm calls: null prototypes, so that nothing a cell adds to
  // Object.prototype (say, "reference" or "externalCopy") can change how values cross.
  // An indexed loop, not for…of: a cell can replace the array iterator, and this may run after it.
  const bare = (o) => { const b = ObjectCreate(null); const keys = ObjectKeys(o); for (let i = 0; i < keys.length; i++) b[keys[i]] = o[keys[i]]; return freeze(b); };
  const APPLY_PROMISE = bare({ arguments: bare({ copy: true }), result: bare({ promise: true, copy: true }) });
  const APPLY_SYNC = bare({ arguments: bare({ copy: true }) });

  // Not for cells: shared memory / blocking waits and WebAssembly (memory outside the JS heap).
  for (const name of ["WebAssembly", "SharedArrayBuffer", "Atomics"]) {
    try { delete G[name]; } catch (_) { /* not configurable: leave it */ }
  }
  defineProperty(G, SLOT, { value: undefined, writable: true, configurable: true, enumerable: false });

  class InvalidResult { constructor(message) { this.message = message; } }
  const noop = () => {};
  const DONE = freeze({ value: undefined, done: true });
  const PromiseResolve = Promise.resolve.bind(Promise);

  // ---- describing values (for logs and errors) -----------------------------
  function typeName(v) {
    if (v === null) return "null";
    if (v === undefined) return "undefined";
    if (isArray(v)) return "an array";
    const t = typeof v;
    if (t === "object") {
      let name = "";
      try {
        const proto = getProto(v);
        const ctor = proto && proto.constructor;
        name = ctor && typeof ctor.name === "string" ? ctor.name : "";
      } catch (_) { /* proxies and getters may throw */ }
      return name ? "an instance of " + name : "an object";
    }
    if (t === "bigint") return "a BigInt";
    if (t === "function") return "a function";
    if (t === "symbol") return "a symbol";
    return "a " + t;
  }

  function describe(v, limit) {
    try {
      const t = typeof v;
      if (t === "string") return v;
      if (t === "number" || t === "boolean" || t === "undefined" || t === "bigint") return StringCtor(v) + (t === "bigint" ? "n" : "");
      if (t === "symbol") return "Symbol()";
      if (t === "function") return "[Function" + (typeof v.name === "string" && v.name ? " " + v.name : "") + "]";
      if (v === null) return "null";
      if (v instanceof ErrorCtor) {
        const s = v.stack;
        if (typeof s === "string") return cleanStack(s);
        return StringCtor(v.name) + ": " + StringCtor(v.message);
      }
      const seen = [];
      const s = JSONstringify(v, function (_k, x) {
        if (typeof x === "bigint") return StringCtor(x) + "n";
        if (typeof x === "function") return "[Function]";
        if (typeof x === "symbol") return "Symbol()";
        if (x !== null && typeof x === "object") {
          for (let i = 0; i < seen.length; i++) if (seen[i] === x) return "[Circular]";
          if (seen.length > 1000) return "[…]";
          seen[seen.length] = x;
        }
        return x;
      });
      if (typeof s === "string") return limit && s.length > limit ? strSlice(s, 0, limit) + "…" : s;
      return "[" + typeName(v) + "]";
    } catch (_) {
      return "[value that cannot be displayed]";
    }
  }

  /** A stack trace with only the cell's own frames, the default export called "default". */
  function cleanStack(text) {
    const lines = strSplit(text, "\n");
    const kept = [];
    for (let i = 0; i < lines.length; i++) {
      const l = lines[i];
      if (i === 0 || !regexExec(FRAME, l)) kept[kept.length] = l;
      else if (regexExec(CELL_POS, l)) kept[kept.length] = strReplace(l, SLOT_RE, "default");
    }
    return join(kept, "\n");
  }

  // ---- logs -----------------------------------------------------------------
  let logOpen = true;
  function emit(level, args) {
    if (!logOpen) return;
    const parts = [];
    for (let i = 0; i < args.length; i++) parts[i] = describe(args[i], 100000);
    const line = join(parts, " ");
    // The host counts the bytes and answers false once the log is full.
    logOpen = hostLog(level, line) === true;
  }
  const consoleObject = freeze({
    log: (...a) => emit("info", a),
    info: (...a) => emit("info", a),
    debug: (...a) => emit("info", a),
    warn: (...a) => emit("warn", a),
    error: (...a) => emit("error", a),
  });
  defineProperty(G, "console", { value: consoleObject, writable: true, configurable: true, enumerable: false });

  // ---- inputs ---------------------------------------------------------------
  // A batch comes as JSON text, or as { c: [[name, kind]…], d: Uint8Array } holding binary COPY
  // tuples (big-endian fields; protocol.ts' InputKind), decoded here into the same objects
  // JSON.parse would give. The decoder calls nothing a cell can replace: the typed array's tag
  // and length through getters captured above, its bytes by index (typed arrays' indexed access
  // never reaches a prototype), text through a plain array of code units — no instanceof, no
  // species-made views — and fields whose names Object.prototype has (or __proto__) are
  // defined, not assigned, so a cell's setters or a frozen Object.prototype change nothing.
  const TypedArrayProto = getProto(Uint8Array.prototype);
  const getOwnDescriptor = Object.getOwnPropertyDescriptor;
  const typedArrayTag = uncurry(getOwnDescriptor(TypedArrayProto, Symbol.toStringTag).get);
  const typedArrayLength = uncurry(getOwnDescriptor(TypedArrayProto, "length").get);
  const fromCharCode = String.fromCharCode;
  const applyFn = uncurry(Function.prototype.apply);
  const F64 = new Float64Array(1);
  const F64_BYTES = new Uint8Array(F64.buffer);
  const LITTLE_ENDIAN = new Uint8Array(new Uint16Array([1]).buffer)[0] === 1;
  const KIND_CODES = bare({ i2: 0, i4: 1, i8: 2, f8: 3, b: 4, t: 5, j: 6 });
  /** Bytes each fixed-size kind's field has (-1: any). */
  const KIND_SIZES = [2, 4, 8, 8, 1, -1, -1];
  const TEXT_CHUNK = 4096;
  const FIELD_DESCRIPTOR = ObjectCreate(null); // no inherited get/set a cell could add
  FIELD_DESCRIPTOR.writable = true;
  FIELD_DESCRIPTOR.enumerable = true;
  FIELD_DESCRIPTOR.configurable = true;
  const units = [];

  function malformed() {
    return new ErrorCtor("internal: malformed input batch");
  }

  /** Bytes [p, end) of u as UTF-8 text (what the database sends is valid UTF-8). */
  function utf8(u, p, end) {
    let out = "";
    let n = 0;
    let i = p;
    while (i < end) {
      const b = u[i++];
      if (b < 0x80) units[n++] = b;
      else if (b < 0xe0) units[n++] = ((b & 0x1f) << 6) | (u[i++] & 0x3f);
      else if (b < 0xf0) units[n++] = ((b & 0x0f) << 12) | ((u[i++] & 0x3f) << 6) | (u[i++] & 0x3f);
      else {
        const cp = (((b & 0x07) << 18) | ((u[i++] & 0x3f) << 12) | ((u[i++] & 0x3f) << 6) | (u[i++] & 0x3f)) - 0x10000;
        units[n++] = 0xd800 + (cp >> 10);
        units[n++] = 0xdc00 + (cp & 0x3ff);
      }
      if (n >= TEXT_CHUNK) {
        units.length = n;
        out += applyFn(fromCharCode, null, units);
        n = 0;
      }
    }
    units.length = n;
    return out + applyFn(fromCharCode, null, units);
  }

  function decodeTuples(batch) {
    const cols = batch.c;
    const u = batch.d;
    if (!isArray(cols) || typedArrayTag(u) !== "Uint8Array") throw malformed();
    const n = cols.length;
    const names = [];
    const kinds = [];
    const defined = []; // define, not assign: __proto__ and the names Object.prototype has now
    for (let i = 0; i < n; i++) {
      names[i] = StringCtor(cols[i][0]);
      kinds[i] = KIND_CODES[cols[i][1]];
      if (kinds[i] === undefined) throw malformed();
      defined[i] = names[i] === "__proto__" || names[i] in ObjectProto;
    }
    const rows = [];
    let r = 0;
    let p = 0;
    const length = typedArrayLength(u);
    while (p < length) {
      if (p + 2 > length || ((u[p] << 8) | u[p + 1]) !== n) throw malformed();
      p += 2;
      const row = {};
      for (let i = 0; i < n; i++) {
        if (p + 4 > length) throw malformed();
        const size = (u[p] << 24) | (u[p + 1] << 16) | (u[p + 2] << 8) | u[p + 3];
        p += 4;
        let v = null;
        if (size >= 0) {
          const kind = kinds[i];
          if (size > length - p || (KIND_SIZES[kind] >= 0 && size !== KIND_SIZES[kind])) throw malformed();
          switch (kind) {
            case 0: v = (((u[p] << 8) | u[p + 1]) << 16) >> 16; break;
            case 1: v = (u[p] << 24) | (u[p + 1] << 16) | (u[p + 2] << 8) | u[p + 3]; break;
            case 2: {
              // hi·2^32 is exact and adding lo rounds once: the double nearest the integer, as JSON.parse gives.
              const hi = (u[p] << 24) | (u[p + 1] << 16) | (u[p + 2] << 8) | u[p + 3];
              const lo = ((u[p + 4] << 24) | (u[p + 5] << 16) | (u[p + 6] << 8) | u[p + 7]) >>> 0;
              v = hi * 4294967296 + lo;
              break;
            }
            case 3:
              if (LITTLE_ENDIAN) for (let k = 0; k < 8; k++) F64_BYTES[k] = u[p + 7 - k];
              else for (let k = 0; k < 8; k++) F64_BYTES[k] = u[p + k];
              v = F64[0];
              if (v - v !== 0) v = null; // NaN, ±Infinity: null, as in JSON
              else if (v === 0) v = 0; // -0 as JSON writes it
              break;
            case 4: v = u[p] !== 0; break;
            case 5: v = utf8(u, p, p + size); break;
            default: v = JSONparse(utf8(u, p, p + size)); break;
          }
          p += size;
        }
        if (defined[i]) {
          FIELD_DESCRIPTOR.value = v;
          defineProperty(row, names[i], FIELD_DESCRIPTOR);
        } else row[names[i]] = v;
      }
      rows[r++] = row;
    }
    FIELD_DESCRIPTOR.value = undefined;
    return rows;
  }

  function parseBatch(input) {
    if (typeof input !== "string") return decodeTuples(input);
    const batch = JSONparse(input);
    if (!isArray(batch)) throw new ErrorCtor("internal: malformed input batch");
    return batch;
  }
  function readBatch(name, cursor, size) {
    return promiseThen(refApply(hostRead, undefined, [name, cursor, size], APPLY_PROMISE), parseBatch);
  }
  function readAllSync(name) {
    const all = [];
    let n = 0;
    for (;;) {
      const batch = parseBatch(refApplySyncPromise(hostReadSync, undefined, [name, n, MAX_BATCH_ROWS], APPLY_SYNC));
      if (batch.length === 0) return all;
      for (let i = 0; i < batch.length; i++) all[n++] = batch[i];
    }
  }

  // ---- output rows ----------------------------------------------------------
  // A batch is built from parts: each part the JSON of one row or of several rows
  // (without the brackets). Rows are serialised when they are handed over, so a
  // generator may reuse or change an object after yielding it.
  let produced = 0;        // rows accepted so far = index of the next row
  let rowIndex = 0;        // row being checked (for messages)
  let batchText = "";      // the parts so far, joined by commas (a string: no array a cell's setters reach)
  let rowsInBatch = 0;
  let chars = 0;
  let previousWrite = undefined;
  let finalBatch = undefined; // the last batch, returned with the run's result
  const pathKeys = [];
  const stack = [];

  // stack[d] is the container at depth d and pathKeys[d] the position in it (an index
  // into Object.values for objects: the same order as Object.keys), so the path of a
  // bad value is only worked out when there is one.
  function pathOf(depth) {
    let p = "";
    for (let i = 0; i < depth; i++) {
      const container = stack[i];
      const at = pathKeys[i];
      if (isArray(container)) p += "[" + at + "]";
      else {
        let k = "?";
        try { k = ObjectKeys(container)[at]; } catch (_) { /* a proxy */ }
        p += (p ? "." : "") + k;
      }
    }
    return p;
  }
  function bad(depth, what, hint) {
    throw new InvalidResult("row " + rowIndex + ", field \"" + pathOf(depth) + "\" is " + what + hint);
  }
  function checkValue(v, depth) {
    const t = typeof v;
    if (t === "string" || t === "number" || t === "boolean" || t === "undefined") return;
    if (t === "bigint") bad(depth, "a BigInt", "; convert it with Number(x) or String(x)");
    if (t === "function") bad(depth, "a function", "; rows hold only data");
    if (t === "symbol") bad(depth, "a symbol", "; rows hold only data");
    if (v === null) return;
    if (depth > MAX_DEPTH) bad(depth, "nested more than " + MAX_DEPTH + " levels deep", "");
    for (let i = 0; i < depth; i++) if (stack[i] === v) bad(depth, "a circular reference", " (rows are stored as JSON)");
    if (isArray(v)) {
      stack[depth] = v;
      for (let i = 0; i < v.length; i++) { pathKeys[depth] = i; checkValue(v[i], depth + 1); }
      return;
    }
    const proto = getProto(v);
    if (proto === DateProto) return;
    if (proto !== ObjectProto && proto !== null) {
      bad(depth, typeName(v), "; values must be null, booleans, numbers, strings, Dates, arrays or plain objects");
    }
    checkFields(v, depth);
  }
  /** Object.values is the fastest walk over both JSON.parse'd and spread-built objects. Returns them. */
  function checkFields(obj, depth) {
    stack[depth] = obj;
    const values = ObjectValues(obj);
    for (let i = 0; i < values.length; i++) {
      const v = values[i];
      const t = typeof v;
      if (t === "string" || t === "number" || t === "boolean" || t === "undefined" || v === null) continue;
      pathKeys[depth] = i;
      checkValue(v, depth + 1);
    }
    return values;
  }
  function notARow(row) {
    return new InvalidResult("row " + rowIndex + " is " + typeName(row) + "; each row must be a plain object such as { id: 1, name: \"a\" }");
  }
  // checkColumns: the keys of the first batch's rows are the output table's columns; later rows
  // may not add any (the host passes their JSON to the database unparsed, which would drop them).
  // Called as a row joins a batch (so a row that starts the second batch is not counted in the first).
  let checkColumns = false;
  let firstKeys = ObjectCreate(null);
  let knownKeys = null;
  function checkKeys(row, index) {
    const keys = ObjectKeys(row);
    if (knownKeys === null) {
      for (let i = 0; i < keys.length; i++) if (row[keys[i]] !== undefined) firstKeys[keys[i]] = true;
      return;
    }
    for (let i = 0; i < keys.length; i++) {
      const k = keys[i];
      if (knownKeys[k] !== true && row[k] !== undefined) {
        throw new InvalidResult("row " + (index + 1) + " has a column '" + k + "' that the first rows did not have (columns: " +
          join(ObjectKeys(knownKeys), ", ") + "); give every row the same keys, or declare the column in config.columns");
      }
    }
  }
  function checkRow(row, index) {
    rowIndex = index;
    if (row === null || typeof row !== "object" || isArray(row)) throw notARow(row);
    const proto = getProto(row);
    if (proto !== ObjectProto && proto !== null) throw notARow(row);
    return checkFields(row, 0);
  }
  /** Adds one row; returns a promise to await (backpressure) or undefined. */
  function push(row) {
    const values = checkRow(row, produced);
    let binWait;
    if (binaryNext()) {
      if (checkColumns) checkKeys(row, produced);
      const start = binAt;
      // A row past MAX_ROW_CHARS bytes goes as JSON, whose check refuses it if its JSON is that long too.
      if (encodeRow(row, values) && binAt - start <= MAX_ROW_CHARS) {
        rowsInBatch++;
        produced++;
        return rowsInBatch >= MAX_BATCH_ROWS || binAt >= MAX_BATCH_CHARS ? flush() : undefined;
      }
      // A row the encoder does not carry: the rows before it go as they are, this one and all
      // after it as JSON, which the runner encodes (or fails with the JSON path's message).
      binAt = start;
      binOff = true;
      binWait = flush();
      binMode = false;
    }
    const s = JSONstringify(row);
    if (typeof s !== "string" || s.charCodeAt(0) !== 123 /* { */) {
      throw new InvalidResult("row " + produced + " does not serialise to a JSON object (check its toJSON method)");
    }
    if (s.length > MAX_ROW_CHARS) throw new InvalidResult("row " + produced + " is larger than " + MAX_ROW_CHARS + " characters of JSON");
    let wait;
    if (rowsInBatch > 0 && chars + s.length > MAX_BATCH_CHARS) wait = flush();
    if (checkColumns) checkKeys(row, produced);
    addPart(s);
    chars += s.length + 1;
    rowsInBatch++;
    produced++;
    if (rowsInBatch >= MAX_BATCH_ROWS) wait = flush();
    return wait ?? binWait;
  }
  /** Adds an array of rows, serialising up to a batch at a time in one JSON.stringify call. */
  async function pushArray(arr) {
    const len = arr.length;
    let i = 0;
    while (i < len) {
      if (binaryNext()) {
        const w = push(arr[i++]);
        if (w !== undefined) await w;
        continue;
      }
      const n = MathMin(len - i, MAX_BATCH_ROWS - rowsInBatch);
      for (let j = 0; j < n; j++) checkRow(arr[i + j], produced + j);
      const text = JSONstringify(arraySlice(arr, i, i + n));
      if (typeof text === "string" && chars + text.length <= MAX_BATCH_CHARS) {
        if (checkColumns) for (let j = 0; j < n; j++) checkKeys(arr[i + j], produced + j);
        addPart(strSlice(text, 1, text.length - 1));
        chars += text.length;
        rowsInBatch += n;
        produced += n;
        i += n;
        if (rowsInBatch >= MAX_BATCH_ROWS) { const w = flush(); if (w !== undefined) await w; }
      } else {
        // Large rows: one at a time, so that each batch stays under the size limit.
        for (const end = i + n; i < end; i++) { const w = push(arr[i]); if (w !== undefined) await w; }
      }
    }
  }
  /** The JSON of one or more rows (without brackets) joins the batch. */
  function addPart(part) {
    batchText = batchText === "" ? part : batchText + "," + part;
  }
  /** Whether the next row goes into a binary batch: decided as a batch starts, kept for the batch. */
  function binaryNext() {
    if (rowsInBatch === 0) binMode = binColumns !== null && !binOff;
    return binMode;
  }
  /**
   * Sends the batch; returns the write before it (at most two batches are in flight). The last
   * batch of a task (final) is not sent from here: it leaves with the run's result (finalBatch),
   * which saves a call to the runner and its answer; the runner hands it to the host unanswered,
   * and the host reports the task done only once it is loaded (or failed with the load's error).
   */
  function flush(final) {
    if (rowsInBatch === 0) return previousWrite;
    if (checkColumns && knownKeys === null) knownKeys = firstKeys;
    let payload;
    if (binMode) {
      payload = binPayload();
      binAt = 0;
    } else {
      payload = "[" + batchText + "]";
      batchText = ""; chars = 0;
    }
    rowsInBatch = 0;
    if (final === true) {
      finalBatch = payload;
      return previousWrite;
    }
    const write = refApply(hostWrite, undefined, [payload], APPLY_PROMISE);
    promiseThen(write, onWriteAck, noop);
    const wait = previousWrite;
    previousWrite = write;
    return wait;
  }

  // ---- output rows in binary COPY -------------------------------------------
  // The host's writer may answer a write with the COPY format it wants the next batches in (on
  // PGlite: binary, when every column is bigint, double precision, boolean, text or jsonb). Then
  // rows are encoded here as they are handed over, in the table's columns, into binary COPY
  // tuples — instead of JSON text the runner parses and encodes again. A row is encoded only
  // when that gives what the JSON path would store: values null, undefined, numbers, booleans or
  // strings of the column's own kind (a number in a bigint column must be a safe integer), no
  // lone surrogates, no toJSON. At the first row that is not, the batch so far is sent and every
  // later row goes as JSON (so a column that sometimes holds objects costs one short batch once).
  // The bytes themselves need not resist the cell: the runner checks every tuple (countTuples),
  // so a cell that tampers with what the encoder calls (charCodeAt, say) spoils only its own
  // rows. The array that crosses to the runner must: isolated-vm copies a view's whole buffer
  // (and a view of a shrunk resizable buffer crashes the copy), so the buffer and each batch
  // are made with the Uint8Array constructor and set() captured here — never slice, subarray
  // or anything else a cell could replace — and each batch is a fresh array of exactly its bytes.
  const BIN_TYPES = bare({ "bigint": 1, "double precision": 2, "boolean": 3, "text": 4, "jsonb": 5 });
  const NumberIsSafeInteger = Number.isSafeInteger;
  const MathFloor = Math.floor;
  let binColumns = null;   // { names, types, index } once the host asked for binary
  let binMode = false;     // the batch being built is binary
  let binOff = false;      // a row needed JSON: the rest of the task goes as JSON
  const U8 = Uint8Array;
  const typedArraySet = uncurry(TypedArrayProto.set);
  const typedArrayBuffer = uncurry(getOwnDescriptor(TypedArrayProto, "buffer").get);
  const BIN_SIZE = 1 << 16;
  /** A string longer than this goes as JSON (its UTF-8 could pass MAX_ROW_CHARS bytes). */
  const MAX_BIN_TEXT = MathFloor(MAX_ROW_CHARS / 3);
  let bin = new U8(BIN_SIZE);
  let binCap = BIN_SIZE; // bin's length, kept here: room() runs for every field
  let binAt = 0;
  const rowFields = [];

  function onWriteAck(answer) {
    if (binColumns !== null || binOff || typeof answer !== "string") return;
    const copy = JSONparse(answer);
    if (copy === null || copy.format !== "binary" || !isArray(copy.columns) || copy.columns.length === 0) return;
    const names = [];
    const types = [];
    const index = ObjectCreate(null);
    for (let i = 0; i < copy.columns.length; i++) {
      const c = copy.columns[i];
      const type = BIN_TYPES[c.type];
      if (type === undefined || typeof c.name !== "string") return;
      names[i] = c.name;
      types[i] = type;
      index[c.name] = i;
    }
    binColumns = { names, types, index };
  }
  function room(n) {
    if (binAt + n <= binCap) return;
    let size = binCap * 2;
    while (size < binAt + n) size *= 2;
    const bigger = new U8(size);
    typedArraySet(bigger, bin);
    bin = bigger;
    binCap = size;
  }
  /** The batch's bytes in an array of their own (a buffer a long row grew past twice MAX_BATCH_CHARS is let go). */
  function binPayload() {
    const payload = new U8(binAt);
    typedArraySet(payload, new U8(typedArrayBuffer(bin), 0, binAt));
    if (binCap > MAX_BATCH_CHARS * 2) {
      bin = new U8(BIN_SIZE);
      binCap = BIN_SIZE;
    }
    return payload;
  }
  function put32(at, v) {
    bin[at] = v >>> 24; bin[at + 1] = v >>> 16; bin[at + 2] = v >>> 8; bin[at + 3] = v;
  }
  /** A field of a fixed size (-1: NULL): its length and room for its bytes; returns where they go. */
  function field(length) {
    const size = length < 0 ? 0 : length;
    room(4 + size);
    put32(binAt, length);
    const at = binAt + 4;
    binAt = at + size;
    return at;
  }
  /** A text field (after prefix, if given: jsonb's version byte) in UTF-8; false on a lone surrogate. */
  function putText(s, prefix) {
    const len = s.length;
    if (len > MAX_BIN_TEXT) return false;
    room(5 + len * 3);
    const lengthAt = binAt;
    let p = binAt + 4;
    if (prefix !== 0) bin[p++] = prefix;
    for (let i = 0; i < len; i++) {
      const c = s.charCodeAt(i);
      if (c < 0x80) bin[p++] = c;
      else if (c < 0x800) { bin[p++] = 0xc0 | (c >> 6); bin[p++] = 0x80 | (c & 0x3f); }
      else if (c < 0xd800 || c > 0xdfff) { bin[p++] = 0xe0 | (c >> 12); bin[p++] = 0x80 | ((c >> 6) & 0x3f); bin[p++] = 0x80 | (c & 0x3f); }
      else {
        const d = i + 1 < len ? s.charCodeAt(i + 1) : 0;
        if (c > 0xdbff || d < 0xdc00 || d > 0xdfff) return false;
        i++;
        const cp = 0x10000 + ((c - 0xd800) << 10) + (d - 0xdc00);
        bin[p++] = 0xf0 | (cp >> 18); bin[p++] = 0x80 | ((cp >> 12) & 0x3f); bin[p++] = 0x80 | ((cp >> 6) & 0x3f); bin[p++] = 0x80 | (cp & 0x3f);
      }
    }
    put32(lengthAt, p - lengthAt - 4);
    binAt = p;
    return true;
  }
  /** The row (its own enumerable values, as checkRow read them) as one tuple; false if it is not one the encoder carries. */
  function encodeRow(row, values) {
    if (row.toJSON !== undefined) return false;
    const { names, types, index } = binColumns;
    const n = names.length;
    const keys = ObjectKeys(row);
    let fields = values;
    let same = keys.length === n && values.length === n;
    for (let i = 0; same && i < n; i++) same = keys[i] === names[i];
    if (!same) {
      fields = rowFields;
      for (let i = 0; i < n; i++) fields[i] = undefined;
      for (let j = 0; j < keys.length && j < values.length; j++) {
        const i = index[keys[j]];
        if (i !== undefined) fields[i] = values[j];
      }
    }
    room(2);
    bin[binAt++] = n >>> 8;
    bin[binAt++] = n;
    for (let i = 0; i < n; i++) {
      const v = fields[i];
      const t = typeof v;
      if (v === null || v === undefined || (t === "number" && v - v !== 0)) { field(-1); continue; }
      const type = types[i];
      if (type === 1) { // bigint
        if (t !== "number" || !NumberIsSafeInteger(v)) return false;
        const at = field(8);
        const hi = MathFloor(v / 4294967296);
        put32(at, hi);
        put32(at + 4, v - hi * 4294967296);
      } else if (type === 2) { // double precision; -0 as JSON writes it: 0
        if (t !== "number") return false;
        const at = field(8);
        F64[0] = v === 0 ? 0 : v;
        if (LITTLE_ENDIAN) for (let k = 0; k < 8; k++) bin[at + k] = F64_BYTES[7 - k];
        else for (let k = 0; k < 8; k++) bin[at + k] = F64_BYTES[k];
      } else if (type === 3) { // boolean
        if (t !== "boolean") return false;
        bin[field(1)] = v ? 1 : 0;
      } else { // text, or jsonb (version 1, then the JSON text): numbers and booleans as JSON writes them
        const jsonb = type === 5;
        if (t === "string") { if (!putText(jsonb ? JSONstringify(v) : v, jsonb ? 1 : 0)) return false; }
        else if (t === "number" || t === "boolean") putText(StringCtor(v), jsonb ? 1 : 0);
        else return false;
      }
    }
    return true;
  }

  // ---- errors ---------------------------------------------------------------
  function describeError(e) {
    try {
      return describeErrorUnsafe(e);
    } catch (_) {
      return { ok: false, kind: "user", message: "Error: the cell threw a value that cannot be described" };
    }
  }
  function describeErrorUnsafe(e) {
    if (e instanceof InvalidResult) return { ok: false, kind: "invalid_result", message: e.message };
    let name = "Error";
    let message = "";
    let stackText = "";
    try {
      if (e !== null && typeof e === "object") {
        const n = e.name, m = e.message, s = e.stack;
        name = typeof n === "string" && n ? n : "Error";
        message = typeof m === "string" ? m : describe(e, 2000);
        stackText = typeof s === "string" ? s : "";
      } else if (typeof e === "function") {
        message = "the cell threw a function instead of an Error";
      } else {
        message = "the cell threw " + describe(e, 2000) + " (not an Error)";
      }
    } catch (_) {
      message = "the cell threw a value that cannot be described";
    }
    const out = { ok: false, kind: "user", message: name + ": " + strSlice(message, 0, 10000) };
    if (name === "RangeError" && (message === "Array buffer allocation failed" || message === "Invalid string length" || message === "Invalid typed array length")) {
      out.kind = "memory";
    }
    if (stackText) {
      const lines = strSplit(stackText, "\n");
      const cellLines = [];
      for (let i = 0; i < lines.length && cellLines.length < 20; i++) {
        const l = lines[i];
        const m = regexExec(CELL_POS, l);
        if (m) {
          if (out.line === undefined) { out.line = +m[1]; out.column = +m[2]; }
          cellLines[cellLines.length] = strReplace(strSlice(l, 0, 500), SLOT_RE, "default");
        }
      }
      if (cellLines.length) out.cellStack = join(cellLines, "\n");
    }
    return out;
  }

  // ---- run ------------------------------------------------------------------
  async function drain(result) {
    if (isArray(result)) return pushArray(result);
    if (result !== null && result !== undefined && typeof result !== "string") {
      // Iterables may yield rows, or arrays of rows (a batch at a time: much faster).
      if (typeof result[ASYNC_ITER] === "function") {
        for await (const item of result) {
          if (isArray(item)) await pushArray(item);
          else { const w = push(item); if (w !== undefined) await w; }
        }
        return;
      }
      if (typeof result[ITER] === "function") {
        for (const item of result) {
          if (isArray(item)) await pushArray(item);
          else { const w = push(item); if (w !== undefined) await w; }
        }
        return;
      }
    }
    throw new InvalidResult("the cell returned " + typeName(result) + "; return an array of row objects ([] for none), or an iterable / async iterable of rows (e.g. from a generator)");
  }

  return async function run(configText) {
    let result;
    try {
      const config = JSONparse(configText);
      checkColumns = config.checkColumns === true;
      const names = config.inputNames;
      const nameSet = ObjectCreate(null);
      for (let i = 0; i < names.length; i++) nameSet[names[i]] = true;
      const checkName = (name) => {
        if (typeof name !== "string" || nameSet[name] !== true) {
          throw new ErrorCtor("unknown input " + JSONstringify(StringCtor(name)) + "; this cell can read: " + (names.length ? join(names, ", ") : "(no inputs)"));
        }
        return name;
      };
      const batchSizeOf = (opts) => {
        const b = opts && opts.batchSize;
        return NumberIsInteger(b) && b > 0 ? MathMin(b, MAX_BATCH_ROWS) : DEFAULT_READ_BATCH;
      };
      async function* batches(name, opts) {
        checkName(name);
        const size = batchSizeOf(opts);
        let cursor = 0;
        let next = readBatch(name, 0, size);
        for (;;) {
          const batch = await next;
          if (batch.length === 0) return;
          cursor += batch.length;
          next = readBatch(name, cursor, size);
          promiseThen(next, undefined, noop);
          yield batch;
        }
      }
      // A hand-written async iterator: one resolved promise per row instead of a generator chain.
      function rows(name, opts) {
        const source = batches(name, opts);
        let buffer = [];
        let index = 0;
        let finished = false;
        const refill = (step) => {
          if (step.done) { finished = true; return DONE; }
          buffer = step.value;
          index = 1;
          return { value: buffer[0], done: false };
        };
        const iterator = {
          next() {
            if (index < buffer.length) return PromiseResolve({ value: buffer[index++], done: false });
            if (finished) return PromiseResolve(DONE);
            return promiseThen(source.next(), refill);
          },
          return() {
            finished = true;
            buffer = [];
            return promiseThen(source.return(undefined), () => DONE);
          },
        };
        iterator[ASYNC_ITER] = function () { return this; };
        return iterator;
      }
      const inputs = {};
      const cache = ObjectCreate(null);
      for (let i = 0; i < names.length; i++) {
        const name = names[i];
        defineProperty(inputs, name, {
          enumerable: true,
          configurable: false,
          get() {
            if (cache[name] === undefined) cache[name] = readAllSync(name);
            return cache[name];
          },
        });
      }
      const ctx = {
        params: config.params,
        logicalDate: config.logicalDate,
        runId: config.runId,
        item: config.item,
        log: (...a) => emit("info", a),
        rows: (name, opts) => { checkName(name); return rows(name, opts); },
        batches: (name, opts) => { checkName(name); return batches(name, opts); },
      };
      const fn = G[SLOT];
      if (typeof fn !== "function") {
        throw new InvalidResult("the cell's export default is " + typeName(fn) + ", not a function: write export default (inputs, ctx) => [...]");
      }
      result = fn(inputs, ctx);
      if (result !== null && (typeof result === "object" || typeof result === "function") && typeof result.then === "function") {
        result = await result;
      }
      await drain(result);
      flush(true); // the last batch stays here (finalBatch); the write before it is previousWrite
      if (previousWrite !== undefined) await previousWrite;
      const outcome = JSONstringify({ ok: true, rows: produced });
      if (finalBatch === undefined) return outcome;
      // The run's promise resolves with this object: a 'then' on it would hand the resolution to
      // the cell. Null prototype (nothing from Object.prototype), its two properties set one by
      // one (no iteration a cell could have replaced), frozen.
      const answer = ObjectCreate(null);
      answer.outcome = outcome;
      answer.batch = finalBatch;
      return freeze(answer);
    } catch (e) {
      return JSONstringify(describeError(e));
    }
  };
})
`;
