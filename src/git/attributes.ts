// Editing `.gitattributes` text for `weft track` / `weft untrack`: add, remove and list the patterns routed
// through Weft. Pure text in, text out: no I/O, and every line it does not own is kept byte for byte.

import { UsageError } from '../errors.js';

/** What a tracked pattern carries, in this order. `-text`: never convert line endings of model files. */
export const WEFT_ATTRIBUTES = ['filter=weft', 'diff=weft', 'merge=weft', '-text'] as const;

/** Attributes Weft sets: any other state of them on a tracked pattern's line is replaced. */
const MANAGED_NAMES = new Set(['filter', 'diff', 'merge', 'text']);

/** git's attribute-line separators (attr.c's `blank`). */
const BLANK = /[ \t\r\n]+/;

export interface AttributesEdit {
  text: string;
  /** Whether `text` differs from the input. */
  changed: boolean;
}

export interface TrackEdit extends AttributesEdit {
  /**
   * Attributes of the pattern's line that Weft's replaced, e.g. `['filter=lfs', 'diff=lfs', 'merge=lfs']` when
   * taking a pattern over from Git LFS. Worth telling the user.
   */
  replaced: string[];
}

interface PatternLine {
  /** Index into the text's lines. */
  index: number;
  indent: string;
  /** The pattern as written (quoted or not), kept when the line is rewritten. */
  patternToken: string;
  /** The pattern git matches (unquoted). */
  pattern: string;
  attributes: string[];
  /** "\r" if the line ended with CRLF. */
  cr: string;
}

/**
 * Makes `pattern` carry `filter=weft diff=weft merge=weft -text`. The last line for exactly that pattern is
 * updated in place, keeping its other attributes and replacing other states of filter/diff/merge/text (which
 * `replaced` lists); otherwise a line is appended. Idempotent. Patterns with blanks are written C-quoted.
 * Rejects (UsageError) patterns gitattributes cannot hold: empty, negated (`!…`) or macros (`[attr]…`).
 *
 * @example
 * addTrackPattern('*.bin eol=lf\n', '*.bin');
 * // { text: '*.bin eol=lf filter=weft diff=weft merge=weft -text\n', changed: true, replaced: [] }
 */
export function addTrackPattern(text: string, pattern: string): TrackEdit {
  validatePattern(pattern);
  const lines = text.split('\n');
  const existing = parseLines(lines).filter((line) => line.pattern === pattern);
  const line = existing.at(-1);
  if (line === undefined) {
    const eol = text.includes('\r\n') ? '\r\n' : '\n';
    const separator = text === '' || text.endsWith('\n') ? '' : eol;
    const added = `${quotePattern(pattern)} ${WEFT_ATTRIBUTES.join(' ')}${eol}`;
    return { text: text + separator + added, changed: true, replaced: [] };
  }
  const managed = line.attributes.filter((attribute) => MANAGED_NAMES.has(nameOf(attribute)));
  const alreadyOurs =
    managed.length === WEFT_ATTRIBUTES.length && WEFT_ATTRIBUTES.every((attribute) => managed.includes(attribute));
  if (alreadyOurs) return { text, changed: false, replaced: [] };
  const kept = line.attributes.filter((attribute) => !MANAGED_NAMES.has(nameOf(attribute)));
  const replaced = [...new Set(managed.filter((a) => !(WEFT_ATTRIBUTES as readonly string[]).includes(a)))];
  lines[line.index] = renderLine(line, [...kept, ...WEFT_ATTRIBUTES]);
  return { text: lines.join('\n'), changed: true, replaced };
}

/**
 * Removes Weft's attributes from every line for exactly `pattern` (`-text` only where `filter=weft` was set),
 * deleting lines left without attributes. Other lines and attributes are untouched.
 *
 * @example
 * removeTrackPattern('*.bin eol=lf filter=weft diff=weft merge=weft -text\n', '*.bin');
 * // { text: '*.bin eol=lf\n', changed: true }
 */
export function removeTrackPattern(text: string, pattern: string): AttributesEdit {
  const source = text.split('\n');
  const lines: (string | undefined)[] = [...source];
  let changed = false;
  for (const line of parseLines(source)) {
    if (line.pattern !== pattern) continue;
    const ours = line.attributes.includes('filter=weft');
    const kept = line.attributes.filter(
      (attribute) =>
        !(attribute === 'filter=weft' || attribute === 'diff=weft' || attribute === 'merge=weft') &&
        !(ours && attribute === '-text'),
    );
    if (kept.length === line.attributes.length) continue;
    changed = true;
    lines[line.index] = kept.length === 0 ? undefined : renderLine(line, kept);
  }
  return { text: lines.filter((line) => line !== undefined).join('\n'), changed };
}

/**
 * The patterns whose files go through Weft: those whose last line sets `filter=weft`, in order of appearance,
 * unquoted.
 *
 * @example
 * listTrackedPatterns('*.safetensors filter=weft diff=weft merge=weft -text\n*.txt text\n'); // ['*.safetensors']
 */
export function listTrackedPatterns(text: string): string[] {
  const filterOf = new Map<string, string | undefined>();
  for (const line of parseLines(text.split('\n'))) {
    const filter = line.attributes.filter((attribute) => nameOf(attribute) === 'filter').at(-1);
    if (filter !== undefined || !filterOf.has(line.pattern)) {
      // Map keeps first-insertion order while later lines update the value.
      filterOf.set(line.pattern, filter ?? filterOf.get(line.pattern));
    }
  }
  return [...filterOf].filter(([, filter]) => filter === 'filter=weft').map(([pattern]) => pattern);
}

function validatePattern(pattern: string): void {
  if (pattern === '' || /^[ \t\r\n]*$/.test(pattern)) throw new UsageError('USAGE', 'empty track pattern');
  if (pattern.startsWith('!')) {
    throw new UsageError(
      'USAGE',
      `pattern ${JSON.stringify(pattern)}: negative patterns are not allowed in .gitattributes`,
    );
  }
  if (pattern.startsWith('[attr]')) {
    throw new UsageError('USAGE', `pattern ${JSON.stringify(pattern)} would define an attribute macro`);
  }
}

/** The lines that assign attributes to a pattern (not blank, comment or macro lines), as git parses them. */
function parseLines(lines: readonly string[]): PatternLine[] {
  const parsed: PatternLine[] = [];
  lines.forEach((raw, index) => {
    const cr = raw.endsWith('\r') ? '\r' : '';
    const body = cr === '' ? raw : raw.slice(0, -1);
    const indent = /^[ \t\r]*/.exec(body)![0];
    const rest = body.slice(indent.length);
    if (rest === '' || rest.startsWith('#')) return;
    // attr.c: a pattern that starts with a double quote is C-quoted, unless it fails to unquote.
    const quoted = rest.startsWith('"') ? unquoteC(rest) : undefined;
    const patternToken = quoted === undefined ? rest.split(BLANK)[0]! : rest.slice(0, quoted.end);
    const pattern = quoted === undefined ? patternToken : quoted.value;
    if (pattern.startsWith('[attr]')) return;
    const attributes = rest
      .slice(patternToken.length)
      .split(BLANK)
      .filter((attribute) => attribute !== '');
    parsed.push({ index, indent, patternToken, pattern, attributes, cr });
  });
  return parsed;
}

function renderLine(line: PatternLine, attributes: readonly string[]): string {
  return `${line.indent}${line.patternToken} ${attributes.join(' ')}${line.cr}`;
}

/** An attribute's name: `-text`, `!text`, `text` and `text=auto` are all `text`. */
function nameOf(attribute: string): string {
  const bare = attribute.startsWith('-') || attribute.startsWith('!') ? attribute.slice(1) : attribute;
  const at = bare.indexOf('=');
  return at < 0 ? bare : bare.slice(0, at);
}

const C_ESCAPES: Record<string, string> = {
  '"': '\\"',
  '\\': '\\\\',
  '\x07': '\\a',
  '\b': '\\b',
  '\f': '\\f',
  '\n': '\\n',
  '\r': '\\r',
  '\t': '\\t',
  '\v': '\\v',
};

/**
 * The pattern as a .gitattributes line must spell it: verbatim, or C-quoted when it holds blanks or control
 * characters or starts with `"` or `#` (git would read a comment).
 */
function quotePattern(pattern: string): string {
  if (!/[\x00-\x20\x7f]/.test(pattern) && !pattern.startsWith('"') && !pattern.startsWith('#')) return pattern;
  let quoted = '"';
  for (const char of pattern) {
    const code = char.charCodeAt(0);
    quoted += C_ESCAPES[char] ?? (code < 0x20 || code === 0x7f ? `\\${code.toString(8).padStart(3, '0')}` : char);
  }
  return `${quoted}"`;
}

const C_UNESCAPES: Record<string, number> = { a: 7, b: 8, f: 12, n: 10, r: 13, t: 9, v: 11, '\\': 92, '"': 34 };

/** git's unquote_c_style: the value and the index just past the closing quote, or undefined if malformed. */
function unquoteC(text: string): { value: string; end: number } | undefined {
  const bytes: number[] = [];
  const encoder = new TextEncoder();
  let i = 1;
  while (i < text.length) {
    const char = text[i]!;
    if (char === '"') return { value: new TextDecoder().decode(new Uint8Array(bytes)), end: i + 1 };
    if (char !== '\\') {
      const codePoint = text.codePointAt(i)!;
      const unit = String.fromCodePoint(codePoint);
      bytes.push(...encoder.encode(unit));
      i += unit.length;
      continue;
    }
    const next = text[i + 1];
    if (next === undefined) return undefined;
    const simple = C_UNESCAPES[next];
    if (simple !== undefined) {
      bytes.push(simple);
      i += 2;
    } else if (/^[0-3][0-7][0-7]$/.test(text.slice(i + 1, i + 4))) {
      // Octal escapes are bytes (git quotes non-ASCII bytes this way).
      bytes.push(Number.parseInt(text.slice(i + 1, i + 4), 8));
      i += 4;
    } else {
      return undefined;
    }
  }
  return undefined;
}
