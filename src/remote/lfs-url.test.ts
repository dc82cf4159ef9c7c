import { execFileSync } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { lfsEndpointForGitRemote, lfsEndpointFromGitUrl } from './lfs-url.js';

const dirs: string[] = [];
afterAll(async () => {
  for (const d of dirs) await rm(d, { recursive: true, force: true });
});

describe('lfsEndpointFromGitUrl (as git-lfs derives it)', () => {
  it.each([
    ['https://hub.example/org/model', 'https://hub.example/org/model.git/info/lfs'],
    ['https://hub.example/org/model.git', 'https://hub.example/org/model.git/info/lfs'],
    ['https://hub.example/org/model.git/', 'https://hub.example/org/model.git/info/lfs'],
    ['http://127.0.0.1:8080/m', 'http://127.0.0.1:8080/m.git/info/lfs'],
    ['git@hub.example:org/model.git', 'https://hub.example/org/model.git/info/lfs'],
    ['ssh://git@hub.example:2222/org/model', 'https://hub.example/org/model.git/info/lfs'],
    ['git://hub.example/org/model.git', 'https://hub.example/org/model.git/info/lfs'],
  ])('%s → %s', (url, api) => {
    expect(lfsEndpointFromGitUrl(url)).toEqual({ kind: 'http', url: api });
  });

  it('maps file URLs and paths to file remotes', () => {
    expect(lfsEndpointFromGitUrl('file:///srv/m.git')).toEqual({ kind: 'file', path: '/srv/m.git' });
    expect(lfsEndpointFromGitUrl('/srv/m.git')).toEqual({ kind: 'file', path: '/srv/m.git' });
    expect(lfsEndpointFromGitUrl('../m.git', '/work/a')).toEqual({ kind: 'file', path: '/work/m.git' });
  });
});

describe('lfsEndpointForGitRemote', () => {
  it('prefers lfs.pushurl (uploads), lfs.url, remote.<name>.lfsurl, then the remote URL; file remotes use their git dir', async () => {
    const d = await mkdtemp(join(tmpdir(), 'weft-lfsurl-'));
    dirs.push(d);
    const g = (...a: string[]) => execFileSync('git', ['-C', d, ...a]);
    g('init', '-q');
    g('remote', 'add', 'origin', 'https://hub.example/org/m');
    const at = (operation: 'upload' | 'download', remote = 'origin') =>
      lfsEndpointForGitRemote({ cwd: d, remote, operation });
    expect(await at('download')).toEqual({ kind: 'http', url: 'https://hub.example/org/m.git/info/lfs' });
    g('config', 'remote.origin.lfsurl', 'https://lfs.example/api');
    expect(await at('download')).toEqual({ kind: 'http', url: 'https://lfs.example/api' });
    g('config', 'lfs.url', 'https://global.example/lfs');
    expect(await at('download')).toEqual({ kind: 'http', url: 'https://global.example/lfs' });
    g('config', 'lfs.pushurl', 'https://push.example/lfs');
    expect(await at('upload')).toEqual({ kind: 'http', url: 'https://push.example/lfs' });
    expect(await at('download')).toEqual({ kind: 'http', url: 'https://global.example/lfs' });

    g('remote', 'add', 'short', 'hub:org/short');
    g('config', 'url.https://hub.example/.insteadOf', 'hub:');
    g('config', 'remote.short.pushurl', 'https://push-host.example/org/short');
    g('config', '--unset', 'lfs.url');
    g('config', '--unset', 'lfs.pushurl');
    expect(await at('download', 'short')).toEqual({ kind: 'http', url: 'https://hub.example/org/short.git/info/lfs' });
    expect(await at('upload', 'short')).toEqual({
      kind: 'http',
      url: 'https://push-host.example/org/short.git/info/lfs',
    });

    const e = await mkdtemp(join(tmpdir(), 'weft-lfsurl-'));
    dirs.push(e);
    execFileSync('git', ['init', '-q', join(e, 'work')]);
    execFileSync('git', ['init', '-q', '--bare', join(e, 'bare.git')]);
    const w = join(e, 'work');
    execFileSync('git', ['-C', w, 'remote', 'add', 'bare', `file://${join(e, 'bare.git')}`]);
    execFileSync('git', ['-C', w, 'remote', 'add', 'nonbare', join(e, 'work')]);
    expect(await lfsEndpointForGitRemote({ cwd: w, remote: 'bare', operation: 'upload' })).toEqual({
      kind: 'file',
      path: join(e, 'bare.git'),
    });
    expect(await lfsEndpointForGitRemote({ cwd: w, remote: 'nonbare', operation: 'upload' })).toEqual({
      kind: 'file',
      path: join(e, 'work', '.git'),
    });
    expect(await lfsEndpointForGitRemote({ cwd: w, remote: 'nothing', operation: 'upload' })).toBeUndefined();
  });
});
