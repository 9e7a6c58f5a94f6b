import { describe, expect, it } from 'vitest';
import { ALL_ERROR_CODES, ERROR_CODES, errorByCode } from './error-codes.js';
import { DecodeError, KafkaError } from './errors.js';

describe('error-code table', () => {
  it('has unique codes and names, contiguous from -1 to 129', () => {
    const codes = ALL_ERROR_CODES.map((e) => e.code);
    const names = ALL_ERROR_CODES.map((e) => e.name);
    expect(new Set(codes).size).toBe(codes.length);
    expect(new Set(names).size).toBe(names.length);
    // Kafka assigns codes without gaps; a gap would mean a row was lost in transcription.
    expect(codes).toEqual(Array.from({ length: 131 }, (_, i) => i - 1));
    for (const e of ALL_ERROR_CODES) {
      expect(e.name).toMatch(/^[A-Z][A-Z0-9_]*$/);
      if (e.code !== 0) expect(e.message.length).toBeGreaterThan(0);
    }
  });

  it('maps names to codes and back', () => {
    for (const e of ALL_ERROR_CODES) {
      expect((ERROR_CODES as Record<string, number>)[e.name]).toBe(e.code);
      expect(errorByCode(e.code)).toBe(e);
    }
    expect(errorByCode(130)).toBeUndefined();
    expect(errorByCode(-2)).toBeUndefined();
  });

  it('types each name as its literal code', () => {
    // Compile-time checks (tsc fails if ERROR_CODES lost its literal types).
    const unknownTopic: 3 = ERROR_CODES.UNKNOWN_TOPIC_OR_PARTITION;
    const unsupported: 35 = ERROR_CODES.UNSUPPORTED_VERSION;
    expect([unknownTopic, unsupported]).toEqual([3, 35]);
  });

  it.each([
    [-1, 'UNKNOWN_SERVER_ERROR', false],
    [0, 'NONE', false],
    [1, 'OFFSET_OUT_OF_RANGE', false],
    [2, 'CORRUPT_MESSAGE', true],
    [3, 'UNKNOWN_TOPIC_OR_PARTITION', true],
    [6, 'NOT_LEADER_OR_FOLLOWER', true],
    [7, 'REQUEST_TIMED_OUT', true],
    [8, 'BROKER_NOT_AVAILABLE', false],
    [10, 'MESSAGE_TOO_LARGE', false],
    [15, 'COORDINATOR_NOT_AVAILABLE', true],
    [16, 'NOT_COORDINATOR', true],
    [27, 'REBALANCE_IN_PROGRESS', false],
    [35, 'UNSUPPORTED_VERSION', false],
    [41, 'NOT_CONTROLLER', true],
    [42, 'INVALID_REQUEST', false],
    [51, 'CONCURRENT_TRANSACTIONS', true],
    [56, 'KAFKA_STORAGE_ERROR', true],
    [74, 'FENCED_LEADER_EPOCH', true],
    [87, 'INVALID_RECORD', false],
    [89, 'THROTTLING_QUOTA_EXCEEDED', true],
    [100, 'UNKNOWN_TOPIC_ID', true],
    [110, 'FENCED_MEMBER_EPOCH', false],
    [121, 'INVALID_RECORD_STATE', false],
    [122, 'SHARE_SESSION_NOT_FOUND', true],
    [123, 'INVALID_SHARE_SESSION_EPOCH', true],
    [128, 'INVALID_REGULAR_EXPRESSION', false],
    [129, 'REBOOTSTRAP_REQUIRED', false],
  ] as const)('code %i is %s (retriable: %s)', (code, name, retriable) => {
    const e = errorByCode(code);
    expect(e?.name).toBe(name);
    expect(e?.retriable).toBe(retriable);
  });

  it('keeps Kafka default messages', () => {
    expect(errorByCode(3)?.message).toBe('This server does not host this topic-partition.');
    expect(errorByCode(35)?.message).toBe('The version of API is not supported.');
  });
});

describe('KafkaError / DecodeError', () => {
  it('carries the code, name, retriability and default message', () => {
    const e = new KafkaError(ERROR_CODES.NOT_LEADER_OR_FOLLOWER);
    expect(e).toBeInstanceOf(Error);
    expect(e.code).toBe(6);
    expect(e.errorName).toBe('NOT_LEADER_OR_FOLLOWER');
    expect(e.retriable).toBe(true);
    expect(e.message).toBe(errorByCode(6)?.message);
    expect(new KafkaError(35, 'custom').message).toBe('custom');
  });

  it('handles codes outside the table', () => {
    const e = new KafkaError(999);
    expect(e.errorName).toBe('UNKNOWN_CODE_999');
    expect(e.retriable).toBe(false);
    expect(e.message).toContain('999');
  });

  it('DecodeError is an INVALID_REQUEST KafkaError with the offset', () => {
    const e = new DecodeError('int32: needs 4 bytes', 7);
    expect(e).toBeInstanceOf(KafkaError);
    expect(e.code).toBe(ERROR_CODES.INVALID_REQUEST);
    expect(e.offset).toBe(7);
    expect(e.message).toContain('at byte 7');
    expect(new DecodeError('x', 0, ERROR_CODES.CORRUPT_MESSAGE).retriable).toBe(true);
  });
});
