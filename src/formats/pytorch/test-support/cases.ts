// Hand-built torch.save files covering the format's corners, shared by the module tests and the conformance suite.
// Test-only.

import { f32Bytes, P, pickle, simpleStateDict, tensorOps, torchZip } from './hand-built.js';

/** `{'model': {'layer.weight': Parameter(bf16[2,2])}, 'step': 1200, 'lr': 3e-4, 'name': 'run-7', 'betas': (0.9,
 * 0.999), 'flags': [True, None]}` with a state-dict `_metadata` set by BUILD. */
export function nestedStateDict(): Uint8Array {
  const pkl = pickle(
    P.proto(2),
    P.emptyDict,
    P.put(0),
    P.mark,
    P.str('model'),
    P.global('collections', 'OrderedDict'),
    P.emptyTuple,
    P.reduce,
    P.mark,
    P.str('layer.weight'),
    P.global('torch._utils', '_rebuild_parameter'),
    P.mark,
    tensorOps({ storageType: 'BFloat16Storage', key: '0', numel: 4, shape: [2, 2], strides: [2, 1] }),
    P.true,
    P.global('collections', 'OrderedDict'),
    P.emptyTuple,
    P.reduce,
    P.tuple,
    P.reduce,
    P.setitems,
    // OrderedDict state: {'_metadata': {'': {'version': 1}}}
    P.emptyDict,
    P.str('_metadata'),
    P.emptyDict,
    P.str(''),
    P.emptyDict,
    P.str('version'),
    P.int(1),
    P.setitem,
    P.setitem,
    P.setitem,
    P.build,
    P.str('step'),
    P.int(1200),
    P.str('lr'),
    P.float(0.0003),
    P.str('name'),
    P.str('run-7'),
    P.str('betas'),
    P.float(0.9),
    P.float(0.999),
    P.tuple2,
    P.str('flags'),
    P.emptyList,
    P.mark,
    P.true,
    P.none,
    P.appends,
    P.setitems,
    P.stop,
  );
  return torchZip({ pickle: pkl, storages: { '0': Uint8Array.of(0x80, 0x3f, 0, 0x40, 0x40, 0x40, 0x80, 0x40) } });
}

/** `torch.save(t)` of a lone tensor, in protocol 4 (FRAME, SHORT_BINUNICODE, MEMOIZE, STACK_GLOBAL). */
export function loneTensorProtocol4(): Uint8Array {
  const body = pickle(
    P.shortStr('torch._utils'),
    P.memoize,
    P.shortStr('_rebuild_tensor_v2'),
    P.memoize,
    P.stackGlobal,
    P.memoize,
    P.mark,
    P.mark,
    P.shortStr('storage'),
    P.shortStr('torch'),
    P.shortStr('FloatStorage'),
    P.stackGlobal,
    P.shortStr('7'),
    P.shortStr('cpu'),
    P.int(4),
    P.tuple,
    P.binpersid,
    P.int(1),
    P.int(3),
    P.tuple1,
    P.int(1),
    P.tuple1,
    P.false,
    P.global('collections', 'OrderedDict'),
    P.emptyTuple,
    P.reduce,
    P.tuple,
    P.reduce,
    P.stop,
  );
  const pkl = pickle(P.proto(4), P.frame(body.length), [...body]);
  return torchZip({ root: 'lone', pickle: pkl, storages: { '7': f32Bytes(4) }, align: 0 });
}

/** `{}` saved by torch: no storages at all. */
export function emptyStateDict(): Uint8Array {
  return torchZip({ pickle: pickle(P.proto(2), P.emptyDict, P.stop) });
}

/** Valid hand-built files for the conformance suite. */
export const HAND_BUILT_VALID: readonly { name: string; bytes: Uint8Array }[] = [
  { name: 'simple.pt', bytes: simpleStateDict() },
  { name: 'stem-root.pt', bytes: simpleStateDict({ root: 'stem-root' }) },
  { name: 'big-endian.pt', bytes: simpleStateDict({ byteorder: 'big' }) },
  { name: 'little-zip64.pt', bytes: simpleStateDict({ byteorder: 'little', zip64: true }) },
  { name: 'nested.pt', bytes: nestedStateDict() },
  { name: 'lone.pt', bytes: loneTensorProtocol4() },
  { name: 'empty.pt', bytes: emptyStateDict() },
];
