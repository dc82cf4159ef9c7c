// Tests that untrusted names and values reach messages escaped and shortened.

import { describe, expect, it } from 'vitest';
import { describeText, describeValue, MAX_DESCRIBED_CHARS, quoteName } from './describe-value.js';

describe('describe-value', () => {
  it('quotes names with every control character and line separator escaped', () => {
    expect(quoteName('w')).toBe('"w"');
    expect(quoteName('\u001b[2J\n\u0085\u2028\u007f')).toBe('"\\u001b[2J\\n\\u0085\\u2028\\u007f"');
    expect(describeText('a\r\nb')).toBe('a\\u000d\\u000ab');
  });

  it('shortens long names and values', () => {
    expect(quoteName('x'.repeat(1000))).toBe(`"${'x'.repeat(MAX_DESCRIBED_CHARS)}…"`);
    expect(describeValue(Array.from({ length: 1000 }, () => 1)).length).toBe(MAX_DESCRIBED_CHARS + 1);
  });

  it('renders JSON values compactly and undefined as "nothing"', () => {
    expect(describeValue([-8, 24])).toBe('[-8,24]');
    expect(describeValue(undefined)).toBe('nothing');
    expect(describeValue(null)).toBe('null');
    expect(describeValue('F33')).toBe('"F33"');
  });
});
