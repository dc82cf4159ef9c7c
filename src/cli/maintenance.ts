// `weft du`, `weft fsck`, `weft gc`: measuring, checking and pruning the store.

import { diskUsage, fsckRepo, gcRepo, openBareRepo, openRepo, storeGrowthByCommit, UsageError } from '../index.js';
import { type CommandSpec, printJson, writeOut } from './command.js';
import { formatBytes, renderTable } from './render.js';

export const duCommand: CommandSpec = {
  name: 'du',
  summary: 'bytes held by the store (logical and on disk), for the whole store or per commit',
  usage: '[--by-commit] [--json]',
  options: {
    'by-commit': { type: 'boolean', description: 'per commit of HEAD, oldest first: bytes first stored by it' },
    json: { type: 'boolean', description: 'print {"logicalBytes","storedBytes","objects"} as JSON' },
  },
  async run({ io, values }) {
    const repo = await openRepo({ cwd: io.cwd });
    const total = await diskUsage({ repo });
    const commits = values['by-commit'] ? await storeGrowthByCommit({ repo }) : undefined;
    if (values.json) {
      await printJson(io, commits ? { ...total, commits } : total);
      return 0;
    }
    let text = `${formatBytes(total.storedBytes)} stored in ${total.objects} objects (${formatBytes(total.logicalBytes)} decoded)\n`;
    if (commits) {
      text += `\n${renderTable(
        ['commit', '>models', '>stored', '>objects', 'stored as', 'subject'],
        commits.map((c) => [
          c.commit.slice(0, 10),
          formatBytes(c.logicalBytes),
          formatBytes(c.storedBytes),
          String(c.objects),
          Object.entries(c.byEncoding)
            .filter(([, n]) => n > 0)
            .map(([k, n]) => `${k} ${formatBytes(n)}`)
            .join(', '),
          c.subject,
        ]),
      )}`;
    }
    await writeOut(io.stdout, text);
    return 0;
  },
};

export const fsckCommand: CommandSpec = {
  name: 'fsck',
  summary: 'verify every object and tensor reachable from refs, reflog and index; exit 1 if anything is wrong',
  usage: '[--quick] [--json]',
  details:
    "In a bare repository (a hub's <data>/repos/<owner>/<name>.git, or a file remote) it checks the objects the\n" +
    'repository holds for its clients, in <git dir>/lfs/objects, against every manifest its refs reach.',
  options: {
    quick: { type: 'boolean', description: 'only check that objects exist (no hashing)' },
    json: { type: 'boolean', description: 'print the result as JSON' },
  },
  async run({ io, values }) {
    const bare = await openBareRepo({ cwd: io.cwd });
    const repo = bare ?? (await openRepo({ cwd: io.cwd }));
    const result = await fsckRepo({ repo, quick: values.quick === true });
    if (values.json)
      await printJson(io, { ...result, ok: result.problems.length === 0, ...(bare ? { bare: true } : {}) });
    else {
      const lines = result.problems.map(
        (p) =>
          `${p.object ? `object ${p.object}` : `tensor ${JSON.stringify(p.tensor)}`}: ${p.problem}${p.blob ? ` (manifest blob ${p.blob.slice(0, 12)})` : ''}`,
      );
      lines.push(
        `checked ${result.manifests} manifests, ${result.objects} objects, ${result.tensors} tensors: ${
          result.problems.length === 0 ? 'ok' : `${result.problems.length} problem(s)`
        }`,
      );
      await writeOut(result.problems.length ? io.stderr : io.stdout, `${lines.join('\n')}\n`);
    }
    return result.problems.length === 0 ? 0 : 1;
  },
};

function parseDuration(text: string): number {
  const m = /^(\d+(?:\.\d+)?)(ms|s|m|h|d)?$/.exec(text);
  if (!m) throw new UsageError('USAGE', `--grace ${text}: expected a duration such as 0, 30s, 10m, 1h or 2d`);
  const unit = { ms: 1, s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000 }[m[2] ?? 's'] ?? 1000;
  return Number(m[1]) * unit;
}

export const gcCommand: CommandSpec = {
  name: 'gc',
  summary: 'delete store objects that no manifest reachable in git names',
  usage: '[--dry-run] [--grace <duration>] [--json]',
  details:
    'Reachable = named by a manifest in any ref, the reflog or the index. Objects written or reused less than\n' +
    '--grace ago (default 1h) are kept, so a concurrent `git add` is safe; use --grace 0 to prune everything.',
  options: {
    'dry-run': { type: 'boolean', short: 'n', description: 'list what would be deleted, delete nothing' },
    grace: { type: 'string', description: '<duration> keep unreachable objects younger than this (default 1h)' },
    json: { type: 'boolean', description: 'print the result as JSON' },
  },
  async run({ io, values }) {
    const repo = await openRepo({ cwd: io.cwd });
    const graceMs = typeof values.grace === 'string' ? parseDuration(values.grace) : undefined;
    const result = await gcRepo({
      repo,
      dryRun: values['dry-run'] === true,
      ...(graceMs !== undefined ? { graceMs } : {}),
    });
    if (values.json) await printJson(io, result);
    else {
      const verb = result.dryRun ? 'would delete' : 'deleted';
      await writeOut(
        io.stdout,
        `${result.dryRun ? result.deletedIds.map((id) => `${id}\n`).join('') : ''}${verb} ${result.deleted} objects (${formatBytes(result.deletedBytes)}); kept ${result.kept} (${result.reachable} reachable)\n`,
      );
    }
    return 0;
  },
};
