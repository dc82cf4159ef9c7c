// `weft remote add|list|remove`: the Weft remotes in `.weft/config.toml` (committed; credentials never go there).

import { addRemote, listRemotes, openRepo, removeRemote, UsageError, type WeftRemote } from '../index.js';
import { type CommandSpec, printJson, writeOut } from './command.js';
import { renderTable } from './render.js';

export const remoteCommand: CommandSpec = {
  name: 'remote',
  summary: 'list, add or remove the places model objects are pushed to (Git LFS server, S3 bucket, directory)',
  usage: '[list [--json]] | add <name> <url> [--endpoint <url>] [--region <r>] [--path-style] | remove <name>',
  details:
    'URLs: s3://bucket/prefix (credentials from AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY/AWS_SESSION_TOKEN or\n' +
    '~/.aws; endpoint from --endpoint, AWS_ENDPOINT_URL or ~/.aws/config), https://… (a Git LFS server: a URL\n' +
    'ending in /info/lfs is used as is, otherwise <url>.git/info/lfs), file://… or a path (objects under\n' +
    '<path>/lfs/objects, the git-lfs layout). Without a Weft remote, push and fetch use the git remote’s LFS\n' +
    'endpoint (lfs.url, remote.<name>.lfsurl or derived from its URL), as git-lfs does. Settings are stored in\n' +
    '.weft/config.toml, which is committed: never put credentials in a URL.',
  options: {
    endpoint: { type: 'string', description: '<url> S3 endpoint (R2, MinIO, Ceph…)' },
    region: { type: 'string', description: '<region> S3 region (default us-east-1)' },
    'path-style': { type: 'boolean', description: 'S3 path-style addressing (endpoint/bucket/key)' },
    json: { type: 'boolean', description: 'list as JSON' },
  },
  async run({ io, values, positionals }) {
    const [action = 'list', ...args] = positionals;
    const repo = await openRepo({ cwd: io.cwd });
    if (action === 'list') {
      if (args.length > 0) throw new UsageError('USAGE', 'remote list takes no arguments');
      const remotes = await listRemotes({ repo });
      if (values.json) await printJson(io, remotes);
      else if (remotes.length > 0) {
        await writeOut(
          io.stdout,
          renderTable(
            ['name', 'url', 'settings'],
            remotes.map((r) => [
              r.name,
              r.url,
              [r.endpoint && `endpoint=${r.endpoint}`, r.region && `region=${r.region}`, r.pathStyle && 'path-style']
                .filter(Boolean)
                .join(' '),
            ]),
          ),
        );
      }
      return 0;
    }
    if (action === 'add') {
      const [name, url] = args;
      if (!name || !url || args.length > 2) throw new UsageError('USAGE', 'usage: weft remote add <name> <url>');
      const remote: WeftRemote = { name, url };
      if (typeof values.endpoint === 'string') remote.endpoint = values.endpoint;
      if (typeof values.region === 'string') remote.region = values.region;
      if (values['path-style'] === true) remote.pathStyle = true;
      await addRemote({ repo, remote });
      await writeOut(io.stdout, `added remote ${name} (${url}) to .weft/config.toml\n`);
      return 0;
    }
    if (action === 'remove' || action === 'rm') {
      const [name] = args;
      if (!name || args.length > 1) throw new UsageError('USAGE', 'usage: weft remote remove <name>');
      await removeRemote({ repo, name });
      await writeOut(io.stdout, `removed remote ${name} from .weft/config.toml\n`);
      return 0;
    }
    throw new UsageError('USAGE', `remote: unknown action ${JSON.stringify(action)}; expected list, add or remove`);
  },
};
