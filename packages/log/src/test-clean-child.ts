// A process that runs one compaction pass and returns: it must then exit by itself, the cleaner's
// idle worker keeping nothing alive (cleaner.test.ts). Argument: a fresh partition directory.
import { cleanLog } from './cleaner.js';
import { PartitionLog } from './partition-log.js';
import { makeBatch } from './test-batch.js';

const log = PartitionLog.open(process.argv[2], {
  logger: { info() {}, warn() {}, error() {} },
  cleanupPolicy: 'compact',
  minCleanableDirtyRatio: 0,
});
for (let i = 0; i < 10; i++) log.append(makeBatch([{ key: Buffer.from('k'), value: Buffer.from(`v${i}`) }]));
log.roll();
log.append(makeBatch([{ key: Buffer.from('x'), value: Buffer.from('y') }]));
const r = await cleanLog(log);
log.close();
console.log(`removed ${r?.recordsRemoved}`);
