// The filter's entry point: the part of the library `weft filter-process` needs, loadable on its own. git starts
// the filter for every add and checkout, and loading all of src/index.ts first cost it ~60 ms each time. The same
// function is exported by src/index.ts.

export type { FilterProcessOptions } from './ops/filter-process.js';
export { filterRuntime, runFilterProcess } from './ops/filter-process.js';
export {
  serveWarm,
  startWarmFilter,
  type WarmServeOptions,
  warmFilterClient,
  warmFilterSupported,
  warmUpFilter,
} from './ops/warm-filter.js';
