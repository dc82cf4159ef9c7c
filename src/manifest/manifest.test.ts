import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { FormatError } from '../errors.js';
import {
  listManifestFrameRanges,
  listManifestRefs,
  looksLikeManifest,
  type Manifest,
  parseManifest,
  printManifest,
} from './manifest.js';

const O1 = 'a'.repeat(64);
const O2 = 'b'.repeat(64);
const C1 = 'c'.repeat(64);
const C2 = 'd'.repeat(64);

const TEXT = [
  'weft 1 safetensors',
  'size 120',
  `frame 64 ${O1}`,
  `tensor "w" F32 [2,2] @64 16 ${C1} dense ${O2}:0-16`,
  `tensor "a \\"quoted\\" name" BF16 [20] @80 40 ${C2} dense ${O2}:16-56`,
  '',
].join('\n');

describe('manifest', () => {
  it('parses and prints the same bytes', () => {
    const m = parseManifest(TEXT, 'model.safetensors');
    expect(m.format).toBe('safetensors');
    expect(m.tensors.map((t) => t.name)).toEqual(['w', 'a "quoted" name']);
    expect(m.tensors[0]?.encoding).toEqual({ kind: 'dense', params: {}, refs: [{ id: O2, start: 0, end: 16 }] });
    expect(printManifest(m)).toBe(TEXT);
    expect(looksLikeManifest(new TextEncoder().encode(TEXT))).toBe(true);
    expect(looksLikeManifest(new TextEncoder().encode('weft 2'))).toBe(false);
  });

  it('keeps encoding parameters in order', () => {
    const line = `tensor "w" F32 [2,2] @64 16 ${C1} xor parent=${C2} rank=8 ${O2}`;
    const text = TEXT.replace(/tensor "w".*\n/, `${line}\n`);
    const m = parseManifest(text);
    expect(m.tensors[0]?.encoding.params).toEqual({ parent: C2, rank: '8' });
    expect(printManifest(m)).toBe(text);
  });

  it('computes frame ranges as the complement of tensors', () => {
    const m = parseManifest(TEXT);
    expect(listManifestFrameRanges(m)).toEqual([{ offsetBytes: 0, sizeBytes: 64 }]);
  });

  const bad: [string, string, RegExp][] = [
    ['version', TEXT.replace('weft 1', 'weft 9'), /line 1: manifest version 9/],
    ['size', TEXT.replace('size 120', 'size x'), /line 2: bad size/],
    ['dtype', TEXT.replace('F32', 'F33'), /line 4: unknown dtype/],
    ['shape bytes', TEXT.replace('[2,2]', '[2,3]'), /line 4: shape \[2,3\] of F32 does not hold 16 bytes/],
    ['content id', TEXT.replace(C1, 'xyz'), /line 4: bad content id/],
    ['ref', TEXT.replace(`${O2}:0-16`, 'nothex'), /line 4: bad object reference/],
    ['ref range', TEXT.replace(`${O2}:0-16`, `${O2}:16-0`), /line 4: object range 16-0 ends before it starts/],
    ['overlap', TEXT.replace('@80', '@70'), /line 5: tensor "a \\"quoted\\" name" overlaps/],
    ['past end', TEXT.replace('size 120', 'size 100'), /past the file size/],
    ['sum', TEXT.replace('size 120', 'size 130'), /line 2: frame \(64 bytes\) and tensors \(56 bytes\) do not add up/],
    ['unknown line', `${TEXT}bogus 1\n`, /line 6: unknown line kind "bogus"/],
    ['name', TEXT.replace('"w"', '"w'), /line 4: (unterminated tensor name|tensor name is not)/],
    ['frame after tensor', `${TEXT}frame 0 -\n`, /line 6: frame lines must come before tensor lines/],
    ['huge number', TEXT.replace('size 120', 'size 99999999999999999999'), /exceeds 2\^53/],
  ];
  for (const [what, text, re] of bad) {
    it(`rejects a bad ${what} naming the line`, () => {
      let err: unknown;
      try {
        parseManifest(text, 'm.safetensors');
      } catch (e) {
        err = e;
      }
      expect(err).toBeInstanceOf(FormatError);
      expect((err as FormatError).code).toBe('MANIFEST_INVALID');
      expect((err as FormatError).message).toMatch(/^m\.safetensors: manifest line \d+: /);
      expect((err as FormatError).message).toMatch(re);
    });
  }

  it('round-trips arbitrary names and layouts (property)', () => {
    const hex = fc.stringMatching(/^[0-9a-f]{64}$/);
    fc.assert(
      fc.property(
        fc.array(fc.record({ name: fc.string({ minLength: 1 }), n: fc.nat(50), gap: fc.nat(10) }), { maxLength: 6 }),
        hex,
        hex,
        (specs, cid, oid) => {
          let at = 0;
          let frame = 0;
          const m: Manifest = { format: 'safetensors', sizeBytes: 0, frames: [], tensors: [] };
          for (const s of specs) {
            at += s.gap;
            frame += s.gap;
            m.tensors.push({
              name: s.name,
              dtype: 'F32',
              shape: [s.n],
              offsetBytes: at,
              sizeBytes: s.n * 4,
              contentId: cid as never,
              encoding: { kind: 'dense', params: {}, refs: [{ id: oid as never }] },
            });
            at += s.n * 4;
          }
          m.sizeBytes = at;
          m.frames.push({ sizeBytes: frame, refs: [{ id: oid as never }] });
          const text = printManifest(m);
          expect(parseManifest(text)).toEqual(m);
          expect(printManifest(parseManifest(text))).toBe(text);
        },
      ),
    );
  });

  it('never throws anything but FormatError on mutated text (fuzz)', () => {
    fc.assert(
      fc.property(fc.nat(TEXT.length - 1), fc.string({ maxLength: 4 }), (at, insert) => {
        const text = TEXT.slice(0, at) + insert + TEXT.slice(at + 1);
        try {
          parseManifest(text);
        } catch (e) {
          expect(e).toBeInstanceOf(FormatError);
        }
      }),
      { numRuns: 3000 },
    );
  });
});

describe('update encodings in manifests', () => {
  const H = (c: string) => c.repeat(64);
  const text = [
    'weft 1 safetensors',
    'size 16',
    `tensor "w" F32 [2,2] @0 16 ${H('a')} delta parent=${H('b')} depth=2 patch=sparse nnz=1 idx=${H('1')}:0-4 ${H('2')}:0-4`,
    `parent ${H('b')} 16 lowrank parent=${H('c')} depth=1 dtype=F32 shape=2x2 rank=1 scale=0.5 a=${H('3')}:0-8 b=${H('3')}:8-16 patch=none -`,
    `parent ${H('c')} 16 dense ${H('4')}`,
    '',
  ].join('\n');

  it('round-trips parent lines and lists every object they name', () => {
    const m = parseManifest(text, 'm');
    expect(m.parents?.map((p) => p.contentId)).toEqual([H('b'), H('c')]);
    expect(printManifest(m)).toBe(text);
    expect(new Set(listManifestRefs(m).map((r) => r.id))).toEqual(new Set([H('1'), H('2'), H('3'), H('4')]));
  });

  it('rejects tensors after parents, repeated parents and bad reference parameters', () => {
    const lines = text.split('\n');
    expect(() => parseManifest([lines[0], lines[1], lines[4], lines[2], ''].join('\n'), 'm')).toThrow(
      /line 4: tensor lines must come before parent lines/,
    );
    expect(() => parseManifest([...lines.slice(0, 5), lines[4], ''].join('\n'), 'm')).toThrow(/listed twice/);
    expect(() => parseManifest(text.replace('idx=', 'idx=zz'), 'm')).toThrow(/line 3: bad object reference/);
  });
});
