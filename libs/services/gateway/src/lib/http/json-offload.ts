import {
  Inject,
  Injectable,
  Logger,
  OnModuleDestroy,
  Optional,
} from '@nestjs/common';
import { Worker } from 'node:worker_threads';

import { PortfolioError } from '@portfolio/contracts';
import { float16BitsToFloat32, PackedNumbers, Tensor } from '@portfolio/tensor';

import { GATEWAY_SETTINGS, GatewaySettings } from '../gateway.settings';

/**
 * Request bodies at least this large are parsed on the offload thread (a JSON.parse
 * takes about 15 ms a MB on this kind of machine, and everything else waits for it).
 */
const OFFLOAD_BODY_BYTES = 1024 * 1024;
/** Responses holding at least this many numbers are serialized there. */
const OFFLOAD_ELEMENTS = 128 * 1024;
/** Smaller arrays are left as they are: packing them saves the main thread nothing. */
const PACK_MIN_ELEMENTS = 1024;
/** As tensorFromJson's MAX_RANK: deeper arrays are left for it to refuse. */
const PACK_MAX_RANK = 64;

/** A numeric array at `path` of a JSON value, flattened row-major. */
export interface Pack {
  readonly path: readonly (string | number)[];
  readonly shape: readonly number[];
  readonly data: ArrayBufferView;
}

/**
 * The offload thread. A plain script (no imports, so no build step and no module
 * loader in the thread): `parse` JSON.parses a body, refuses prototype poisoning as
 * Fastify's own JSON parser does (secure-json-parse: a `__proto__` key, or a
 * `constructor` key holding a `prototype`), and takes every rectangular array of
 * numbers large enough out of the value as one Float64Array (transferred back, not
 * copied); `stringify` puts arrays back as nested (or flat, for rank 1) arrays and
 * JSON.stringifies the value into bytes (transferred back).
 */
const WORKER_SOURCE = `
const { parentPort } = require('node:worker_threads');
const PACK_MIN = ${PACK_MIN_ELEMENTS};
const MAX_RANK = ${PACK_MAX_RANK};
const PACKED = Symbol('packed');

function poisoned() {
  return new SyntaxError('Object contains forbidden prototype property');
}

function flatten(node) {
  const shape = [];
  let count = 1;
  for (let v = node; Array.isArray(v); v = v[0]) {
    if (v.length === 0 || shape.length === MAX_RANK) return null;
    shape.push(v.length);
    count *= v.length;
  }
  if (count < PACK_MIN) return null;
  const data = new Float64Array(count);
  let at = 0;
  const rank = shape.length;
  const walk = (rows, depth) => {
    if (!Array.isArray(rows) || rows.length !== shape[depth]) return false;
    if (depth === rank - 1) {
      for (let i = 0; i < rows.length; i++) {
        const v = rows[i];
        if (typeof v !== 'number') return false;
        data[at++] = v;
      }
      return true;
    }
    for (let i = 0; i < rows.length; i++)
      if (!walk(rows[i], depth + 1)) return false;
    return true;
  };
  return walk(node, 0) ? { shape, data } : null;
}

// An array inside an array that could not be packed is never packed itself: the
// conversion must see the outer array as it was to say what is wrong with it.
function pack(node, path, packs, mayPack, poison) {
  if (Array.isArray(node)) {
    const flat = mayPack ? flatten(node) : null;
    if (flat) {
      packs.push({ path: path.slice(), shape: flat.shape, data: flat.data });
      return PACKED;
    }
    for (let i = 0; i < node.length; i++) {
      const v = node[i];
      if (v === null || typeof v !== 'object') continue;
      path.push(i);
      if (pack(v, path, packs, !Array.isArray(v), poison) === PACKED)
        node[i] = null;
      path.pop();
    }
  } else if (node !== null && typeof node === 'object') {
    for (const key of Object.keys(node)) {
      const v = node[key];
      if (poison && key === '__proto__') throw poisoned();
      if (
        poison &&
        key === 'constructor' &&
        v !== null &&
        typeof v === 'object' &&
        Object.prototype.hasOwnProperty.call(v, 'prototype')
      )
        throw poisoned();
      if (v === null || typeof v !== 'object') continue;
      path.push(key);
      if (pack(v, path, packs, true, poison) === PACKED) node[key] = null;
      path.pop();
    }
  }
  return node;
}

function nest(data, shape, depth, offset, stride) {
  if (depth === shape.length - 1)
    return Array.from(data.subarray(offset, offset + shape[depth]));
  const inner = stride / shape[depth];
  const out = new Array(shape[depth]);
  for (let i = 0; i < shape[depth]; i++)
    out[i] = nest(data, shape, depth + 1, offset + i * inner, inner);
  return out;
}

function put(root, path, value) {
  let node = root;
  for (let i = 0; i < path.length - 1; i++) node = node[path[i]];
  node[path[path.length - 1]] = value;
}

parentPort.on('message', (m) => {
  try {
    if (m.op === 'parse') {
      let text;
      let value;
      try {
        text = new TextDecoder('utf-8', { fatal: m.strict }).decode(m.bytes);
        if (text.charCodeAt(0) === 0xfeff) text = text.slice(1);
        value = JSON.parse(text);
      } catch (e) {
        // Bytes that are not UTF-8 (strict) are as malformed as bad JSON.
        throw new SyntaxError(e instanceof Error ? e.message : String(e));
      }
      const packs = [];
      value = pack(value, [], packs, true, m.poison);
      if (value === PACKED) value = null;
      parentPort.postMessage(
        { id: m.id, ok: true, value, packs },
        packs.map((p) => p.data.buffer),
      );
    } else {
      for (const p of m.packs) {
        const count = p.shape.reduce((n, d) => n * d, 1);
        put(m.value, p.path, nest(p.data, p.shape, 0, 0, count));
      }
      const bytes = new TextEncoder().encode(JSON.stringify(m.value));
      parentPort.postMessage({ id: m.id, ok: true, bytes }, [bytes.buffer]);
    }
  } catch (e) {
    parentPort.postMessage({
      id: m.id,
      ok: false,
      syntax: e instanceof SyntaxError,
      message: e instanceof Error ? e.message : String(e),
    });
  }
});
`;

type Reply =
  | { id: number; ok: true; value: unknown; packs: Pack[] }
  | { id: number; ok: true; bytes: Uint8Array }
  | { id: number; ok: false; syntax: boolean; message: string };

interface Pending {
  resolve(reply: Reply): void;
  reject(e: Error): void;
}

/**
 * Parses large request bodies and serializes large responses on a thread of its own,
 * so that one big JSON request costs the event loop milliseconds instead of a quarter
 * of a second that every other request waits through. One thread, started on first
 * use and again after it fails; its jobs go one after another.
 */
@Injectable()
export class JsonOffload implements OnModuleDestroy {
  private readonly logger = new Logger('JsonOffload');
  private worker: Worker | null = null;
  private readonly pending = new Map<number, Pending>();
  private nextId = 1;
  /** gateway.json_offload: when false, everything is parsed and written inline. */
  private readonly enabled: boolean;

  constructor(
    @Optional() @Inject(GATEWAY_SETTINGS) settings?: GatewaySettings,
  ) {
    this.enabled = settings?.jsonOffload ?? true;
  }

  /** Whether a JSON body of `bytes` bytes is parsed here (else inline). */
  takesBody(bytes: number): boolean {
    return this.enabled && bytes >= OFFLOAD_BODY_BYTES;
  }

  /** Whether an answer holding `elements` tensor elements is written here (else inline). */
  takesAnswer(elements: number): boolean {
    return this.enabled && elements >= OFFLOAD_ELEMENTS;
  }

  /**
   * The JSON value of `bytes`, each large rectangular array of numbers in it as a
   * PackedNumbers. A SyntaxError with statusCode 400 for what is not JSON, with the
   * engine's own message, as Fastify's parser would give; by default also for
   * prototype poisoning (as Fastify refuses it) and not for bytes that are not UTF-8
   * (decoded with replacement characters, as Fastify does). The bytes are copied to
   * the thread, unless `giveAway` and they own their whole buffer: then the buffer
   * moves there, and `bytes` is left detached (empty).
   */
  async parse(
    bytes: Uint8Array,
    options: {
      strictUtf8?: boolean;
      refusePoisoning?: boolean;
      giveAway?: boolean;
    } = {},
  ): Promise<unknown> {
    const own =
      bytes.byteOffset === 0 && bytes.byteLength === bytes.buffer.byteLength;
    // Buffer's slice() is a view again: the Uint8Array constructor copies.
    const sent = own && options.giveAway ? bytes : new Uint8Array(bytes);
    const reply = await this.call(
      {
        op: 'parse',
        bytes: sent,
        strict: options.strictUtf8 ?? false,
        poison: options.refusePoisoning ?? true,
      },
      [sent.buffer as ArrayBuffer],
    );
    if (!('value' in reply)) throw new Error('unexpected offload reply');
    let value = reply.value;
    for (const p of reply.packs) {
      const packed = new PackedNumbers(p.shape, p.data as Float64Array);
      if (p.path.length === 0) value = packed;
      else put(value, p.path, packed);
    }
    return value;
  }

  /**
   * JSON.stringify(value) as UTF-8 bytes, with each pack's data put at its path (where
   * `value` holds a placeholder) as a nested array of its shape. The packs are copied
   * to the thread, not transferred: a model's output buffer may belong to its engine.
   */
  async stringify(value: unknown, packs: readonly Pack[]): Promise<Uint8Array> {
    const reply = await this.call({ op: 'stringify', value, packs }, []);
    if (!('bytes' in reply)) throw new Error('unexpected offload reply');
    return reply.bytes;
  }

  async onModuleDestroy(): Promise<void> {
    const worker = this.worker;
    this.worker = null;
    await worker?.terminate();
  }

  private call(message: object, transfer: ArrayBuffer[]): Promise<Reply> {
    const worker = this.thread();
    const id = this.nextId++;
    return new Promise<Reply>((resolve, reject) => {
      this.pending.set(id, { resolve, reject });
      worker.postMessage({ ...message, id }, transfer);
    }).then((reply) => {
      if (reply.ok) return reply;
      if (reply.syntax) {
        const e = new SyntaxError(reply.message) as SyntaxError & {
          statusCode: number;
        };
        e.statusCode = 400;
        throw e;
      }
      throw new Error(reply.message);
    });
  }

  private thread(): Worker {
    if (this.worker) return this.worker;
    const worker = new Worker(WORKER_SOURCE, { eval: true });
    worker.unref();
    worker.on('message', (reply: Reply) => {
      const p = this.pending.get(reply.id);
      this.pending.delete(reply.id);
      p?.resolve(reply);
    });
    const lost = (why: string) => {
      if (this.worker !== worker) return;
      this.worker = null;
      this.logger.error(`the JSON offload thread ${why}; a new one starts`);
      const failed = new PortfolioError(
        'INTERNAL',
        `the JSON offload thread ${why}`,
      );
      for (const p of this.pending.values()) p.reject(failed);
      this.pending.clear();
    };
    worker.on('error', (e) => lost(`failed: ${e.message}`));
    worker.on('exit', (code) => lost(`exited with code ${code}`));
    this.worker = worker;
    return worker;
  }
}

/**
 * `t` as a pack at `path` for JsonOffload.stringify: its elements as numbers exactly
 * as tensorToNested (or, `flat`, tensorToFlat) gives them (FP16 decoded, 64-bit
 * integers as numbers), in an array
 * of their own (a view into a larger buffer would be cloned whole). Null for what is
 * not numbers (BOOL, BYTES) and for scalars.
 */
export function jsonPack(
  path: readonly (string | number)[],
  t: Tensor,
  { flat = false }: { flat?: boolean } = {},
): Pack | null {
  const data = t.data;
  if (Array.isArray(data) || t.shape.length === 0 || data.length === 0)
    return null;
  let numbers: ArrayBufferView;
  switch (t.datatype) {
    case 'BOOL':
    case 'BYTES':
      return null;
    case 'FP16':
      numbers = Float32Array.from(data as Uint16Array, float16BitsToFloat32);
      break;
    case 'INT64':
    case 'UINT64':
      numbers = Float64Array.from(
        data as BigInt64Array | BigUint64Array,
        Number,
      );
      break;
    default:
      numbers =
        data.byteLength === data.buffer.byteLength
          ? data
          : (data as Float32Array).slice();
  }
  return {
    path,
    shape: flat ? [(numbers as Float32Array).length] : t.shape,
    data: numbers,
  };
}

function put(
  root: unknown,
  path: readonly (string | number)[],
  value: unknown,
): void {
  let node = root as Record<string | number, unknown>;
  for (let i = 0; i < path.length - 1; i++)
    node = node[path[i]] as Record<string | number, unknown>;
  node[path[path.length - 1]] = value;
}
