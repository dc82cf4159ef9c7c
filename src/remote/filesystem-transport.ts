// A remote on a file system (`file://…` or a path): objects at `<root>/lfs/objects/aa/bb/<oid>`, the layout git-lfs
// uses for file remotes (`<git dir>/lfs/objects`), so either tool reads the other's. Writes are temp + fsync + rename.

import { mkdir, readFile, stat } from 'node:fs/promises';
import { isAbsolute, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { RemoteError } from '../errors.js';
import { errorCode, writeFileAtomic } from '../store/write-atomic.js';
import { checkOid, mapLimit, type RemoteObject, type Transport, uniqueObjects } from './transport.js';

/** Existence checks run at once (stat calls are cheap; more only queue in libuv). */
const STAT_PARALLEL = 16;

/** Options of {@link FilesystemTransport}. */
export interface FilesystemTransportOptions {
  /** `file:///abs/path`, or a path (relative to `cwd`). Objects go under `<root>/lfs/objects`. */
  url: string;
  /** Resolves relative paths (default: the process's working directory). */
  cwd?: string;
  /** fsync each object and its directory (default true). */
  durable?: boolean;
}

/** The directory a `file://` URL or path names. */
export function fileUrlToPath(url: string, cwd = process.cwd()): string {
  if (url.startsWith('file://')) return fileURLToPath(url);
  return isAbsolute(url) ? url : resolve(cwd, url);
}

/**
 * Objects in a directory tree, laid out like git-lfs's.
 *
 * @example
 * const t = new FilesystemTransport({ url: 'file:///srv/models.git' });
 * await t.upload({ oid, size: bytes.length }, bytes); // → /srv/models.git/lfs/objects/ab/cd/abcd…
 */
export class FilesystemTransport implements Transport {
  readonly name: string;
  readonly root: string;
  readonly objectsDir: string;
  private readonly durable: boolean;

  constructor(options: FilesystemTransportOptions) {
    this.root = fileUrlToPath(options.url, options.cwd);
    this.name = this.root;
    this.objectsDir = join(this.root, 'lfs', 'objects');
    this.durable = options.durable ?? true;
  }

  /** Where object `oid` lives on this remote. */
  pathOf(oid: string): string {
    checkOid(oid);
    return join(this.objectsDir, oid.slice(0, 2), oid.slice(2, 4), oid);
  }

  async listMissing(objects: readonly RemoteObject[]): Promise<RemoteObject[]> {
    const unique = uniqueObjects(objects);
    const present = await mapLimit(unique, STAT_PARALLEL, async (o) => {
      const size = await this.sizeOf(o.oid);
      // A copy of the wrong size is a torn or damaged file: report it missing so it is sent again.
      return size !== undefined && (o.size === undefined || o.size === size);
    });
    return unique.filter((_, i) => !present[i]);
  }

  async upload(object: RemoteObject & { size: number }, bytes: Uint8Array): Promise<void> {
    const file = this.pathOf(object.oid);
    if (bytes.length !== object.size) {
      throw new RangeError(`upload ${object.oid}: ${bytes.length} bytes given, size says ${object.size}`);
    }
    if ((await this.sizeOf(object.oid)) === bytes.length) return;
    const tempDir = join(this.root, 'lfs', 'tmp');
    try {
      await mkdir(tempDir, { recursive: true });
      await writeFileAtomic(file, bytes, { tempDir, durable: this.durable });
    } catch (error) {
      throw new RemoteError(
        'REMOTE_UNREACHABLE',
        `${this.name}: cannot write object ${object.oid} (${file}): ${errorCode(error) || (error as Error).message}`,
        {
          retryable: false,
          cause: error,
        },
      );
    }
  }

  async download(object: RemoteObject): Promise<Uint8Array> {
    const file = this.pathOf(object.oid);
    try {
      return await readFile(file);
    } catch (error) {
      const code = errorCode(error);
      if (code === 'ENOENT' || code === 'ENOTDIR') {
        throw new RemoteError('REMOTE_MISSING', `${this.name}: object ${object.oid} is not on the remote (${file})`);
      }
      throw new RemoteError('REMOTE_UNREACHABLE', `${this.name}: cannot read object ${object.oid} (${file}): ${code}`, {
        cause: error,
      });
    }
  }

  async close(): Promise<void> {}

  private async sizeOf(oid: string): Promise<number | undefined> {
    const file = this.pathOf(oid);
    try {
      const info = await stat(file);
      return info.isFile() ? info.size : undefined;
    } catch (error) {
      const code = errorCode(error);
      if (code === 'ENOENT' || code === 'ENOTDIR') return undefined;
      throw new RemoteError('REMOTE_UNREACHABLE', `${this.name}: cannot stat object ${oid} (${file}): ${code}`, {
        cause: error,
      });
    }
  }
}
