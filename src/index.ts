// The public library surface of Weft. Every export is named here explicitly (no `export *`); the CLI and the
// server import only this file. A test pins the list.

export type { ErrorCode } from './errors.js';
export {
  EXIT_BAD_INPUT,
  EXIT_INTERNAL,
  EXIT_NO,
  EXIT_OK,
  exitCodeOf,
  FormatError,
  GitError,
  RemoteError,
  StoreError,
  UsageError,
  WeftError,
} from './errors.js';
export type { ContentId, Manifest, ManifestTensor, TensorEncoding } from './manifest/manifest.js';
export {
  listManifestFrameRanges,
  looksLikeManifest,
  parseManifest,
  printManifest,
} from './manifest/manifest.js';
export type { ConflictReport } from './merge/conflict-report.js';
export { conflictReport } from './merge/conflict-report.js';
export type { TensorMergeOutcome } from './merge/merge-tensor.js';
export { mergeTensorWithPolicy } from './merge/merge-tensor.js';
export type { MergePolicy, ModuleSpec, TensorMerge } from './merge/policy.js';
export { moduleOf, parseMergePolicy, resolveTensorMerge } from './merge/policy.js';
export { getMergeMethod, MERGE_METHOD_NAMES, runMerge } from './merge/registry.js';
export type { AppliedTensor, ApplyAdapterResult, ExtractedTensor } from './ops/adapter.js';
export { applyAdapter, extractAdapter } from './ops/adapter.js';
export type { DiffOptions, FileChange, Side, TensorChange, TensorStats } from './ops/diff.js';
export { diffVersions } from './ops/diff.js';
export type { EvalProgress, EvalResult, EvalSuiteResult, GateReport } from './ops/evaluate.js';
export { evaluateRevision, gateCandidate, readWeftNote, WEFT_NOTES_REF } from './ops/evaluate.js';
export type { FetchOptions, FetchResult, PullResult } from './ops/fetch.js';
export { fetchMissingObjects, fetchObjects, pullObjects } from './ops/fetch.js';
export type { FilterProcessOptions } from './ops/filter-process.js';
export { runFilterProcess } from './ops/filter-process.js';
export type { CommitGrowth, CommitSummary, LogOptions } from './ops/history.js';
export { logHistory, storeGrowthByCommit } from './ops/history.js';
export type { InitOptions, InitResult } from './ops/init.js';
export { initRepo, weftGitConfig } from './ops/init.js';
export type { InspectedTensor, InspectOptions, InspectResult } from './ops/inspect.js';
export { inspectCheckpoint } from './ops/inspect.js';
export type { DuResult, FsckProblem, FsckResult, GcResult } from './ops/maintenance.js';
export { diskUsage, fsckRepo, GC_GRACE_MS, gcRepo } from './ops/maintenance.js';
export type { MergeBranchesResult } from './ops/merge-branches.js';
export { MAX_TUNE_SETTINGS, mergeBranches, parseTuneArg } from './ops/merge-branches.js';
export type { MergeConflict, MergeDriverResult } from './ops/merge-driver.js';
export { mergeManifests, runMergeDriver } from './ops/merge-driver.js';
export type { MergeFilesOptions, MergeFilesResult } from './ops/merge-files.js';
export { mergeFiles, parseParamArgs, readMergekitConfig } from './ops/merge-files.js';
export type { ModelMergeResult, TensorConflict, TensorResolution } from './ops/merge-models.js';
export { mergeModelVersions } from './ops/merge-models.js';
export type { OpenedFile } from './ops/open-checkpoint.js';
export { openCheckpointFile } from './ops/open-checkpoint.js';
export type {
  PartialCheckoutOptions,
  PartialCheckoutResult,
  PartialFile,
  PartialSelection,
  TensorPredicate,
} from './ops/partial.js';
export {
  checkoutPartial,
  dropUnmaterialised,
  EXCLUDE_KEY,
  INCLUDE_KEY,
  keepUnmaterialised,
  listPartialFiles,
  readPartialSelection,
  selectionPredicate,
  tensorsToZeroFill,
  writePartialSelection,
} from './ops/partial.js';
export type { PushedRef, PushOptions, PushResult, TransferProgress } from './ops/push.js';
export { parsePrePushInput, pushObjects } from './ops/push.js';
export type { WeftRemote } from './ops/remote-config.js';
export { addRemote, listRemotes, removeRemote, resolveRemote } from './ops/remote-config.js';
export type { KeyframePlan, RepackProgress, RepackResult, VersionGraph } from './ops/repack.js';
export { checkMaxChain, effectiveDepths, MAX_REPACK_CHAIN, planKeyframes, repackRepo } from './ops/repack.js';
export type { Repo } from './ops/repo.js';
export { openBareRepo, openRepo } from './ops/repo.js';
export type { ConflictedModel, ResolveResult } from './ops/resolve.js';
export { listConflictedModels, resolveConflicts } from './ops/resolve.js';
export type { StatisticsInfo, StatisticsKind } from './ops/stats.js';
export {
  checkpointContentIdOfFile,
  combineStatistics,
  readStatisticsInfo,
  STATS_METADATA,
} from './ops/stats.js';
export type { StatusResult } from './ops/status.js';
export { statusRepo } from './ops/status.js';
export type { KeyframeSource } from './ops/tensor-decode.js';
export { keyframeOf } from './ops/tensor-decode.js';
export { compileTensorGlob, MAX_GLOB_CHARS } from './ops/tensor-glob.js';
export type { TrackResult } from './ops/track.js';
export { trackPatterns } from './ops/track.js';
export type { Dtype } from './tensor/dtype.js';
export { DTYPES, dtypeSize, isDtype } from './tensor/dtype.js';

export { VERSION } from './version.js';
