// The conformance suite every FormatModule must pass: round trip through frame + extents, truncation, trailing
// bytes, fuzzed mutations and detection. Registers vitest tests; test-only (excluded from the build).

import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { FormatError } from '../../errors.js';
import { isDtype } from '../../tensor/dtype.js';
import { assembleFile, listFileParts, splitFile } from '../assemble-file.js';
import { bytesSource, type Checkpoint, type FormatModule, listFrameRanges } from '../format-module.js';

/** A named file for the suite; `name` is also the fileName given to parse. */
export interface ConformanceFile {
  name: string;
  bytes: Uint8Array;
}

export interface ConformanceCases {
  /** Files the module must parse, rebuild and detect. */
  valid: readonly ConformanceFile[];
  /** Files of other formats (or junk) that detect() must not claim. */
  foreign?: readonly ConformanceFile[];
  /** How long the mutation fuzz runs, in milliseconds (default 2000). */
  fuzzMillis?: number;
  /** Files up to this size get every truncation tried; larger ones a sample (default 2048). */
  allPrefixesUpToBytes?: number;
}

const HEAD_BYTES = 64;

type Outcome = { checkpoint: Checkpoint } | { error: FormatError };

/** Parses `bytes` and returns the checkpoint or the FormatError; any other failure fails the test. */
async function parseOutcome(module: FormatModule, name: string, bytes: Uint8Array): Promise<Outcome> {
  try {
    return { checkpoint: await module.parse(bytesSource(bytes), { fileName: name }) };
  } catch (error) {
    if (!(error instanceof FormatError)) {
      throw new Error(`${module.name}: parse of ${name} (${bytes.length} bytes) threw a non-FormatError: ${error}`, {
        cause: error,
      });
    }
    if (!error.message.startsWith(`${name}: `)) {
      throw new Error(`${module.name}: FormatError message does not start with "${name}: ": ${error.message}`);
    }
    return { error };
  }
}

/** Checks the invariants every parsed checkpoint must hold against the bytes it came from. */
function expectConsistent(module: FormatModule, checkpoint: Checkpoint, bytes: Uint8Array): void {
  expect(checkpoint.format).toBe(module.name);
  expect(checkpoint.sizeBytes).toBe(bytes.length);
  let end = 0;
  for (const e of checkpoint.extents) {
    expect(Number.isSafeInteger(e.offsetBytes) && e.offsetBytes >= 0).toBe(true);
    expect(Number.isSafeInteger(e.sizeBytes) && e.sizeBytes >= 0).toBe(true);
    expect(isDtype(e.dtype)).toBe(true);
    expect(e.offsetBytes).toBeGreaterThanOrEqual(end);
    end = e.offsetBytes + e.sizeBytes;
    expect(end).toBeLessThanOrEqual(bytes.length);
  }
  for (const t of checkpoint.tensors) {
    expect(isDtype(t.dtype)).toBe(true);
    expect(t.shape.every((d) => Number.isSafeInteger(d) && d >= 0)).toBe(true);
    expect(checkpoint.extents[t.extent]).toBeDefined();
  }
  for (const value of Object.values(checkpoint.metadata)) expect(typeof value).toBe('string');
  const parts = listFileParts(checkpoint);
  expect(parts.reduce((sum, p) => sum + p.sizeBytes, 0)).toBe(bytes.length);
  expect(assembleFile(checkpoint, splitFile(checkpoint, bytes))).toEqual(bytes);
}

/** Deterministic pseudo-random bytes (xorshift32), so detection tests never flake. */
function pseudoRandomBytes(seed: number, length: number): Uint8Array {
  let x = seed | 1;
  const out = new Uint8Array(length);
  for (let i = 0; i < length; i++) {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    out[i] = x & 0xff;
  }
  return out;
}

/** Prefix lengths to try: all for small files; else the start, the frame boundaries ±2 and an even spread. */
function truncationLengths(checkpoint: Checkpoint, size: number, allUpTo: number): number[] {
  if (size <= allUpTo) return Array.from({ length: size }, (_, i) => i);
  const lengths = new Set<number>();
  for (let i = 0; i < Math.min(size, 256); i++) lengths.add(i);
  for (const r of listFrameRanges(checkpoint)) {
    for (const at of [r.offsetBytes, r.offsetBytes + r.sizeBytes]) {
      for (let d = -2; d <= 2; d++) lengths.add(at + d);
    }
  }
  for (let i = 1; i < 64; i++) lengths.add(Math.floor((size * i) / 64));
  return [...lengths].filter((n) => n >= 0 && n < size).sort((a, b) => a - b);
}

function concat(a: Uint8Array, b: Uint8Array): Uint8Array {
  const out = new Uint8Array(a.length + b.length);
  out.set(a);
  out.set(b, a.length);
  return out;
}

type Mutation = { op: 'set' | 'insert' | 'delete'; at: number; byte: number; inFrame: boolean };

function applyMutations(
  bytes: Uint8Array,
  frameOffsets: readonly number[],
  mutations: readonly Mutation[],
): Uint8Array {
  let out: Uint8Array = bytes.slice();
  for (const m of mutations) {
    const pool = m.inFrame && frameOffsets.length > 0 ? frameOffsets : undefined;
    const raw = pool ? (pool[m.at % pool.length] as number) : m.at;
    const at = out.length === 0 ? 0 : raw % (m.op === 'insert' ? out.length + 1 : out.length);
    if (m.op === 'set' && out.length > 0) out[at] = m.byte;
    else if (m.op === 'insert') out = concat(concat(out.subarray(0, at), Uint8Array.of(m.byte)), out.subarray(at));
    else if (m.op === 'delete' && out.length > 0) out = concat(out.subarray(0, at), out.subarray(at + 1));
  }
  return out;
}

/**
 * Registers the shared conformance tests for `module` (call it at the top level of a `*.test.ts` file).
 *
 * @example
 * formatConformance(safetensorsModule, { valid: [{ name: 'a.safetensors', bytes }], foreign: [gguf] });
 */
export function formatConformance(module: FormatModule, cases: ConformanceCases): void {
  const { valid, foreign = [], fuzzMillis = 2000, allPrefixesUpToBytes = 2048 } = cases;

  describe(`format conformance: ${module.name}`, () => {
    it('has valid cases', () => {
      expect(valid.length).toBeGreaterThan(0);
    });

    it.each(valid.map((f) => [f.name, f] as const))(
      'round trip: %s parses consistently and rebuilds exactly',
      async (_, f) => {
        const first = await parseOutcome(module, f.name, f.bytes);
        if ('error' in first) throw first.error;
        expectConsistent(module, first.checkpoint, f.bytes);
        const second = await parseOutcome(module, f.name, f.bytes);
        expect(second).toEqual(first);
      },
    );

    it.each(valid.map((f) => [f.name, f] as const))('detect: claims %s', (_, f) => {
      expect(module.detect(f.bytes.subarray(0, HEAD_BYTES), f.bytes.length)).toBe(true);
      for (let n = 0; n <= Math.min(16, f.bytes.length); n++) {
        expect(typeof module.detect(f.bytes.subarray(0, n), f.bytes.length)).toBe('boolean');
      }
    });

    it.each(valid.map((f) => [f.name, f] as const))(
      'truncation: every tried prefix of %s parses consistently or throws FormatError',
      async (_, f) => {
        const whole = await parseOutcome(module, f.name, f.bytes);
        if ('error' in whole) throw whole.error;
        for (const n of truncationLengths(whole.checkpoint, f.bytes.length, allPrefixesUpToBytes)) {
          const prefix = f.bytes.slice(0, n);
          const outcome = await parseOutcome(module, f.name, prefix);
          if ('checkpoint' in outcome) expectConsistent(module, outcome.checkpoint, prefix);
        }
      },
    );

    it.each(valid.map((f) => [f.name, f] as const))(
      'trailing bytes: %s with bytes appended parses consistently or throws FormatError',
      async (_, f) => {
        const tails = [Uint8Array.of(0), new Uint8Array(7).fill(0x20), pseudoRandomBytes(7, 64)];
        for (const tail of tails) {
          const longer = concat(f.bytes, tail);
          const outcome = await parseOutcome(module, f.name, longer);
          if ('checkpoint' in outcome) expectConsistent(module, outcome.checkpoint, longer);
        }
      },
    );

    it('fuzz: mutated valid files parse consistently or throw FormatError', async () => {
      const prepared: { file: ConformanceFile; frameOffsets: number[] }[] = [];
      for (const file of valid) {
        const outcome = await parseOutcome(module, file.name, file.bytes);
        if ('error' in outcome) throw outcome.error;
        const frameOffsets: number[] = [];
        for (const r of listFrameRanges(outcome.checkpoint)) {
          for (let i = 0; i < r.sizeBytes && frameOffsets.length < 1 << 16; i++) frameOffsets.push(r.offsetBytes + i);
        }
        prepared.push({ file, frameOffsets });
      }
      const mutation = fc.record({
        op: fc.constantFrom<Mutation['op']>('set', 'set', 'set', 'insert', 'delete'),
        at: fc.nat(),
        byte: fc.oneof(
          fc.integer({ min: 0, max: 255 }),
          fc.constantFrom(0x22, 0x2c, 0x30, 0x39, 0x5b, 0x5d, 0x7b, 0x7d),
        ),
        inFrame: fc.boolean(),
      });
      await fc.assert(
        fc.asyncProperty(fc.nat(), fc.array(mutation, { minLength: 1, maxLength: 6 }), async (which, mutations) => {
          const { file, frameOffsets } = prepared[which % prepared.length] as (typeof prepared)[number];
          const bytes = applyMutations(file.bytes, frameOffsets, mutations);
          const outcome = await parseOutcome(module, file.name, bytes);
          if ('checkpoint' in outcome) expectConsistent(module, outcome.checkpoint, bytes);
        }),
        { numRuns: 1_000_000, interruptAfterTimeLimit: fuzzMillis, timeout: 10_000 },
      );
    });

    it('fuzz: random bytes parse consistently or throw FormatError', async () => {
      await fc.assert(
        fc.asyncProperty(fc.uint8Array({ maxLength: 256 }), async (bytes) => {
          const outcome = await parseOutcome(module, 'random.bin', bytes);
          if ('checkpoint' in outcome) expectConsistent(module, outcome.checkpoint, bytes);
        }),
        { numRuns: 1_000_000, interruptAfterTimeLimit: Math.max(200, fuzzMillis / 4), timeout: 10_000 },
      );
    });

    it('detect: rejects pseudo-random bytes', () => {
      for (let seed = 1; seed <= 512; seed++) {
        const bytes = pseudoRandomBytes(seed, seed % 129);
        expect(module.detect(bytes.subarray(0, HEAD_BYTES), bytes.length)).toBe(false);
      }
    });

    if (foreign.length > 0) {
      it.each(foreign.map((f) => [f.name, f] as const))('detect: does not claim %s', (_, f) => {
        expect(module.detect(f.bytes.subarray(0, HEAD_BYTES), f.bytes.length)).toBe(false);
      });
    }
  });
}
