// Tensor names → heatmap coordinates for the web UI: `model.layers.3.mlp.up_proj.weight` is row `model.layers.3`,
// column `mlp.up_proj`; `fc1.weight` is column `fc1` of the row of tensors outside any numbered layer. Pure: no I/O.

/** Where a tensor goes in the layer × module heatmap. */
export interface LayerModule {
  /** The name up to and including its first numeric part (`model.layers.3`), or `''` outside any numbered layer. */
  layer: string;
  /** The layer's number (3), or null outside any numbered layer. */
  layerIndex: number | null;
  /** The parts after the layer, without the parameter (`mlp.up_proj`); the parameter itself when nothing is left. */
  module: string;
  /** The last part when it names a parameter of a module (`weight`, `bias`, …), else `''`. */
  param: string;
}

/** Last name parts read as a module's parameter rather than as a module. */
const PARAMS = new Set([
  'weight',
  'bias',
  'scale',
  'scales',
  'gamma',
  'beta',
  'running_mean',
  'running_var',
  'num_batches_tracked',
  'in_proj_weight',
  'in_proj_bias',
  'g',
  'b',
  'w',
]);
/** Longest tensor name parsed (longer names are one column as they are): bounds work on hostile manifests. */
const MAX_NAME_CHARS = 1024;

/**
 * Splits a tensor name into its heatmap row (layer) and column (module).
 *
 * @example
 * layerModuleOf({ name: 'layers.3.mlp.up_proj.weight' }) // { layer: 'layers.3', layerIndex: 3, module: 'mlp.up_proj', param: 'weight' }
 * layerModuleOf({ name: 'fc1.weight' })                  // { layer: '', layerIndex: null, module: 'fc1', param: 'weight' }
 */
export function layerModuleOf(options: { name: string }): LayerModule {
  const { name } = options;
  if (name.length > MAX_NAME_CHARS || name.length === 0)
    return { layer: '', layerIndex: null, module: name, param: '' };
  const parts = name.split('.');
  let param = '';
  if (parts.length > 1 && PARAMS.has(parts[parts.length - 1]!)) param = parts.pop()!;
  const at = parts.findIndex((p) => /^\d{1,9}$/.test(p));
  if (at < 0) return { layer: '', layerIndex: null, module: parts.join('.') || param, param };
  const layer = parts.slice(0, at + 1).join('.');
  const rest = parts.slice(at + 1).join('.');
  return { layer, layerIndex: Number(parts[at]), module: rest || param || '(layer)', param };
}

/** One tensor's relative change, as the heatmap needs it. */
export interface TensorChangeCell {
  name: string;
  /** ‖b − a‖ / ‖a‖; null when infinite (a was all zeros) or unknown (added, reshaped, not measured). */
  relativeL2: number | null;
  change: 'added' | 'removed' | 'changed' | 'unchanged';
}

export interface HeatmapCell {
  layer: string;
  module: string;
  /** The largest relative change among the cell's tensors (null when none was measured). */
  value: number | null;
  tensors: TensorChangeCell[];
}

export interface Heatmap {
  /** Row keys in display order: numbered layers by prefix then number, then `''` (tensors outside layers). */
  layers: string[];
  /** Column keys in order of first appearance. */
  modules: string[];
  cells: HeatmapCell[];
}

/**
 * Groups tensors into heatmap cells by layer and module; a cell's value is its largest relative change.
 *
 * @example
 * heatmapOf({ tensors: [{ name: 'fc1.weight', relativeL2: 0.1, change: 'changed' }] }).cells[0]
 * // { layer: '', module: 'fc1', value: 0.1, tensors: [...] }
 */
export function heatmapOf(options: { tensors: readonly TensorChangeCell[] }): Heatmap {
  const cells = new Map<string, HeatmapCell>();
  const layers = new Map<string, { prefix: string; index: number }>();
  const modules: string[] = [];
  for (const t of options.tensors) {
    const lm = layerModuleOf({ name: t.name });
    if (!layers.has(lm.layer)) {
      layers.set(lm.layer, { prefix: lm.layer.slice(0, lm.layer.lastIndexOf('.') + 1), index: lm.layerIndex ?? -1 });
    }
    if (!modules.includes(lm.module)) modules.push(lm.module);
    const key = `${lm.layer}\u0000${lm.module}`;
    let cell = cells.get(key);
    if (!cell) {
      cell = { layer: lm.layer, module: lm.module, value: null, tensors: [] };
      cells.set(key, cell);
    }
    cell.tensors.push(t);
    const v = t.change === 'unchanged' ? 0 : t.relativeL2;
    if (v !== null && (cell.value === null || v > cell.value)) cell.value = v;
  }
  const order = [...layers.entries()].sort(([ka, a], [kb, b]) => {
    if ((ka === '') !== (kb === '')) return ka === '' ? 1 : -1;
    if (a.prefix !== b.prefix) return a.prefix < b.prefix ? -1 : 1;
    return a.index - b.index;
  });
  return { layers: order.map(([k]) => k), modules, cells: [...cells.values()] };
}
