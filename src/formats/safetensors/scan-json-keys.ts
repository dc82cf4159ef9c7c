// Lists the keys of a JSON text's root object in document order and finds a key repeated within any object: the two
// facts JSON.parse hides (it reorders integer-like keys and keeps the last duplicate). Pure; expects valid JSON.

/** What `scanJsonKeys` found. */
export interface JsonKeyScan {
  /** The first key that occurs twice in one object, unescaped; `undefined` when there is none. */
  duplicate: string | undefined;
  /** The keys of the root object in the order they are written (empty if the root is not an object). */
  rootKeys: string[];
}

/**
 * Scans the keys of `text`. Keys are compared after unescaping, so `"a"` and `"\u0061"` are the same key. `text`
 * must be valid JSON (check with `JSON.parse` first); on other text the answer is unspecified but the scan still
 * ends. The scan stops at the first duplicate.
 *
 * @example
 * scanJsonKeys('{"w":1,"w":2}'); // → { duplicate: 'w', rootKeys: ['w'] }
 * scanJsonKeys('{"b":1,"10":2,"9":3}').rootKeys; // → ['b', '10', '9'] (Object.keys gives ['9', '10', 'b'])
 */
export function scanJsonKeys(text: string): JsonKeyScan {
  const rootKeys: string[] = [];
  // One entry per open container: the keys seen so far for an object, null for an array.
  const open: (Set<string> | null)[] = [];
  const n = text.length;
  let i = 0;
  while (i < n) {
    const c = text.charCodeAt(i);
    if (c === QUOTE) {
      const start = i;
      let escaped = false;
      i++;
      while (i < n) {
        const d = text.charCodeAt(i);
        if (d === BACKSLASH) {
          escaped = true;
          i += 2;
        } else if (d === QUOTE) {
          break;
        } else {
          i++;
        }
      }
      i++;
      const keys = open[open.length - 1];
      if (keys) {
        let j = i;
        while (j < n && isJsonWhitespace(text.charCodeAt(j))) j++;
        if (text.charCodeAt(j) === COLON) {
          const raw = text.slice(start, i);
          const key = escaped ? (JSON.parse(raw) as string) : raw.slice(1, -1);
          if (keys.has(key)) return { duplicate: key, rootKeys };
          keys.add(key);
          if (open.length === 1) rootKeys.push(key);
        }
      }
      continue;
    }
    if (c === OPEN_BRACE) open.push(new Set());
    else if (c === OPEN_BRACKET) open.push(null);
    else if (c === CLOSE_BRACE || c === CLOSE_BRACKET) open.pop();
    i++;
  }
  return { duplicate: undefined, rootKeys };
}

const QUOTE = 0x22;
const BACKSLASH = 0x5c;
const COLON = 0x3a;
const OPEN_BRACE = 0x7b;
const CLOSE_BRACE = 0x7d;
const OPEN_BRACKET = 0x5b;
const CLOSE_BRACKET = 0x5d;

function isJsonWhitespace(c: number): boolean {
  return c === 0x20 || c === 0x09 || c === 0x0a || c === 0x0d;
}
