// Reads the shared fixture files (../shared/fixtures) for tests. Test-only: the one place in formats/ that touches
// the file system, and only to read.

// biome-ignore lint/style/noRestrictedImports: tests read the shared fixture files; the module code stays I/O-free.
import { readdirSync, readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

/** The folder of shared fixtures: /work/shared/fixtures beside the project. */
export const FIXTURES_DIR = fileURLToPath(new URL('../../../../../shared/fixtures/', import.meta.url));

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
