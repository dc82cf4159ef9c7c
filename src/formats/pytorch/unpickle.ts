// A pickle interpreter for PyTorch state dicts: runs the opcodes of protocols 2–5 that `torch.save` emits on a
// plain value stack and builds inert values. It never executes anything: globals outside a short allow-list are
// refused by name (like torch's `weights_only=True`), and the allowed ones are interpreted here, not called.

import { FormatError } from '../../errors.js';
import type { Dtype } from '../../tensor/dtype.js';
import { quoteName } from '../describe-value.js';

/** data.pkl is read into memory whole; a state dict's pickle holds names and sizes only (CWE-770). */
export const MAX_PICKLE_BYTES = 256 * 1024 * 1024;
/** Memo slots and stack entries; each opcode adds at most one, so this bounds memory per opcode (CWE-770). */
export const MAX_PICKLE_MEMO = 1 << 24;
/** Length in bytes of an arbitrary-precision integer (LONG1/LONG4): state dicts hold small integers (CWE-400). */
export const MAX_PICKLE_LONG_BYTES = 64;

/** The storage classes torch pickles as `torch.<Name>Storage`, with the dtype of their elements. */
export const STORAGE_DTYPES: Readonly<Record<string, Dtype>> = {
  DoubleStorage: 'F64',
  FloatStorage: 'F32',
  HalfStorage: 'F16',
  BFloat16Storage: 'BF16',
  LongStorage: 'I64',
  IntStorage: 'I32',
  ShortStorage: 'I16',
  CharStorage: 'I8',
  ByteStorage: 'U8',
  BoolStorage: 'BOOL',
  UntypedStorage: 'U8',
  Float8_e4m3fnStorage: 'F8_E4M3',
  Float8_e5m2Storage: 'F8_E5M2',
  UInt16Storage: 'U16',
  UInt32Storage: 'U32',
  UInt64Storage: 'U64',
};

/** An allow-listed global, kept as a value until REDUCE interprets it. */
export interface PickleGlobal {
  kind: 'global';
  module: string;
  name: string;
}
/** A storage from persistent_load: `('storage', torch.XStorage, key, location, numel)`. */
export interface PickleStorage {
  kind: 'storage';
  dtype: Dtype;
  key: string;
  location: string;
  numel: number;
}
/** A tensor rebuilt by `_rebuild_tensor_v2` (or a parameter wrapping one): a view of a storage. */
export interface PickleTensor {
  kind: 'tensor';
  storage: PickleStorage;
  offsetElements: number;
  shape: number[];
  strides: number[];
  /** Order of creation in the pickle, from 0. */
  serial: number;
}
export interface PickleTuple {
  kind: 'tuple';
  items: PickleValue[];
}
export interface PickleList {
  kind: 'list';
  items: PickleValue[];
}
/** A dict or OrderedDict; keys keep insertion order. `state` is what BUILD gave it (torch's `_metadata`). */
export interface PickleDict {
  kind: 'dict';
  entries: [PickleValue, PickleValue][];
  state?: PickleValue;
}
export interface PickleSet {
  kind: 'set';
  items: PickleValue[];
}

export type PickleValue =
  | null
  | boolean
  | number
  | bigint
  | string
  | Uint8Array
  | PickleGlobal
  | PickleStorage
  | PickleTensor
  | PickleTuple
  | PickleList
  | PickleDict
  | PickleSet;

const MARK: unique symbol = Symbol('mark');
type StackItem = PickleValue | typeof MARK;

/** Globals that are interpreted; every other global is refused with FORMAT_UNSAFE. */
const ALLOWED_FUNCTIONS = new Set([
  'collections.OrderedDict',
  'torch._utils._rebuild_tensor',
  'torch._utils._rebuild_tensor_v2',
  'torch._utils._rebuild_parameter',
  'torch._utils._rebuild_parameter_with_state',
  '_codecs.encode',
  'builtins.set',
  'builtins.frozenset',
  '__builtin__.set',
]);

export interface UnpickleOptions {
  /** Shown in error messages. */
  fileName: string;
  /** Name of the pickle inside the file, for messages (`archive/data.pkl`). */
  what?: string;
}

/** Result of running a pickle: the value STOP returned and how many bytes the pickle took. */
export interface UnpickleResult {
  value: PickleValue;
  endOffset: number;
}

const LATIN1 = new TextDecoder('latin1');
const UTF8 = new TextDecoder('utf-8', { fatal: true });

function isStorage(v: PickleValue | undefined): v is PickleStorage {
  return typeof v === 'object' && v !== null && !(v instanceof Uint8Array) && v.kind === 'storage';
}

function isTensor(v: PickleValue | undefined): v is PickleTensor {
  return typeof v === 'object' && v !== null && !(v instanceof Uint8Array) && v.kind === 'tensor';
}

function asIndex(v: PickleValue | undefined): number | undefined {
  if (typeof v === 'number' && Number.isSafeInteger(v)) return v;
  if (typeof v === 'bigint' && v >= BigInt(Number.MIN_SAFE_INTEGER) && v <= BigInt(Number.MAX_SAFE_INTEGER)) {
    return Number(v);
  }
  return undefined;
}

function asIntTuple(v: PickleValue | undefined): number[] | undefined {
  if (typeof v !== 'object' || v === null || v instanceof Uint8Array || v.kind !== 'tuple') return undefined;
  const out: number[] = [];
  for (const item of v.items) {
    const n = asIndex(item);
    if (n === undefined) return undefined;
    out.push(n);
  }
  return out;
}

/**
 * Interprets the pickle in `bytes` from `offset` until STOP and returns the value. `persistentLoad` receives each
 * persistent id (BINPERSID) and returns its value. Globals outside the allow-list are refused with FORMAT_UNSAFE
 * naming them; malformed pickles throw FORMAT_BAD_HEADER or FORMAT_TRUNCATED.
 *
 * @example
 * const { value } = unpickle(pkl, 0, { fileName: 'model.pt', persistentLoad: (pid) => toStorage(pid) });
 */
export function unpickle(
  bytes: Uint8Array,
  offset: number,
  options: UnpickleOptions & { persistentLoad: (pid: PickleValue) => PickleValue },
): UnpickleResult {
  const { fileName, persistentLoad } = options;
  const what = options.what ?? 'pickle';
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const stack: StackItem[] = [];
  const memo = new Map<number, PickleValue>();
  let tensorSerial = 0;
  let p = offset;

  const bad = (why: string, at = p): FormatError =>
    new FormatError('FORMAT_BAD_HEADER', `${fileName}: ${what} at byte ${at}: ${why}`, { file: fileName });
  const need = (n: number): number => {
    if (p + n > bytes.length) {
      throw new FormatError(
        'FORMAT_TRUNCATED',
        `${fileName}: ${what} ends at byte ${bytes.length} inside an opcode that needs ${n} more bytes at byte ${p}`,
        { file: fileName },
      );
    }
    const at = p;
    p += n;
    return at;
  };
  const push = (v: StackItem): void => {
    if (stack.length >= MAX_PICKLE_MEMO) {
      throw new FormatError('FORMAT_LIMIT', `${fileName}: ${what} stack exceeds ${MAX_PICKLE_MEMO} entries`, {
        file: fileName,
      });
    }
    stack.push(v);
  };
  const pop = (): PickleValue => {
    const v = stack.pop();
    if (v === undefined) throw bad('pops from an empty stack');
    if (v === MARK) throw bad('pops a mark as a value');
    return v;
  };
  const top = (): PickleValue => {
    const v = stack[stack.length - 1];
    if (v === undefined) throw bad('reads the top of an empty stack');
    if (v === MARK) throw bad('reads a mark as a value');
    return v;
  };
  const popMark = (): PickleValue[] => {
    const at = stack.lastIndexOf(MARK);
    if (at < 0) throw bad('has no mark to pop to');
    const items = stack.splice(at) as PickleValue[];
    items.shift();
    return items;
  };
  const line = (): string => {
    const end = bytes.indexOf(0x0a, p);
    if (end < 0)
      throw new FormatError('FORMAT_TRUNCATED', `${fileName}: ${what} ends inside a text line`, { file: fileName });
    const text = LATIN1.decode(bytes.subarray(p, end));
    p = end + 1;
    return text;
  };
  const text = (n: number, utf8: boolean): string => {
    const at = need(n);
    const slice = bytes.subarray(at, at + n);
    if (!utf8) return LATIN1.decode(slice);
    try {
      return UTF8.decode(slice);
    } catch {
      throw bad('has a string that is not valid UTF-8', at);
    }
  };
  const length32 = (): number => view.getUint32(need(4), true);
  const length64 = (): number => {
    const at = need(8);
    const v = view.getBigUint64(at, true);
    if (v > BigInt(bytes.length)) {
      throw new FormatError(
        'FORMAT_TRUNCATED',
        `${fileName}: ${what} declares ${v} bytes at byte ${at}, past its end`,
        {
          file: fileName,
        },
      );
    }
    return Number(v);
  };
  const memoPut = (index: number, v: PickleValue): void => {
    if (memo.size >= MAX_PICKLE_MEMO && !memo.has(index)) {
      throw new FormatError('FORMAT_LIMIT', `${fileName}: ${what} memo exceeds ${MAX_PICKLE_MEMO} entries`, {
        file: fileName,
      });
    }
    memo.set(index, v);
  };
  const memoGet = (index: number): PickleValue => {
    const v = memo.get(index);
    if (v === undefined) throw bad(`reads memo slot ${index}, which is empty`);
    return v;
  };
  const long = (n: number): bigint => {
    if (n > MAX_PICKLE_LONG_BYTES) {
      throw new FormatError(
        'FORMAT_LIMIT',
        `${fileName}: ${what} has an integer of ${n} bytes, over the limit of ${MAX_PICKLE_LONG_BYTES}`,
        { file: fileName },
      );
    }
    const at = need(n);
    let v = 0n;
    for (let i = n - 1; i >= 0; i--) v = (v << 8n) | BigInt(bytes[at + i]!);
    if (n > 0 && bytes[at + n - 1]! & 0x80) v -= 1n << BigInt(8 * n);
    return v;
  };
  const simplify = (v: bigint): number | bigint =>
    v >= BigInt(Number.MIN_SAFE_INTEGER) && v <= BigInt(Number.MAX_SAFE_INTEGER) ? Number(v) : v;
  const global = (module: string, name: string, at: number): PickleGlobal => {
    const full = `${module}.${name}`;
    const storage = module === 'torch' && Object.hasOwn(STORAGE_DTYPES, name);
    if (!storage && !ALLOWED_FUNCTIONS.has(full)) {
      throw new FormatError(
        'FORMAT_UNSAFE',
        `${fileName}: pickle global ${quoteName(full)} at byte ${at} of ${what} is not allowed; only state-dict globals (tensors, storages, OrderedDict) are interpreted`,
        { file: fileName },
      );
    }
    return { kind: 'global', module, name };
  };
  const setItem = (target: PickleValue, key: PickleValue, value: PickleValue): void => {
    if (typeof target !== 'object' || target === null || target instanceof Uint8Array || target.kind !== 'dict') {
      throw bad('sets an item on something that is not a dict');
    }
    target.entries.push([key, value]);
  };
  const reduce = (fn: PickleValue, args: PickleValue, at: number): PickleValue => {
    if (typeof fn !== 'object' || fn === null || fn instanceof Uint8Array || fn.kind !== 'global') {
      throw bad('calls something that is not an allowed global', at);
    }
    if (typeof args !== 'object' || args === null || args instanceof Uint8Array || args.kind !== 'tuple') {
      throw bad('calls a global with arguments that are not a tuple', at);
    }
    const a = args.items;
    const full = `${fn.module}.${fn.name}`;
    switch (full) {
      case 'collections.OrderedDict':
        if (a.length === 0) return { kind: 'dict', entries: [] };
        break;
      case 'builtins.set':
      case '__builtin__.set':
      case 'builtins.frozenset': {
        if (a.length === 0) return { kind: 'set', items: [] };
        const items = a[0];
        if (typeof items === 'object' && items !== null && !(items instanceof Uint8Array) && items.kind === 'list') {
          return { kind: 'set', items: items.items };
        }
        break;
      }
      case '_codecs.encode':
        if (typeof a[0] === 'string' && (a[1] === 'latin1' || a[1] === 'latin-1')) {
          const s = a[0];
          const out = new Uint8Array(s.length);
          for (let i = 0; i < s.length; i++) {
            const c = s.charCodeAt(i);
            if (c > 0xff) throw bad('encodes a non-latin1 character as latin1', at);
            out[i] = c;
          }
          return out;
        }
        break;
      case 'torch._utils._rebuild_tensor':
      case 'torch._utils._rebuild_tensor_v2': {
        const storage = a[0];
        const offsetElements = asIndex(a[1]);
        const shape = asIntTuple(a[2]);
        const strides = asIntTuple(a[3]);
        if (isStorage(storage) && offsetElements !== undefined && shape && strides) {
          return { kind: 'tensor', storage, offsetElements, shape, strides, serial: tensorSerial++ };
        }
        break;
      }
      case 'torch._utils._rebuild_parameter':
      case 'torch._utils._rebuild_parameter_with_state':
        if (isTensor(a[0])) return a[0];
        break;
      default:
        if (fn.module === 'torch' && Object.hasOwn(STORAGE_DTYPES, fn.name)) {
          throw new FormatError(
            'FORMAT_UNSUPPORTED',
            `${fileName}: ${what} at byte ${at} builds a torch.${fn.name} in the pickle itself; only storages stored as zip entries are supported`,
            { file: fileName },
          );
        }
    }
    throw bad(`calls ${full} with arguments it does not accept`, at);
  };

  for (;;) {
    const at = p;
    const op = bytes[need(1)]!;
    switch (op) {
      case 0x80: // PROTO
        need(1);
        break;
      case 0x95: // FRAME (protocol 4): a length prefix for buffering; the opcodes follow inline
        need(8);
        break;
      case 0x2e: // STOP
        return { value: pop(), endOffset: p };
      case 0x28: // MARK
        push(MARK);
        break;
      case 0x30: // POP
        if (stack.pop() === undefined) throw bad('pops from an empty stack', at);
        break;
      case 0x31: // POP_MARK
        popMark();
        break;
      case 0x32: // DUP
        push(top());
        break;
      case 0x4e: // NONE
        push(null);
        break;
      case 0x88: // NEWTRUE
        push(true);
        break;
      case 0x89: // NEWFALSE
        push(false);
        break;
      case 0x4a: // BININT
        push(view.getInt32(need(4), true));
        break;
      case 0x4b: // BININT1
        push(bytes[need(1)]!);
        break;
      case 0x4d: // BININT2
        push(view.getUint16(need(2), true));
        break;
      case 0x8a: // LONG1
        push(simplify(long(bytes[need(1)]!)));
        break;
      case 0x8b: {
        // LONG4
        const n = view.getInt32(need(4), true);
        if (n < 0) throw bad('has a negative LONG4 length', at);
        push(simplify(long(n)));
        break;
      }
      case 0x49: {
        // INT (text; "I01"/"I00" are True/False in protocol 0–1)
        const t = line();
        if (t === '01' || t === '00') push(t === '01');
        else if (/^-?\d{1,18}$/.test(t)) push(Number(t));
        else throw bad(`has a bad INT ${quoteName(t)}`, at);
        break;
      }
      case 0x4c: {
        // LONG (text)
        const t = line().replace(/L$/, '');
        if (!/^-?\d{1,40}$/.test(t)) throw bad(`has a bad LONG ${quoteName(t)}`, at);
        push(simplify(BigInt(t)));
        break;
      }
      case 0x47: // BINFLOAT (big-endian double)
        push(view.getFloat64(need(8), false));
        break;
      case 0x46: {
        // FLOAT (text)
        const t = line();
        const v = Number(t);
        if (t.trim() === '' || (Number.isNaN(v) && t.trim().toLowerCase() !== 'nan')) {
          throw bad(`has a bad FLOAT ${quoteName(t)}`, at);
        }
        push(v);
        break;
      }
      case 0x58: // BINUNICODE
        push(text(length32(), true));
        break;
      case 0x8c: // SHORT_BINUNICODE
        push(text(bytes[need(1)]!, true));
        break;
      case 0x8d: // BINUNICODE8
        push(text(length64(), true));
        break;
      case 0x54: {
        // BINSTRING (Python 2 str)
        const n = view.getInt32(need(4), true);
        if (n < 0) throw bad('has a negative BINSTRING length', at);
        push(text(n, false));
        break;
      }
      case 0x55: // SHORT_BINSTRING
        push(text(bytes[need(1)]!, false));
        break;
      case 0x42: {
        // BINBYTES
        const n = length32();
        const s = need(n);
        push(bytes.slice(s, s + n));
        break;
      }
      case 0x43: {
        // SHORT_BINBYTES
        const n = bytes[need(1)]!;
        const s = need(n);
        push(bytes.slice(s, s + n));
        break;
      }
      case 0x8e:
      case 0x96: {
        // BINBYTES8, BYTEARRAY8
        const n = length64();
        const s = need(n);
        push(bytes.slice(s, s + n));
        break;
      }
      case 0x5d: // EMPTY_LIST
        push({ kind: 'list', items: [] });
        break;
      case 0x6c: // LIST
        push({ kind: 'list', items: popMark() });
        break;
      case 0x61: {
        // APPEND
        const v = pop();
        const list = top();
        if (typeof list !== 'object' || list === null || list instanceof Uint8Array || list.kind !== 'list') {
          throw bad('appends to something that is not a list', at);
        }
        list.items.push(v);
        break;
      }
      case 0x65: {
        // APPENDS
        const items = popMark();
        const list = top();
        if (typeof list !== 'object' || list === null || list instanceof Uint8Array || list.kind !== 'list') {
          throw bad('appends to something that is not a list', at);
        }
        for (const v of items) list.items.push(v);
        break;
      }
      case 0x29: // EMPTY_TUPLE
        push({ kind: 'tuple', items: [] });
        break;
      case 0x74: // TUPLE
        push({ kind: 'tuple', items: popMark() });
        break;
      case 0x85: // TUPLE1
        push({ kind: 'tuple', items: [pop()] });
        break;
      case 0x86: {
        // TUPLE2
        const b = pop();
        push({ kind: 'tuple', items: [pop(), b] });
        break;
      }
      case 0x87: {
        // TUPLE3
        const c = pop();
        const b = pop();
        push({ kind: 'tuple', items: [pop(), b, c] });
        break;
      }
      case 0x7d: // EMPTY_DICT
        push({ kind: 'dict', entries: [] });
        break;
      case 0x64: {
        // DICT
        const items = popMark();
        if (items.length % 2 !== 0) throw bad('builds a dict from an odd number of items', at);
        const dict: PickleDict = { kind: 'dict', entries: [] };
        for (let i = 0; i < items.length; i += 2) dict.entries.push([items[i]!, items[i + 1]!]);
        push(dict);
        break;
      }
      case 0x73: {
        // SETITEM
        const value = pop();
        const key = pop();
        setItem(top(), key, value);
        break;
      }
      case 0x75: {
        // SETITEMS
        const items = popMark();
        if (items.length % 2 !== 0) throw bad('sets an odd number of dict items', at);
        const target = top();
        for (let i = 0; i < items.length; i += 2) setItem(target, items[i]!, items[i + 1]!);
        break;
      }
      case 0x8f: // EMPTY_SET
        push({ kind: 'set', items: [] });
        break;
      case 0x90: {
        // ADDITEMS
        const items = popMark();
        const set = top();
        if (typeof set !== 'object' || set === null || set instanceof Uint8Array || set.kind !== 'set') {
          throw bad('adds items to something that is not a set', at);
        }
        for (const v of items) set.items.push(v);
        break;
      }
      case 0x91: // FROZENSET
        push({ kind: 'set', items: popMark() });
        break;
      case 0x70: // PUT (text)
        memoPut(Number.parseInt(line(), 10), top());
        break;
      case 0x71: // BINPUT
        memoPut(bytes[need(1)]!, top());
        break;
      case 0x72: // LONG_BINPUT
        memoPut(view.getUint32(need(4), true), top());
        break;
      case 0x94: // MEMOIZE
        memoPut(memo.size, top());
        break;
      case 0x67: // GET (text)
        push(memoGet(Number.parseInt(line(), 10)));
        break;
      case 0x68: // BINGET
        push(memoGet(bytes[need(1)]!));
        break;
      case 0x6a: // LONG_BINGET
        push(memoGet(view.getUint32(need(4), true)));
        break;
      case 0x63: {
        // GLOBAL "module\nname\n"
        const module = line();
        const name = line();
        push(global(module, name, at));
        break;
      }
      case 0x93: {
        // STACK_GLOBAL
        const name = pop();
        const module = pop();
        if (typeof module !== 'string' || typeof name !== 'string') throw bad('has a STACK_GLOBAL of non-strings', at);
        push(global(module, name, at));
        break;
      }
      case 0x52: {
        // REDUCE
        const args = pop();
        const fn = pop();
        push(reduce(fn, args, at));
        break;
      }
      case 0x62: {
        // BUILD: only a dict's instance state (torch's state_dict `_metadata`) is accepted, and kept as data
        const state = pop();
        const target = top();
        if (typeof target === 'object' && target !== null && !(target instanceof Uint8Array)) {
          if (target.kind === 'dict') {
            target.state = state;
            break;
          }
          if (target.kind === 'tensor') break;
        }
        throw bad('sets the state of something that is not a dict or tensor', at);
      }
      case 0x51: {
        // BINPERSID
        push(persistentLoad(pop()));
        break;
      }
      case 0x50: // PERSID (text)
        push(persistentLoad(line()));
        break;
      default: {
        const name = UNSAFE_OPCODES[op];
        if (name) {
          throw new FormatError(
            'FORMAT_UNSAFE',
            `${fileName}: ${what} at byte ${at} uses opcode ${name}, which builds arbitrary objects; it is not allowed`,
            { file: fileName },
          );
        }
        throw bad(`has unknown opcode 0x${op.toString(16).padStart(2, '0')}`, at);
      }
    }
  }
}

/** Opcodes that instantiate classes or load out-of-band data: refused, never interpreted. */
const UNSAFE_OPCODES: Record<number, string> = {
  105: 'INST',
  111: 'OBJ',
  129: 'NEWOBJ',
  146: 'NEWOBJ_EX',
  130: 'EXT1',
  131: 'EXT2',
  132: 'EXT4',
  151: 'NEXT_BUFFER',
  152: 'READONLY_BUFFER',
};
