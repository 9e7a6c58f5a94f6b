// CRC-32C (Castagnoli) as RecordBatch v2 uses it. Kept behind this module so it can switch to
// @sluice/protocol's CRC module once that lands.
import { crc32c as nativeCrc32c } from '@node-rs/crc32';

export function crc32c(data: Buffer): number {
  return nativeCrc32c(data) >>> 0;
}
