// Runs the shared format conformance suite on TF.js shards: both shards of a two-shard group (weights split across
// the boundary), with the plan fixed as the model.json gives it.

import { formatConformance } from '../test-support/conformance.js';
import { counting, GROUPS, SHARD_SIZES, shardPlan } from './test-support/hand-built.js';
import { tfjsShardModule } from './tfjs-shard.js';

formatConformance(tfjsShardModule(shardPlan(0)), {
  valid: [{ name: 'group1-shard1of2.bin', bytes: counting(SHARD_SIZES[0]!) }],
  fuzzMillis: 500,
});
formatConformance(tfjsShardModule(shardPlan(1)), {
  valid: [{ name: 'group1-shard2of2.bin', bytes: counting(SHARD_SIZES[1]!, 7) }],
  fuzzMillis: 500,
});
formatConformance(
  tfjsShardModule({ modelJson: 'model.json', group: GROUPS[1]!, groupIndex: 1, shardIndex: 0, shardStarts: [0] }),
  { valid: [{ name: 'extra.bin', bytes: counting(320) }], fuzzMillis: 300 },
);
