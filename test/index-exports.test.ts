// Pins the public surface: every name src/index.ts exports, so a change to it is deliberate (STYLE.md).
import { expect, it } from 'vitest';
import * as weft from '../src/index.js';

it('exports exactly the documented names', () => {
  expect(Object.keys(weft).sort()).toMatchInlineSnapshot(`
    [
      "DTYPES",
      "EXIT_BAD_INPUT",
      "EXIT_INTERNAL",
      "EXIT_NO",
      "EXIT_OK",
      "FormatError",
      "GC_GRACE_MS",
      "GitError",
      "RemoteError",
      "StoreError",
      "UsageError",
      "VERSION",
      "WEFT_NOTES_REF",
      "WeftError",
      "applyAdapter",
      "diffVersions",
      "diskUsage",
      "dtypeSize",
      "evaluateRevision",
      "exitCodeOf",
      "extractAdapter",
      "fsckRepo",
      "gateCandidate",
      "gcRepo",
      "initRepo",
      "inspectCheckpoint",
      "isDtype",
      "listManifestFrameRanges",
      "logHistory",
      "looksLikeManifest",
      "mergeManifests",
      "openRepo",
      "parseManifest",
      "printManifest",
      "readWeftNote",
      "runFilterProcess",
      "runMergeDriver",
      "statusRepo",
      "storeGrowthByCommit",
      "trackPatterns",
      "weftGitConfig",
    ]
  `);
});
