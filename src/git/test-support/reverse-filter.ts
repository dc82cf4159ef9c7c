// Test support: the filter the real-git tests install. clean and smudge both reverse a file's bytes (so the
// stored blob is visibly different); cleaning a path containing "fail" fails. Run transpiled, by git.

import { appendFileSync } from 'node:fs';
import { serveFilterProcess } from '../filter-process.js';

async function readAll(content: AsyncIterable<Uint8Array>): Promise<Buffer> {
  const parts: Buffer[] = [];
  for await (const chunk of content) parts.push(Buffer.from(chunk));
  return Buffer.concat(parts).reverse();
}

const log = process.env.WEFT_TEST_FILTER_LOG;
const note = (line: string) => {
  if (log !== undefined) appendFileSync(log, `${line}\n`);
};
note(`start ${process.pid}`);
await serveFilterProcess({
  input: process.stdin,
  output: process.stdout,
  handlers: {
    async clean(request) {
      note(`clean ${request.pathname}`);
      const bytes = await readAll(request.content);
      if (request.pathname.includes('fail')) throw new Error(`${request.pathname}: refusing to clean`);
      return bytes;
    },
    async smudge(request) {
      note(`smudge ${request.pathname}`);
      const bytes = await readAll(request.content);
      return (async function* () {
        for (let at = 0; at < bytes.length; at += 100_001) yield bytes.subarray(at, at + 100_001);
      })();
    },
  },
});
note(`end ${process.pid}`);
