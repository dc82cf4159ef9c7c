// `weft serve`: run the hub (git smart HTTP, Git LFS Batch API, JSON API) on a data dir until SIGINT/SIGTERM.
// The hub's modules (src/hub.ts) are imported when the command runs, so other commands never load hono or SQLite.

import { resolve } from 'node:path';
import { UsageError, VERSION } from '../index.js';
import { type CommandSpec, writeOut } from './command.js';

/** Parses a byte count: a plain integer, or with a K/M/G/T suffix (binary units: 1G = 2^30). */
export function parseByteSize(value: string, option: string): number {
  const m = /^(\d+)\s*([KMGT]i?B?)?$/i.exec(value.trim());
  if (!m) throw new UsageError('USAGE', `${option} ${value}: expected a byte count such as 1073741824 or 1G`);
  const unit = (m[2] ?? '').toUpperCase()[0];
  const power = unit ? 'KMGT'.indexOf(unit) + 1 : 0;
  const n = Number(m[1]) * 1024 ** power;
  if (!Number.isSafeInteger(n) || n <= 0) throw new UsageError('USAGE', `${option} ${value}: out of range`);
  return n;
}

function parsePort(value: unknown): number {
  if (value === undefined) return 0;
  const n = Number(value);
  if (!Number.isInteger(n) || n < 0 || n > 65535) throw new UsageError('USAGE', `--port ${value}: expected 0 to 65535`);
  return n;
}

export const serveCommand: CommandSpec = {
  name: 'serve',
  summary: 'run the hub: host repositories over git smart HTTP with a Git LFS server for their objects',
  usage:
    '[--data <dir>] [--host 127.0.0.1] [--port 0] [--max-object-size <bytes>] [--public-url <url>]\n' +
    '       [--s3 s3://bucket/prefix [--s3-endpoint <url>] [--s3-region <r>]] [--no-queue] [--json]',
  details:
    'Serves every repository under <data>/repos (create them with `weft hub repo create`) at\n' +
    '<url>/<owner>/<name>.git: clone, fetch and push with git over HTTP, model objects through the Git LFS Batch\n' +
    'API at <url>/<owner>/<name>.git/info/lfs (weft push/fetch and git-lfs find it by themselves). Clients\n' +
    'authenticate with HTTP Basic <user>:<token> (from git credential helpers) or a Bearer token (`weft hub token\n' +
    'create`). GET /healthz reports health; GET /api/repos lists repositories. Logs are JSON lines on stderr\n' +
    '(no secrets). Pushing refs/heads/proposals/<name> opens a proposal: the merge queue merges it onto main with\n' +
    "the repository's [merge] policy, gates the result against main with its [gate] suites and fast-forwards main\n" +
    'on accept (GET /api/repos/<owner>/<name>/proposals shows each state and its evidence; --no-queue turns it\n' +
    'off). Objects live inside each bare repository (<data>/repos/<owner>/<name>.git/lfs/objects, the git-lfs\n' +
    'layout; the merge queue needs them there) unless --s3 names a bucket (credentials from AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY or\n' +
    '~/.aws, as for weft remotes); uploads are verified before they are stored. Prints the URL on stdout once\n' +
    'listening (with --json: {"url": …}). SIGINT or SIGTERM stop accepting, let running requests finish, then\n' +
    'exit. Port 0 picks a free port.',
  options: {
    data: { type: 'string', description: '<dir> data directory: hub.db and repos/ (default ./weft-hub)' },
    host: { type: 'string', description: '<address> interface to listen on (default 127.0.0.1)' },
    port: { type: 'string', description: '<n> TCP port (default 0: any free port)' },
    'max-object-size': {
      type: 'string',
      description: '<bytes> largest LFS object accepted, e.g. 2G (default 5G); larger uploads get 413',
    },
    'public-url': { type: 'string', description: '<url> URL clients reach the hub at (behind a proxy), for LFS hrefs' },
    s3: { type: 'string', description: '<s3://bucket/prefix> keep LFS objects in this bucket instead of on disk' },
    's3-endpoint': { type: 'string', description: '<url> S3 endpoint (MinIO, Ceph, R2…)' },
    's3-region': { type: 'string', description: '<region> S3 region (default us-east-1)' },
    'no-queue': { type: 'boolean', description: 'do not run the merge queue (proposals are stored, not merged)' },
    json: { type: 'boolean', description: 'print {"url": …} as one JSON line once listening' },
  },
  async run({ io, values }) {
    // The hub's modules (hono, SQLite) load only here, not with every weft command.
    const { jsonLineLog, s3OptionsFromEnvironment, s3StoreFor, startHub } = await import('../hub.js');
    const dataDir = resolve(io.cwd, typeof values.data === 'string' ? values.data : 'weft-hub');
    const maxObjectSize =
      typeof values['max-object-size'] === 'string'
        ? parseByteSize(values['max-object-size'], '--max-object-size')
        : undefined;
    let storeFor: ReturnType<typeof import('../hub.js').s3StoreFor> | undefined;
    if (typeof values.s3 === 'string') {
      const settings = {
        ...(typeof values['s3-endpoint'] === 'string' ? { endpoint: values['s3-endpoint'] } : {}),
        ...(typeof values['s3-region'] === 'string' ? { region: values['s3-region'] } : {}),
      };
      const s3 = await s3OptionsFromEnvironment({ url: values.s3, env: io.env, settings });
      storeFor = s3StoreFor({ dataDir, s3 });
    } else if (values['s3-endpoint'] !== undefined || values['s3-region'] !== undefined) {
      throw new UsageError('USAGE', '--s3-endpoint and --s3-region need --s3 s3://bucket/prefix');
    }
    const hub = await startHub({
      dataDir,
      host: typeof values.host === 'string' ? values.host : '127.0.0.1',
      port: parsePort(values.port),
      log: jsonLineLog(io.stderr),
      version: VERSION,
      ...(maxObjectSize !== undefined ? { maxObjectSizeBytes: maxObjectSize } : {}),
      ...(storeFor ? { storeFor } : {}),
      ...(typeof values['public-url'] === 'string' ? { publicUrl: values['public-url'] } : {}),
      // The queue's temp clones run this same installation as their merge driver and filter.
      mergeQueue: values['no-queue'] ? false : { weftCommand: io.selfCommand },
    });
    await writeOut(io.stdout, values.json ? `${JSON.stringify({ url: hub.url })}\n` : `${hub.url}\n`);
    // A long-running command: it waits for a signal (CliIO has no signal source, so it listens on process).
    await new Promise<void>((done) => {
      const stop = () => {
        process.off('SIGINT', stop);
        process.off('SIGTERM', stop);
        done();
      };
      process.on('SIGINT', stop);
      process.on('SIGTERM', stop);
    });
    await hub.close();
    return 0;
  },
};
