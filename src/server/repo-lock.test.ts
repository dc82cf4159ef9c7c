import { describe, expect, it } from 'vitest';
import { withRepoLock } from './repo-lock.js';

describe('withRepoLock', () => {
  it('runs holders of one key one at a time, in order, and other keys alongside', async () => {
    const events: string[] = [];
    const job = (key: string, name: string, ms: number) =>
      withRepoLock(key, async () => {
        events.push(`start ${name}`);
        await new Promise((r) => setTimeout(r, ms));
        events.push(`end ${name}`);
        return name;
      });
    const results = await Promise.all([job('a', 'a1', 30), job('a', 'a2', 1), job('b', 'b1', 5)]);
    expect(results).toEqual(['a1', 'a2', 'b1']);
    expect(events.indexOf('end a1')).toBeLessThan(events.indexOf('start a2'));
    expect(events.indexOf('start b1')).toBeLessThan(events.indexOf('end a1'));
  });

  it('releases the lock when the holder throws', async () => {
    await expect(withRepoLock('c', async () => Promise.reject(new Error('boom')))).rejects.toThrow('boom');
    expect(await withRepoLock('c', async () => 'next')).toBe('next');
  });
});
