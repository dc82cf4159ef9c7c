// Tests of the pickle interpreter on hand-built pickles: the values each opcode builds, the allow-list, and limits.

import { describe, expect, it } from 'vitest';
import { FormatError } from '../../errors.js';
import { P, pickle } from './test-support/hand-built.js';
import { type PickleValue, unpickle } from './unpickle.js';

const noPersistent = (): PickleValue => {
  throw new Error('unexpected persistent id');
};

function run(bytes: Uint8Array): PickleValue {
  return unpickle(bytes, 0, { fileName: 'p.pkl', persistentLoad: noPersistent }).value;
}

function runError(bytes: Uint8Array): FormatError {
  try {
    run(bytes);
  } catch (e) {
    expect(e).toBeInstanceOf(FormatError);
    return e as FormatError;
  }
  throw new Error('expected a FormatError');
}

describe('unpickle', () => {
  it('builds scalars, strings, tuples, lists and dicts', () => {
    const value = run(
      pickle(
        P.proto(2),
        P.emptyDict,
        P.put(0),
        P.mark,
        P.str('i'),
        P.int(70000),
        P.str('n'),
        P.int(-5),
        P.str('big'),
        P.long1([0, 0, 0, 0, 0, 0, 0, 0, 1]),
        P.str('neg'),
        P.long1([0xff]),
        P.str('f'),
        P.float(0.5),
        P.str('t'),
        P.int(1),
        P.int(2),
        P.int(3),
        P.tuple3,
        P.str('l'),
        P.emptyList,
        P.get(0),
        P.append,
        P.setitems,
        P.stop,
      ),
    );
    expect(value).toMatchObject({ kind: 'dict' });
    const entries = (value as { entries: [PickleValue, PickleValue][] }).entries;
    expect(entries.slice(0, 6)).toEqual([
      ['i', 70000],
      ['n', -5],
      ['big', 2n ** 64n],
      ['neg', -1],
      ['f', 0.5],
      ['t', { kind: 'tuple', items: [1, 2, 3] }],
    ]);
    // The list holds the dict itself (a memo reference): the interpreter allows cycles as plain references.
    expect((entries[6]![1] as { items: PickleValue[] }).items[0]).toBe(value);
  });

  it('interprets _codecs.encode(str, "latin1") as bytes (protocol 2 bytes objects)', () => {
    const value = run(
      pickle(
        P.proto(2),
        P.global('_codecs', 'encode'),
        P.str('\u00ff\u0001'),
        P.str('latin1'),
        P.tuple2,
        P.reduce,
        P.stop,
      ),
    );
    expect(value).toEqual(Uint8Array.of(0xff, 1));
  });

  it('refuses globals outside the allow-list before anything could call them', () => {
    const error = runError(pickle(P.proto(2), P.global('os', 'system'), P.stop));
    expect(error.code).toBe('FORMAT_UNSAFE');
    expect(error.message).toMatch(/^p\.pkl: pickle global "os\.system" at byte 2/);
    const stacked = runError(pickle(P.proto(4), P.shortStr('subprocess'), P.shortStr('Popen'), P.stackGlobal, P.stop));
    expect(stacked.message).toMatch(/"subprocess\.Popen"/);
  });

  it('refuses an allowed global called with arguments it does not accept', () => {
    const error = runError(
      pickle(P.proto(2), P.global('collections', 'OrderedDict'), P.int(1), P.tuple1, P.reduce, P.stop),
    );
    expect(error.code).toBe('FORMAT_BAD_HEADER');
  });

  it('limits arbitrary-precision integers', () => {
    const error = runError(pickle(P.proto(2), P.long1(new Array(200).fill(1)), P.stop));
    expect(error.code).toBe('FORMAT_LIMIT');
  });

  it('reports a bad memo read, an empty-stack pop and an unknown opcode as FORMAT_BAD_HEADER', () => {
    expect(runError(pickle(P.proto(2), P.get(3), P.stop)).code).toBe('FORMAT_BAD_HEADER');
    expect(runError(pickle(P.proto(2), P.append, P.stop)).code).toBe('FORMAT_BAD_HEADER');
    expect(runError(pickle(P.proto(2), [0xff], P.stop)).code).toBe('FORMAT_BAD_HEADER');
  });

  it('reports a string running past the end as FORMAT_TRUNCATED', () => {
    const bytes = pickle(P.proto(2), P.str('hello'), P.stop).subarray(0, 8);
    expect(runError(bytes).code).toBe('FORMAT_TRUNCATED');
  });
});
