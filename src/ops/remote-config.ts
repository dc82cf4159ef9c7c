// Weft remotes: `[remotes.<name>]` in `.weft/config.toml` (committed, so never a secret in it), and resolving the
// remote an operation talks to: a Weft remote of that name, else the git remote's LFS endpoint, as git-lfs finds it.

import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { UsageError } from '../errors.js';
import { runGit } from '../git/run-git.js';
import { FilesystemTransport } from '../remote/filesystem-transport.js';
import { LfsTransport } from '../remote/lfs-transport.js';
import { type LfsEndpoint, lfsEndpointForGitRemote, lfsEndpointFromGitUrl, localGitDir } from '../remote/lfs-url.js';
import { S3Transport, s3OptionsFromEnvironment } from '../remote/s3-transport.js';
import { redactUrl, type Transport } from '../remote/transport.js';
import type { Repo } from './repo.js';
import {
  configTable,
  parseWeftConfig,
  readWeftConfig,
  WEFT_CONFIG_PATH,
  type WeftConfigDocument,
  writeWeftConfig,
} from './weft-config.js';

/** A remote as stored in `.weft/config.toml`. */
export interface WeftRemote {
  name: string;
  /** `s3://bucket/prefix`, `https://…` (a git or LFS URL), `file://…` or a path (relative to the work tree). */
  url: string;
  /** S3 only: endpoint, region and path-style addressing (credentials come from the environment). */
  endpoint?: string;
  region?: string;
  pathStyle?: boolean;
}

/** Keys a `[remotes.<name>]` table may hold; anything else (a secret, say) is refused. */
const REMOTE_KEYS = new Set(['url', 'endpoint', 'region', 'path_style']);
const NAME = /^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$/;

function invalid(message: string): UsageError {
  return new UsageError('CONFIG_INVALID', `${WEFT_CONFIG_PATH}: ${message}`, { file: WEFT_CONFIG_PATH });
}

/** Refuses URLs that carry a secret (a password, a signed query): the config file is committed. */
function checkNoSecret(url: string, where: string): void {
  if (/^[a-z][a-z0-9+.-]*:\/\/[^/@\s]*:[^/@\s]*@/i.test(url)) {
    throw new UsageError(
      'USAGE',
      `${where}: the URL holds a password; .weft/config.toml is committed — use git credential instead`,
    );
  }
  if (/[?&](x-amz-signature|x-amz-credential|signature|token|access_token)=/i.test(url)) {
    throw new UsageError('USAGE', `${where}: the URL holds a signature or token; .weft/config.toml is committed`);
  }
}

function checkUrl(url: string, where: string): void {
  if (url.length === 0 || url.length > 4096 || /[\s\0]/.test(url))
    throw new UsageError('USAGE', `${where}: not a usable URL`);
  checkNoSecret(url, where);
  if (/^[a-z][a-z0-9+.-]*:\/\//i.test(url) && !/^(s3|https?|file):\/\//.test(url)) {
    throw new UsageError('USAGE', `${where}: ${redactUrl(url)}: expected s3://, https://, http://, file:// or a path`);
  }
}

/**
 * The Weft remotes configured in `.weft/config.toml`, sorted by name.
 *
 * @example
 * await listRemotes({ repo }) // → [{ name: 'origin', url: 's3://models/llama' }]
 */
export async function listRemotes(options: { repo: Repo }): Promise<WeftRemote[]> {
  const config = await readRemoteConfig(options.repo);
  const table = configTable(config, 'remotes', '[remotes]') ?? {};
  const out: WeftRemote[] = [];
  for (const name of Object.keys(table).sort()) {
    const t = configTable(table, name, `[remotes.${name}]`)!;
    for (const key of Object.keys(t)) {
      if (!REMOTE_KEYS.has(key))
        throw invalid(`[remotes.${name}] has unknown key ${JSON.stringify(key)} (secrets belong in the environment)`);
    }
    if (typeof t.url !== 'string') throw invalid(`[remotes.${name}] needs url = "…"`);
    checkUrl(t.url, `${WEFT_CONFIG_PATH}: [remotes.${name}] url`);
    const r: WeftRemote = { name, url: t.url };
    for (const [key, field] of [
      ['endpoint', 'endpoint'],
      ['region', 'region'],
    ] as const) {
      if (t[key] === undefined) continue;
      if (typeof t[key] !== 'string') throw invalid(`[remotes.${name}] ${key} must be a string`);
      r[field] = t[key] as string;
    }
    if (t.path_style !== undefined) {
      if (typeof t.path_style !== 'boolean') throw invalid(`[remotes.${name}] path_style must be true or false`);
      r.pathStyle = t.path_style;
    }
    if (r.endpoint) checkNoSecret(r.endpoint, `[remotes.${name}] endpoint`);
    out.push(r);
  }
  return out;
}

/**
 * The work tree's `.weft/config.toml`; when absent there (a clone not checked out yet, or smudge running during
 * the clone's checkout), the committed one from the index, else from HEAD.
 */
async function readRemoteConfig(repo: Repo): Promise<WeftConfigDocument> {
  if (existsSync(join(repo.topLevel, WEFT_CONFIG_PATH))) return readWeftConfig({ topLevel: repo.topLevel });
  for (const spec of [`:${WEFT_CONFIG_PATH}`, `HEAD:${WEFT_CONFIG_PATH}`]) {
    const r = await runGit(['cat-file', 'blob', spec], { cwd: repo.topLevel, allowedExitCodes: [0, 1, 128] });
    if (r.code === 0) return parseWeftConfig(r.stdout.toString('utf8'), spec);
  }
  return {};
}

/**
 * Adds (or with `replace`, changes) a Weft remote.
 *
 * @example
 * await addRemote({ repo, remote: { name: 'models', url: 's3://bucket/llama', endpoint: 'https://r2.example' } });
 */
export async function addRemote(options: { repo: Repo; remote: WeftRemote; replace?: boolean }): Promise<void> {
  const { name, url } = options.remote;
  if (!NAME.test(name))
    throw new UsageError('USAGE', `remote name ${JSON.stringify(name)}: use letters, digits, ".", "_" or "-"`);
  checkUrl(url, `remote ${name}`);
  if (options.remote.endpoint) checkNoSecret(options.remote.endpoint, `remote ${name} endpoint`);
  const config = await readWeftConfig({ topLevel: options.repo.topLevel });
  const remotes = { ...(configTable(config, 'remotes', '[remotes]') ?? {}) };
  if (remotes[name] !== undefined && !options.replace) {
    throw new UsageError('USAGE', `remote ${name} already exists in ${WEFT_CONFIG_PATH}; remove it first`);
  }
  const entry: Record<string, unknown> = { url };
  if (options.remote.endpoint) entry.endpoint = options.remote.endpoint;
  if (options.remote.region) entry.region = options.remote.region;
  if (options.remote.pathStyle !== undefined) entry.path_style = options.remote.pathStyle;
  remotes[name] = entry;
  await writeWeftConfig({ topLevel: options.repo.topLevel, config: { ...config, remotes } });
}

/**
 * Removes a Weft remote; USAGE_NOT_FOUND when there is none of that name.
 *
 * @example
 * await removeRemote({ repo, name: 'models' });
 */
export async function removeRemote(options: { repo: Repo; name: string }): Promise<void> {
  const config = await readWeftConfig({ topLevel: options.repo.topLevel });
  const remotes = { ...(configTable(config, 'remotes', '[remotes]') ?? {}) };
  if (remotes[options.name] === undefined) {
    throw new UsageError('USAGE_NOT_FOUND', `no remote ${options.name} in ${WEFT_CONFIG_PATH}`);
  }
  delete remotes[options.name];
  const next: Record<string, unknown> = { ...config, remotes };
  if (Object.keys(remotes).length === 0) delete next.remotes;
  await writeWeftConfig({ topLevel: options.repo.topLevel, config: next });
}

/** The remote an operation uses, opened. */
export interface ResolvedRemote {
  /** The name asked for (Weft or git remote), or the URL. */
  name: string;
  /** How it was found: a Weft remote, or a git remote's LFS endpoint. */
  source: 'weft' | 'git';
  transport: Transport;
}

export interface ResolveRemoteOptions {
  repo: Repo;
  /** A Weft remote name, a git remote name, or a URL; default: see {@link resolveRemote}. */
  remote?: string;
  operation: 'upload' | 'download';
  /** Environment for S3 settings and credentials (default process.env). */
  env?: Record<string, string | undefined>;
  /** The ref being pushed or fetched (sent to LFS servers). */
  refName?: string;
}

async function gitRemoteNames(cwd: string): Promise<string[]> {
  const r = await runGit(['remote'], { cwd });
  return r.stdout.toString('utf8').split('\n').filter(Boolean);
}

/**
 * The remote used when none is named: the Weft remote `origin`, else the only Weft remote, else git's `origin`,
 * else the only git remote. USAGE_NOT_FOUND when there is none.
 *
 * @example
 * await defaultRemoteName({ repo }) // → 'origin'
 */
export async function defaultRemoteName(options: { repo: Repo }): Promise<string> {
  const weftRemotes = await listRemotes({ repo: options.repo });
  const gitRemotes = await gitRemoteNames(options.repo.topLevel);
  const name =
    weftRemotes.find((r) => r.name === 'origin')?.name ??
    (weftRemotes.length === 1 ? weftRemotes[0]!.name : undefined) ??
    (gitRemotes.includes('origin') ? 'origin' : gitRemotes.length === 1 ? gitRemotes[0] : undefined);
  if (name === undefined) {
    throw new UsageError(
      'USAGE_NOT_FOUND',
      'no remote: add one with `weft remote add <name> <url>` or `git remote add`',
    );
  }
  return name;
}

/**
 * Opens the remote to talk to. `remote` names a Weft remote, else a git remote (its LFS endpoint: `lfs.url`,
 * `remote.<name>.lfsurl`, or derived from its URL; for a file remote, `<its git dir>/lfs/objects`), else is a
 * URL. Without `remote`: the Weft remote `origin`, else the only Weft remote, else git's `origin`, else the only
 * git remote. USAGE_NOT_FOUND when nothing fits.
 *
 * @example
 * const { transport } = await resolveRemote({ repo, remote: 'origin', operation: 'upload' });
 */
export async function resolveRemote(options: ResolveRemoteOptions): Promise<ResolvedRemote> {
  const { repo, operation } = options;
  const env = options.env ?? process.env;
  const weftRemotes = await listRemotes({ repo });
  const name = options.remote ?? (await defaultRemoteName({ repo }));
  const weft = weftRemotes.find((r) => r.name === name);
  const common = { env, cwd: repo.topLevel, ...(options.refName ? { refName: options.refName } : {}) };
  if (weft) return { name, source: 'weft', transport: await openRemoteUrl({ ...common, ...weft }) };
  const endpoint = await lfsEndpointForGitRemote({ cwd: repo.topLevel, remote: name, operation });
  if (!endpoint) {
    throw new UsageError('USAGE_NOT_FOUND', `no remote ${name}: not in ${WEFT_CONFIG_PATH} and not a git remote`);
  }
  return { name, source: 'git', transport: openEndpoint(endpoint, common) };
}

function openEndpoint(endpoint: LfsEndpoint, options: { cwd: string; refName?: string }): Transport {
  if (endpoint.kind === 'file') return new FilesystemTransport({ url: endpoint.path });
  return new LfsTransport({
    url: endpoint.url,
    cwd: options.cwd,
    ...(options.refName ? { refName: options.refName } : {}),
  });
}

/**
 * Opens a transport for a Weft remote's URL: `s3://` → S3 (settings + environment), `http(s)://…/info/lfs` → that
 * LFS API, any other `http(s)://` → the LFS API git-lfs derives from it, `file://` or a path → a filesystem remote
 * (a git repository's path means its git dir, as git-lfs stores there).
 *
 * @example
 * const t = await openRemoteUrl({ url: 's3://bucket/p', cwd, env: process.env });
 */
export async function openRemoteUrl(options: {
  url: string;
  cwd: string;
  env: Record<string, string | undefined>;
  endpoint?: string;
  region?: string;
  pathStyle?: boolean;
  refName?: string;
}): Promise<Transport> {
  const { url } = options;
  if (url.startsWith('s3://')) {
    const settings: { endpoint?: string; region?: string; pathStyle?: boolean } = {};
    if (options.endpoint) settings.endpoint = options.endpoint;
    if (options.region) settings.region = options.region;
    if (options.pathStyle !== undefined) settings.pathStyle = options.pathStyle;
    return new S3Transport(await s3OptionsFromEnvironment({ url, env: options.env, settings }));
  }
  if (/^https?:\/\//.test(url)) {
    const api = /\/info\/lfs\/?$/.test(url) ? url : (lfsEndpointFromGitUrl(url) as { url: string }).url;
    return new LfsTransport({ url: api, cwd: options.cwd, ...(options.refName ? { refName: options.refName } : {}) });
  }
  const endpoint = lfsEndpointFromGitUrl(url, options.cwd);
  if (endpoint.kind !== 'file') throw new UsageError('USAGE', `${redactUrl(url)}: not a remote URL`);
  return new FilesystemTransport({ url: await localGitDir(endpoint.path) });
}
