// decodeChunk, the consumer's record decoding (no broker): records as the protocol package decodes them,
// DeserializationErrors in place and counted, corrupt record bytes rejected.

import { buildRecordBatchSync, DecodeError, decodeRecordSet } from '@sluice/protocol';
import { describe, expect, it } from 'vitest';
import { DeserializationError, decodeChunk } from '../src/consumer/decode.js';
import type { FetchedChunk } from '../src/consumer/fetcher.js';
import { type Serde, serde } from '../src/serde.js';

const raw = serde.nullable(serde.bytes());

function chunkOf(records: Buffer): FetchedChunk {
  return { topic: 't', partition: 2, records, generation: 0, highWatermark: 0n, aborted: null, nextOffset: 0n };
}

function sample(): Buffer {
  return Buffer.concat([
    buildRecordBatchSync({
      baseOffset: 10n,
      now: 1_700_000_000_000,
      records: [
        { key: 'a', value: '1', timestamp: 1_700_000_000_005 },
        {
          key: null,
          value: null,
          headers: [
            { key: 'h', value: 'x' },
            { key: 'h', value: null },
          ],
        },
        { value: Buffer.alloc(300, 7), offsetDelta: 5 },
      ],
    }),
    buildRecordBatchSync({ baseOffset: 16n, now: 1_700_000_001_000, records: [{ key: 'k', value: 'v' }] }),
  ]);
}

describe('decodeChunk', () => {
  it('gives every record from `from` on, fields as decodeRecordSet decodes them', async () => {
    const bytes = sample();
    const expected = (await decodeRecordSet(bytes)).batches.flatMap((b) => b.records);
    const { records, failures } = await decodeChunk(chunkOf(bytes), 0n, { key: raw, value: raw });
    expect(failures).toBe(0);
    expect(records.map((r) => (r as { offset: bigint }).offset)).toEqual([10n, 11n, 15n, 16n]);
    expect(records).toEqual(
      expected.map((r) => ({
        topic: 't',
        partition: 2,
        offset: r.offset,
        timestamp: r.timestamp,
        key: r.key,
        value: r.value,
        headers: Object.fromEntries(r.headers.map((h) => [h.key, h.value])),
        headerList: r.headers,
      })),
    );
    expect((records[1] as { headers: object }).headers).toEqual({ h: null });
    // From an offset inside a batch: the records before it are left out.
    const later = await decodeChunk(chunkOf(bytes), 12n, { key: raw, value: raw });
    expect(later.records.map((r) => (r as { offset: bigint }).offset)).toEqual([15n, 16n]);
  });

  it('puts a DeserializationError in place of a record its serde rejects, and counts them', async () => {
    const picky: Serde<string> = {
      serialize: () => null,
      deserialize: (b) => {
        if (b === null || b.length > 10) throw new Error('nope');
        return b.toString();
      },
    };
    const { records, failures } = await decodeChunk(chunkOf(sample()), 0n, { key: raw, value: picky });
    expect(failures).toBe(2);
    expect(records.map((r) => r instanceof DeserializationError)).toEqual([false, true, true, false]);
    const err = records[1] as DeserializationError;
    expect(err.part).toBe('value');
    expect(err.offset).toBe(11n);
    expect(err.record.headerList).toEqual([
      { key: 'h', value: Buffer.from('x') },
      { key: 'h', value: null },
    ]);
    expect((records[3] as { value: string }).value).toBe('v');
  });

  it('rejects corrupt record bytes with the DecodeError the protocol decoder gives', async () => {
    const bytes = sample();
    // The first record's key length (a varint after length, attributes, timestamp and offset deltas): too long.
    const corrupt = Buffer.from(bytes);
    const keyLengthAt = 61 + 4;
    expect(corrupt[keyLengthAt]).toBe(2); // zigzag 1: the key 'a'
    corrupt[keyLengthAt] = 0x7e;
    const viaProtocol = await decodeRecordSet(corrupt, { validate: false }).catch((e: unknown) => e);
    expect(viaProtocol).toBeInstanceOf(DecodeError);
    const viaChunk = await decodeChunk(chunkOf(corrupt), 0n, { key: raw, value: raw }).catch((e: unknown) => e);
    expect(viaChunk).toBeInstanceOf(DecodeError);
    expect((viaChunk as DecodeError).message).toBe((viaProtocol as DecodeError).message);
    expect((viaChunk as DecodeError).message).toContain('key length 63');
    // A record count larger than the bytes can hold.
    const counted = Buffer.from(bytes);
    counted.writeInt32BE(1000, 57);
    await expect(decodeChunk(chunkOf(counted), 0n, { key: raw, value: raw })).rejects.toThrow(DecodeError);
  });
});
