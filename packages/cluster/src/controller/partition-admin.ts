import { ERROR_CODES, KafkaError } from '@sluice/protocol';
import { MetadataConflictError } from '../errors.js';
import type { MetadataImage } from '../image.js';
import { NO_LEADER, type PartitionRecord } from '../model.js';
import type { MetadataStore, WriteFence } from '../store.js';
import { buildPartitionChange, electLeaders, type IsActive } from './partition-change.js';
import { validateAssignments } from './placement.js';
import { activeBrokers } from './reconcile.js';

/**
 * The controller's decisions for the partition admin APIs (ElectLeaders, AlterPartitionReassignments,
 * ListPartitionReassignments, `auto.leader.rebalance.enable`) as pure functions of the metadata
 * image, with the rules and messages of Kafka's ReplicationControlManager. The caller writes the
 * records they return (each a compare-and-swap on its partition epoch).
 */

/** Kafka caps the records one controller operation writes (QuorumController.MAX_RECORDS_PER_USER_OP). */
export const MAX_PARTITION_CHANGES_PER_REQUEST = 10_000;
/** Kafka's maxElectionsPerImbalance: preferred elections per automatic rebalance round. */
export const MAX_ELECTIONS_PER_REBALANCE = 1000;

/** One partition's answer: error code 0 with the record to write (or none needed), or an error. */
export interface PartitionOutcome {
  topic: string;
  partition: number;
  errorCode: number;
  message: string | null;
  /** The record to write, when the answer is a change. */
  next?: PartitionRecord;
}

function unknownPartition(topic: string, partition: number, message: string): PartitionOutcome {
  return { topic, partition, errorCode: ERROR_CODES.UNKNOWN_TOPIC_OR_PARTITION, message };
}

/**
 * ElectLeaders for the named partitions, or for every partition when `targets` is null (then, as in
 * Kafka, partitions that need no election are left out of the answer).
 */
export function planElectLeaders(
  image: MetadataImage,
  kind: 'preferred' | 'unclean',
  targets: readonly { topic: string; partitions: readonly number[] }[] | null,
): PartitionOutcome[] {
  const isActive = activeBrokers(image);
  const out: PartitionOutcome[] = [];
  const one = (topic: string, partition: number): PartitionOutcome => {
    const t = image.topics.get(topic);
    if (!t) return unknownPartition(topic, partition, `No such topic as ${topic}`);
    const current = image.partition(t.topicId, partition);
    if (!current || partition >= t.partitionCount) {
      return unknownPartition(topic, partition, `No such partition as ${topic}-${partition}`);
    }
    const result = electLeaders(current, kind, isActive);
    if ('next' in result) return { topic, partition, errorCode: 0, message: null, next: result.next };
    return { topic, partition, errorCode: result.errorCode, message: result.message };
  };
  if (targets === null) {
    for (const t of image.topics.values()) {
      for (let p = 0; p < t.partitionCount; p++) {
        const outcome = one(t.name, p);
        if (outcome.errorCode !== ERROR_CODES.ELECTION_NOT_NEEDED) out.push(outcome);
      }
    }
  } else {
    for (const t of targets) for (const p of t.partitions) out.push(one(t.topic, p));
  }
  return out;
}

/** Whether a reassignment is under way (Kafka's isReassignmentInProgress). */
export function isReassigning(p: PartitionRecord): boolean {
  return p.addingReplicas.length > 0 || p.removingReplicas.length > 0;
}

/**
 * AlterPartitionReassignments for one partition: `targetReplicas` starts a reassignment (or replaces
 * the one under way), null cancels it. Kafka's PartitionReassignmentReplicas: the replica list becomes
 * the target followed by the replicas being removed; adding = target − current, removing = current −
 * target (both in broker id order). The change completes (removing replicas leave) once the adding
 * replicas are in the ISR — at once when there are none. A cancellation reverts to the original
 * replicas (those being added leave, the ISR keeps the rest); one that would need an unclean
 * election is refused unless `unclean` (`unclean.leader.election.enable`). Throws KafkaError.
 */
export function planReassignment(
  image: MetadataImage,
  topic: string,
  partition: number,
  targetReplicas: readonly number[] | null,
  unclean: boolean,
): PartitionRecord | null {
  const t = image.topics.get(topic);
  if (!t) throw new KafkaError(ERROR_CODES.UNKNOWN_TOPIC_OR_PARTITION, `Unable to find a topic named ${topic}.`);
  const current = partition < t.partitionCount ? image.partition(t.topicId, partition) : undefined;
  if (!current) {
    throw new KafkaError(ERROR_CODES.UNKNOWN_TOPIC_OR_PARTITION, `Unable to find partition ${topic}:${partition}.`);
  }
  const isActive = activeBrokers(image);
  if (targetReplicas === null) {
    if (!isReassigning(current)) {
      throw new KafkaError(ERROR_CODES.NO_REASSIGNMENT_IN_PROGRESS, 'No partition reassignment is in progress.');
    }
    const replicas = current.replicas.filter((id) => !current.addingReplicas.includes(id));
    let isr = current.isr.filter((id) => !current.addingReplicas.includes(id));
    if (isr.length === 0) {
      if (!unclean) {
        throw new KafkaError(
          ERROR_CODES.INVALID_REPLICA_ASSIGNMENT,
          `Unable to revert partition assignment for ${topic}:${partition} because it would require an unclean leader election.`,
        );
      }
      isr = [replicas[0]];
    }
    return buildPartitionChange(
      current,
      {
        targetIsr: isr,
        targetReplicas: replicas,
        targetAdding: [],
        targetRemoving: [],
        election: unclean ? 'unclean' : 'online',
      },
      isActive,
    );
  }
  validateAssignments([targetReplicas], new Set(image.brokers.keys()));
  // A new target replaces one under way: measured against the replicas the partition had before it.
  const original = current.replicas.filter((id) => !current.addingReplicas.includes(id));
  const removing = original.filter((id) => !targetReplicas.includes(id)).sort((a, b) => a - b);
  const adding = targetReplicas.filter((id) => !original.includes(id)).sort((a, b) => a - b);
  return buildPartitionChange(
    current,
    {
      // Replicas added by the replaced reassignment and not wanted now leave the ISR too.
      targetIsr: current.isr.filter((id) => targetReplicas.includes(id) || original.includes(id)),
      targetReplicas: [...targetReplicas, ...removing],
      targetAdding: adding,
      targetRemoving: removing,
    },
    isActive,
  );
}

/** ListPartitionReassignments: partitions with a reassignment under way, of the named topics or all. */
export function listReassignments(
  image: MetadataImage,
  topics: readonly { name: string; partitionIndexes: readonly number[] }[] | null,
): { name: string; partitions: PartitionRecord[] }[] {
  const out: { name: string; partitions: PartitionRecord[] }[] = [];
  const wanted = topics ?? [...image.topics.values()].map((t) => ({ name: t.name, partitionIndexes: null }));
  for (const w of wanted) {
    const t = image.topics.get(w.name);
    if (!t) continue;
    const records =
      w.partitionIndexes === null
        ? image.partitionsOf(t.topicId)
        : w.partitionIndexes.flatMap((p) => {
            const r = p >= 0 && p < t.partitionCount ? image.partition(t.topicId, p) : undefined;
            return r ? [r] : [];
          });
    const partitions = records.filter(isReassigning);
    if (partitions.length > 0) out.push({ name: w.name, partitions });
  }
  return out;
}

/**
 * One round of `auto.leader.rebalance.enable` as Kafka's KRaft controller does it
 * (maybeBalancePartitionLeaders): a preferred election for every partition whose leader is not its
 * first replica, where that changes anything, at most `limit` per round. (Kafka 4's controller does
 * not consult `leader.imbalance.per.broker.percentage`; neither does this.)
 */
export function planLeaderRebalance(
  image: MetadataImage,
  limit = MAX_ELECTIONS_PER_REBALANCE,
  isActive: IsActive = activeBrokers(image),
): PartitionRecord[] {
  const out: PartitionRecord[] = [];
  for (const t of image.topics.values()) {
    for (const p of image.partitionsOf(t.topicId)) {
      if (out.length >= limit) return out;
      if (p.replicas.length === 0 || p.leader === p.replicas[0]) continue;
      const next = buildPartitionChange(p, { election: 'preferred' }, isActive);
      if (next && next.leader !== NO_LEADER && next.leader !== p.leader) out.push(next);
    }
  }
  return out;
}

/** Bounds the retries of a partition admin write that lost a compare-and-swap to another writer. */
const MAX_WRITE_ATTEMPTS = 3;
const RETRY_DELAY_MS = 50;

function sameRecord(a: PartitionRecord | undefined, b: PartitionRecord): boolean {
  return a !== undefined && JSON.stringify(a) === JSON.stringify(b);
}

/**
 * Writes the changes among `outcomes` (each a compare-and-swap on its partition epoch) and answers
 * with the outcomes as they ended. When another writer changed a partition first, the partitions not
 * written are decided again from the refreshed image by `replan` (at most MAX_WRITE_ATTEMPTS rounds);
 * a store error (etcd unreachable: REQUEST_TIMED_OUT) becomes the error of every partition not written.
 */
export async function writePartitionOutcomes(
  store: MetadataStore,
  fence: WriteFence,
  outcomes: readonly PartitionOutcome[],
  replan: (outcome: PartitionOutcome) => PartitionOutcome,
): Promise<PartitionOutcome[]> {
  const result = outcomes.map((o) => ({ ...o }));
  let pending = result.filter((o) => o.next !== undefined);
  for (let attempt = 1; pending.length > 0; attempt++) {
    try {
      await store.alterPartitions(
        pending.map((o) => ({ expectedPartitionEpoch: o.next!.partitionEpoch - 1, next: o.next! })),
        fence,
      );
      for (const o of pending) o.next = undefined;
      return result;
    } catch (err) {
      const retry = err instanceof MetadataConflictError && err.code === ERROR_CODES.INVALID_UPDATE_VERSION;
      if (!retry || attempt >= MAX_WRITE_ATTEMPTS) {
        const { code, message } =
          err instanceof KafkaError ? err : { code: ERROR_CODES.UNKNOWN_SERVER_ERROR, message: String(err) };
        for (const o of pending) {
          const t = store.image.topics.get(o.topic);
          const written = t !== undefined && sameRecord(store.image.partition(t.topicId, o.partition), o.next!);
          if (!written) Object.assign(o, { errorCode: code, message });
          o.next = undefined;
        }
        return result;
      }
      await new Promise((r) => setTimeout(r, RETRY_DELAY_MS * attempt));
      const still: PartitionOutcome[] = [];
      for (const o of pending) {
        const t = store.image.topics.get(o.topic);
        if (t !== undefined && sameRecord(store.image.partition(t.topicId, o.partition), o.next!)) {
          o.next = undefined;
          continue;
        }
        Object.assign(o, { next: undefined }, replan(o));
        if (o.next !== undefined) still.push(o);
      }
      pending = still;
    }
  }
  return result;
}
