// Tests of the JSON key scanner: duplicates at any depth, escaped spellings, root key order.

import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { scanJsonKeys } from './scan-json-keys.js';

describe('scanJsonKeys', () => {
  it.each([
    ['{}', undefined, []],
    ['{"a":1,"b":{"a":2}}', undefined, ['a', 'b']],
    ['{"a":1,"a":2}', 'a', ['a']],
    ['{"x":{"k":1,"k":2}}', 'k', ['x']],
    ['{"a":1,"\\u0061":2}', 'a', ['a']],
    ['{"a":["b",{"b":1}],"b":"a:"}', undefined, ['a', 'b']],
    ['{"q\\"":1 , "q\\\\" :2}', undefined, ['q"', 'q\\']],
    ['[{"a":1},{"a":1}]', undefined, []],
    ['{"b":1,"10":2,"9":3}', undefined, ['b', '10', '9']],
  ])('%s', (text, duplicate, rootKeys) => {
    JSON.parse(text);
    expect(scanJsonKeys(text)).toEqual({ duplicate, rootKeys });
  });

  it('finds no duplicate in anything JSON.stringify writes, and lists the same root keys', () => {
    fc.assert(
      fc.property(fc.dictionary(fc.string(), fc.jsonValue(), { maxKeys: 8 }), (value) => {
        const text = JSON.stringify(value, null, 1);
        expect(scanJsonKeys(text)).toEqual({ duplicate: undefined, rootKeys: Object.keys(JSON.parse(text)) });
      }),
    );
  });
});
