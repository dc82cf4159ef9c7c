// Commands git runs for us (configured by weft init): the diff textconv, the merge driver and the pre-push hook.

import { createHash } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import {
  inspectCheckpoint,
  looksLikeManifest,
  openRepo,
  parseManifest,
  parsePrePushInput,
  pushObjects,
  runMergeDriver,
  UsageError,
} from '../index.js';
import { type CommandSpec, writeOut } from './command.js';
import { withTransferProgress } from './push.js';
import { formatBytes, renderTable } from './render.js';

export const showManifestCommand: CommandSpec = {
  name: 'show-manifest',
  summary: 'print a manifest or checkpoint as a readable table of tensors (git diff textconv)',
  usage: '<file>',
  hidden: true,
  options: {},
  async run({ io, positionals }) {
    const file = positionals[0];
    if (!file) throw new UsageError('USAGE', 'show-manifest needs a file');
    const bytes = await readFile(file);
    if (!looksLikeManifest(bytes)) {
      // git hands textconv the file in work-tree form (smudged): describe the checkpoint itself.
      let lines: string;
      try {
        const r = await inspectCheckpoint({ path: file, hash: true });
        lines =
          `${r.format} file, ${bytes.length} bytes, ${r.tensors.length} tensors\n` +
          renderTable(
            ['tensor', 'dtype', 'shape', '>bytes', 'content'],
            r.tensors.map((t) => [
              t.name,
              t.dtype,
              `[${t.shape.join(',')}]`,
              String(t.sizeBytes),
              (t.sha256 ?? '').slice(0, 16),
            ]),
          );
      } catch {
        lines = `${bytes.length} bytes, sha256 ${createHash('sha256').update(bytes).digest('hex')}\n`;
      }
      await writeOut(io.stdout, lines);
      return 0;
    }
    const m = parseManifest(bytes.toString('utf8'), file);
    const rows = m.tensors.map((t) => {
      const params = Object.entries(t.encoding.params).map(
        ([k, v]) => `${k}=${v.length > 16 ? `${v.slice(0, 12)}…` : v}`,
      );
      return [
        t.name,
        t.dtype,
        `[${t.shape.join(',')}]`,
        String(t.sizeBytes),
        t.contentId.slice(0, 16),
        [t.encoding.kind, ...params].join(' '),
      ];
    });
    await writeOut(
      io.stdout,
      `${m.format} file, ${m.sizeBytes} bytes, ${m.tensors.length} tensors, frame ${m.frames.reduce((n, f) => n + f.sizeBytes, 0)} bytes\n` +
        renderTable(['tensor', 'dtype', 'shape', '>bytes', 'content', 'encoding'], rows),
    );
    return 0;
  },
};

export const mergeDriverCommand: CommandSpec = {
  name: 'merge-driver',
  summary: "git's merge driver for tracked models (configured by weft init)",
  usage: '[--recursive] <base> <ours> <theirs> <path>',
  hidden: true,
  options: {
    recursive: {
      type: 'boolean',
      description: 'git’s inner merge of several merge bases: average tensors changed on both sides, never conflict',
    },
  },
  async run({ io, values, positionals }) {
    const [base, ours, theirs, path] = positionals;
    if (!base || !ours || !theirs) throw new UsageError('USAGE', 'merge-driver needs %O %A %B [%P]');
    const r = await runMergeDriver({
      base,
      ours,
      theirs,
      path: path ?? ours,
      cwd: io.cwd,
      ...(values.recursive === true ? { virtualBase: true } : {}),
    });
    for (const m of r.merged ?? [])
      io.stderr.write(`weft: ${path ?? ours}: merged ${JSON.stringify(m.tensor)} by ${m.method}\n`);
    if (!r.clean && r.conflicts.some((c) => c.tensor)) {
      io.stderr.write(`weft: see 'weft status' for the conflicts and 'weft resolve' to settle them\n`);
    }
    for (const c of r.conflicts) {
      io.stderr.write(
        `weft: merge conflict in ${path ?? ours}${c.tensor ? `: tensor ${JSON.stringify(c.tensor)}` : ''}: ${c.reason}\n`,
      );
    }
    return r.clean ? 0 : 1;
  },
};

export const prePushCommand: CommandSpec = {
  name: 'pre-push',
  summary: 'pre-push hook (installed by weft init): uploads the objects of the pushed commits',
  usage: '<remote> <url>',
  hidden: true,
  options: {},
  async run({ io, positionals }) {
    const chunks: Buffer[] = [];
    for await (const chunk of io.stdin) chunks.push(Buffer.from(chunk as Uint8Array));
    if (io.env.WEFT_SKIP_PUSH === '1') {
      io.stderr.write('weft: WEFT_SKIP_PUSH=1: model objects not pushed\n');
      return 0;
    }
    // git passes `<name> <url>`, and the URL as the name when pushing to a URL: either resolves (resolveRemote).
    const [name] = positionals;
    if (!name) throw new UsageError('USAGE', 'pre-push needs <remote> <url> (git passes them)');
    const repo = await openRepo({ cwd: io.cwd });
    const r = await withTransferProgress(io, 'weft push', (onProgress) =>
      pushObjects({
        repo,
        remote: name,
        pushedRefs: parsePrePushInput(Buffer.concat(chunks).toString('utf8')),
        env: io.env,
        onProgress,
      }),
    );
    if (r.uploaded > 0)
      io.stderr.write(`weft: sent ${r.uploaded} objects (${formatBytes(r.uploadedBytes)}) to ${r.remote}\n`);
    return 0;
  },
};
