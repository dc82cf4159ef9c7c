// A per-repository async mutex (in this process): pushes, and anything else that moves refs (the merge queue),
// run one at a time per repository so that the refs seen before and after a push belong to that push alone.

const tails = new Map<string, Promise<void>>();

/**
 * Runs `fn` once every earlier holder of `key` (a repository's git dir) has finished; returns its result.
 *
 * @example
 * await withRepoLock(gitDir, async () => { … update refs … });
 */
export async function withRepoLock<T>(key: string, fn: () => Promise<T>): Promise<T> {
  const previous = tails.get(key) ?? Promise.resolve();
  let release!: () => void;
  const mine = new Promise<void>((resolve) => {
    release = resolve;
  });
  const tail = previous.then(() => mine);
  tails.set(key, tail);
  await previous;
  try {
    return await fn();
  } finally {
    release();
    if (tails.get(key) === tail) tails.delete(key);
  }
}
