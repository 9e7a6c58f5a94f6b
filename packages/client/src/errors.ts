import { ERROR_CODES, KafkaError } from '@sluice/protocol';

export { ERROR_CODES, KafkaError } from '@sluice/protocol';

/** The connection broke or could not be made; the request may be retried on a new connection. */
export class ConnectionError extends KafkaError {
  readonly broker: string;
  constructor(broker: string, message: string, options?: { cause?: unknown }) {
    super(ERROR_CODES.NETWORK_EXCEPTION, `${broker}: ${message}`, options);
    this.name = 'ConnectionError';
    this.broker = broker;
  }
}

/** No response within the request timeout (retriable, like Kafka's REQUEST_TIMED_OUT). */
export class RequestTimeoutError extends KafkaError {
  constructor(what: string, timeoutMs: number) {
    super(ERROR_CODES.REQUEST_TIMED_OUT, `${what}: no response within ${timeoutMs} ms`);
    this.name = 'RequestTimeoutError';
  }
}

/** The client (producer, consumer, admin) was closed while the operation waited. */
export class ClientClosedError extends KafkaError {
  constructor(what: string) {
    super(ERROR_CODES.UNKNOWN_SERVER_ERROR, `${what}: the client is closed`);
    this.name = 'ClientClosedError';
  }
}

/** Throws a KafkaError for a non-zero error code in a response. */
export function throwIfError(code: number, context: string, message?: string | null): void {
  if (code !== 0) {
    const err = new KafkaError(code);
    throw new KafkaError(code, `${context}: ${err.errorName}${message ? ` (${message})` : ''}`);
  }
}

/** Error codes after which the cached metadata (leaders, partition counts) must be refreshed. */
const STALE_METADATA = new Set<number>([
  ERROR_CODES.UNKNOWN_TOPIC_OR_PARTITION,
  ERROR_CODES.LEADER_NOT_AVAILABLE,
  ERROR_CODES.NOT_LEADER_OR_FOLLOWER,
  ERROR_CODES.FENCED_LEADER_EPOCH,
  ERROR_CODES.UNKNOWN_LEADER_EPOCH,
  ERROR_CODES.NOT_COORDINATOR,
  ERROR_CODES.COORDINATOR_NOT_AVAILABLE,
  ERROR_CODES.KAFKA_STORAGE_ERROR,
  ERROR_CODES.NETWORK_EXCEPTION,
  ERROR_CODES.UNKNOWN_TOPIC_ID,
]);

export function needsMetadataRefresh(err: unknown): boolean {
  return err instanceof KafkaError && STALE_METADATA.has(err.code);
}

export function isRetriable(err: unknown): boolean {
  return err instanceof KafkaError && err.retriable;
}
