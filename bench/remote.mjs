// Benchmark `remote`: push and fetch a generated model (default 1 GiB BF16, 64 tensors) to s3rver on loopback,
// against raw PUT/GET of the same objects with the same client (S3Transport: SigV4, 8 in flight), and the
// bytes sent for a second version with one tensor changed. s3rver runs in a child process (port 0).
// usage: npm run bench -- remote [MiB] [rounds]
import { spawn, spawnSync } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { CACHE, generatedModel, machine, median, mib, ROOT, table, timeCommand, WEFT } from './lib.mjs';

/** The CLI under test: dist/ by default; WEFT_BENCH_CLI points at another build (its remote/ module beside it). */
const CLI = process.env.WEFT_BENCH_CLI ?? WEFT;
const DIST = join(CLI, '..', '..');
const CREDS = { AWS_ACCESS_KEY_ID: 'S3RVER', AWS_SECRET_ACCESS_KEY: 'S3RVER', AWS_REGION: 'us-east-1' };

function sh(cwd, cmd, args, env = {}) {
  const r = spawnSync(cmd, args, { cwd, encoding: 'utf8', maxBuffer: 1 << 28, env: { ...process.env, ...env } });
  if (r.status !== 0) throw new Error(`${cmd} ${args.join(' ')} failed: ${r.stderr}`);
  return r.stdout;
}

/** Starts s3rver in a child process; resolves its endpoint and a stop function. */
async function startS3rver(dir) {
  const script = `
    import S3rver from 's3rver';
    const s = new S3rver({ address: '127.0.0.1', port: 0, silent: true, directory: ${JSON.stringify(dir)},
      configureBuckets: [{ name: 'bench' }] });
    const { port } = await s.run();
    process.stdout.write(port + '\\n');`;
  const child = spawn(process.execPath, ['--input-type=module', '-e', script], {
    cwd: ROOT,
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  const port = await new Promise((resolve, reject) => {
    child.stdout.once('data', (d) => resolve(Number(String(d).trim())));
    child.once('exit', (code) => reject(new Error(`s3rver exited (${code})`)));
  });
  return { endpoint: `http://127.0.0.1:${port}`, stop: () => child.kill() };
}

function storeFiles(repo) {
  const root = join(repo, '.git', 'weft', 'objects');
  const out = [];
  for (const a of readdirSync(root))
    for (const b of readdirSync(join(root, a)))
      for (const f of readdirSync(join(root, a, b))) out.push(join(root, a, b, f));
  return out;
}

function newRepo(name) {
  const dir = join(CACHE, name);
  rmSync(dir, { recursive: true, force: true, maxRetries: 5 }); // a warm filter process may be leaving
  sh(CACHE, 'git', ['init', '-q', '-b', 'main', dir]);
  sh(dir, 'git', ['config', 'user.email', 'bench@weft.invalid']);
  sh(dir, 'git', ['config', 'user.name', 'bench']);
  sh(dir, process.execPath, [CLI, 'init']);
  return dir;
}

async function mapLimit(items, limit, task) {
  let next = 0;
  await Promise.all(
    Array.from({ length: limit }, async () => {
      while (next < items.length) await task(items[next++]);
    }),
  );
}

export async function run(args) {
  const sizeMib = Number(args[0] ?? 1024);
  const rounds = Number(args[1] ?? 3);
  const count = 64;
  const v1 = generatedModel(sizeMib, 'BF16', 1, count);
  const { S3Transport } = await import(pathToFileURL(join(DIST, 'remote', 's3-transport.js')).href);
  const s3dir = mkdtempSync(join(CACHE, 's3rver-'));
  const s3 = await startS3rver(s3dir);
  try {
    const work = newRepo('remote-work');
    sh(work, process.execPath, [CLI, 'track', '*.safetensors']);
    writeFileSync(join(work, 'model.safetensors'), readFileSync(v1));
    sh(work, 'git', ['add', '.']);
    sh(work, 'git', ['commit', '-qm', 'v1']);
    sh(work, process.execPath, [CLI, 'remote', 'add', 's3', 's3://bench/weft', '--endpoint', s3.endpoint]);
    sh(work, 'git', ['add', '.weft/config.toml']);
    sh(work, 'git', ['commit', '-qm', 'remote']);

    // Raw PUT/GET of the same objects with the same client, 8 in flight, alternating with weft push/fetch; each
    // measured `rounds` times into fresh prefixes (a shared 2-core machine is noisy: medians are reported).
    const files = storeFiles(work);
    const stored = files.reduce((n, f) => n + statSync(f).size, 0);
    const clone = newRepo('remote-clone');
    sh(clone, 'git', ['remote', 'add', 'origin', join(work, '.git')]);
    sh(clone, 'git', ['fetch', '-q', 'origin']);
    sh(clone, 'git', ['update-ref', 'refs/heads/main', 'origin/main']);
    const times = { rawPut: [], push: [], rawGet: [], fetch: [] };
    let pushed;
    let fetched;
    for (let round = 0; round < rounds; round++) {
      const raw = new S3Transport({
        url: `s3://bench/raw${round}`,
        endpoint: s3.endpoint,
        credentials: { accessKeyId: 'S3RVER', secretAccessKey: 'S3RVER' },
      });
      let t0 = performance.now();
      await mapLimit(files, 8, async (f) => {
        const bytes = readFileSync(f);
        await raw.upload({ oid: f.slice(-64), size: bytes.length }, bytes);
      });
      times.rawPut.push((performance.now() - t0) / 1000);
      t0 = performance.now();
      await mapLimit(files, 8, async (f) => {
        await raw.download({ oid: f.slice(-64) });
      });
      times.rawGet.push((performance.now() - t0) / 1000);

      const remote = `s3r${round}`;
      sh(work, process.execPath, [CLI, 'remote', 'add', remote, `s3://bench/weft${round}`, '--endpoint', s3.endpoint]);
      sh(clone, process.execPath, [CLI, 'remote', 'add', remote, `s3://bench/weft${round}`, '--endpoint', s3.endpoint]);
      const push = timeCommand(process.execPath, [CLI, 'push', remote, '--json'], { cwd: work, env: CREDS });
      pushed = JSON.parse(push.stdout.toString());
      times.push.push(push.seconds);
      rmSync(join(clone, '.git', 'weft', 'objects'), { recursive: true, force: true });
      const fetch = timeCommand(process.execPath, [CLI, 'fetch', remote, 'main', '--json'], { cwd: clone, env: CREDS });
      fetched = JSON.parse(fetch.stdout.toString());
      times.fetch.push(fetch.seconds);
    }
    const rawPut = median(times.rawPut);
    const rawGet = median(times.rawGet);
    const push = { seconds: median(times.push) };
    const fetch = { seconds: median(times.fetch) };
    sh(work, process.execPath, [CLI, 'push', 's3', '--json'], CREDS);

    // Second version: one tensor replaced by another seed's.
    const a = readFileSync(v1);
    const b = readFileSync(generatedModel(sizeMib, 'BF16', 2, count));
    const n = Number(a.readBigUInt64LE(0));
    const h = JSON.parse(a.subarray(8, 8 + n).toString());
    const [s, e] = h['layers.7.weight'].data_offsets;
    b.copy(a, 8 + n + s, 8 + n + s, 8 + n + e);
    const before = new Set(storeFiles(work));
    writeFileSync(join(work, 'model.safetensors'), a);
    sh(work, 'git', ['commit', '-qam', 'v2']);
    const tensorStored = storeFiles(work)
      .filter((f) => !before.has(f))
      .reduce((x, f) => x + statSync(f).size, 0);
    const push2 = JSON.parse(
      timeCommand(process.execPath, [CLI, 'push', 's3', '--json'], { cwd: work, env: CREDS }).stdout.toString(),
    );

    const gbs = (bytes, secs) => `${(bytes / secs / 2 ** 20).toFixed(0)} MiB/s`;
    console.log(
      `remote benchmark: ${sizeMib} MiB BF16 model (${count} tensors), s3rver on loopback, median of ${rounds}; ${machine()}\n`,
    );
    console.log(
      table(
        ['operation', 'objects', 'stored bytes', 'seconds', 'throughput', 'vs raw'],
        [
          [
            'raw PUT (S3Transport, 8 in flight)',
            files.length,
            mib(stored),
            rawPut.toFixed(2),
            gbs(stored, rawPut),
            '1.00×',
          ],
          [
            'weft push',
            pushed.uploaded,
            mib(pushed.uploadedBytes),
            push.seconds.toFixed(2),
            gbs(pushed.uploadedBytes, push.seconds),
            `${(rawPut / push.seconds).toFixed(2)}×`,
          ],
          [
            'raw GET (S3Transport, 8 in flight)',
            files.length,
            mib(stored),
            rawGet.toFixed(2),
            gbs(stored, rawGet),
            '1.00×',
          ],
          [
            'weft fetch',
            fetched.downloaded,
            mib(fetched.downloadedBytes),
            fetch.seconds.toFixed(2),
            gbs(fetched.downloadedBytes, fetch.seconds),
            `${(rawGet / fetch.seconds).toFixed(2)}×`,
          ],
        ],
      ),
    );
    console.log(
      `\nsecond version, one tensor (${mib(e - s)} raw, ${mib(tensorStored)} stored) changed: push sent ` +
        `${push2.uploaded} objects, ${mib(push2.uploadedBytes)} = ${(push2.uploadedBytes / tensorStored).toFixed(3)}× its stored bytes ` +
        `(goal ≤ 1.05×)`,
    );
  } finally {
    s3.stop();
    rmSync(s3dir, { recursive: true, force: true });
  }
}
