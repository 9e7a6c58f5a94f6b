// CRC-32C (Castagnoli) as RecordBatch v2 uses it, from @sluice/protocol (native with a table fallback).
import { crc32c as protocolCrc32c } from '@sluice/protocol';

export function crc32c(data: Buffer): number {
  return protocolCrc32c(data) >>> 0;
}
