// Tests of the format registry: detection and look-up by name.

import { describe, expect, it } from 'vitest';
import { detectFormat, FORMAT_MODULES, resolveFormatModule } from './registry.js';
import { safetensorsModule } from './safetensors/safetensors-module.js';
import { handBuilt } from './safetensors/test-support/hand-built.js';

describe('format registry', () => {
  it('lists each module once, by a unique name', () => {
    const names = FORMAT_MODULES.map((m) => m.name);
    expect(names).toEqual(['safetensors', 'gguf', 'pytorch', 'npz', 'npy', 'onnx']);
    expect(new Set(names).size).toBe(names.length);
  });

  it('detects safetensors and nothing in other bytes', () => {
    const file = handBuilt('{}', { data: 0 });
    expect(detectFormat(file, file.length)).toBe(safetensorsModule);
    expect(detectFormat(new TextEncoder().encode('GGUX\u0003\u0000\u0000\u0000'), 100)).toBeUndefined();
    expect(detectFormat(new TextEncoder().encode('PK\u0003\u0004 just a zip'), 100)).toBeUndefined();
    expect(detectFormat(new Uint8Array(0), 0)).toBeUndefined();
  });

  it('resolves a module by name', () => {
    expect(resolveFormatModule('safetensors')).toBe(safetensorsModule);
    expect(resolveFormatModule('nope')).toBeUndefined();
  });
});
