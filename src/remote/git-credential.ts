// Credentials for HTTP remotes through git's own helpers (`git credential fill/approve/reject`), as git-lfs does.
// Secrets stay in memory: never in messages, logs or URLs shown to people.

import { runGit } from '../git/run-git.js';

export interface HttpCredential {
  username: string;
  password: string;
}

/** The credential description of a URL, as `git credential` reads it on stdin. */
function describe(url: string, extra: HttpCredential | undefined, useHttpPath: boolean, username?: string): string {
  const u = new URL(url);
  const lines = [`protocol=${u.protocol.replace(/:$/, '')}`, `host=${u.host}`];
  if (useHttpPath) lines.push(`path=${u.pathname.replace(/^\//, '')}`);
  if (username && !extra) lines.push(`username=${username}`);
  if (extra) lines.push(`username=${extra.username}`, `password=${extra.password}`);
  return `${lines.join('\n')}\n\n`;
}

function parse(text: string): Record<string, string> {
  const out: Record<string, string> = {};
  for (const line of text.split('\n')) {
    const eq = line.indexOf('=');
    if (eq > 0) out[line.slice(0, eq)] = line.slice(eq + 1);
  }
  return out;
}

/**
 * Asks git's credential helpers (and, on a terminal, the user) for a user name and password for `url`.
 * Returns undefined when git has none (helpers empty and prompting disabled).
 *
 * @example
 * const cred = await credentialFill({ cwd, url: 'https://hub.example/org/model.git/info/lfs' });
 */
export async function credentialFill(options: {
  cwd: string;
  url: string;
  /** A user name already known (from the remote URL). */
  username?: string;
}): Promise<HttpCredential | undefined> {
  const useHttpPath = await useHttpPathFor(options.cwd);
  const result = await runGit(['credential', 'fill'], {
    cwd: options.cwd,
    input: describe(options.url, undefined, useHttpPath, options.username),
    allowedExitCodes: [0, 128],
  }).catch(() => undefined);
  if (result?.code !== 0) return undefined;
  const fields = parse(result.stdout.toString('utf8'));
  if (fields.username === undefined || fields.password === undefined) return undefined;
  return { username: fields.username, password: fields.password };
}

/** Tells git's helpers whether `credential` worked (`approve`: store it; `reject`: forget it). Best effort. */
export async function credentialReport(options: {
  cwd: string;
  url: string;
  credential: HttpCredential;
  verdict: 'approve' | 'reject';
}): Promise<void> {
  const useHttpPath = await useHttpPathFor(options.cwd);
  await runGit(['credential', options.verdict], {
    cwd: options.cwd,
    input: describe(options.url, options.credential, useHttpPath),
    allowedExitCodes: [0, 128],
  }).catch(() => undefined);
}

async function useHttpPathFor(cwd: string): Promise<boolean> {
  const r = await runGit(['config', '--bool', '--get', 'credential.useHttpPath'], {
    cwd,
    allowedExitCodes: [0, 1],
  }).catch(() => undefined);
  return r?.stdout.toString().trim() === 'true';
}
