import { ERROR_CODES, KafkaError } from '@sluice/protocol';

/**
 * The metadata store cannot be reached (etcd down, or no quorum): the write did not happen, or its
 * outcome is unknown and the caller re-reads before retrying. Retriable: Kafka's REQUEST_TIMED_OUT.
 * Reads from the local cache keep working meanwhile.
 */
export class MetadataUnavailableError extends KafkaError {
  constructor(message: string, options?: { cause?: unknown }) {
    super(ERROR_CODES.REQUEST_TIMED_OUT, message, options);
    this.name = 'MetadataUnavailableError';
  }
}

/**
 * A compare-and-swap failed: the state the writer based its change on is no longer current (a newer
 * partition epoch, another controller, a re-registered broker). The caller re-reads and decides
 * again; `code` is Kafka's code for the case (INVALID_UPDATE_VERSION, NOT_CONTROLLER,
 * STALE_BROKER_EPOCH, TOPIC_ALREADY_EXISTS, UNKNOWN_TOPIC_OR_PARTITION, ...).
 */
export class MetadataConflictError extends KafkaError {
  constructor(code: number, message: string) {
    super(code, message);
    this.name = 'MetadataConflictError';
  }
}

/** A value read from the store is not what this version of Sluice wrote: names the key. */
export class CorruptMetadataError extends Error {
  constructor(
    readonly key: string,
    reason: string,
  ) {
    super(`metadata key ${key}: ${reason}`);
    this.name = 'CorruptMetadataError';
  }
}

export { ERROR_CODES };
