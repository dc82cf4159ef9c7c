// Rendering helpers for people: aligned tables, byte sizes, progress lines on stderr (only on a terminal).

import type { CliIO } from './command.js';

/** Formats a byte count with binary units: 1536 → "1.5 KiB". */
export function formatBytes(n: number): string {
  const units = ['B', 'KiB', 'MiB', 'GiB', 'TiB'];
  let v = n;
  let u = 0;
  while (Math.abs(v) >= 1024 && u < units.length - 1) {
    v /= 1024;
    u++;
  }
  return u === 0 ? `${n} B` : `${v.toFixed(v < 10 ? 2 : 1)} ${units[u]}`;
}

/** An aligned text table; columns whose header starts with '>' are right-aligned. */
export function renderTable(headers: string[], rows: string[][]): string {
  const right = headers.map((h) => h.startsWith('>'));
  const heads = headers.map((h) => (h.startsWith('>') ? h.slice(1) : h));
  const widths = heads.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? '').length)));
  const line = (cells: string[]) =>
    cells
      .map((c, i) => (right[i] ? c.padStart(widths[i]!) : c.padEnd(widths[i]!)))
      .join('  ')
      .trimEnd();
  return `${[line(heads), ...rows.map(line)].join('\n')}\n`;
}

/** A progress reporter for long work: redraws one stderr line at most 10 times a second, only on a TTY. */
export function progressReporter(io: CliIO, label: string): { update(done: number, total: number): void; end(): void } {
  if (!io.stderrIsTTY) return { update() {}, end() {} };
  const started = Date.now();
  let last = 0;
  let shown = false;
  return {
    update(done, total) {
      const now = Date.now();
      if (now - last < 100 && done < total) return;
      last = now;
      shown = true;
      const secs = Math.max((now - started) / 1000, 1e-3);
      const rate = done / secs;
      const eta = rate > 0 && total > done ? ` ETA ${Math.ceil((total - done) / rate)}s` : '';
      const pct = total > 0 ? ((100 * done) / total).toFixed(0) : '100';
      io.stderr.write(
        `\r${label}: ${pct}% ${formatBytes(done)} / ${formatBytes(total)} ${formatBytes(rate)}/s${eta}\x1b[K`,
      );
    },
    end() {
      if (shown) io.stderr.write('\r\x1b[K');
    },
  };
}
