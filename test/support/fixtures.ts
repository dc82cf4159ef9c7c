// Reads the shared fixture files (../shared/fixtures) for tests. Test-only, outside src/ so that
// the pure layers never import node:fs, not even in test support.

import { readdirSync, readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

/** The folder of shared fixtures: /work/shared/fixtures beside the project. */
export const FIXTURES_DIR = fileURLToPath(new URL('../../../shared/fixtures/', import.meta.url));

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
