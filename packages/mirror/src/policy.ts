// How topics are named on the target (MM2's ReplicationPolicy): DefaultReplicationPolicy prefixes
// the source cluster's alias (`A.orders`), so a remote topic says where it came from and cycles
// (A->B->A) are seen; IdentityReplicationPolicy keeps names, for migrations and one-way copies.

export interface ReplicationPolicy {
  readonly name: 'default' | 'identity';
  readonly separator: string;
  /** The target's name for `topic` of cluster `sourceAlias`. */
  formatRemoteTopic(sourceAlias: string, topic: string): string;
  /** The alias of the cluster a remote topic came from, or null for a topic that is not remote. */
  topicSource(topic: string): string | null;
  /** The name the topic had one hop upstream, or null for a topic that is not remote. */
  upstreamTopic(topic: string): string | null;
}

const HEARTBEATS = 'heartbeats';

/** MM2's internal topic names (with the default internal separator, the policy's separator). */
export function offsetSyncsTopic(policy: ReplicationPolicy, targetAlias: string): string {
  return `mm2-offset-syncs${policy.separator}${targetAlias}${policy.separator}internal`;
}

export function checkpointsTopic(policy: ReplicationPolicy, sourceAlias: string): string {
  return `${sourceAlias}${policy.separator}checkpoints${policy.separator}internal`;
}

export function heartbeatsTopic(): string {
  return HEARTBEATS;
}

/** Where MirrorMaker 2 in dedicated mode keeps the source positions of flow source->target (on the target). */
export function positionsTopic(sourceAlias: string): string {
  return `mm2-offsets.${sourceAlias}.internal`;
}

/** Internal topics are never mirrored as data (MM2: `.internal` suffix, `__` and `.` prefixes). */
export function isInternalTopic(topic: string): boolean {
  return topic.endsWith('.internal') || topic.endsWith('-internal') || topic.startsWith('__') || topic.startsWith('.');
}

export function replicationPolicy(separator = '.'): ReplicationPolicy {
  const policy: ReplicationPolicy = {
    name: 'default',
    separator,
    formatRemoteTopic: (sourceAlias, topic) => `${sourceAlias}${separator}${topic}`,
    topicSource(topic) {
      const i = topic.indexOf(separator);
      return i <= 0 ? null : topic.slice(0, i);
    },
    upstreamTopic(topic) {
      const source = policy.topicSource(topic);
      return source === null ? null : topic.slice(source.length + separator.length);
    },
  };
  return policy;
}

/**
 * Names kept as they are; only heartbeats are still prefixed (as MM2's IdentityReplicationPolicy
 * does), so that heartbeats from several sources stay apart. Cycles cannot be told from names:
 * do not run A->B and B->A with it.
 */
export function identityReplicationPolicy(separator = '.'): ReplicationPolicy {
  const prefixed = replicationPolicy(separator);
  const isHeartbeats = (topic: string) => topic === HEARTBEATS || topic.endsWith(`${separator}${HEARTBEATS}`);
  return {
    name: 'identity',
    separator,
    formatRemoteTopic: (sourceAlias, topic) =>
      isHeartbeats(topic) ? prefixed.formatRemoteTopic(sourceAlias, topic) : topic,
    topicSource: (topic) => (isHeartbeats(topic) ? prefixed.topicSource(topic) : null),
    upstreamTopic: (topic) => (isHeartbeats(topic) ? prefixed.upstreamTopic(topic) : topic),
  };
}

/** True when mirroring `topic` to `targetAlias` would send it back where it came from (MM2's isCycle). */
export function isCycle(policy: ReplicationPolicy, topic: string, targetAlias: string): boolean {
  let t: string | null = topic;
  // Each hop strips one prefix, so the loop ends within the name's length.
  for (let hops = 0; t !== null && hops <= topic.length; hops++) {
    const source = policy.topicSource(t);
    if (source === null) return false;
    if (source === targetAlias) return true;
    const up = policy.upstreamTopic(t);
    if (up === null || up === t) return false;
    t = up;
  }
  return false;
}
