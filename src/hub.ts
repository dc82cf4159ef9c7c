// Weft's hub, as a library: the server (git smart HTTP, Git LFS Batch API, users and tokens in SQLite) and its
// merge queue. A second public entry point beside index.ts, so that the CLI (and every git filter process it
// starts) loads hono and SQLite only when a hub command runs.

export { s3OptionsFromEnvironment } from './remote/s3-transport.js';
export {
  createHubApp,
  diffRefs,
  type HubApp,
  type HubAppOptions,
  type HubEnv,
  type HubHooks,
  type PushEvent,
  type RefUpdate,
  readRefs,
} from './server/app.js';
export { type ActionClaim, ActionSigner, authenticate, type Caller } from './server/auth.js';
export {
  canAccess,
  checkRepoName,
  checkUserName,
  countRepos,
  createRepo,
  createToken,
  createUser,
  getRepo,
  grant,
  type HubDatabase,
  type HubRepo,
  isValidRepoName,
  listRepos,
  listTokens,
  listUsers,
  openHubDatabase,
  parseRepoSpec,
  ROLES,
  type Role,
  repoGitDir,
  revoke,
  revokeToken,
  roleOf,
  setAnonymousRead,
  userExists,
  verifyToken,
} from './server/db.js';
export { DEFAULT_MAX_OBJECT_SIZE_BYTES } from './server/lfs-api.js';
export { FileLfsStore, type LfsObjectStore, type PutResult, receiveVerified } from './server/lfs-store.js';
export { type HubLog, type HubLogEntry, jsonLineLog, silentLog } from './server/log.js';
export {
  createQueueRoutes,
  ensureQueueSchema,
  MergeQueue,
  type MergeQueueOptions,
  type Proposal,
  type ProposalState,
  type QueueLogEntry,
} from './server/queue/index.js';
export { withRepoLock } from './server/repo-lock.js';
export { S3LfsStore, s3StoreFor } from './server/s3-lfs-store.js';
export { type RunningHub, type StartHubOptions, startHub } from './server/serve.js';
export {
  type CommitDiff,
  commitDiff,
  createUiApiRoutes,
  createUiRoutes,
  type Heatmap,
  type HeatmapCell,
  type HistoryEntry,
  heatmapOf,
  type LayerModule,
  layerModuleOf,
  type RepoHistory,
  readHistory,
  type UiApiOptions,
  type UiRoutesOptions,
} from './server/ui/index.js';
