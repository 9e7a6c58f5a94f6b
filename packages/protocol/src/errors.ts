import { ERROR_CODES, type ErrorCodeInfo, errorByCode } from './error-codes.js';

/**
 * An error with a Kafka protocol error code. Errors that cross a package boundary are of this
 * type, so callers can map them onto a response and know whether a retry may succeed.
 */
export class KafkaError extends Error {
  readonly code: number;
  readonly retriable: boolean;
  /** Kafka's name for the code, e.g. `UNKNOWN_TOPIC_OR_PARTITION`. */
  readonly errorName: string;

  constructor(code: number, message?: string, options?: { cause?: unknown }) {
    const info: ErrorCodeInfo | undefined = errorByCode(code);
    super(message ?? info?.message ?? `Kafka error code ${code}`, options);
    this.name = 'KafkaError';
    this.code = code;
    this.errorName = info?.name ?? `UNKNOWN_CODE_${code}`;
    this.retriable = info?.retriable ?? false;
  }
}

/**
 * Bytes that do not decode as the protocol says: a length past the end of the input, an
 * invalid varint, a bad count. `offset` says where in the input the problem was found.
 */
export class DecodeError extends KafkaError {
  readonly offset: number;

  constructor(what: string, offset: number, code: number = ERROR_CODES.INVALID_REQUEST) {
    super(code, `${what} (at byte ${offset})`);
    this.name = 'DecodeError';
    this.offset = offset;
  }
}
