// The repository's committed settings, `.weft/config.toml`: merge policies, modules, remotes and gates. This file
// only reads and writes the TOML; each feature validates its own section (and names the key it rejects).

import { readFile } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { UsageError } from '../errors.js';
import { writeFileAtomic } from '../store/write-atomic.js';

/** Where the settings live, relative to the work tree's top level. */
export const WEFT_CONFIG_PATH = '.weft/config.toml';

/** A config file bigger than this is refused before parsing (it is hand-written settings, not data). */
const MAX_CONFIG_BYTES = 4 * 1024 * 1024;

let toml: typeof import('smol-toml') | undefined;
/**
 * The TOML parser, loaded on first use (its CommonJS build, so that parsing stays synchronous): most repositories
 * have no settings file, and every filter start and most commands would otherwise load it for nothing.
 */
function loadToml(): typeof import('smol-toml') {
  toml ??= createRequire(import.meta.url)('smol-toml') as typeof import('smol-toml');
  return toml;
}

/** The parsed TOML document: plain objects, arrays, strings, numbers, booleans (TOML dates stay `Date`). */
export type WeftConfigDocument = Record<string, unknown>;

/**
 * Parses the text of a `.weft/config.toml`; a syntax error becomes UsageError CONFIG_INVALID naming the line.
 * @example parseWeftConfig('[merge]\nmethod = "ties"\n', '.weft/config.toml').merge // → { method: 'ties' }
 */
export function parseWeftConfig(text: string, fileName: string): WeftConfigDocument {
  const { parse, TomlError } = loadToml();
  try {
    return parse(text) as WeftConfigDocument;
  } catch (error) {
    if (error instanceof TomlError) {
      throw new UsageError('CONFIG_INVALID', `${fileName}: line ${error.line}: ${firstLine(error.message)}`, {
        file: fileName,
        cause: error,
      });
    }
    throw error;
  }
}

/**
 * Reads `<topLevel>/.weft/config.toml`; an absent file is an empty document.
 * @example const config = await readWeftConfig({ topLevel: repo.topLevel });
 */
export async function readWeftConfig(options: { topLevel: string }): Promise<WeftConfigDocument> {
  const path = join(options.topLevel, WEFT_CONFIG_PATH);
  let bytes: Buffer;
  try {
    bytes = await readFile(path);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return {};
    throw error;
  }
  if (bytes.length > MAX_CONFIG_BYTES) {
    throw new UsageError(
      'CONFIG_INVALID',
      `${WEFT_CONFIG_PATH}: ${bytes.length} bytes is over the ${MAX_CONFIG_BYTES}-byte limit for a settings file`,
      { file: WEFT_CONFIG_PATH },
    );
  }
  return parseWeftConfig(bytes.toString('utf8'), WEFT_CONFIG_PATH);
}

/**
 * Writes the whole document back atomically (comments in the old file are not kept).
 * @example await writeWeftConfig({ topLevel, config: { ...config, remotes: { origin: { url } } } });
 */
export async function writeWeftConfig(options: { topLevel: string; config: WeftConfigDocument }): Promise<void> {
  const path = join(options.topLevel, WEFT_CONFIG_PATH);
  await writeFileAtomic(path, Buffer.from(`${loadToml().stringify(options.config)}\n`, 'utf8'), {
    tempDir: dirname(path),
    durable: true,
  });
}

/** A TOML table (plain object) at `key` of `parent`, `undefined` when absent; anything else is CONFIG_INVALID. */
export function configTable(parent: WeftConfigDocument, key: string, where: string): WeftConfigDocument | undefined {
  const value = parent[key];
  if (value === undefined) return undefined;
  if (typeof value !== 'object' || value === null || Array.isArray(value) || value instanceof Date) {
    throw new UsageError('CONFIG_INVALID', `${WEFT_CONFIG_PATH}: ${where} must be a table`, { file: WEFT_CONFIG_PATH });
  }
  return value as WeftConfigDocument;
}

function firstLine(message: string): string {
  return message.split('\n')[0] ?? message;
}
