// Structured logs for the hub: one JSON object per line. Callers pass paths without query strings and never pass
// tokens, passwords or Authorization headers.

import type { Writable } from 'node:stream';

export interface HubLogEntry {
  level: 'info' | 'warn' | 'error';
  msg: string;
  [key: string]: unknown;
}

export type HubLog = (entry: HubLogEntry) => void;

/**
 * A logger writing one JSON line per entry (with an ISO time) to `stream`.
 *
 * @example
 * const log = jsonLineLog(process.stderr);
 * log({ level: 'info', msg: 'request', method: 'GET', path: '/healthz', status: 200, ms: 1 });
 */
export function jsonLineLog(stream: Writable): HubLog {
  return (entry) => {
    stream.write(`${JSON.stringify({ time: new Date().toISOString(), ...entry })}\n`);
  };
}

/** A logger that drops everything (tests that do not look at logs). */
export const silentLog: HubLog = () => {};
