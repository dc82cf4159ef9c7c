// Tests of the shard index parser: the happy path, unsafe shard names, structural errors and the size limit.

import { describe, expect, it } from 'vitest';
import { FormatError, type FormatErrorCode } from '../../errors.js';
import { MAX_SHARD_INDEX_CHARS, parseShardIndex } from './shard-index.js';

const FILE = 'model.safetensors.index.json';

function expectError(text: string, code: FormatErrorCode, message: RegExp): void {
  let error: unknown;
  try {
    parseShardIndex(text, FILE);
  } catch (e) {
    error = e;
  }
  expect(error).toBeInstanceOf(FormatError);
  expect((error as FormatError).code).toBe(code);
  expect((error as FormatError).message.startsWith(`${FILE}: `)).toBe(true);
  expect((error as FormatError).message).toMatch(message);
}

describe('parseShardIndex', () => {
  it('returns the total size, the shard files sorted and once each, and the map', () => {
    const index = parseShardIndex(
      JSON.stringify({
        metadata: { total_size: 96, format: 'pt' },
        weight_map: {
          'lm_head.weight': 'model-00002-of-00002.safetensors',
          'embed.weight': 'model-00001-of-00002.safetensors',
          'norm.weight': 'model-00002-of-00002.safetensors',
        },
      }),
      FILE,
    );
    expect(index.totalSizeBytes).toBe(96);
    expect(index.files).toEqual(['model-00001-of-00002.safetensors', 'model-00002-of-00002.safetensors']);
    expect([...index.weightMap]).toEqual([
      ['lm_head.weight', 'model-00002-of-00002.safetensors'],
      ['embed.weight', 'model-00001-of-00002.safetensors'],
      ['norm.weight', 'model-00002-of-00002.safetensors'],
    ]);
  });

  it('allows a missing metadata or total_size, and keeps "__proto__" as a tensor name', () => {
    const index = parseShardIndex('{"weight_map":{"__proto__":"a.safetensors"}}', FILE);
    expect(index.totalSizeBytes).toBeUndefined();
    expect(index.weightMap.get('__proto__')).toBe('a.safetensors');
    expect(parseShardIndex('{"metadata":{},"weight_map":{}}', FILE)).toEqual({ files: [], weightMap: new Map() });
  });

  it.each([
    ['../escape.safetensors'],
    ['sub/dir.safetensors'],
    ['/etc/passwd'],
    ['..'],
    ['.'],
    [''],
    ['C:evil.safetensors'],
    ['back\\slash.safetensors'],
    ['nul\u0000.safetensors'],
  ])('FORMAT_UNSAFE: refuses the shard name %j', (name) => {
    expectError(
      JSON.stringify({ weight_map: { w: name } }),
      'FORMAT_UNSAFE',
      /tensor "w" maps to .* not a plain file name/,
    );
  });

  it.each([
    ['not JSON', '{', /index is not valid JSON/],
    ['not an object', '[]', /index is \[\], not a JSON object/],
    ['no weight_map', '{"metadata":{}}', /"weight_map" is nothing, not an object/],
    ['weight_map an array', '{"weight_map":[]}', /"weight_map" is \[\]/],
    ['a file that is not a string', '{"weight_map":{"w":1}}', /tensor "w" maps to 1, not a file name/],
    ['metadata not an object', '{"metadata":1,"weight_map":{}}', /"metadata" is 1, not an object/],
    ['negative total_size', '{"metadata":{"total_size":-1},"weight_map":{}}', /"metadata.total_size" is -1/],
    ['string total_size', '{"metadata":{"total_size":"9"},"weight_map":{}}', /"metadata.total_size" is "9"/],
    ['a tensor twice', '{"weight_map":{"w":"a","w":"b"}}', /index has the key "w" twice/],
  ])('FORMAT_BAD_HEADER: %s', (_, text, message) => {
    expectError(text, 'FORMAT_BAD_HEADER', message);
  });

  it('FORMAT_LIMIT: an index text over the limit', () => {
    expectError(
      ' '.repeat(MAX_SHARD_INDEX_CHARS + 1),
      'FORMAT_LIMIT',
      /index of 100000001 characters exceeds the limit/,
    );
  });
});
