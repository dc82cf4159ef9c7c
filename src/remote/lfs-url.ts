// Where a git remote keeps its LFS objects, found as git-lfs finds it: `lfs.url` (or `lfs.pushurl` for uploads),
// `remote.<name>.lfsurl`/`lfspushurl`, `.lfsconfig`, else derived from the remote's URL (`<url>.git/info/lfs`).
// A file remote (file:// or a path) keeps them in `<its git dir>/lfs/objects`, like git-lfs's standalone agent.

import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { UsageError } from '../errors.js';
import { runGit } from '../git/run-git.js';
import { fileUrlToPath } from './filesystem-transport.js';

/** Where objects go: an LFS API URL, or a directory holding `lfs/objects`. */
export type LfsEndpoint = { kind: 'http'; url: string } | { kind: 'file'; path: string };

/**
 * The LFS endpoint git-lfs derives from a git URL (no config consulted). SSH and git:// URLs map to https on the
 * same host and path, as git-lfs does when it cannot ask the server (`git-lfs-authenticate` is not used).
 *
 * @example
 * lfsEndpointFromGitUrl('https://hub.example/org/model') // → { kind: 'http', url: 'https://hub.example/org/model.git/info/lfs' }
 * lfsEndpointFromGitUrl('git@hub.example:org/model.git') // → { kind: 'http', url: 'https://hub.example/org/model.git/info/lfs' }
 */
export function lfsEndpointFromGitUrl(gitUrl: string, cwd = process.cwd()): LfsEndpoint {
  const url = gitUrl.trim();
  if (url.startsWith('file://') || url.startsWith('/') || url.startsWith('.') || /^[A-Za-z]:[\\/]/.test(url)) {
    return { kind: 'file', path: fileUrlToPath(url, cwd) };
  }
  let host: string;
  let path: string;
  let scheme = 'https';
  const scp = /^(?:[^@/]+@)?([^:/]+):(?!\/\/)(.*)$/.exec(url);
  if (/^[a-z][a-z0-9+.-]*:\/\//i.test(url)) {
    const u = new URL(url);
    if (u.protocol === 'http:' || u.protocol === 'https:') {
      scheme = u.protocol.slice(0, -1);
      host = u.host;
      if (u.username) host = `${u.username}@${host}`; // kept for git credential; never shown (redactUrl)
    } else if (
      u.protocol === 'ssh:' ||
      u.protocol === 'git:' ||
      u.protocol === 'git+ssh:' ||
      u.protocol === 'ssh+git:'
    ) {
      host = u.hostname;
    } else {
      throw new UsageError('USAGE', `${url}: cannot derive a Git LFS URL from a ${u.protocol} remote; set lfs.url`);
    }
    path = u.pathname;
  } else if (scp) {
    host = scp[1]!;
    path = `/${scp[2]!}`;
  } else {
    // A relative path without ./ (git accepts it as a local repository).
    return { kind: 'file', path: fileUrlToPath(url, cwd) };
  }
  path = path.replace(/\/+$/, '');
  if (!path.endsWith('.git')) path += '.git';
  return { kind: 'http', url: `${scheme}://${host}${path}/info/lfs` };
}

async function gitConfigGet(cwd: string, key: string, file?: string): Promise<string | undefined> {
  const args = ['config', ...(file ? ['--file', file] : []), '--get', key];
  const r = await runGit(args, { cwd, allowedExitCodes: [0, 1] }).catch(() => undefined);
  const v = r?.code === 0 ? r.stdout.toString('utf8').trim() : '';
  return v || undefined;
}

/** The git dir of a local repository path (bare or not); the path itself when git cannot tell. */
export async function localGitDir(path: string): Promise<string> {
  if (existsSync(join(path, '.git'))) {
    const r = await runGit(['rev-parse', '--absolute-git-dir'], { cwd: path }).catch(() => undefined);
    if (r) return r.stdout.toString('utf8').trim();
  }
  return path;
}

/**
 * The LFS endpoint of git remote `remote` (a name, or a URL given to `git push` directly), as git-lfs resolves it.
 *
 * @example
 * await lfsEndpointForGitRemote({ cwd: repo.topLevel, remote: 'origin', operation: 'upload' });
 */
export async function lfsEndpointForGitRemote(options: {
  cwd: string;
  remote: string;
  operation: 'upload' | 'download';
}): Promise<LfsEndpoint | undefined> {
  const { cwd, remote, operation } = options;
  const lfsconfig = join(cwd, '.lfsconfig');
  const hasLfsConfig = existsSync(lfsconfig);
  const isName = /^[A-Za-z0-9._-]+$/.test(remote) && !remote.startsWith('.');
  const candidates: [string, string | undefined][] = [];
  if (operation === 'upload') candidates.push(['lfs.pushurl', undefined]);
  candidates.push(['lfs.url', undefined]);
  if (isName) {
    if (operation === 'upload') candidates.push([`remote.${remote}.lfspushurl`, undefined]);
    candidates.push([`remote.${remote}.lfsurl`, undefined]);
  }
  for (const [key] of candidates) {
    const v = (await gitConfigGet(cwd, key)) ?? (hasLfsConfig ? await gitConfigGet(cwd, key, lfsconfig) : undefined);
    if (v) return finish(lfsEndpointFromGitUrlOrApi(v, cwd));
  }
  let gitUrl: string | undefined;
  if (isName && (await gitConfigGet(cwd, `remote.${remote}.url`)) !== undefined) {
    // `git remote get-url` applies url.<base>.insteadOf (and pushInsteadOf, pushurl with --push), as git-lfs does.
    const args = ['remote', 'get-url', ...(operation === 'upload' ? ['--push'] : []), remote];
    const r = await runGit(args, { cwd, allowedExitCodes: [0, 2, 128] }).catch(() => undefined);
    gitUrl = r?.code === 0 ? r.stdout.toString('utf8').split('\n')[0]!.trim() || undefined : undefined;
  }
  if (gitUrl === undefined && !isName) gitUrl = remote;
  if (gitUrl === undefined) return undefined;
  return finish(lfsEndpointFromGitUrl(gitUrl, cwd));
}

/** An `lfs.url` value is already the API URL (http), or a file remote. */
function lfsEndpointFromGitUrlOrApi(value: string, cwd: string): LfsEndpoint {
  if (/^https?:\/\//.test(value)) return { kind: 'http', url: value.replace(/\/+$/, '') };
  return lfsEndpointFromGitUrl(value, cwd);
}

async function finish(endpoint: LfsEndpoint): Promise<LfsEndpoint> {
  return endpoint.kind === 'file' ? { kind: 'file', path: await localGitDir(endpoint.path) } : endpoint;
}
