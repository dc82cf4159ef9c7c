// Renders untrusted names and values for one-line error messages: quoted, escaped, shortened.
// Pure; must never echo control characters (terminal escapes, CWE-150) or megabytes of input into a message.

/** Longest rendering of one untrusted name or value in a message; keeps messages one readable line. */
export const MAX_DESCRIBED_CHARS = 80;

/**
 * A name as it appears in an error message: JSON-quoted (so control characters are escaped) and shortened.
 *
 * @example
 * quoteName('w'); // → '"w"'
 */
export function quoteName(name: string): string {
  const short = name.length > MAX_DESCRIBED_CHARS ? `${name.slice(0, MAX_DESCRIBED_CHARS)}…` : name;
  return escapeUnprintable(JSON.stringify(short));
}

/**
 * Any parsed JSON value as it appears in an error message: compact JSON, shortened; `undefined` is "nothing".
 *
 * @example
 * describeValue([-8, 24]); // → '[-8,24]'
 */
export function describeValue(value: unknown): string {
  if (value === undefined) return 'nothing';
  if (typeof value === 'string') return quoteName(value);
  const text = JSON.stringify(value) ?? String(value);
  return escapeUnprintable(text.length > MAX_DESCRIBED_CHARS ? `${text.slice(0, MAX_DESCRIBED_CHARS)}…` : text);
}

/**
 * Free text (a library's error message that may quote the input) made one short line: control characters and line
 * separators escaped, cut at twice the usual length.
 *
 * @example
 * describeText('bad\ninput'); // → 'bad\\u000ainput'
 */
export function describeText(text: string): string {
  const limit = 2 * MAX_DESCRIBED_CHARS;
  return escapeUnprintable(text.length > limit ? `${text.slice(0, limit)}…` : text);
}

// C0 and C1 controls, DEL and the Unicode line separators: JSON.stringify escapes only the C0 ones.
function escapeUnprintable(text: string): string {
  return text.replace(
    /[\u0000-\u001f\u007f-\u009f\u2028\u2029]/g,
    (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`,
  );
}
