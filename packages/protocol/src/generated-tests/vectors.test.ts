/**
 * Byte vectors written by hand from the protocol guide (protocol.html: INT16/INT32 big-endian,
 * STRING = INT16 length + UTF-8, COMPACT_STRING = UNSIGNED_VARINT length+1, ARRAY = INT32 count,
 * COMPACT_ARRAY = UNSIGNED_VARINT count+1, tagged fields = UNSIGNED_VARINT count, then tag, size,
 * value), so the codecs are checked against the wire format and not only against themselves.
 */
import { describe, expect, it } from 'vitest';
import type { MessageCodec } from '../api.js';
import {
  ApiVersionsApi,
  type ApiVersionsResponse,
  MetadataApi,
  type MetadataRequest,
  type MetadataResponse,
  RequestHeaderCodec,
  ResponseHeaderCodec,
  requestHeaderVersion,
  responseHeaderVersion,
} from '../generated/index.js';
import { Reader } from '../primitives/reader.js';
import { Writer } from '../primitives/writer.js';

const hex = (s: string) => Buffer.from(s.replace(/\s+/g, ''), 'hex');
const ascii = (s: string) => Buffer.from(s, 'ascii').toString('hex');
const ZERO_UUID_HEX = '00'.repeat(16);

function check<T>(codec: MessageCodec<T>, version: number, msg: T, bytes: Buffer): void {
  const w = new Writer();
  codec.encode(w, version, msg);
  expect(w.finish().toString('hex')).toBe(bytes.toString('hex'));
  const r = new Reader(bytes);
  expect(codec.decode(r, version)).toEqual(msg);
  expect(r.offset).toBe(bytes.length);
}

describe('hand-checked byte vectors', () => {
  it('ApiVersionsRequest v3 with client software name and version (compact strings, empty tag section)', () => {
    check(
      ApiVersionsApi.request,
      3,
      { clientSoftwareName: 'sluice', clientSoftwareVersion: '0.1.0', clusterId: null, nodeId: -1 },
      hex(`07 ${ascii('sluice')} 06 ${ascii('0.1.0')} 00`),
    );
  });

  it('ApiVersionsRequest v0-v2 have no body', () => {
    check(ApiVersionsApi.request, 2, ApiVersionsApi.request.defaults(), hex(''));
  });

  it('RequestHeader v2 keeps the INT16-length client id (flexibleVersions none), then a tag section', () => {
    check(
      RequestHeaderCodec,
      2,
      { requestApiKey: 18, requestApiVersion: 3, correlationId: 7, clientId: 'cli' },
      hex(`0012 0003 00000007 0003 ${ascii('cli')} 00`),
    );
    check(
      RequestHeaderCodec,
      1,
      { requestApiKey: 3, requestApiVersion: 1, correlationId: -1, clientId: null },
      hex('0003 0001 ffffffff ffff'),
    );
  });

  it('ResponseHeader v0 and v1', () => {
    check(ResponseHeaderCodec, 0, { correlationId: 258 }, hex('00000102'));
    check(ResponseHeaderCodec, 1, { correlationId: 258 }, hex('00000102 00'));
  });

  it('MetadataRequest v0 (INT32 array of STRING) and v1 with a null topic array', () => {
    const v0: MetadataRequest = {
      ...MetadataApi.request.defaults(),
      topics: [
        { topicId: '00000000-0000-0000-0000-000000000000', name: 'foo' },
        { topicId: '00000000-0000-0000-0000-000000000000', name: 'ab' },
      ],
    };
    check(MetadataApi.request, 0, v0, hex(`00000002 0003 ${ascii('foo')} 0002 ${ascii('ab')}`));
    check(MetadataApi.request, 1, { ...MetadataApi.request.defaults(), topics: null }, hex('ffffffff'));
  });

  it('MetadataRequest v12 (compact array, uuid, nullable compact string, bools, tag sections)', () => {
    const msg: MetadataRequest = {
      topics: [
        { topicId: '0102030405060708090a0b0c0d0e0f10'.replace(/(.{8})(.{4})(.{4})(.{4})/, '$1-$2-$3-$4-'), name: null },
      ],
      allowAutoTopicCreation: false,
      includeClusterAuthorizedOperations: false,
      includeTopicAuthorizedOperations: true,
    };
    check(MetadataApi.request, 12, msg, hex('02 0102030405060708090a0b0c0d0e0f10 00 00 00 01 00'));
  });

  it('ApiVersionsResponse v3: known tagged field (FinalizedFeaturesEpoch, tag 1) merged with an unknown tag 5', () => {
    const msg: ApiVersionsResponse = {
      ...ApiVersionsApi.response.defaults(),
      apiKeys: [{ apiKey: 18, minVersion: 0, maxVersion: 4 }],
      throttleTimeMs: 0,
      finalizedFeaturesEpoch: 5n,
      unknownTaggedFields: [{ tag: 5, data: hex('aabb') }],
    };
    // errorCode, apiKeys (count 1 -> 02; key, min, max, empty tags), throttle, 2 tags: [1, size 8, int64 5], [5, size 2, aabb].
    check(
      ApiVersionsApi.response,
      3,
      msg,
      hex('0000 02 0012 0000 0004 00 00000000 02 01 08 0000000000000005 05 02 aabb'),
    );
  });

  it('a tagged field written where the writer has to grow keeps its bytes', () => {
    // A short value (the bool of tag 3) is where a size written back before the value could overflow.
    const msg: ApiVersionsResponse = {
      ...ApiVersionsApi.response.defaults(),
      finalizedFeaturesEpoch: -2n,
      zkMigrationReady: true,
    };
    const expected = hex('0000 01 00000000 02 01 08 fffffffffffffffe 03 01 01');
    for (let capacity = 1; capacity <= expected.length + 8; capacity++) {
      const w = new Writer(capacity);
      ApiVersionsApi.response.encode(w, 3, msg);
      expect(w.finish().toString('hex'), `capacity ${capacity}`).toBe(expected.toString('hex'));
    }
  });

  it('ApiVersionsResponse v0: INT32 array, no throttle time', () => {
    check(
      ApiVersionsApi.response,
      0,
      { ...ApiVersionsApi.response.defaults(), errorCode: 35, apiKeys: [{ apiKey: 0, minVersion: 0, maxVersion: 11 }] },
      hex('0023 00000001 0000 0000 000b'),
    );
  });

  it('MetadataResponse v12: a response a broker would send, decoded', () => {
    const bytes = hex(
      [
        '00000000', // throttle_time_ms
        '02', // brokers: 1
        '00000001 0a', // node_id 1, host (9 chars)
        ascii('localhost'),
        '00002384 00 00', // port 9092, rack null, tags
        '08', // cluster_id (7 chars)
        ascii('cluster'),
        '00000001', // controller_id
        '02', // topics: 1
        '0000 04', // error_code, name (3 chars)
        ascii('foo'),
        ZERO_UUID_HEX, // topic_id
        '00', // is_internal
        '01', // partitions: 0
        '80000000 00', // topic_authorized_operations (INT32_MIN), tags
        '00', // tags
      ].join(''),
    );
    const r = new Reader(bytes);
    const res: MetadataResponse = MetadataApi.response.decode(r, 12);
    expect(r.remaining).toBe(0);
    expect(res.brokers).toEqual([
      { nodeId: 1, host: 'localhost', port: 9092, rack: null, unknownTaggedFields: undefined },
    ]);
    expect(res.clusterId).toBe('cluster');
    expect(res.controllerId).toBe(1);
    expect(res.topics[0]).toMatchObject({ errorCode: 0, name: 'foo', isInternal: false, partitions: [] });
    expect(res.topics[0].topicAuthorizedOperations).toBe(-2147483648);
    const w = new Writer();
    MetadataApi.response.encode(w, 12, res);
    expect(w.finish().equals(bytes)).toBe(true);
  });

  it('header versions follow the API flexible versions, with the ApiVersions exception', () => {
    expect(requestHeaderVersion(18, 3)).toBe(2);
    expect(requestHeaderVersion(18, 2)).toBe(1);
    expect(responseHeaderVersion(18, 3)).toBe(0);
    expect(requestHeaderVersion(3, 12)).toBe(2);
    expect(responseHeaderVersion(3, 12)).toBe(1);
    expect(responseHeaderVersion(3, 8)).toBe(0);
    // ControlledShutdown (7), whose v0 had a header without client id, is retired in Kafka 4.
    expect(requestHeaderVersion(7, 0)).toBe(1);
    expect(requestHeaderVersion(17, 1)).toBe(1); // SaslHandshake is never flexible
  });
});
