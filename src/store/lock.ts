// How gc and concurrent writers stay out of each other's way without a lock: a grace period on mtimes.
// No I/O here; ops/gc applies the rule with ObjectStore.listObjects / deleteObject.

/**
 * Default grace period: unreachable objects younger than this are kept.
 *
 * The rule. gc deletes an object only if (1) no manifest reachable from any ref, the index or the reflog names
 * it, and (2) its mtime is older than the grace period (default one hour; 0 in tests). A `git add` running
 * meanwhile writes its objects before git records the manifest that names them, so they are unreachable but
 * fresh, and (2) keeps them. A writer that reuses an object instead of writing it (ObjectStore.put finding it
 * present, or a content-index hit) refreshes its mtime first (`put` does this itself; after an index hit call
 * `ObjectStore.touchObject` and store the tensor again if it returns false). gc passes its cutoff to
 * `deleteObject({ unlessModifiedAfterMs })`, which re-reads the mtime just before unlinking, so an object
 * touched after gc listed it survives. The remaining window (a touch between that stat and the unlink) is the
 * one git itself accepts for loose objects; `weft fsck` reports any object a manifest names but the store lacks.
 */
export const DEFAULT_GC_GRACE_MS = 60 * 60 * 1000;

/**
 * Whether something last modified at `mtimeMs` is older than `graceMs` at time `nowMs`, i.e. gc may delete it
 * if it is unreachable. With `graceMs` 0 everything not modified in the future qualifies.
 *
 * @example
 * isOlderThan(object.mtimeMs, DEFAULT_GC_GRACE_MS, Date.now())
 */
export function isOlderThan(mtimeMs: number, graceMs: number, nowMs: number): boolean {
  return mtimeMs <= gcCutoffMs(graceMs, nowMs);
}

/**
 * The mtime cutoff gc passes to `ObjectStore.deleteObject({ unlessModifiedAfterMs })`: objects modified after
 * it are kept. `isOlderThan(m, g, now)` is `m <= gcCutoffMs(g, now)`.
 *
 * @example
 * const cutoff = gcCutoffMs(DEFAULT_GC_GRACE_MS, Date.now());
 */
export function gcCutoffMs(graceMs: number, nowMs: number): number {
  return nowMs - graceMs;
}
