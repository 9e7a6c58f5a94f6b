import { ERROR_CODES, KafkaError } from '@sluice/protocol';
import { ConfigResourceError } from '../config/index.js';
import { isStorageError } from '../state/log-dir-health.js';
import { isOutOfDescriptors } from '../state/topic-manager.js';

/** The leader epoch of every partition on a single node: it has always led them. */
export const LEADER_EPOCH = 0;

/**
 * Kafka's check of a client's current leader epoch (-1: the client does not know it): a newer
 * epoch than ours means our metadata is stale, an older one means the client's is.
 */
export function checkLeaderEpoch(currentLeaderEpoch: number, leaderEpoch = LEADER_EPOCH): void {
  const code = epochErrorCode(currentLeaderEpoch, leaderEpoch);
  if (code !== ERROR_CODES.NONE) throw new KafkaError(code);
}

/** checkLeaderEpoch's answer as an error code (NONE when the epoch passes). */
export function epochErrorCode(currentLeaderEpoch: number, leaderEpoch = LEADER_EPOCH): number {
  if (currentLeaderEpoch < 0 || currentLeaderEpoch === leaderEpoch) return ERROR_CODES.NONE;
  return currentLeaderEpoch > leaderEpoch ? ERROR_CODES.UNKNOWN_LEADER_EPOCH : ERROR_CODES.FENCED_LEADER_EPOCH;
}

/** The protocol error code of anything thrown while serving one partition or resource. */
export function errorCodeOf(err: unknown): number {
  if (err instanceof KafkaError || err instanceof ConfigResourceError) return err.code;
  // Out of descriptors (a segment roll, say) passes when files are closed: retriable, as Kafka's storage errors.
  if (isOutOfDescriptors(err)) return ERROR_CODES.KAFKA_STORAGE_ERROR;
  // A full or failing disk is Kafka's KAFKA_STORAGE_ERROR, not an unknown error.
  if (isStorageError(err)) return ERROR_CODES.KAFKA_STORAGE_ERROR;
  return ERROR_CODES.UNKNOWN_SERVER_ERROR;
}

export function errorMessageOf(err: unknown): string | null {
  return err instanceof Error ? err.message : null;
}
