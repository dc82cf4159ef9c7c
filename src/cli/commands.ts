// The table of every CLI command; main.ts parses against it and --help renders it.

import { adapterCommand } from './adapter.js';
import { checkoutCommand } from './checkout.js';
import type { CommandSpec } from './command.js';
import { diffCommand } from './diff.js';
import { evalCommand } from './eval.js';
import { fetchCommand, pullCommand } from './fetch.js';
import { filterProcessCommand } from './filter-process.js';
import { gateCommand } from './gate.js';
import { hubCommand } from './hub.js';
import { initCommand } from './init.js';
import { inspectCommand } from './inspect.js';
import { logCommand } from './log.js';
import { duCommand, fsckCommand, gcCommand } from './maintenance.js';
import { mergeCommand } from './merge.js';
import { mergeFilesCommand } from './merge-files.js';
import { mergeDriverCommand, prePushCommand, showManifestCommand } from './plumbing.js';
import { pushCommand } from './push.js';
import { remoteCommand } from './remote.js';
import { repackCommand } from './repack.js';
import { resolveCommand } from './resolve.js';
import { serveCommand } from './serve.js';
import { statsCommand } from './stats.js';
import { statusCommand } from './status.js';
import { trackCommand, untrackCommand } from './track.js';

export const COMMANDS: readonly CommandSpec[] = [
  initCommand,
  trackCommand,
  untrackCommand,
  statusCommand,
  logCommand,
  diffCommand,
  inspectCommand,
  mergeCommand,
  mergeFilesCommand,
  statsCommand,
  resolveCommand,
  adapterCommand,
  evalCommand,
  gateCommand,
  duCommand,
  fsckCommand,
  gcCommand,
  repackCommand,
  remoteCommand,
  pushCommand,
  fetchCommand,
  pullCommand,
  checkoutCommand,
  serveCommand,
  hubCommand,
  filterProcessCommand,
  showManifestCommand,
  mergeDriverCommand,
  prePushCommand,
];
