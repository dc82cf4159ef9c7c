// Benchmark: `weft inspect --hash` throughput on a generated 1 GiB BF16 safetensors file, against `sha256sum`
// and `openssl dgst -sha256` of the same file and a raw fs.read loop (the I/O bound). Medians of 3 runs.
import { statSync } from 'node:fs';
import { generatedModel, machine, median, mib, rate, table, timeCommand, WEFT, warm } from './lib.mjs';

export async function run(args) {
  const size = Number(args[0] ?? 1024);
  const file = generatedModel(size, 'BF16', 1, 8);
  const bytes = statSync(file).size;
  warm(file);
  const readLoop = `const fs=require('fs');const fd=fs.openSync(process.argv[1],'r');const b=Buffer.allocUnsafe(8<<20);let p=0,n;while((n=fs.readSync(fd,b,0,b.length,p))>0)p+=n;`;
  const subjects = [
    ['weft inspect --hash --json', process.execPath, [WEFT, 'inspect', file, '--hash', '--json']],
    ['sha256sum', 'sha256sum', [file]],
    ['openssl dgst -sha256', 'openssl', ['dgst', '-sha256', file]],
    ['node fs.read loop (8 MiB)', process.execPath, ['-e', readLoop, file]],
  ];
  const rows = [];
  for (const [label, cmd, argv] of subjects) {
    const runs = [0, 1, 2].map(() => timeCommand(cmd, argv));
    const t = median(runs.map((r) => r.seconds));
    const rss = runs.map((r) => r.maxRssBytes).filter((x) => x !== undefined);
    rows.push([label, `${t.toFixed(3)} s`, rate(bytes, t), rss.length ? mib(Math.max(...rss)) : '-']);
  }
  console.log(
    `machine: ${machine()}\ninput: ${mib(bytes)} BF16 safetensors (8 tensors), warm page cache, median of 3\n`,
  );
  console.log(table(['subject', 'time', 'throughput', 'peak RSS'], rows));
}
