// Tensor name → (layer, module) parsing and heatmap grouping for the hub's change view.
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { heatmapOf, layerModuleOf } from './layer-module.js';

describe('layerModuleOf', () => {
  it.each([
    ['layers.3.mlp.up_proj.weight', 'layers.3', 3, 'mlp.up_proj', 'weight'],
    ['model.layers.12.self_attn.q_proj.weight', 'model.layers.12', 12, 'self_attn.q_proj', 'weight'],
    ['model.layers.0.input_layernorm.weight', 'model.layers.0', 0, 'input_layernorm', 'weight'],
    ['transformer.h.7.attn.c_attn.bias', 'transformer.h.7', 7, 'attn.c_attn', 'bias'],
    ['encoder.layer.2.attention.self.query.weight', 'encoder.layer.2', 2, 'attention.self.query', 'weight'],
    ['fc1.weight', '', null, 'fc1', 'weight'],
    ['fc3.bias', '', null, 'fc3', 'bias'],
    ['model.embed_tokens.weight', '', null, 'model.embed_tokens', 'weight'],
    ['lm_head.weight', '', null, 'lm_head', 'weight'],
    ['weight', '', null, 'weight', ''],
    ['blocks.4.weight', 'blocks.4', 4, 'weight', 'weight'],
    ['blocks.4', 'blocks.4', 4, '(layer)', ''],
    ['pos_embedding', '', null, 'pos_embedding', ''],
  ])('%s → row %j, column %j', (name, layer, layerIndex, module, param) => {
    expect(layerModuleOf({ name })).toEqual({ layer, layerIndex, module, param });
  });

  it('never throws and always names a column, whatever the name', () => {
    fc.assert(
      fc.property(fc.string({ maxLength: 2000 }), (name) => {
        const r = layerModuleOf({ name });
        expect(typeof r.module).toBe('string');
        if (name.length > 0) expect(r.module.length + r.layer.length).toBeGreaterThan(0);
      }),
    );
  });
});

describe('heatmapOf', () => {
  it('groups tensors by layer and module; a cell is its largest change; layers sort by number, loose tensors last', () => {
    const map = heatmapOf({
      tensors: [
        { name: 'lm_head.weight', relativeL2: 0, change: 'unchanged' },
        { name: 'layers.10.mlp.weight', relativeL2: 0.2, change: 'changed' },
        { name: 'layers.2.mlp.weight', relativeL2: 0.01, change: 'changed' },
        { name: 'layers.2.mlp.bias', relativeL2: 0.05, change: 'changed' },
        { name: 'layers.2.attn.weight', relativeL2: null, change: 'added' },
      ],
    });
    expect(map.layers).toEqual(['layers.2', 'layers.10', '']);
    expect(map.modules).toEqual(['lm_head', 'mlp', 'attn']);
    const cell = (layer: string, module: string) => map.cells.find((c) => c.layer === layer && c.module === module);
    expect(cell('layers.2', 'mlp')!.value).toBe(0.05);
    expect(cell('layers.2', 'mlp')!.tensors.map((t) => t.name)).toEqual(['layers.2.mlp.weight', 'layers.2.mlp.bias']);
    expect(cell('layers.2', 'attn')!.value).toBeNull();
    expect(cell('', 'lm_head')!.value).toBe(0);
    expect(cell('layers.10', 'attn')).toBeUndefined();
  });
});
