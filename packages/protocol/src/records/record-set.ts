import { ERROR_CODES } from '../error-codes.js';
import { DecodeError } from '../errors.js';
import { LOG_OVERHEAD, MAGIC_OFFSET } from './batch-layout.js';
import { decodeLegacyMessageSet } from './legacy.js';
import type { KafkaRecord } from './record.js';
import { CURRENT_MAGIC, entrySizeAt, RecordBatch, type ValidateOptions } from './record-batch.js';

/** Smallest entry after its length field (a magic-0 message with null key and value). */
const MIN_ENTRY_LENGTH = 14;

export interface DecodedBatch {
  magic: number;
  /** The v2 batch view; null for a legacy (magic 0/1) message. */
  batch: RecordBatch | null;
  records: KafkaRecord[];
}

export interface DecodeRecordSetOptions {
  offset?: number;
  end?: number;
  /** Bound on each batch's decompressed records (default 64 MiB). */
  maxOutputBytes?: number;
  /** Run RecordBatch.validate() (CRC and all) before decoding a v2 batch; default true. */
  validate?: boolean;
  validateOptions?: ValidateOptions;
}

export interface DecodedRecordSet {
  batches: DecodedBatch[];
  /** Where decoding stopped: the end of the last whole entry. */
  position: number;
  /** True when the input ended inside an entry (a fetch response may end so). */
  truncated: boolean;
}

/**
 * Decodes every record of a records field that may mix v2 batches and legacy messages (what a
 * client gets from a Fetch), decompressing as needed. For the broker's hot paths use
 * iterateBatches/readBatchHeader instead, which decode nothing.
 */
export async function decodeRecordSet(buffer: Buffer, options?: DecodeRecordSetOptions): Promise<DecodedRecordSet> {
  let pos = options?.offset ?? 0;
  const end = options?.end ?? buffer.length;
  if (pos < 0 || end > buffer.length || pos > end)
    throw new RangeError(`bounds [${pos}, ${end}) outside ${buffer.length} bytes`);
  const view = buffer.subarray(0, end);
  const batches: DecodedBatch[] = [];
  while (pos < end) {
    if (end - pos < LOG_OVERHEAD) return { batches, position: pos, truncated: true };
    const size = entrySizeAt(view, pos);
    if (size - LOG_OVERHEAD < MIN_ENTRY_LENGTH) {
      throw new DecodeError(`record set: entry length ${size - LOG_OVERHEAD}`, pos + 8, ERROR_CODES.CORRUPT_MESSAGE);
    }
    if (size > end - pos) return { batches, position: pos, truncated: true };
    const magic = view.readInt8(pos + MAGIC_OFFSET);
    if (magic === CURRENT_MAGIC) {
      const batch = new RecordBatch(view, pos);
      if (options?.validate !== false) batch.validate(options?.validateOptions);
      const records = (await batch.decompressedRecords({ maxOutputBytes: options?.maxOutputBytes })).toArray();
      batches.push({ magic, batch, records });
    } else if (magic === 0 || magic === 1) {
      const legacy = decodeLegacyMessageSet(view, {
        offset: pos,
        end: pos + size,
        maxOutputBytes: options?.maxOutputBytes,
      });
      batches.push({ magic, batch: null, records: legacy.records });
    } else {
      throw new DecodeError(`record set: unknown magic ${magic}`, pos + MAGIC_OFFSET, ERROR_CODES.CORRUPT_MESSAGE);
    }
    pos += size;
  }
  return { batches, position: pos, truncated: false };
}
