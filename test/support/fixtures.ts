// Reads the shared fixture files (../shared/fixtures) for tests. Test-only, outside src/ so that
// the pure layers never import node:fs, not even in test support.

import { readdirSync, readFileSync } from 'node:fs';
import { FIXTURES_ROOT } from './fixtures-dir.js';

/** The folder of shared fixtures (see fixtures-dir.ts), with a trailing slash. */
export const FIXTURES_DIR = `${FIXTURES_ROOT}/`;

/** The bytes of a fixture file, by path relative to FIXTURES_DIR. */
export function readFixture(relativePath: string): Uint8Array {
  const buffer = readFileSync(`${FIXTURES_DIR}${relativePath}`);
  return new Uint8Array(buffer.buffer, buffer.byteOffset, buffer.byteLength);
}

/** A fixture JSON file, parsed. */
export function readFixtureJson(relativePath: string): unknown {
  return JSON.parse(readFileSync(`${FIXTURES_DIR}${relativePath}`, 'utf8'));
}

/** The names of the files in a fixture folder that end with `suffix`, sorted. */
export function listFixtures(folder: string, suffix: string): string[] {
  return readdirSync(`${FIXTURES_DIR}${folder}`)
    .filter((name) => name.endsWith(suffix))
    .sort();
}
