import { execFileSync } from 'node:child_process';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { RemoteError } from '../errors.js';
import type { Manifest } from '../manifest/manifest.js';
import { FilesystemTransport } from '../remote/filesystem-transport.js';
import { downloadObjects, fetchMissingObjects, objectsOfTensors } from './fetch.js';
import { parsePrePushInput, uploadObjects } from './push.js';
import { addRemote } from './remote-config.js';
import { openRepo, type Repo } from './repo.js';

const dirs: string[] = [];
afterAll(async () => {
  for (const d of dirs) await rm(d, { recursive: true, force: true });
});
async function fresh(): Promise<string> {
  const d = await mkdtemp(join(tmpdir(), 'weft-fetch-'));
  dirs.push(d);
  return d;
}
async function repoWithObjects(count: number): Promise<{ repo: Repo; oids: string[] }> {
  const d = await fresh();
  execFileSync('git', ['init', '-q', d]);
  const repo = await openRepo({ cwd: d });
  const oids: string[] = [];
  for (let i = 0; i < count; i++) {
    const raw = new Uint8Array(4096 + i).map((_, j) => (j * (i + 3)) & 0xff);
    oids.push((await repo.store.put(raw, { groupWidth: 2 })).id);
  }
  return { repo, oids };
}

describe('uploadObjects / downloadObjects', () => {
  it('sends only what the remote lacks, and fetches verified objects into another store', async () => {
    const { repo, oids } = await repoWithObjects(5);
    const transport = new FilesystemTransport({ url: await fresh(), durable: false });
    await transport.upload(
      { oid: oids[0]!, size: (await repo.store.readStored(oids[0] as never)).length },
      await repo.store.readStored(oids[0] as never),
    );
    const progress: number[] = [];
    const first = await uploadObjects({
      repo,
      transport,
      oids: [...oids, oids[1]!],
      onProgress: (p) => progress.push(p.doneObjects),
    });
    expect(first.uploaded).toBe(4);
    expect(progress.at(-1)).toBe(4);
    expect((await uploadObjects({ repo, transport, oids })).uploaded).toBe(0);

    const other = await repoWithObjects(0);
    const got = await downloadObjects({ repo: other.repo, transport, oids });
    expect(got.downloaded).toBe(5);
    for (const oid of oids) expect(await other.repo.store.has(oid as never)).toBe(true);
    expect((await downloadObjects({ repo: other.repo, transport, oids })).downloaded).toBe(0);
  });

  it('refuses to push when the local store lacks an object, naming it', async () => {
    const { repo } = await repoWithObjects(1);
    const absent = 'ee'.repeat(32);
    const transport = new FilesystemTransport({ url: await fresh() });
    await expect(uploadObjects({ repo, transport, oids: [absent] })).rejects.toThrow(absent);
  });

  it('rejects wrong bytes and a bad header with REMOTE_CORRUPT naming oid and remote, storing nothing', async () => {
    const { repo, oids } = await repoWithObjects(1);
    const root = await fresh();
    const transport = new FilesystemTransport({ url: root });
    await uploadObjects({ repo, transport, oids });
    const path = transport.pathOf(oids[0]!);
    const bytes = await readFile(path);
    bytes[bytes.length - 1]! ^= 0x55;
    await writeFile(path, bytes);
    const other = await repoWithObjects(0);
    const e = await downloadObjects({ repo: other.repo, transport, oids }).catch((x: unknown) => x);
    expect(e).toBeInstanceOf(RemoteError);
    expect(e).toMatchObject({ code: 'REMOTE_CORRUPT' });
    expect((e as Error).message).toContain(oids[0]);
    expect((e as Error).message).toContain(root);
    expect(await other.repo.store.has(oids[0] as never)).toBe(false);

    // Bytes whose hash matches their name but are not an object (a server storing junk under its hash).
    const junk = new TextEncoder().encode('not an object at all');
    const { createHash } = await import('node:crypto');
    const junkId = createHash('sha256').update(junk).digest('hex');
    await transport.upload({ oid: junkId, size: junk.length }, junk);
    await expect(downloadObjects({ repo: other.repo, transport, oids: [junkId] })).rejects.toMatchObject({
      code: 'REMOTE_CORRUPT',
    });
  });
});

describe('fetchMissingObjects (for smudge)', () => {
  it('downloads only the absent objects from the default remote', async () => {
    const { repo, oids } = await repoWithObjects(3);
    const remoteDir = await fresh();
    await uploadObjects({ repo, transport: new FilesystemTransport({ url: remoteDir }), oids });
    const other = await repoWithObjects(0);
    await addRemote({ repo: other.repo, remote: { name: 'origin', url: remoteDir } });
    expect(await fetchMissingObjects({ repo: other.repo, oids: oids.slice(0, 2) })).toMatchObject({ downloaded: 2 });
    expect(await fetchMissingObjects({ repo: other.repo, oids })).toMatchObject({ downloaded: 1 });
    expect(await fetchMissingObjects({ repo: other.repo, oids })).toEqual({ downloaded: 0, downloadedBytes: 0 });
  });
});

describe('parsePrePushInput', () => {
  it('reads the lines git writes to pre-push', () => {
    const z = '0'.repeat(40);
    expect(parsePrePushInput(`refs/heads/main ${'a'.repeat(40)} refs/heads/main ${z}\n\n`)).toEqual([
      { localRef: 'refs/heads/main', localSha: 'a'.repeat(40), remoteRef: 'refs/heads/main', remoteSha: z },
    ]);
    expect(() => parsePrePushInput('garbage\n')).toThrow(/ref line/);
  });
});

describe('objectsOfTensors (fetch --include)', () => {
  const id = (c: string) => c.repeat(64) as never;
  const dense = (ref: string) => ({ kind: 'dense', refs: [{ id: id(ref) }], params: {} });
  const manifest: Manifest = {
    format: 'safetensors',
    sizeBytes: 100,
    frames: [{ sizeBytes: 8, refs: [{ id: id('f') }] }],
    tensors: [
      {
        name: 'model.layers.0.w',
        dtype: 'F32',
        shape: [1],
        offsetBytes: 8,
        sizeBytes: 4,
        contentId: id('1'),
        encoding: dense('a'),
      },
      {
        name: 'model.layers.1.w',
        dtype: 'F32',
        shape: [1],
        offsetBytes: 12,
        sizeBytes: 4,
        contentId: id('2'),
        encoding: { kind: 'delta', refs: [{ id: id('b') }], params: { parent: id('3') } },
      },
      {
        name: 'lm_head',
        dtype: 'F32',
        shape: [1],
        offsetBytes: 16,
        sizeBytes: 4,
        contentId: id('4'),
        encoding: dense('c'),
      },
    ],
    parents: [
      {
        contentId: id('3'),
        sizeBytes: 4,
        encoding: { kind: 'delta', refs: [{ id: id('d') }], params: { parent: id('5') } },
      },
      { contentId: id('5'), sizeBytes: 4, encoding: dense('e') },
    ],
  } as Manifest;

  it('takes the frames, the matching tensors and their parent chain, nothing else', () => {
    expect(objectsOfTensors(manifest, ['model.layers.0.*']).sort()).toEqual([id('a'), id('f')].sort());
    expect(objectsOfTensors(manifest, ['*.layers.1.?']).sort()).toEqual([id('b'), id('d'), id('e'), id('f')].sort());
    expect(objectsOfTensors(manifest, ['lm_head', 'nothing.*']).sort()).toEqual([id('c'), id('f')].sort());
    // Dots and brackets are literal: only * and ? are wildcards.
    expect(objectsOfTensors(manifest, ['model.layers.[01].w'])).toEqual([id('f')]);
  });
});
