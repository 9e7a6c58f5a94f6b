import { ERROR_CODES, KafkaError } from '@sluice/protocol';

/** A broker as placement sees it (Kafka's UsableBroker). */
export interface UsableBroker {
  id: number;
  rack: string | null;
  /** Fenced or in controlled shutdown: may hold replicas, never a new partition's leadership. */
  fenced: boolean;
}

/** A random source in [0, 1); injected so that tests are repeatable. */
export type Random = () => number;

function invalidReplicationFactor(message: string): KafkaError {
  return new KafkaError(ERROR_CODES.INVALID_REPLICATION_FACTOR, message);
}

function invalidAssignment(message: string): KafkaError {
  return new KafkaError(ERROR_CODES.INVALID_REPLICA_ASSIGNMENT, message);
}

/**
 * The brokers of one rack, handed out round-robin: each new partition starts one further along, and
 * within one partition a broker comes out at most once.
 */
class Rotation {
  readonly ids: number[] = [];
  private start = 0;
  private taken = 0;
  private round = -1;

  init(random: Random): void {
    this.ids.sort((a, b) => a - b);
    if (this.ids.length > 0) this.start = Math.floor(random() * this.ids.length);
  }

  shuffle(random: Random): void {
    shuffleInPlace(this.ids, random);
  }

  /** The next broker for partition round `round`, or -1 when each was handed out once already. */
  next(round: number): number {
    const n = this.ids.length;
    if (n === 0) return -1;
    if (round !== this.round) {
      this.round = round;
      this.taken = 0;
      this.start = (this.start + 1) % n;
    }
    if (this.taken >= n) return -1;
    const id = this.ids[(this.start + this.taken) % n];
    this.taken++;
    return id;
  }
}

class RackBrokers {
  readonly unfenced = new Rotation();
  readonly fenced = new Rotation();
  nextAny(round: number): number {
    const id = this.unfenced.next(round);
    return id >= 0 ? id : this.fenced.next(round);
  }
}

/**
 * Rack-aware striped replica placement with the semantics of Kafka's StripedReplicaPlacer: replicas
 * of a partition go to different racks round-robin (racks first, then brokers within a rack), each
 * partition starts one rack and one broker further along, unfenced brokers are preferred, and the
 * first replica (the leader) is always unfenced. Throws INVALID_REPLICATION_FACTOR when the factor
 * is not positive, exceeds the registered brokers, or every broker is fenced.
 */
export function placeReplicas(
  numPartitions: number,
  replicationFactor: number,
  brokers: readonly UsableBroker[],
  random: Random = Math.random,
): number[][] {
  if (!Number.isInteger(replicationFactor) || replicationFactor <= 0) {
    throw invalidReplicationFactor(
      `Invalid replication factor ${replicationFactor}: the replication factor must be positive.`,
    );
  }
  const unfencedCount = brokers.filter((b) => !b.fenced).length;
  if (unfencedCount === 0) throw invalidReplicationFactor('All brokers are currently fenced.');
  if (replicationFactor > brokers.length) {
    throw invalidReplicationFactor(
      `The target replication factor of ${replicationFactor} cannot be reached because only ${brokers.length} broker(s) are registered.`,
    );
  }
  const racks = new Map<string | null, RackBrokers>();
  for (const b of brokers) {
    let rack = racks.get(b.rack);
    if (!rack) racks.set(b.rack, (rack = new RackBrokers()));
    (b.fenced ? rack.fenced : rack.unfenced).ids.push(b.id);
  }
  for (const rack of racks.values()) {
    rack.unfenced.init(random);
    rack.fenced.init(random);
  }
  // Racks with no rack name sort first, then by name (Kafka's OptionalStringComparator).
  const rackNames = [...racks.keys()].sort((a, b) => (a === b ? 0 : a === null ? -1 : b === null ? 1 : a < b ? -1 : 1));
  let rackStart = Math.floor(random() * rackNames.length);
  // `round` never repeats (a rotation that served a round must not mistake a later one for it);
  // `sinceShuffle` counts partitions since the last reshuffle.
  let round = 0;
  let sinceShuffle = 0;
  const out: number[][] = [];
  for (let p = 0; p < numPartitions; p++) {
    // After every unfenced broker led once, reshuffle so the next partitions do not repeat the same sets.
    if (sinceShuffle === unfencedCount && unfencedCount > 1) {
      shuffleInPlace(rackNames, random);
      for (const rack of racks.values()) {
        rack.unfenced.shuffle(random);
        rack.fenced.shuffle(random);
      }
      sinceShuffle = 0;
    }
    rackStart %= rackNames.length;
    const replicas: number[] = [];
    // The leader: the first rack (from the start) with an unfenced broker left in this round.
    let leaderRack = rackStart;
    for (let tries = 0; ; tries++) {
      if (tries > rackNames.length) throw new Error('placement: no unfenced broker found (cannot happen)');
      const id = racks.get(rackNames[leaderRack])!.unfenced.next(round);
      if (id >= 0) {
        replicas.push(id);
        break;
      }
      leaderRack = (leaderRack + 1) % rackNames.length;
    }
    // The followers: racks round-robin from the start, the leader's rack skipped on its first turn.
    let rackIndex = rackStart;
    let skipLeaderRack = true;
    const bound = (brokers.length + 1) * (rackNames.length + 1);
    for (let steps = 0; replicas.length < replicationFactor; steps++) {
      if (steps > bound) throw new Error('placement: ran out of brokers (cannot happen)');
      let id = -1;
      if (skipLeaderRack && rackIndex === leaderRack) skipLeaderRack = false;
      else id = racks.get(rackNames[rackIndex])!.nextAny(round);
      rackIndex = (rackIndex + 1) % rackNames.length;
      if (id >= 0) replicas.push(id);
    }
    out.push(replicas);
    round++;
    sinceShuffle++;
    rackStart++;
  }
  return out;
}

/**
 * Checks explicit assignments of CreateTopics / CreatePartitions as Kafka's controller does
 * (ReplicationControlManager.validateManualPartitionAssignment), with its messages: every partition
 * non-empty, every broker registered and named once, the same replication factor everywhere (and
 * `replicationFactor`, the topic's, when given: CreatePartitions).
 */
export function validateAssignments(
  assignments: readonly (readonly number[])[],
  registered: ReadonlySet<number>,
  replicationFactor?: number,
): void {
  let factor = replicationFactor ?? -1;
  for (const replicas of assignments) {
    if (replicas.length === 0)
      throw invalidAssignment('The manual partition assignment includes an empty replica list.');
    const sorted = [...replicas].sort((a, b) => a - b);
    let previous: number | undefined;
    for (const id of sorted) {
      if (!registered.has(id)) {
        throw invalidAssignment(
          `The manual partition assignment includes broker ${id}, but no such broker is registered.`,
        );
      }
      if (id === previous) {
        throw invalidAssignment(`The manual partition assignment includes the broker ${id} more than once.`);
      }
      previous = id;
    }
    if (factor !== -1 && sorted.length !== factor) {
      throw invalidAssignment(
        `The manual partition assignment includes a partition with ${sorted.length} replica(s), but this is not consistent with previous partitions, which have ${factor} replica(s).`,
      );
    }
    factor = sorted.length;
  }
}

/** CreateTopics' replication factor: -1 means `default.replication.factor`. */
export function resolveReplicationFactor(requested: number, defaultReplicationFactor: number): number {
  return requested === -1 ? defaultReplicationFactor : requested;
}

function shuffleInPlace<T>(items: T[], random: Random): void {
  for (let i = items.length - 1; i > 0; i--) {
    const j = Math.floor(random() * (i + 1));
    const t = items[i];
    items[i] = items[j];
    items[j] = t;
  }
}
