import { execFileSync } from 'node:child_process';
import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { FilesystemTransport } from '../remote/filesystem-transport.js';
import { LfsTransport } from '../remote/lfs-transport.js';
import { S3Transport } from '../remote/s3-transport.js';
import { addRemote, defaultRemoteName, listRemotes, removeRemote, resolveRemote } from './remote-config.js';
import { openRepo } from './repo.js';

const dirs: string[] = [];
afterAll(async () => {
  for (const d of dirs) await rm(d, { recursive: true, force: true });
});
async function repoDir(): Promise<string> {
  const d = await mkdtemp(join(tmpdir(), 'weft-remotes-'));
  dirs.push(d);
  execFileSync('git', ['init', '-q', d]);
  return d;
}

describe('Weft remotes in .weft/config.toml', () => {
  it('adds, lists and removes remotes, keeping other settings', async () => {
    const d = await repoDir();
    await mkdir(join(d, '.weft'));
    await writeFile(join(d, '.weft', 'config.toml'), '[merge]\nmethod = "ties"\n');
    const repo = await openRepo({ cwd: d });
    await addRemote({
      repo,
      remote: { name: 'models', url: 's3://b/p', endpoint: 'http://127.0.0.1:9', pathStyle: true },
    });
    await addRemote({ repo, remote: { name: 'hub', url: 'https://hub.example/org/m' } });
    expect(await listRemotes({ repo })).toEqual([
      { name: 'hub', url: 'https://hub.example/org/m' },
      { name: 'models', url: 's3://b/p', endpoint: 'http://127.0.0.1:9', pathStyle: true },
    ]);
    const text = await readFile(join(d, '.weft', 'config.toml'), 'utf8');
    expect(text).toContain('[remotes.models]');
    expect(text).toContain('method = "ties"');
    await expect(addRemote({ repo, remote: { name: 'hub', url: '/x' } })).rejects.toThrow(/already exists/);
    await removeRemote({ repo, name: 'hub' });
    await expect(removeRemote({ repo, name: 'hub' })).rejects.toMatchObject({ code: 'USAGE_NOT_FOUND' });
    expect((await listRemotes({ repo })).map((r) => r.name)).toEqual(['models']);
  });

  it('refuses secrets in URLs and unknown keys in the file', async () => {
    const d = await repoDir();
    const repo = await openRepo({ cwd: d });
    const e = await addRemote({ repo, remote: { name: 'x', url: 'https://u:pw123@h.example/m' } }).catch(
      (x: Error) => x,
    );
    expect((e as Error).message).toMatch(/password/);
    expect((e as Error).message).not.toContain('pw123');
    await expect(
      addRemote({ repo, remote: { name: 'x', url: 'https://h.example/o?X-Amz-Signature=abc' } }),
    ).rejects.toThrow(/signature/);
    await expect(addRemote({ repo, remote: { name: 'x', url: 'ftp://h/m' } })).rejects.toThrow(/expected s3/);
    await mkdir(join(d, '.weft'));
    await writeFile(join(d, '.weft', 'config.toml'), '[remotes.x]\nurl = "s3://b"\nsecret_access_key = "k"\n');
    await expect(listRemotes({ repo })).rejects.toMatchObject({ code: 'CONFIG_INVALID' });
  });

  it('resolves a Weft remote first, then the git remote of that name, and picks a default', async () => {
    const d = await repoDir();
    const repo = await openRepo({ cwd: d });
    await expect(defaultRemoteName({ repo })).rejects.toMatchObject({ code: 'USAGE_NOT_FOUND' });
    execFileSync('git', ['-C', d, 'remote', 'add', 'origin', 'https://hub.example/org/m']);
    execFileSync('git', ['-C', d, 'remote', 'add', 'mirror', join(d, 'elsewhere')]);
    expect(await defaultRemoteName({ repo })).toBe('origin');
    const git = await resolveRemote({ repo, operation: 'download' });
    expect(git).toMatchObject({ name: 'origin', source: 'git' });
    expect(git.transport).toBeInstanceOf(LfsTransport);
    expect(git.transport.name).toBe('https://hub.example/org/m.git/info/lfs');
    const mirror = await resolveRemote({ repo, remote: 'mirror', operation: 'upload' });
    expect(mirror.transport).toBeInstanceOf(FilesystemTransport);
    expect(mirror.transport.name).toBe(join(d, 'elsewhere'));
    await addRemote({ repo, remote: { name: 'origin', url: 's3://bucket/m', endpoint: 'http://127.0.0.1:9' } });
    const weft = await resolveRemote({ repo, operation: 'upload', env: {} });
    expect(weft).toMatchObject({ name: 'origin', source: 'weft' });
    expect(weft.transport).toBeInstanceOf(S3Transport);
    await expect(resolveRemote({ repo, remote: 'nope', operation: 'upload' })).rejects.toMatchObject({
      code: 'USAGE_NOT_FOUND',
    });
  });
});
