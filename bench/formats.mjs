// Benchmark `formats`: `weft inspect --hash` and `git add` of the same 1 GiB of BF16 weights (64 tensors) as
// safetensors, as a PyTorch `torch.save` zip (written by Debian's PyTorch) and as GGUF v3 (written here), so the
// figures compare formats, not data. Medians of `runs`; warm page cache.
// usage: npm run bench -- formats [MiB] [runs]
import { spawnSync } from 'node:child_process';
import {
  closeSync,
  existsSync,
  mkdtempSync,
  openSync,
  readFileSync,
  readSync,
  rmSync,
  statSync,
  writeSync,
} from 'node:fs';
import { join } from 'node:path';
import { CACHE, generatedModel, machine, median, mib, rate, table, timeCommand, WEFT, warm } from './lib.mjs';

const PYTHON = '/usr/bin/python3';

function sh(cwd, cmd, args) {
  const r = spawnSync(cmd, args, { cwd, encoding: 'utf8', maxBuffer: 1 << 28 });
  if (r.status !== 0) throw new Error(`${cmd} ${args.join(' ')} failed: ${r.stderr}`);
  return r.stdout;
}

/** The tensors of a safetensors file: name, shape and the byte range of its data. */
function readSafetensors(file) {
  const fd = openSync(file, 'r');
  const head = Buffer.alloc(8);
  readSync(fd, head, 0, 8, 0);
  const n = Number(head.readBigUInt64LE(0));
  const json = Buffer.alloc(n);
  readSync(fd, json, 0, n, 8);
  closeSync(fd);
  const header = JSON.parse(json.toString('utf8'));
  return Object.entries(header)
    .filter(([k]) => k !== '__metadata__')
    .map(([name, t]) => ({ name, shape: t.shape, start: 8 + n + t.data_offsets[0], end: 8 + n + t.data_offsets[1] }))
    .sort((a, b) => a.start - b.start);
}

/** GGUF v3 with the same BF16 tensors (ggml type 30), 32-byte alignment, one metadata key. */
function writeGguf(src, out) {
  const tensors = readSafetensors(src);
  const parts = [];
  const u32 = (v) => {
    const b = Buffer.alloc(4);
    b.writeUInt32LE(v);
    parts.push(b);
  };
  const u64 = (v) => {
    const b = Buffer.alloc(8);
    b.writeBigUInt64LE(BigInt(v));
    parts.push(b);
  };
  const str = (s) => {
    u64(Buffer.byteLength(s));
    parts.push(Buffer.from(s));
  };
  parts.push(Buffer.from('GGUF'));
  u32(3);
  u64(tensors.length);
  u64(1);
  str('general.name');
  u32(8); // string
  str('weft-bench');
  let offset = 0;
  for (const t of tensors) {
    str(t.name);
    u32(t.shape.length);
    for (const d of [...t.shape].reverse()) u64(d); // GGUF lists the fastest-varying dimension first
    u32(30); // BF16
    u64(offset);
    offset += Math.ceil((t.end - t.start) / 32) * 32;
  }
  let head = Buffer.concat(parts);
  head = Buffer.concat([head, Buffer.alloc((32 - (head.length % 32)) % 32)]);
  const fd = openSync(out, 'w');
  writeSync(fd, head);
  const data = readFileSync(src);
  for (const t of tensors) {
    writeSync(fd, data, t.start, t.end - t.start);
    const pad = (32 - ((t.end - t.start) % 32)) % 32;
    if (pad) writeSync(fd, Buffer.alloc(pad));
  }
  closeSync(fd);
}

function writePt(src, out) {
  const code = `
import json, struct, torch
b = open(${JSON.stringify(src)}, 'rb').read(); n = struct.unpack('<Q', b[:8])[0]; h = json.loads(b[8:8+n])
sd = {}
for k, v in h.items():
    if k == '__metadata__': continue
    s, e = v['data_offsets']
    sd[k] = torch.frombuffer(bytearray(b[8+n+s:8+n+e]), dtype=torch.bfloat16).reshape(v['shape'])
torch.save(sd, ${JSON.stringify(out)})`;
  sh('/', PYTHON, ['-c', code]);
}

export async function run(args) {
  const size = Number(args[0] ?? 1024);
  const runs = Number(args[1] ?? 3);
  const st = generatedModel(size, 'BF16', 1, 64);
  const gguf = join(CACHE, `model-${size}-bf16-n64.gguf`);
  const pt = join(CACHE, `model-${size}-bf16-n64.pt`);
  if (!existsSync(gguf)) writeGguf(st, gguf);
  if (!existsSync(pt)) {
    if (!existsSync(PYTHON)) console.log(`(no ${PYTHON}: the .pt row is skipped)`);
    else writePt(st, pt);
  }
  const files = [
    ['safetensors', st, '*.safetensors'],
    ['GGUF v3', gguf, '*.gguf'],
    ...(existsSync(pt) ? [['PyTorch zip (.pt)', pt, '*.pt']] : []),
  ];
  const rows = [];
  const base = {};
  for (const [label, file, pattern] of files) {
    const bytes = statSync(file).size;
    warm(file);
    const inspect = median(
      Array.from(
        { length: runs },
        () => timeCommand(process.execPath, [WEFT, 'inspect', file, '--hash', '--json']).seconds,
      ),
    );
    const adds = [];
    for (let r = 0; r < runs; r++) {
      const dir = mkdtempSync(join(CACHE, 'fmt-'));
      sh(dir, 'git', ['init', '-q', '-b', 'main']);
      sh(dir, process.execPath, [WEFT, 'init']);
      sh(dir, process.execPath, [WEFT, 'track', pattern]);
      const name = `model${pattern.slice(1)}`;
      sh('/', 'cp', [file, join(dir, name)]);
      warm(join(dir, name));
      adds.push(timeCommand('git', ['add', name], { cwd: dir }).seconds);
      rmSync(dir, { recursive: true, force: true, maxRetries: 5 }); // a warm filter process may be leaving
    }
    const add = median(adds);
    if (label === 'safetensors') Object.assign(base, { inspect, add });
    rows.push([
      label,
      mib(bytes),
      `${inspect.toFixed(2)} s (${rate(bytes, inspect)})`,
      `${(inspect / base.inspect).toFixed(2)}×`,
      `${add.toFixed(2)} s (${rate(bytes, add)})`,
      `${(add / base.add).toFixed(2)}×`,
    ]);
  }
  console.log(`# formats: ${size} MiB of BF16 weights in 64 tensors — ${machine()}; median of ${runs}\n`);
  console.log(table(['format', 'size', 'inspect --hash', 'vs safetensors', 'git add', 'vs safetensors'], rows));
}
