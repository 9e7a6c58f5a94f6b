import { describe, expect, it } from 'vitest';
import {
  checkpointsTopic,
  identityReplicationPolicy,
  isCycle,
  isInternalTopic,
  offsetSyncsTopic,
  replicationPolicy,
} from './policy.js';

describe('DefaultReplicationPolicy', () => {
  const p = replicationPolicy();
  it('prefixes the source alias and reads it back', () => {
    expect(p.formatRemoteTopic('A', 'orders')).toBe('A.orders');
    expect(p.topicSource('A.orders')).toBe('A');
    expect(p.upstreamTopic('A.orders')).toBe('orders');
    expect(p.upstreamTopic('B.A.orders')).toBe('A.orders');
    expect(p.topicSource('orders')).toBeNull();
    expect(p.upstreamTopic('orders')).toBeNull();
  });
  it('takes another separator', () => {
    const u = replicationPolicy('_');
    expect(u.formatRemoteTopic('A', 'orders')).toBe('A_orders');
    expect(u.topicSource('A_orders')).toBe('A');
    expect(offsetSyncsTopic(u, 'B')).toBe('mm2-offset-syncs_B_internal');
  });
  it("names MM2's internal topics", () => {
    expect(offsetSyncsTopic(p, 'B')).toBe('mm2-offset-syncs.B.internal');
    expect(checkpointsTopic(p, 'A')).toBe('A.checkpoints.internal');
    expect(isInternalTopic('A.checkpoints.internal')).toBe(true);
    expect(isInternalTopic('__consumer_offsets')).toBe(true);
    expect(isInternalTopic('orders')).toBe(false);
  });
  it('sees cycles', () => {
    expect(isCycle(p, 'B.orders', 'B')).toBe(true);
    expect(isCycle(p, 'A.B.orders', 'B')).toBe(true);
    expect(isCycle(p, 'A.orders', 'B')).toBe(false);
    expect(isCycle(p, 'orders', 'B')).toBe(false);
  });
});

describe('IdentityReplicationPolicy', () => {
  const p = identityReplicationPolicy();
  it('keeps names, except heartbeats', () => {
    expect(p.formatRemoteTopic('A', 'orders')).toBe('orders');
    expect(p.formatRemoteTopic('A', 'heartbeats')).toBe('A.heartbeats');
    expect(p.topicSource('orders')).toBeNull();
    expect(p.topicSource('A.heartbeats')).toBe('A');
    expect(isCycle(p, 'orders', 'B')).toBe(false);
  });
});
