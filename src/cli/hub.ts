// `weft hub …`: administer a hub's data dir directly (no server needed): users, tokens, repositories, grants.
// The hub's modules (src/hub.ts) are imported when the command runs, so other commands never load SQLite.

import { join, resolve } from 'node:path';
import type { Role } from '../hub.js';
import { UsageError } from '../index.js';
import { type CommandSpec, printJson, writeOut } from './command.js';
import { renderTable } from './render.js';

const USAGE =
  'user add <name> | user list | token create <user> [--label <text>] | repo create <owner>/<name> [--public] |\n' +
  '       repo list | grant <user> <owner>/<name> read|write|admin   [--data <dir>] [--json]';

export const hubCommand: CommandSpec = {
  name: 'hub',
  summary: "administer a hub's data dir: users, access tokens, repositories and grants",
  usage: USAGE,
  details:
    'Works on the data dir directly (the server may be running; SQLite serialises writers). A token is printed\n' +
    'once and stored only as its SHA-256: give it to its user (git credential helpers take it as the password\n' +
    'with any user name). `repo create` makes <data>/repos/<owner>/<name>.git; --public lets anyone read it;\n' +
    'the owner, when a user of that name exists, gets admin. Roles: read (clone, fetch), write (push, upload\n' +
    'objects), admin.',
  options: {
    data: { type: 'string', description: '<dir> data directory (default ./weft-hub)' },
    label: { type: 'string', description: '<text> a note on what a token is for' },
    public: { type: 'boolean', description: 'repo create: anyone may read (clone, fetch objects) without a token' },
    json: { type: 'boolean', description: 'print the result as JSON' },
  },
  async run({ io, values, positionals }) {
    // The hub's modules (SQLite) load only here, not with every weft command.
    const { createRepo, createToken, createUser, grant, listRepos, listUsers, openHubDatabase, parseRepoSpec, ROLES } =
      await import('../hub.js');
    const dataDir = resolve(io.cwd, typeof values.data === 'string' ? values.data : 'weft-hub');
    const [noun, verb, ...args] = positionals;
    const want = (n: number, usage: string) => {
      if (args.length !== n) throw new UsageError('USAGE', `usage: weft hub ${usage}`);
    };
    const db = openHubDatabase(join(dataDir, 'hub.db'));
    try {
      if (noun === 'user' && verb === 'add') {
        want(1, 'user add <name>');
        createUser(db, { name: args[0]! });
        if (values.json) await printJson(io, { user: args[0] });
        else await writeOut(io.stdout, `added user ${args[0]}\n`);
        return 0;
      }
      if (noun === 'user' && verb === 'list') {
        want(0, 'user list');
        const users = listUsers(db);
        if (values.json) await printJson(io, users);
        else await writeOut(io.stdout, users.map((u) => `${u.name}\n`).join(''));
        return 0;
      }
      if (noun === 'token' && verb === 'create') {
        want(1, 'token create <user> [--label <text>]');
        const label = typeof values.label === 'string' ? values.label : undefined;
        const { id, token } = createToken(db, { user: args[0]!, ...(label !== undefined ? { label } : {}) });
        if (values.json) await printJson(io, { user: args[0], id, token, ...(label !== undefined ? { label } : {}) });
        else {
          await writeOut(io.stdout, `${token}\n`);
          await writeOut(io.stderr, `token ${id} for ${args[0]}: shown once; store it now\n`);
        }
        return 0;
      }
      if (noun === 'repo' && verb === 'create') {
        want(1, 'repo create <owner>/<name> [--public]');
        const { owner, name } = parseRepoSpec(args[0]!);
        const repo = await createRepo(db, { dataDir, owner, name, anonymousRead: values.public === true });
        const gitDir = join(dataDir, 'repos', owner, `${name}.git`);
        if (values.json) await printJson(io, { owner, name, public: repo.anonymousRead, gitDir });
        else
          await writeOut(io.stdout, `created ${owner}/${name}${repo.anonymousRead ? ' (public)' : ''} at ${gitDir}\n`);
        return 0;
      }
      if (noun === 'repo' && verb === 'list') {
        want(0, 'repo list');
        const repos = listRepos(db, { all: true });
        if (values.json) {
          await printJson(
            io,
            repos.map((r) => ({ owner: r.owner, name: r.name, public: r.anonymousRead })),
          );
        } else if (repos.length > 0) {
          await writeOut(
            io.stdout,
            renderTable(
              ['repository', 'access'],
              repos.map((r) => [`${r.owner}/${r.name}`, r.anonymousRead ? 'public' : 'private']),
            ),
          );
        }
        return 0;
      }
      if (noun === 'grant') {
        const all = [verb, ...args].filter((a): a is string => a !== undefined);
        if (all.length !== 3)
          throw new UsageError('USAGE', 'usage: weft hub grant <user> <owner>/<name> read|write|admin');
        const [user, spec, role] = all as [string, string, string];
        if (!(ROLES as readonly string[]).includes(role)) {
          throw new UsageError('USAGE', `${JSON.stringify(role)}: expected one of ${ROLES.join(', ')}`);
        }
        const { owner, name } = parseRepoSpec(spec);
        grant(db, { user, owner, name, role: role as Role });
        if (values.json) await printJson(io, { user, repo: `${owner}/${name}`, role });
        else await writeOut(io.stdout, `${user} may now ${role} ${owner}/${name}\n`);
        return 0;
      }
      throw new UsageError('USAGE', `usage: weft hub ${USAGE}`);
    } finally {
      db.close();
    }
  },
};
