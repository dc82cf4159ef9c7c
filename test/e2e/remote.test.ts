// End to end: sharing models through remotes with real git over file:// bare repositories, the test LFS server,
// s3rver, and Debian's git-lfs client reading and writing the same file-remote layout.
import { type ChildProcess, spawn, spawnSync } from 'node:child_process';
import { existsSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { LfsTransport } from '../../src/remote/lfs-transport.js';
import { startS3rver } from '../../src/remote/test-support/s3rver.js';
import { type LfsTestServer, startLfsServer } from '../support/lfs-server.js';
import { buildSafetensors, CLI, cleanupTemps, git, newRepo, type Run, sha256, sha256File, tempDir } from './helpers.js';

/** Runs the CLI with extra environment (the shared helper has none). */
function weftEnv(cwd: string, env: Record<string, string>, ...args: string[]): Run {
  const r = spawnSync(process.execPath, [CLI, ...args], { cwd, env: { ...process.env, ...env }, maxBuffer: 1 << 28 });
  return { code: r.status ?? -1, stdout: r.stdout?.toString() ?? '', stderr: r.stderr?.toString() ?? '' };
}
function weft(cwd: string, ...args: string[]): Run {
  return weftEnv(cwd, {}, ...args);
}
/** Runs the CLI without blocking this process's event loop (the servers under test live in it). */
function weftAsync(cwd: string, env: Record<string, string>, ...args: string[]): Promise<Run> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [CLI, ...args], { cwd, env: { ...process.env, ...env } });
    const out: Buffer[] = [];
    const err: Buffer[] = [];
    child.stdout.on('data', (c: Buffer) => out.push(c));
    child.stderr.on('data', (c: Buffer) => err.push(c));
    child.on('error', reject);
    child.on('close', (code) =>
      resolve({ code: code ?? -1, stdout: Buffer.concat(out).toString(), stderr: Buffer.concat(err).toString() }),
    );
  });
}
/** Runs git without blocking this process's event loop (for git-lfs talking to the in-process LFS server). */
function gitAsync(cwd: string, args: string[]): Promise<Run> {
  return new Promise((resolve, reject) => {
    const child = spawn('git', args, { cwd, env: { ...process.env, GIT_TERMINAL_PROMPT: '0' } });
    const out: Buffer[] = [];
    const err: Buffer[] = [];
    child.stdout.on('data', (c: Buffer) => out.push(c));
    child.stderr.on('data', (c: Buffer) => err.push(c));
    child.on('error', reject);
    child.on('close', (code) => {
      const r = { code: code ?? -1, stdout: Buffer.concat(out).toString(), stderr: Buffer.concat(err).toString() };
      if (r.code !== 0) reject(new Error(`git ${args.join(' ')} failed (${r.code}): ${r.stderr}`));
      else resolve(r);
    });
  });
}
function ok(r: Run): Run {
  if (r.code !== 0) throw new Error(`weft failed (${r.code}): ${r.stderr}`);
  return r;
}

/** Every file under `<dir>/lfs/objects`, by oid. */
function remoteObjects(dir: string): string[] {
  const root = join(dir, 'lfs', 'objects');
  if (!existsSync(root)) return [];
  const out: string[] = [];
  for (const a of readdirSync(root))
    for (const b of readdirSync(join(root, a))) out.push(...readdirSync(join(root, a, b)));
  return out.sort();
}

/** The objects in a repository's store (the same fan-out layout under .git/weft/objects). */
function storeObjects(repo: string): string[] {
  const root = join(repo, '.git', 'weft', 'objects');
  if (!existsSync(root)) return [];
  const out: string[] = [];
  for (const a of readdirSync(root))
    for (const b of readdirSync(join(root, a))) out.push(...readdirSync(join(root, a, b)));
  return out.sort();
}

/** A model of `n` tensors of 1.1 MiB each (each its own object) plus small packed ones; `seed` varies the values. */
function model(n: number, seed: number): Uint8Array {
  const big = Array.from({ length: n }, (_, i) => ({ name: `layers.${i}.weight`, shape: [288, 1000] }));
  const small = [{ name: 'norm.weight', shape: [64] }];
  return buildSafetensors([...big, ...small], (t, i) => Math.sin(seed * 7919 + t * 104729 + i * 0.001) * (t + 1));
}

/** A work repo with a bare file remote `origin` and a committed model. */
function setup(n: number): { work: string; bare: string; file: string } {
  const work = newRepo();
  const bare = join(tempDir('weft-bare-'), 'remote.git');
  git(work, ['init', '-q', '--bare', bare]);
  git(work, ['remote', 'add', 'origin', `file://${bare}`]);
  const file = join(work, 'model.safetensors');
  writeFileSync(file, model(n, 1));
  git(work, ['add', 'model.safetensors']);
  git(work, ['commit', '-qm', 'model v1']);
  return { work, bare, file };
}

/** A fresh repository that fetches git history from `url` (no checkout yet), with Weft set up. */
function freshClone(url: string): string {
  const dir = tempDir('weft-clone-');
  git(dir, ['init', '-q', '-b', 'scratch']);
  git(dir, ['config', 'user.email', 'test@weft.invalid']);
  git(dir, ['config', 'user.name', 'Weft Test']);
  ok(weft(dir, 'init'));
  git(dir, ['remote', 'add', 'origin', url]);
  git(dir, ['fetch', '-q', 'origin']);
  return dir;
}

afterAll(() => cleanupTemps());

describe('weft push / fetch over a file:// git remote', () => {
  // The tests of this block share one pushed repository and run in order (setting one up costs seconds).
  let shared: { work: string; bare: string; file: string; clone: string };

  it('git push uploads through the pre-push hook; a fresh clone fetches and checks out byte-identical files', () => {
    const { work, bare, file } = setup(3);
    git(work, ['push', '-q', 'origin', 'main']);
    const local = storeObjects(work);
    expect(local.length).toBeGreaterThanOrEqual(4);
    expect(remoteObjects(bare)).toEqual(local);

    // Pushing again sends nothing.
    const again = JSON.parse(ok(weft(work, 'push', '--json', '--all')).stdout);
    expect(again).toMatchObject({ uploaded: 0, uploadedBytes: 0 });
    expect(again.objects).toBe(local.length);

    const clone = freshClone(`file://${bare}`);
    const fetched = JSON.parse(ok(weft(clone, 'fetch', 'origin', 'origin/main', '--json')).stdout);
    expect(fetched).toMatchObject({ downloaded: local.length, objects: local.length });
    git(clone, ['checkout', '-q', '-B', 'main', 'origin/main']);
    expect(sha256File(join(clone, 'model.safetensors'))).toBe(sha256File(file));
    expect(JSON.parse(ok(weft(clone, 'fetch', '--json')).stdout)).toMatchObject({ downloaded: 0 });
    expect(ok(weft(clone, 'fsck')).code).toBe(0);
    shared = { work, bare, file, clone };
  });

  it('weft pull rewrites files left as manifests, and keeps edited ones', () => {
    const { clone, file } = shared;
    // As after a clone that skipped smudging: the manifest in the work tree, objects absent.
    writeFileSync(join(clone, 'model.safetensors'), git(clone, ['cat-file', 'blob', 'HEAD:model.safetensors']).stdout);
    writeFileSync(join(clone, 'edited.safetensors'), 'not a manifest');
    spawnSync('rm', ['-rf', join(clone, '.git', 'weft', 'objects')]);
    git(clone, ['remote', 'set-url', 'origin', shared.bare]); // a plain path remote this time
    const r = JSON.parse(ok(weft(clone, 'pull', '--json')).stdout);
    expect(r.checkedOut).toEqual(['model.safetensors']);
    expect(sha256File(join(clone, 'model.safetensors'))).toBe(sha256File(file));
    expect(readFileSync(join(clone, 'edited.safetensors'), 'utf8')).toBe('not a manifest');
    expect(git(clone, ['status', '--porcelain', '--untracked-files=no']).stdout).toBe('');
  });

  it('a second version with one tensor changed sends only that tensor', () => {
    const { work, bare, file } = shared;
    const before = remoteObjects(bare).length;
    const bytes = model(3, 1);
    const v2 = model(3, 2); // every tensor differs; take only layers.2 from v2
    const header = 8 + Number(new DataView(bytes.buffer).getBigUint64(0, true));
    const size = 288 * 1000 * 4;
    const at = header + 2 * size;
    bytes.set(v2.subarray(at, at + size), at);
    const storedBefore = new Set(storeObjects(work));
    writeFileSync(file, bytes);
    git(work, ['commit', '-qam', 'model v2']);
    const added = storeObjects(work).filter((o) => !storedBefore.has(o)); // the changed tensor's objects (dense or delta)
    const addedBytes = added.reduce(
      (n, o) => n + readFileSync(join(work, '.git', 'weft', 'objects', o.slice(0, 2), o.slice(2, 4), o)).length,
      0,
    );
    const r = JSON.parse(ok(weft(work, 'push', '--json')).stdout);
    expect(r.uploaded).toBe(added.length);
    expect(r.uploadedBytes).toBe(addedBytes);
    expect(r.uploadedBytes).toBeLessThanOrEqual(size * 1.05);
    expect(remoteObjects(bare).length).toBe(before + added.length);
  });

  it('fetch --include downloads only the matching tensors and the frame; a checkout lacking the rest names a tensor', () => {
    const { bare } = shared;
    const clone = freshClone(`file://${bare}`);
    const part = JSON.parse(
      ok(weft(clone, 'fetch', 'origin', 'origin/main', '--include', 'layers.2.*', '--json')).stdout,
    );
    expect(part.downloaded).toBe(part.objects);
    expect(storeObjects(clone).length).toBe(part.downloaded);
    // Offline (the remote unreachable), the checkout cannot materialise layers.0: the error names the tensor.
    git(clone, ['remote', 'set-url', 'origin', `file://${bare}-gone`]);
    const offline = git(clone, ['checkout', '-q', '-B', 'main', 'origin/main'], { allowFail: true });
    expect(offline.code).not.toBe(0);
    expect(offline.stderr).toContain('"layers.0.weight"');
    git(clone, ['remote', 'set-url', 'origin', `file://${bare}`]);
    const rest = JSON.parse(ok(weft(clone, 'fetch', 'origin', 'origin/main', '--json')).stdout);
    expect(rest.objects).toBeGreaterThan(part.objects);
    expect(rest.downloaded).toBe(rest.objects - part.objects);
    git(clone, ['checkout', '-q', '-f', '-B', 'main', 'origin/main']);
    expect(sha256File(join(clone, 'model.safetensors'))).toBe(sha256(model(3, 1))); // v2 was not git-pushed
  });

  it('detects a corrupted object on the remote, names it, and stores nothing', () => {
    const { bare } = shared;
    const victim = remoteObjects(bare)[0]!;
    const path = join(bare, 'lfs', 'objects', victim.slice(0, 2), victim.slice(2, 4), victim);
    const bytes = readFileSync(path);
    bytes[bytes.length - 1]! ^= 1;
    writeFileSync(path, bytes);
    const clone = freshClone(`file://${bare}`);
    const r = weft(clone, 'fetch', 'origin', 'origin/main');
    expect(r.code).toBe(2);
    expect(r.stderr).toContain(victim);
    expect(r.stderr).toContain(bare);
    expect(r.stderr).toMatch(/corrupt/);
    expect(storeObjects(clone)).not.toContain(victim);
  });

  it('weft remote add/list/remove edit .weft/config.toml and refuse secrets', () => {
    const work = newRepo();
    ok(weft(work, 'remote', 'add', 'models', 's3://bucket/llama', '--endpoint', 'https://r2.example', '--path-style'));
    expect(JSON.parse(ok(weft(work, 'remote', 'list', '--json')).stdout)).toEqual([
      { name: 'models', url: 's3://bucket/llama', endpoint: 'https://r2.example', pathStyle: true },
    ]);
    expect(readFileSync(join(work, '.weft', 'config.toml'), 'utf8')).toContain('[remotes.models]');
    const secret = weft(work, 'remote', 'add', 'hub', 'https://alice:hunter2@hub.example/org/m.git');
    expect(secret.code).toBe(2);
    expect(secret.stderr).toMatch(/password/);
    expect(secret.stderr).not.toContain('hunter2');
    ok(weft(work, 'remote', 'remove', 'models'));
    expect(JSON.parse(ok(weft(work, 'remote', 'list', '--json')).stdout)).toEqual([]);
  });
});

describe('remote servers on 127.0.0.1', () => {
  let lfs: LfsTestServer;
  let s3: Awaited<ReturnType<typeof startS3rver>>;
  beforeAll(async () => {
    lfs = await startLfsServer({ dir: tempDir('weft-lfs-srv-') });
    s3 = await startS3rver();
  });
  afterAll(async () => {
    await lfs?.stop();
    await s3?.stop();
  });

  it('a push killed halfway completes when run again, sending only the rest (LFS server)', async () => {
    const { work } = setup(6);
    ok(weft(work, 'remote', 'add', 'hub', lfs.url));
    const all = storeObjects(work);
    lfs.switches.delayMs = 150;
    const child: ChildProcess = spawn(process.execPath, [CLI, 'push', 'hub', '--transfers', '1'], {
      cwd: work,
      stdio: 'ignore',
    });
    const exited = new Promise((resolve) => child.on('exit', resolve));
    const deadline = Date.now() + 20_000;
    while (lfs.stats.puts.length < 3 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
    child.kill('SIGKILL');
    await exited;
    await new Promise((r) => setTimeout(r, 400)); // the server finishes the request it was in
    lfs.switches.delayMs = 0;
    const firstRun = new Set(remoteObjects(lfs.dir));
    expect(firstRun.size).toBeGreaterThanOrEqual(3);
    expect(firstRun.size).toBeLessThan(all.length);
    const r = JSON.parse(ok(await weftAsync(work, {}, 'push', 'hub', '--json')).stdout);
    expect(r.uploaded).toBe(all.length - firstRun.size);
    expect(remoteObjects(lfs.dir)).toEqual(all);
    // Fetch back through the LFS server, with verify: a server sending wrong bytes is caught.
    const clone = freshClone(join(work, '.git'));
    ok(weft(clone, 'remote', 'add', 'hub', lfs.url));
    lfs.switches.wrongBytes = true;
    const bad = await weftAsync(clone, {}, 'fetch', 'hub', 'origin/main');
    lfs.switches.wrongBytes = false;
    expect(bad.code).toBe(2);
    expect(bad.stderr).toMatch(/corrupt/);
    expect(bad.stderr).toContain(lfs.url);
    expect(storeObjects(clone)).toEqual([]);
    ok(await weftAsync(clone, {}, 'fetch', 'hub', 'origin/main'));
    expect(storeObjects(clone)).toEqual(all);
  });

  it('pushes to and fetches from an S3 bucket (s3rver), credentials from the environment only', async () => {
    const { work, file } = setup(2);
    const env = { AWS_ACCESS_KEY_ID: 'S3RVER', AWS_SECRET_ACCESS_KEY: 'S3RVER', AWS_REGION: 'us-east-1' };
    ok(weft(work, 'remote', 'add', 'bucket', `s3://${s3.bucket}/e2e`, '--endpoint', s3.endpoint));
    expect(readFileSync(join(work, '.weft', 'config.toml'), 'utf8')).not.toContain('S3RVER');
    const pushed = JSON.parse(ok(await weftAsync(work, env, 'push', 'bucket', '--json')).stdout);
    expect(pushed.uploaded).toBe(storeObjects(work).length);
    git(work, ['add', '.weft/config.toml']);
    git(work, ['commit', '-qm', 'remote']);
    // The clone has no work tree yet: the remote comes from the committed .weft/config.toml of HEAD.
    const clone = freshClone(join(work, '.git'));
    git(clone, ['symbolic-ref', 'HEAD', 'refs/heads/main']);
    git(clone, ['update-ref', 'refs/heads/main', 'origin/main']);
    const fetched = JSON.parse(ok(await weftAsync(clone, env, 'fetch', 'bucket', '--json')).stdout);
    expect(fetched.downloaded).toBe(pushed.uploaded);
    git(clone, ['reset', '-q', '--hard', 'main']);
    expect(sha256File(join(clone, 'model.safetensors'))).toBe(sha256File(file));
    const noCreds = await weftAsync(clone, { AWS_ACCESS_KEY_ID: '', HOME: clone }, 'push', 'bucket', '--all');
    expect(noCreds.stderr).not.toContain('S3RVER');
  }, 30_000);
});

describe('interop with the git-lfs client (Debian git-lfs 3.3)', () => {
  const hasGitLfs = spawnSync('git', ['lfs', 'version']).status === 0;

  it.skipIf(!hasGitLfs)(
    'git-lfs and Weft exchange objects through the test LFS server (Batch API over HTTP)',
    async () => {
      const server = await startLfsServer({ dir: tempDir('weft-lfs-interop-'), switches: { verify: true } });
      try {
        // git-lfs pushes a file to the server; Weft's LFS transport (via `weft remote`) then has it.
        const lfsRepo = tempDir('weft-gitlfs-http-');
        const bare = join(tempDir('weft-bare-http-'), 'm.git');
        git(lfsRepo, ['init', '-q', '-b', 'main']);
        git(lfsRepo, ['init', '-q', '--bare', bare]);
        git(lfsRepo, ['config', 'user.email', 'test@weft.invalid']);
        git(lfsRepo, ['config', 'user.name', 'Weft Test']);
        git(lfsRepo, ['lfs', 'install', '--local']);
        git(lfsRepo, ['config', 'lfs.url', server.url]);
        git(lfsRepo, ['remote', 'add', 'origin', `file://${bare}`]);
        writeFileSync(join(lfsRepo, '.gitattributes'), '*.bin filter=lfs diff=lfs merge=lfs -text\n');
        const content = new Uint8Array(5000).map((_, i) => (i * 31) & 0xff);
        writeFileSync(join(lfsRepo, 'a.bin'), content);
        git(lfsRepo, ['add', '.']);
        git(lfsRepo, ['commit', '-qm', 'lfs file']);
        await gitAsync(lfsRepo, ['push', '-q', 'origin', 'main']);
        expect(server.stats.puts).toEqual([sha256(content)]);
        expect(server.stats.verifies).toEqual([sha256(content)]);
        const t = new LfsTransport({ url: server.url, cwd: lfsRepo });
        expect(await t.listMissing([{ oid: sha256(content), size: content.length }])).toEqual([]);
        expect(Buffer.from(await t.download({ oid: sha256(content) })).equals(Buffer.from(content))).toBe(true);

        // Weft pushes a model to the server; git-lfs fetches Weft's objects through pointers.
        const { work } = setup(1);
        ok(weft(work, 'remote', 'add', 'hub', server.url));
        ok(await weftAsync(work, {}, 'push', 'hub'));
        const oids = storeObjects(work);
        for (const [i, oid] of oids.entries()) {
          const size = readFileSync(
            join(work, '.git', 'weft', 'objects', oid.slice(0, 2), oid.slice(2, 4), oid),
          ).length;
          writeFileSync(
            join(lfsRepo, `${i}.bin`),
            `version https://git-lfs.github.com/spec/v1\noid sha256:${oid}\nsize ${size}\n`,
          );
        }
        git(lfsRepo, ['add', '.']);
        git(lfsRepo, ['commit', '-qm', 'pointers']);
        await gitAsync(lfsRepo, ['lfs', 'pull']);
        for (const [i, oid] of oids.entries()) expect(sha256(readFileSync(join(lfsRepo, `${i}.bin`)))).toBe(oid);
      } finally {
        await server.stop();
      }
    },
  );

  it.skipIf(!hasGitLfs)('git-lfs reads objects Weft pushed, and Weft reads objects git-lfs pushed', () => {
    const { work, bare, file } = setup(1);
    git(work, ['push', '-q', 'origin', 'main']);
    const oids = storeObjects(work);

    // git-lfs side: pointers to Weft's objects in a repository on the same bare remote; git lfs pull fetches them.
    const lfsRepo = tempDir('weft-gitlfs-');
    git(lfsRepo, ['init', '-q', '-b', 'lfs']);
    git(lfsRepo, ['config', 'user.email', 'test@weft.invalid']);
    git(lfsRepo, ['config', 'user.name', 'Weft Test']);
    git(lfsRepo, ['lfs', 'install', '--local']);
    git(lfsRepo, ['remote', 'add', 'origin', `file://${bare}`]);
    writeFileSync(join(lfsRepo, '.gitattributes'), '*.obj filter=lfs diff=lfs merge=lfs -text\n');
    const storePath = (oid: string) => join(work, '.git', 'weft', 'objects', oid.slice(0, 2), oid.slice(2, 4), oid);
    oids.forEach((oid, i) => {
      const size = readFileSync(storePath(oid)).length;
      writeFileSync(
        join(lfsRepo, `${i}.obj`),
        `version https://git-lfs.github.com/spec/v1\noid sha256:${oid}\nsize ${size}\n`,
      );
    });
    git(lfsRepo, ['add', '.']);
    git(lfsRepo, ['commit', '-qm', 'pointers']);
    git(lfsRepo, ['lfs', 'pull']);
    for (const [i, oid] of oids.entries()) expect(sha256(readFileSync(join(lfsRepo, `${i}.obj`)))).toBe(oid);

    // Reverse: git-lfs pushes those files (Weft objects as LFS content) to another bare remote; Weft fetches there.
    const bare2 = join(tempDir('weft-bare2-'), 'lfs-side.git');
    git(lfsRepo, ['init', '-q', '--bare', bare2]);
    git(lfsRepo, ['remote', 'add', 'side', `file://${bare2}`]);
    git(lfsRepo, ['push', '-q', 'side', 'lfs']);
    expect(remoteObjects(bare2)).toEqual(oids);
    const clone = freshClone(`file://${bare}`);
    ok(weft(clone, 'remote', 'add', 'side', `file://${bare2}`));
    const r = JSON.parse(ok(weft(clone, 'fetch', 'side', 'origin/main', '--json')).stdout);
    expect(r.downloaded).toBe(oids.length);
    git(clone, ['checkout', '-q', '-B', 'main', 'origin/main']);
    expect(sha256File(join(clone, 'model.safetensors'))).toBe(sha256File(file));
  });
});
