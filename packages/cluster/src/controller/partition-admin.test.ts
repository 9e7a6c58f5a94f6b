import { ERROR_CODES } from '@sluice/protocol';
import { describe, expect, it } from 'vitest';
import { ClusterImage, type MetadataChange } from '../image.js';
import { NO_LEADER, type PartitionRecord } from '../model.js';
import { listReassignments, planElectLeaders, planLeaderRebalance, planReassignment } from './partition-admin.js';
import { buildPartitionChange } from './partition-change.js';

const TOPIC_ID = '00000000-0000-4000-8000-0000000000bb';
type Fields = Partial<Omit<PartitionRecord, 'topicId' | 'partition'>>;

function imageWith(brokers: number[], partitions: Fields[]): ClusterImage {
  const image = new ClusterImage('c');
  const out: MetadataChange[] = [];
  for (const id of brokers) {
    image.setBroker(
      id,
      { nodeId: id, incarnationId: 'x', listeners: [], rack: null, brokerEpoch: 1, inControlledShutdown: false },
      out,
    );
  }
  partitions.forEach((p, i) => {
    image.setPartition(
      TOPIC_ID,
      i,
      {
        topicId: TOPIC_ID,
        partition: i,
        replicas: [1, 2, 3],
        isr: [1, 2, 3],
        leader: 1,
        leaderEpoch: 4,
        partitionEpoch: 7,
        addingReplicas: [],
        removingReplicas: [],
        ...p,
      },
      out,
    );
  });
  image.setTopic('t', { name: 't', topicId: TOPIC_ID, configs: {}, partitionCount: partitions.length }, out);
  return image;
}

const apply = (image: ClusterImage, next: PartitionRecord | null) => {
  if (next) image.setPartition(next.topicId, next.partition, next, []);
};

describe('planElectLeaders', () => {
  it('answers each named partition; elections carry the record to write', () => {
    const image = imageWith([1, 2, 3], [{ leader: 2 }, {}, { leader: 2, isr: [2, 3] }]);
    const out = planElectLeaders(image, 'preferred', [
      { topic: 't', partitions: [0, 1, 2, 9] },
      { topic: 'nosuch', partitions: [0] },
    ]);
    expect(out.map((o) => [o.topic, o.partition, o.errorCode, o.next?.leader])).toEqual([
      ['t', 0, 0, 1],
      ['t', 1, ERROR_CODES.ELECTION_NOT_NEEDED, undefined],
      ['t', 2, ERROR_CODES.PREFERRED_LEADER_NOT_AVAILABLE, undefined],
      ['t', 9, ERROR_CODES.UNKNOWN_TOPIC_OR_PARTITION, undefined],
      ['nosuch', 0, ERROR_CODES.UNKNOWN_TOPIC_OR_PARTITION, undefined],
    ]);
    expect(out[0].next).toMatchObject({ leaderEpoch: 5, partitionEpoch: 8 });
  });

  it('for every partition (null), leaves out those that need no election', () => {
    const image = imageWith([1, 2], [{ leader: 2 }, {}, { leader: NO_LEADER, isr: [3], replicas: [3, 1] }]);
    expect(planElectLeaders(image, 'preferred', null).map((o) => [o.partition, o.errorCode])).toEqual([
      [0, 0],
      [2, ERROR_CODES.PREFERRED_LEADER_NOT_AVAILABLE],
    ]);
    // Unclean: partition 2 has no live ISR member; the live replica 1 takes it, with itself as the ISR.
    const unclean = planElectLeaders(image, 'unclean', null);
    expect(unclean.map((o) => [o.partition, o.errorCode, o.next?.leader, o.next?.isr])).toEqual([[2, 0, 1, [1]]]);
  });
});

describe('planReassignment', () => {
  it('moving a replica records adding/removing and waits for the ISR; removing one completes at once', () => {
    const image = imageWith([1, 2, 3, 4], [{ replicas: [1, 2], isr: [1, 2] }]);
    const moving = planReassignment(image, 't', 0, [3, 2], false);
    expect(moving).toMatchObject({ replicas: [3, 2, 1], addingReplicas: [3], removingReplicas: [1], leader: 1 });
    apply(image, moving);
    expect(listReassignments(image, null).map((t) => [t.name, t.partitions.map((p) => p.partition)])).toEqual([
      ['t', [0]],
    ]);
    // The same target again changes nothing.
    expect(planReassignment(image, 't', 0, [3, 2], false)).toBeNull();
    // Once the new replica is in the ISR (replication's AlterPartition), the change completes: the
    // removed replica leaves, and leadership moves off it.
    const joined = buildPartitionChange(image.partition(TOPIC_ID, 0)!, { targetIsr: [1, 2, 3] }, () => true);
    expect(joined).toMatchObject({
      replicas: [3, 2],
      isr: [2, 3],
      leader: 3,
      addingReplicas: [],
      removingReplicas: [],
    });

    const image2 = imageWith([1, 2, 3], [{ replicas: [1, 2], isr: [1, 2] }]);
    expect(planReassignment(image2, 't', 0, [2], false)).toMatchObject({
      replicas: [2],
      isr: [2],
      leader: 2,
      addingReplicas: [],
      removingReplicas: [],
    });
  });

  it('cancels a reassignment back to the original replicas; nothing to cancel is NO_REASSIGNMENT_IN_PROGRESS', () => {
    const image = imageWith([1, 2, 3], [{ replicas: [1], isr: [1] }]);
    apply(image, planReassignment(image, 't', 0, [2], false));
    expect(image.partition(TOPIC_ID, 0)).toMatchObject({
      replicas: [2, 1],
      addingReplicas: [2],
      removingReplicas: [1],
    });
    const cancelled = planReassignment(image, 't', 0, null, false);
    expect(cancelled).toMatchObject({ replicas: [1], isr: [1], leader: 1, addingReplicas: [], removingReplicas: [] });
    apply(image, cancelled);
    expect(listReassignments(image, null)).toEqual([]);
    expect(() => planReassignment(image, 't', 0, null, false)).toThrow(
      expect.objectContaining({ errorName: 'NO_REASSIGNMENT_IN_PROGRESS' }),
    );
  });

  it('refuses a cancellation that needs an unclean election unless the topic allows it', () => {
    const image = imageWith(
      [1, 2, 3],
      [{ replicas: [2, 1], isr: [2], leader: 2, addingReplicas: [2], removingReplicas: [1] }],
    );
    expect(() => planReassignment(image, 't', 0, null, false)).toThrow(/would require an unclean leader election/);
    expect(planReassignment(image, 't', 0, null, true)).toMatchObject({ replicas: [1], isr: [1], leader: 1 });
  });

  it('checks the target as Kafka does, and the topic and partition exist', () => {
    const image = imageWith([1, 2, 3], [{}]);
    expect(() => planReassignment(image, 't', 0, [1, 5], false)).toThrow(/broker 5, but no such broker is registered/);
    expect(() => planReassignment(image, 't', 0, [1, 1], false)).toThrow(/more than once/);
    expect(() => planReassignment(image, 't', 3, [1], false)).toThrow('Unable to find partition t:3.');
    expect(() => planReassignment(image, 'x', 0, [1], false)).toThrow('Unable to find a topic named x.');
  });
});

describe('planLeaderRebalance', () => {
  it('moves leadership back to live preferred ISR members only, at most `limit` per round', () => {
    const image = imageWith(
      [1, 2, 3],
      [{ leader: 2 }, { leader: 3 }, {}, { leader: 2, isr: [2, 3] }, { leader: 3, replicas: [4, 3], isr: [4, 3] }],
    );
    expect(planLeaderRebalance(image).map((p) => [p.partition, p.leader])).toEqual([
      [0, 1],
      [1, 1],
    ]);
    expect(planLeaderRebalance(image, 1)).toHaveLength(1);
  });
});
