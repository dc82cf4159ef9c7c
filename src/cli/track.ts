// `weft track` / `weft untrack`: choose which files Weft versions (edits the top-level .gitattributes).

import { trackPatterns } from '../index.js';
import { type CommandSpec, printJson, writeOut } from './command.js';

function trackSpec(untrack: boolean): CommandSpec {
  return {
    name: untrack ? 'untrack' : 'track',
    summary: untrack
      ? 'stop versioning files matching patterns with Weft'
      : 'version files matching patterns with Weft',
    usage: '[<pattern>…] [--json]',
    details: untrack
      ? 'Removes filter=weft diff=weft merge=weft -text from the patterns in .gitattributes.'
      : 'Adds "<pattern> filter=weft diff=weft merge=weft -text" to .gitattributes, keeping other attributes on\n' +
        'the line. Quote patterns so the shell does not expand them: weft track "*.safetensors".\n' +
        'With no pattern, lists the tracked patterns.',
    options: { json: { type: 'boolean', description: 'print the result as JSON' } },
    async run({ io, values, positionals }) {
      const result = await trackPatterns({ cwd: io.cwd, patterns: positionals, untrack });
      if (values.json) {
        await printJson(io, result);
        return 0;
      }
      const lines: string[] = [];
      if (positionals.length === 0) lines.push(...result.tracked.map((p) => `${p}`));
      for (const p of positionals) {
        const verb = untrack ? 'Untracked' : 'Tracking';
        lines.push(
          result.changed.includes(p)
            ? `${verb} ${JSON.stringify(p)}`
            : `${JSON.stringify(p)} already ${untrack ? 'untracked' : 'tracked'}`,
        );
        const replaced = result.replaced[p];
        if (replaced) lines.push(`  (replaced ${replaced.join(' ')})`);
      }
      if (lines.length > 0) await writeOut(io.stdout, `${lines.join('\n')}\n`);
      return 0;
    },
  };
}

export const trackCommand = trackSpec(false);
export const untrackCommand = trackSpec(true);
