import { ERROR_CODES as E, KafkaError } from '@sluice/protocol';
import { describe, expect, it } from 'vitest';
import { NEW_MEMBER_JOIN_TIMEOUT_MS } from './coordinator.js';
import { decodeGroupMetadataValue, decodeKey, decodeOffsetCommitValue } from './records.js';
import { flush, harness, protocols, subscription } from './test-helpers.js';

const G = 'group-a';

/** A SyncGroup of group G that hands out no assignment (a follower's, or a leader's with nothing to assign). */
function syncWithoutAssignments(memberId: string, generationId = 1) {
  return {
    groupId: G,
    generationId,
    memberId,
    groupInstanceId: null,
    protocolType: null,
    protocolName: null,
    assignments: [],
  };
}

/** Two dynamic members in a Stable group with the leader's assignment handed out. */
async function stableGroupOfTwo(h = harness()) {
  const a = await h.joinNew(G, { clientId: 'a' });
  await h.tick(0);
  const ra = await a.result;
  expect(ra.errorCode).toBe(E.NONE);
  const syncA = h.c.syncGroup({
    groupId: G,
    generationId: 1,
    memberId: a.memberId,
    groupInstanceId: null,
    protocolType: 'consumer',
    protocolName: 'range',
    assignments: [{ memberId: a.memberId, assignment: Buffer.from('A1') }],
  });
  expect((await syncA).errorCode).toBe(E.NONE);
  const b = await h.joinNew(G, { clientId: 'b' });
  // a learns of the rebalance from its heartbeat, then rejoins.
  expect(h.c.heartbeat({ groupId: G, generationId: 1, memberId: a.memberId, groupInstanceId: null })).toBe(
    E.REBALANCE_IN_PROGRESS,
  );
  const ra2 = h.join(G, { memberId: a.memberId, clientId: 'a' });
  await flush();
  const [j1, j2] = await Promise.all([ra2, b.result]);
  expect(j1.generationId).toBe(2);
  expect(j2.generationId).toBe(2);
  const leader = j1.members.length > 0 ? j1 : j2;
  const sync = (memberId: string, assignments: { memberId: string; assignment: Buffer }[] = []) =>
    h.c.syncGroup({
      groupId: G,
      generationId: 2,
      memberId,
      groupInstanceId: null,
      protocolType: null,
      protocolName: null,
      assignments,
    });
  const follower = leader === j1 ? j2 : j1;
  const fs = sync(follower.memberId);
  const ls = sync(leader.memberId, [
    { memberId: a.memberId, assignment: Buffer.from('A2') },
    { memberId: b.memberId, assignment: Buffer.from('B2') },
  ]);
  const [fr, lr] = await Promise.all([fs, ls]);
  expect(fr.errorCode).toBe(E.NONE);
  expect(lr.errorCode).toBe(E.NONE);
  expect(h.c.group(G)!.state).toBe('Stable');
  return { h, a: a.memberId, b: b.memberId, leader: leader.memberId };
}

describe('JoinGroup', () => {
  it('rejects an empty group id, out-of-range session timeouts, and a member id for an unknown group', async () => {
    const h = harness({ groupMinSessionTimeoutMs: 6000, groupMaxSessionTimeoutMs: 60_000 });
    expect((await h.join('')).errorCode).toBe(E.INVALID_GROUP_ID);
    expect((await h.join(G, { sessionTimeoutMs: 5999 })).errorCode).toBe(E.INVALID_SESSION_TIMEOUT);
    expect((await h.join(G, { sessionTimeoutMs: 60_001 })).errorCode).toBe(E.INVALID_SESSION_TIMEOUT);
    expect((await h.join(G, { memberId: 'ghost' })).errorCode).toBe(E.UNKNOWN_MEMBER_ID);
    expect(h.c.group(G)).toBeUndefined();
  });

  it('asks a new member for a member id first (KIP-394), then completes the first generation', async () => {
    const h = harness();
    const first = await h.join(G, { clientId: 'c1' });
    expect(first.errorCode).toBe(E.MEMBER_ID_REQUIRED);
    expect(first.memberId).toBe('c1-1');
    expect(h.c.group(G)!.state).toBe('Empty');
    const joined = h.join(G, { clientId: 'c1', memberId: first.memberId });
    await h.tick(0);
    const r = await joined;
    expect(r).toMatchObject({ errorCode: E.NONE, generationId: 1, leader: 'c1-1', memberId: 'c1-1' });
    expect(r.protocolName).toBe('range');
    expect(r.members.map((m) => m.memberId)).toEqual(['c1-1']);
    expect(h.c.group(G)!.state).toBe('CompletingRebalance');
    // The generation is written only after SyncGroup; the join itself wrote nothing yet.
    expect(h.records()).toHaveLength(0);
  });

  it('joins directly without a member id before v4', async () => {
    const h = harness();
    const p = h.join(G, { requireKnownMemberId: false });
    await h.tick(0);
    const r = await p;
    expect(r.errorCode).toBe(E.NONE);
    expect(r.memberId).toBe('client-1');
  });

  it('waits group.initial.rebalance.delay.ms and extends it while new members keep joining', async () => {
    const h = harness({ groupInitialRebalanceDelayMs: 3000 });
    const a = await h.joinNew(G, { clientId: 'a' });
    let done = false;
    void a.result.then(() => {
      done = true;
    });
    await h.tick(2000);
    const b = await h.joinNew(G, { clientId: 'b' });
    await h.tick(1500);
    expect(done).toBe(false); // b arrived during the delay: another delay started at 3000
    await h.tick(3000);
    const [ra, rb] = await Promise.all([a.result, b.result]);
    expect(ra.generationId).toBe(1);
    expect(rb.generationId).toBe(1);
    expect(h.clock.now() - 1_700_000_000_000).toBeGreaterThanOrEqual(6000);
    expect([ra, rb].filter((r) => r.members.length === 2)).toHaveLength(1);
  });

  it('chooses the protocol all members support, by the members’ votes', async () => {
    const h = harness();
    const a = await h.joinNew(G, { clientId: 'a', protocols: protocols('cooperative-sticky', 'range') });
    const b = await h.joinNew(G, { clientId: 'b', protocols: protocols('roundrobin', 'range', 'cooperative-sticky') });
    const c = await h.joinNew(G, { clientId: 'c', protocols: protocols('range', 'cooperative-sticky') });
    await h.tick(0);
    const rs = await Promise.all([a.result, b.result, c.result]);
    // Candidates: range, cooperative-sticky (roundrobin is b's alone). Votes: a→coop, b→range, c→range.
    for (const r of rs) expect(r.protocolName).toBe('range');
    const leader = rs.find((r) => r.members.length > 0)!;
    expect(leader.members.find((m) => m.memberId === a.memberId)!.metadata.toString()).toBe('meta-range');
  });

  it('answers INCONSISTENT_GROUP_PROTOCOL for another protocol type, no common protocol, or an empty list', async () => {
    const h = harness();
    const a = await h.joinNew(G, { protocols: protocols('range') });
    await h.tick(0);
    await a.result;
    expect((await h.join(G, { protocolType: 'connect' })).errorCode).toBe(E.INCONSISTENT_GROUP_PROTOCOL);
    expect((await h.join(G, { protocols: protocols('roundrobin') })).errorCode).toBe(E.INCONSISTENT_GROUP_PROTOCOL);
    expect((await h.join('other', { protocolType: '' })).errorCode).toBe(E.INCONSISTENT_GROUP_PROTOCOL);
    expect((await h.join('other2', { protocols: [] })).errorCode).toBe(E.INCONSISTENT_GROUP_PROTOCOL);
  });

  it('refuses members beyond group.max.size with GROUP_MAX_SIZE_REACHED', async () => {
    const h = harness({ groupMaxSize: 1 });
    const a = await h.joinNew(G);
    await h.tick(0);
    await a.result;
    const b = await h.join(G); // MEMBER_ID_REQUIRED is handed out before the size check applies
    const r = await h.join(G, { memberId: b.memberId });
    expect(r.errorCode).toBe(E.GROUP_MAX_SIZE_REACHED);
    expect(h.c.group(G)!.size).toBe(1);
  });

  it('answers a follower rejoining a Stable group unchanged with the current generation, without a rebalance', async () => {
    const { h, a, b, leader } = await stableGroupOfTwo();
    const follower = leader === a ? b : a;
    const r = await h.join(G, { memberId: follower, clientId: follower === a ? 'a' : 'b' });
    expect(r).toMatchObject({ errorCode: E.NONE, generationId: 2, leader, members: [] });
    expect(h.c.group(G)!.state).toBe('Stable');
  });

  it('rebalances when the leader rejoins a Stable group or a member changes its protocols', async () => {
    const { h, leader } = await stableGroupOfTwo();
    const p = h.join(G, { memberId: leader });
    expect(h.c.group(G)!.state).toBe('PreparingRebalance');
    void p;
    const h2 = (await stableGroupOfTwo()).h;
    const g = h2.c.group(G)!;
    const follower = [...g.members.keys()].find((id) => id !== g.leaderId)!;
    void h2.join(G, { memberId: follower, protocols: [{ name: 'range', metadata: Buffer.from('changed') }] });
    expect(g.state).toBe('PreparingRebalance');
  });

  it('hands the current generation again to a member rejoining unchanged during CompletingRebalance', async () => {
    const h = harness();
    const a = await h.joinNew(G);
    await h.tick(0);
    const first = await a.result;
    const again = await h.join(G, { memberId: a.memberId });
    expect(again).toMatchObject({ errorCode: E.NONE, generationId: first.generationId, leader: a.memberId });
    expect(again.members).toHaveLength(1);
    expect(h.c.group(G)!.state).toBe('CompletingRebalance');
  });

  it('waits for a pending member (MEMBER_ID_REQUIRED, never joined) until its session timeout', async () => {
    const h = harness();
    const a = await h.joinNew(G, { sessionTimeoutMs: 60_000 });
    await h.tick(0);
    await a.result;
    await h.c.syncGroup(syncWithoutAssignments(a.memberId));
    const pending = await h.join(G, { sessionTimeoutMs: 5000 }); // never comes back
    expect(pending.errorCode).toBe(E.MEMBER_ID_REQUIRED);
    let done = false;
    const rejoin = h.join(G, { memberId: a.memberId, sessionTimeoutMs: 60_000 });
    void rejoin.then(() => {
      done = true;
    });
    await h.tick(4999);
    expect(done).toBe(false);
    await h.tick(1);
    expect((await rejoin).generationId).toBe(2);
  });

  it('drops a new member whose JoinGroup waits longer than the new-member join timeout', async () => {
    const h = harness();
    const s = h.join(G, { groupInstanceId: 's', sessionTimeoutMs: 1_000_000 });
    await h.tick(0);
    const rs = await s;
    await h.c.syncGroup({
      groupId: G,
      generationId: 1,
      memberId: rs.memberId,
      groupInstanceId: 's',
      protocolType: null,
      protocolName: null,
      assignments: [],
    });
    // The static member never rejoins, so the rebalance waits out c's long rebalance timeout.
    const c = await h.joinNew(G, { clientId: 'c', rebalanceTimeoutMs: NEW_MEMBER_JOIN_TIMEOUT_MS * 2 });
    await h.tick(NEW_MEMBER_JOIN_TIMEOUT_MS);
    expect((await c.result).errorCode).toBe(E.UNKNOWN_MEMBER_ID);
    expect(h.c.group(G)!.has(c.memberId)).toBe(false);
    expect(h.c.group(G)!.state).toBe('PreparingRebalance');
  });
});

describe('SyncGroup', () => {
  it('hands out the leader’s assignment, writes the group and goes Stable', async () => {
    const { h, a, b } = await stableGroupOfTwo();
    const g = h.c.group(G)!;
    expect(g.get(a).assignment.toString()).toBe('A2');
    expect(g.get(b).assignment.toString()).toBe('B2');
    const groupRecords = h.records().filter((r) => decodeKey(r.key).type === 'group');
    const last = decodeGroupMetadataValue(groupRecords.at(-1)!.value!);
    expect(last.generation).toBe(2);
    expect(last.protocol).toBe('range');
    expect(last.members.map((m) => m.assignment.toString()).sort()).toEqual(['A2', 'B2']);
  });

  it('checks group, member, generation, protocol type and name, and state', async () => {
    const h = harness();
    const base = {
      groupId: G,
      generationId: 1,
      memberId: 'x',
      groupInstanceId: null,
      protocolType: null,
      protocolName: null,
      assignments: [],
    };
    expect((await h.c.syncGroup({ ...base, groupId: '' })).errorCode).toBe(E.INVALID_GROUP_ID);
    expect((await h.c.syncGroup(base)).errorCode).toBe(E.UNKNOWN_MEMBER_ID);
    const a = await h.joinNew(G);
    await h.tick(0);
    await a.result;
    const m = { ...base, memberId: a.memberId };
    expect((await h.c.syncGroup({ ...m, memberId: 'y' })).errorCode).toBe(E.UNKNOWN_MEMBER_ID);
    expect((await h.c.syncGroup({ ...m, generationId: 2 })).errorCode).toBe(E.ILLEGAL_GENERATION);
    expect((await h.c.syncGroup({ ...m, protocolType: 'connect' })).errorCode).toBe(E.INCONSISTENT_GROUP_PROTOCOL);
    expect((await h.c.syncGroup({ ...m, protocolName: 'roundrobin' })).errorCode).toBe(E.INCONSISTENT_GROUP_PROTOCOL);
    // A second member joins: PreparingRebalance.
    const b = await h.joinNew(G, { clientId: 'b' });
    expect((await h.c.syncGroup(m)).errorCode).toBe(E.REBALANCE_IN_PROGRESS);
    void b;
  });

  it('fails waiting followers with REBALANCE_IN_PROGRESS when a rebalance starts before the leader syncs', async () => {
    const h = harness();
    const a = await h.joinNew(G, { clientId: 'a' });
    const b = await h.joinNew(G, { clientId: 'b' });
    await h.tick(0);
    const [ra, rb] = await Promise.all([a.result, b.result]);
    const follower = ra.members.length > 0 ? rb : ra;
    const waiting = h.c.syncGroup(syncWithoutAssignments(follower.memberId));
    void h.joinNew(G, { clientId: 'c' });
    await flush();
    expect((await waiting).errorCode).toBe(E.REBALANCE_IN_PROGRESS);
  });

  it('removes members that never send SyncGroup within the rebalance timeout and rebalances', async () => {
    const h = harness();
    const a = await h.joinNew(G, { clientId: 'a', rebalanceTimeoutMs: 20_000, sessionTimeoutMs: 30_000 });
    const b = await h.joinNew(G, { clientId: 'b', rebalanceTimeoutMs: 20_000, sessionTimeoutMs: 30_000 });
    await h.tick(0);
    const [ra, rb] = await Promise.all([a.result, b.result]);
    const leader = ra.members.length > 0 ? ra : rb;
    const follower = leader === ra ? rb : ra;
    await h.c.syncGroup(syncWithoutAssignments(leader.memberId));
    expect(h.c.group(G)!.state).toBe('Stable');
    await h.tick(20_000);
    expect(h.c.group(G)!.has(follower.memberId)).toBe(false);
    expect(h.c.group(G)!.state).toBe('PreparingRebalance');
  });

  it('fails the SyncGroup with the mapped error when the group record cannot be written', async () => {
    const h = harness();
    const a = await h.joinNew(G);
    await h.tick(0);
    await a.result;
    h.failWith.error = new KafkaError(E.NOT_LEADER_OR_FOLLOWER, 'moved');
    const r = await h.c.syncGroup(syncWithoutAssignments(a.memberId));
    expect(r.errorCode).toBe(E.NOT_COORDINATOR);
    expect(h.c.group(G)!.state).toBe('PreparingRebalance');
  });
});

describe('Heartbeat and session timeouts', () => {
  it('answers per state: Stable NONE, PreparingRebalance REBALANCE_IN_PROGRESS, and fencing errors', async () => {
    const { h, a } = await stableGroupOfTwo();
    const hb = (over = {}) =>
      h.c.heartbeat({ groupId: G, generationId: 2, memberId: a, groupInstanceId: null, ...over });
    expect(hb()).toBe(E.NONE);
    expect(hb({ generationId: 1 })).toBe(E.ILLEGAL_GENERATION);
    expect(hb({ memberId: 'nobody' })).toBe(E.UNKNOWN_MEMBER_ID);
    expect(hb({ groupId: 'nope' })).toBe(E.UNKNOWN_MEMBER_ID);
    expect(hb({ groupId: '' })).toBe(E.INVALID_GROUP_ID);
    void h.joinNew(G, { clientId: 'c' });
    await flush();
    expect(hb()).toBe(E.REBALANCE_IN_PROGRESS);
  });

  it('accepts heartbeats during CompletingRebalance', async () => {
    const h = harness();
    const a = await h.joinNew(G);
    await h.tick(0);
    await a.result;
    expect(h.c.heartbeat({ groupId: G, generationId: 1, memberId: a.memberId, groupInstanceId: null })).toBe(E.NONE);
  });

  it('removes a member whose session expires and rebalances the rest; heartbeats keep members alive', async () => {
    const { h, a, b } = await stableGroupOfTwo();
    await h.tick(8000);
    expect(h.c.heartbeat({ groupId: G, generationId: 2, memberId: a, groupInstanceId: null })).toBe(E.NONE);
    await h.tick(1999);
    expect(h.c.group(G)!.has(b)).toBe(true);
    await h.tick(1);
    // b never heartbeated after its SyncGroup: its 10 s session ran out; a's was renewed at 8 s.
    expect(h.c.group(G)!.has(b)).toBe(false);
    expect(h.c.group(G)!.has(a)).toBe(true);
    expect(h.c.heartbeat({ groupId: G, generationId: 2, memberId: a, groupInstanceId: null })).toBe(
      E.REBALANCE_IN_PROGRESS,
    );
    const r = h.join(G, { memberId: a, clientId: 'a' });
    await flush();
    expect((await r).generationId).toBe(3);
  });

  it('removes dynamic members that do not rejoin within the rebalance timeout', async () => {
    const { h, a, b } = await stableGroupOfTwo();
    const ra = h.join(G, { memberId: a, clientId: 'a', rebalanceTimeoutMs: 5000 });
    // b keeps heartbeating but never rejoins.
    for (let t = 0; t < 32_000; t += 4000) {
      await h.tick(4000);
      h.c.heartbeat({ groupId: G, generationId: 2, memberId: b, groupInstanceId: null });
    }
    const r = await ra;
    expect(r.generationId).toBe(3);
    expect(r.members.map((m) => m.memberId)).toEqual([a]);
  });

  it('makes every member of an Empty group unknown once the last one left', async () => {
    const h = harness();
    const a = await h.joinNew(G);
    await h.tick(0);
    await a.result;
    h.c.leaveGroup(G, [{ memberId: a.memberId, groupInstanceId: null }]);
    await h.tick(0);
    expect(h.c.group(G)!.state).toBe('Empty');
    expect(h.c.heartbeat({ groupId: G, generationId: 2, memberId: a.memberId, groupInstanceId: null })).toBe(
      E.UNKNOWN_MEMBER_ID,
    );
  });
});

describe('LeaveGroup', () => {
  it('removes a member and rebalances promptly; answers per member (v3+ batches)', async () => {
    const { h, a, b } = await stableGroupOfTwo();
    const r = h.c.leaveGroup(G, [
      { memberId: b, groupInstanceId: null },
      { memberId: 'ghost', groupInstanceId: null },
    ]);
    expect(r.errorCode).toBe(E.NONE);
    expect(r.members.map((m) => m.errorCode)).toEqual([E.NONE, E.UNKNOWN_MEMBER_ID]);
    expect(h.c.group(G)!.state).toBe('PreparingRebalance');
    const ra = await h.join(G, { memberId: a, clientId: 'a' });
    expect(ra.generationId).toBe(3); // completes as soon as the only member rejoined
  });

  it('answers UNKNOWN_MEMBER_ID for an unknown group and removes pending members', async () => {
    const h = harness();
    expect(h.c.leaveGroup('nope', [{ memberId: 'm', groupInstanceId: null }]).members[0].errorCode).toBe(
      E.UNKNOWN_MEMBER_ID,
    );
    const pending = await h.join(G);
    expect(h.c.leaveGroup(G, [{ memberId: pending.memberId, groupInstanceId: null }]).members[0].errorCode).toBe(
      E.NONE,
    );
    expect(h.c.group(G)!.pendingMembers.size).toBe(0);
  });

  it('removes a static member by instance id alone, and fences a wrong member id for an instance id', async () => {
    const h = harness();
    const s = h.join(G, { groupInstanceId: 'inst-1' });
    await h.tick(0);
    const r = await s;
    const fenced = h.c.leaveGroup(G, [{ memberId: 'other', groupInstanceId: 'inst-1' }]);
    expect(fenced.members[0].errorCode).toBe(E.FENCED_INSTANCE_ID);
    const removed = h.c.leaveGroup(G, [{ memberId: '', groupInstanceId: 'inst-1' }]);
    expect(removed.members[0].errorCode).toBe(E.NONE);
    expect(h.c.group(G)!.has(r.memberId)).toBe(false);
  });
});

describe('static membership (KIP-345)', () => {
  async function stableStatic(h = harness(), sessionTimeoutMs = 20_000) {
    const a = h.join(G, { groupInstanceId: 'ia', clientId: 'a', sessionTimeoutMs });
    const b = h.join(G, { groupInstanceId: 'ib', clientId: 'b', sessionTimeoutMs });
    await h.tick(0);
    const [ra, rb] = await Promise.all([a, b]);
    const leader = ra.members.length > 0 ? ra : rb;
    const follower = leader === ra ? rb : ra;
    const base = { groupId: G, generationId: 1, groupInstanceId: null, protocolType: null, protocolName: null };
    const fs = h.c.syncGroup({
      ...base,
      memberId: follower.memberId,
      groupInstanceId: follower === ra ? 'ia' : 'ib',
      assignments: [],
    });
    const ls = h.c.syncGroup({
      ...base,
      memberId: leader.memberId,
      groupInstanceId: leader === ra ? 'ia' : 'ib',
      assignments: [
        { memberId: ra.memberId, assignment: Buffer.from('for-a') },
        { memberId: rb.memberId, assignment: Buffer.from('for-b') },
      ],
    });
    await Promise.all([fs, ls]);
    return { h, ra, rb, leader };
  }

  it('gives a restarted static member its assignment back without a rebalance; the old id is fenced', async () => {
    const { h, ra, leader } = await stableStatic();
    const restarted = h.join(G, { groupInstanceId: 'ia', clientId: 'a', sessionTimeoutMs: 20_000 });
    await flush();
    const r = await restarted;
    expect(r.errorCode).toBe(E.NONE);
    expect(r.generationId).toBe(1);
    expect(r.memberId).not.toBe(ra.memberId);
    // Before v9 the old leader id comes back, so a restarted leader does not reassign.
    expect(r.leader).toBe(leader.memberId);
    expect(r.members).toEqual([]);
    expect(h.c.group(G)!.state).toBe('Stable');
    const sync = await h.c.syncGroup({
      groupId: G,
      generationId: 1,
      memberId: r.memberId,
      groupInstanceId: 'ia',
      protocolType: 'consumer',
      protocolName: 'range',
      assignments: [],
    });
    expect(sync.assignment.toString()).toBe('for-a');
    expect(h.c.heartbeat({ groupId: G, generationId: 1, memberId: ra.memberId, groupInstanceId: 'ia' })).toBe(
      E.FENCED_INSTANCE_ID,
    );
    expect((await h.join(G, { memberId: ra.memberId, groupInstanceId: 'ia' })).errorCode).toBe(E.FENCED_INSTANCE_ID);
    expect(h.c.group(G)!.generationId).toBe(1);
  });

  it('lets a restarted static leader skip the assignment from v9 (KIP-814)', async () => {
    const { h, ra, rb, leader } = await stableStatic();
    const inst = leader === ra ? 'ia' : 'ib';
    const r = await (async () => {
      const p = h.join(G, {
        groupInstanceId: inst,
        clientId: 'x',
        sessionTimeoutMs: 20_000,
        supportSkippingAssignment: true,
      });
      await flush();
      return p;
    })();
    expect(r.skipAssignment).toBe(true);
    expect(r.leader).toBe(r.memberId);
    expect(r.members).toHaveLength(2);
    void rb;
  });

  it('keeps a static member through a rebalance it misses, until its session expires', async () => {
    const { h, ra, rb } = await stableStatic(harness(), 60_000);
    // a rejoins with changed metadata, forcing a rebalance; b stays silent.
    const p = h.join(G, {
      memberId: ra.memberId,
      groupInstanceId: 'ia',
      sessionTimeoutMs: 60_000,
      protocols: [{ name: 'range', metadata: Buffer.from('v2') }],
    });
    await h.tick(30_000); // the rebalance timeout
    const r = await p;
    expect(r.generationId).toBe(2);
    expect(h.c.group(G)!.has(rb.memberId)).toBe(true); // static: not removed at the rebalance timeout
    await h.tick(30_000);
    expect(h.c.group(G)!.has(rb.memberId)).toBe(false);
  });

  it('rebalances when a static member restarts during CompletingRebalance', async () => {
    const h = harness();
    const a = h.join(G, { groupInstanceId: 'ia' });
    await h.tick(0);
    await a;
    expect(h.c.group(G)!.state).toBe('CompletingRebalance');
    const again = h.join(G, { groupInstanceId: 'ia' });
    await flush();
    // The rebalance completes at once (the only member rejoined): a new generation.
    expect((await again).generationId).toBe(2);
    expect(h.c.group(G)!.generationId).toBe(2);
  });

  it('fences the earlier JoinGroup of a static member replaced while it still waits', async () => {
    const h = harness({ groupInitialRebalanceDelayMs: 1000 });
    const first = h.join(G, { groupInstanceId: 'ia' });
    await flush();
    const second = h.join(G, { groupInstanceId: 'ia' });
    expect((await first).errorCode).toBe(E.FENCED_INSTANCE_ID);
    await h.tick(1000);
    expect((await second).errorCode).toBe(E.NONE);
  });
});

describe('cooperative rebalancing', () => {
  it('carries several protocols per member across several rebalance rounds', async () => {
    const h = harness();
    const coop = () => [
      { name: 'cooperative-sticky', metadata: subscription('t') },
      { name: 'range', metadata: subscription('t') },
    ];
    const a = await h.joinNew(G, { clientId: 'a', protocols: coop() });
    await h.tick(0);
    const r1 = await a.result;
    expect(r1.protocolName).toBe('cooperative-sticky');
    const sync = (memberId: string, gen: number, assignments: { memberId: string; assignment: Buffer }[] = []) =>
      h.c.syncGroup({
        groupId: G,
        generationId: gen,
        memberId,
        groupInstanceId: null,
        protocolType: 'consumer',
        protocolName: 'cooperative-sticky',
        assignments,
      });
    await sync(a.memberId, 1, [{ memberId: a.memberId, assignment: Buffer.from('all') }]);
    // Round 1: b joins; a rejoins keeping its partitions (cooperative), the leader revokes some.
    const b = await h.joinNew(G, { clientId: 'b', protocols: coop() });
    const ra2 = h.join(G, { memberId: a.memberId, clientId: 'a', protocols: coop() });
    await flush();
    const [x, y] = await Promise.all([ra2, b.result]);
    expect(x.generationId).toBe(2);
    expect(y.protocolName).toBe('cooperative-sticky');
    await Promise.all([
      sync(b.memberId, 2),
      sync(a.memberId, 2, [
        { memberId: a.memberId, assignment: Buffer.from('half') },
        { memberId: b.memberId, assignment: Buffer.from('none-yet') },
      ]),
    ]);
    // Round 2: the member that gave partitions up rejoins at once to get them reassigned.
    const ra3 = h.join(G, { memberId: a.memberId, clientId: 'a', protocols: coop() });
    expect(h.c.group(G)!.state).toBe('PreparingRebalance');
    const rb3 = h.join(G, { memberId: b.memberId, clientId: 'b', protocols: coop() });
    await flush();
    const [x3, y3] = await Promise.all([ra3, rb3]);
    expect(x3.generationId).toBe(3);
    expect(y3.generationId).toBe(3);
    const [s1, s2] = await Promise.all([
      sync(b.memberId, 3),
      sync(a.memberId, 3, [
        { memberId: a.memberId, assignment: Buffer.from('half-a') },
        { memberId: b.memberId, assignment: Buffer.from('half-b') },
      ]),
    ]);
    expect(s1.assignment.toString()).toBe('half-b');
    expect(s2.assignment.toString()).toBe('half-a');
    expect(h.c.group(G)!.subscribedTopics).toEqual(new Set(['t']));
  });
});

describe('offsets', () => {
  const commit = (h: ReturnType<typeof harness>, over = {}) =>
    h.c.commitOffsets({
      groupId: G,
      generationId: -1,
      memberId: '',
      groupInstanceId: null,
      retentionTimeMs: -1,
      topics: [
        {
          name: 't',
          partitions: [
            { partitionIndex: 0, committedOffset: 42n, committedLeaderEpoch: 3, committedMetadata: 'm' },
            { partitionIndex: 1, committedOffset: 7n, committedLeaderEpoch: -1, committedMetadata: null },
          ],
        },
      ],
      ...over,
    });

  it('lets a simple consumer (generation -1) commit to an unknown or empty group, and fetches them', async () => {
    const h = harness();
    const r = await commit(h);
    expect(r[0].partitions.map((p) => p.errorCode)).toEqual([E.NONE, E.NONE]);
    expect(h.c.group(G)!.state).toBe('Empty');
    const f = h.c.fetchOffsets(G, [{ name: 't', partitionIndexes: [0, 1, 2] }]);
    expect(f.topics[0].partitions).toEqual([
      { partitionIndex: 0, committedOffset: 42n, committedLeaderEpoch: 3, metadata: 'm', errorCode: 0 },
      { partitionIndex: 1, committedOffset: 7n, committedLeaderEpoch: -1, metadata: '', errorCode: 0 },
      { partitionIndex: 2, committedOffset: -1n, committedLeaderEpoch: -1, metadata: '', errorCode: 0 },
    ]);
    expect(h.c.fetchOffsets(G, null).topics[0].partitions).toHaveLength(2);
    expect(h.c.fetchOffsets('none', null).topics).toEqual([]);
    const key = decodeKey(h.records()[0].key);
    expect(key).toEqual({ type: 'offset', group: G, topic: 't', partition: 0 });
    expect(decodeOffsetCommitValue(h.records()[0].value!)).toMatchObject({
      offset: 42n,
      leaderEpoch: 3,
      metadata: 'm',
    });
    expect(h.appended[0].partition).toBe(h.c.partitionFor(G));
  });

  it('refuses a generation for an unknown group and fences members of an active group', async () => {
    const h0 = harness();
    expect((await commit(h0, { generationId: 1, memberId: 'm' }))[0].partitions[0].errorCode).toBe(
      E.ILLEGAL_GENERATION,
    );
    const { h, a } = await stableGroupOfTwo();
    expect((await commit(h))[0].partitions[0].errorCode).toBe(E.UNKNOWN_MEMBER_ID);
    expect((await commit(h, { generationId: 1, memberId: a }))[0].partitions[0].errorCode).toBe(E.ILLEGAL_GENERATION);
    expect((await commit(h, { generationId: 2, memberId: a }))[0].partitions[0].errorCode).toBe(E.NONE);
    // During PreparingRebalance commits of the last generation are still accepted.
    void h.joinNew(G, { clientId: 'c' });
    await flush();
    expect(h.c.group(G)!.state).toBe('PreparingRebalance');
    expect((await commit(h, { generationId: 2, memberId: a }))[0].partitions[0].errorCode).toBe(E.NONE);
  });

  it('answers REBALANCE_IN_PROGRESS during CompletingRebalance', async () => {
    const h = harness();
    const a = await h.joinNew(G);
    await h.tick(0);
    await a.result;
    expect((await commit(h, { generationId: 1, memberId: a.memberId }))[0].partitions[0].errorCode).toBe(
      E.REBALANCE_IN_PROGRESS,
    );
  });

  it('refuses metadata over offset.metadata.max.bytes and maps append failures', async () => {
    const h = harness({ offsetMetadataMaxBytes: 4 });
    const r = await commit(h, {
      topics: [
        {
          name: 't',
          partitions: [
            { partitionIndex: 0, committedOffset: 1n, committedLeaderEpoch: -1, committedMetadata: 'too long' },
            { partitionIndex: 1, committedOffset: 1n, committedLeaderEpoch: -1, committedMetadata: 'ok' },
          ],
        },
      ],
    });
    expect(r[0].partitions.map((p) => p.errorCode)).toEqual([E.OFFSET_METADATA_TOO_LARGE, E.NONE]);
    h.failWith.error = new KafkaError(E.RECORD_LIST_TOO_LARGE, 'big');
    expect((await commit(h))[0].partitions[0].errorCode).toBe(E.INVALID_COMMIT_OFFSET_SIZE);
    h.failWith.error = new KafkaError(E.NOT_ENOUGH_REPLICAS, 'x');
    expect((await commit(h))[0].partitions[0].errorCode).toBe(E.COORDINATOR_NOT_AVAILABLE);
    // Failed commits do not change what is committed.
    expect(h.c.fetchOffsets(G, [{ name: 't', partitionIndexes: [0] }]).topics[0].partitions[0].committedOffset).toBe(
      -1n,
    );
  });

  it('OffsetDelete: unknown group, non-empty non-consumer group, subscribed topics, and deletion', async () => {
    const h = harness();
    expect((await h.c.deleteOffsets(G, [{ name: 't', partitions: [0] }])).errorCode).toBe(E.GROUP_ID_NOT_FOUND);
    await commit(h);
    await h.c.commitOffsets({
      groupId: G,
      generationId: -1,
      memberId: '',
      groupInstanceId: null,
      retentionTimeMs: -1,
      topics: [
        {
          name: 'u',
          partitions: [{ partitionIndex: 0, committedOffset: 1n, committedLeaderEpoch: -1, committedMetadata: '' }],
        },
      ],
    });
    const a = await h.joinNew(G, { protocols: [{ name: 'range', metadata: subscription('t') }] });
    await h.tick(0);
    await a.result;
    const r = await h.c.deleteOffsets(G, [
      { name: 't', partitions: [0] },
      { name: 'u', partitions: [0] },
    ]);
    expect(r.errorCode).toBe(E.NONE);
    expect(r.topics.map((t) => t.partitions[0].errorCode)).toEqual([E.GROUP_SUBSCRIBED_TO_TOPIC, E.NONE]);
    expect(h.c.group(G)!.offset('u', 0)).toBeUndefined();
    expect(h.c.group(G)!.offset('t', 0)).toBeDefined();
    expect(h.records().at(-1)!.value).toBeNull();
    const other = harness();
    const c = other.join('conn', { protocolType: 'connect', requireKnownMemberId: false });
    await other.tick(0);
    await c;
    expect((await other.c.deleteOffsets('conn', [{ name: 't', partitions: [0] }])).errorCode).toBe(E.NON_EMPTY_GROUP);
  });

  it('expires offsets of an empty group offsets.retention after it became empty, then the group', async () => {
    const h = harness({ offsetsRetentionMs: 60_000, offsetsRetentionCheckIntervalMs: 10_000 });
    const a = await h.joinNew(G);
    await h.tick(0);
    await a.result;
    await h.c.syncGroup(syncWithoutAssignments(a.memberId));
    expect((await commit(h, { generationId: 1, memberId: a.memberId }))[0].partitions[0].errorCode).toBe(E.NONE);
    for (let i = 0; i < 20; i++) {
      // The member keeps heartbeating: nothing expires while the group is active.
      await h.tick(5000);
      expect(h.c.heartbeat({ groupId: G, generationId: 1, memberId: a.memberId, groupInstanceId: null })).toBe(E.NONE);
    }
    expect(h.c.group(G)!.hasOffsets()).toBe(true);
    h.c.leaveGroup(G, [{ memberId: a.memberId, groupInstanceId: null }]);
    await h.tick(0);
    expect(h.c.group(G)!.state).toBe('Empty');
    await h.tick(50_000);
    expect(h.c.group(G)!.hasOffsets()).toBe(true);
    await h.tick(20_000);
    expect(h.c.group(G)).toBeUndefined();
    const last = h.records().slice(-3);
    expect(last.map((r) => r.value)).toEqual([null, null, null]); // two offset tombstones and the group's
  });

  it('expires a simple consumer’s offsets by commit time, and honours an explicit retention time', async () => {
    const h = harness({ offsetsRetentionMs: 60_000, offsetsRetentionCheckIntervalMs: 10_000 });
    await commit(h);
    await commit(h, { groupId: 'short', retentionTimeMs: 15_000 });
    await h.tick(20_000);
    expect(h.c.group('short')).toBeUndefined();
    expect(h.c.group(G)!.hasOffsets()).toBe(true);
    await h.tick(50_000);
    expect(h.c.group(G)).toBeUndefined();
  });
});

describe('DescribeGroups, ListGroups, DeleteGroups', () => {
  it('describes members with metadata only when Stable, and their last assignment always; unknown groups are Dead', async () => {
    const { h, a } = await stableGroupOfTwo();
    const [d, unknown] = h.c.describeGroups([G, 'nope']);
    expect(d).toMatchObject({ state: 'Stable', protocolType: 'consumer', protocolName: 'range' });
    expect(d.members.find((m) => m.memberId === a)!.assignment.toString()).toBe('A2');
    expect(d.members.find((m) => m.memberId === a)!.clientId).toBe('a');
    expect(unknown).toMatchObject({ errorCode: E.NONE, state: 'Dead', members: [] });
    void h.joinNew(G, { clientId: 'c' });
    await flush();
    const [p] = h.c.describeGroups([G]);
    expect(p.state).toBe('PreparingRebalance');
    expect(p.protocolName).toBe('');
    expect(p.members.every((m) => m.metadata.length === 0)).toBe(true);
    // As Kafka's describeNoMetadata: the last generation's assignment stays, the newcomer has none.
    expect(p.members.find((m) => m.memberId === a)!.assignment.toString()).toBe('A2');
    expect(p.members.find((m) => m.clientId === 'c')!.assignment.length).toBe(0);
  });

  it('lists groups with state (case-insensitive) and type filters', async () => {
    const { h } = await stableGroupOfTwo();
    await h.c.commitOffsets({
      groupId: 'simple',
      generationId: -1,
      memberId: '',
      groupInstanceId: null,
      retentionTimeMs: -1,
      topics: [],
    });
    expect(
      h.c
        .listGroups()
        .map((g) => g.groupId)
        .sort(),
    ).toEqual([G, 'simple']);
    expect(h.c.listGroups(['stable']).map((g) => g.groupId)).toEqual([G]);
    expect(h.c.listGroups(['Empty']).map((g) => [g.groupId, g.protocolType])).toEqual([['simple', '']]);
    expect(h.c.listGroups([], ['consumer'])).toEqual([]);
    expect(h.c.listGroups([], ['Classic'])).toHaveLength(2);
  });

  it('deletes only empty groups, writing tombstones', async () => {
    const { h, a, b } = await stableGroupOfTwo();
    expect(await h.c.deleteGroups([G, 'nope', ''])).toEqual([
      { groupId: G, errorCode: E.NON_EMPTY_GROUP },
      { groupId: 'nope', errorCode: E.GROUP_ID_NOT_FOUND },
      { groupId: '', errorCode: E.INVALID_GROUP_ID },
    ]);
    h.c.leaveGroup(G, [
      { memberId: a, groupInstanceId: null },
      { memberId: b, groupInstanceId: null },
    ]);
    await h.tick(0);
    expect(await h.c.deleteGroups([G])).toEqual([{ groupId: G, errorCode: E.NONE }]);
    expect(h.c.group(G)).toBeUndefined();
    expect(h.records().at(-1)!.value).toBeNull();
  });
});

describe('loading from __consumer_offsets', () => {
  it('restores groups, assignments and offsets, honours tombstones, and restarts session timers', async () => {
    const { h, a, b } = await stableGroupOfTwo();
    await h.c.commitOffsets({
      groupId: G,
      generationId: 2,
      memberId: a,
      groupInstanceId: null,
      retentionTimeMs: -1,
      topics: [
        {
          name: 't',
          partitions: [{ partitionIndex: 3, committedOffset: 99n, committedLeaderEpoch: 0, committedMetadata: 'x' }],
        },
      ],
    });
    await h.c.commitOffsets({
      groupId: 'gone',
      generationId: -1,
      memberId: '',
      groupInstanceId: null,
      retentionTimeMs: -1,
      topics: [
        {
          name: 't',
          partitions: [{ partitionIndex: 0, committedOffset: 1n, committedLeaderEpoch: -1, committedMetadata: '' }],
        },
      ],
    });
    await h.c.deleteGroups(['gone']);
    const fresh = harness();
    fresh.c.loadPartition(h.records());
    const g = fresh.c.group(G)!;
    expect(g.state).toBe('Stable');
    expect(g.generationId).toBe(2);
    expect(g.get(a).assignment.toString()).toBe('A2');
    expect(g.get(b).assignment.toString()).toBe('B2');
    expect(fresh.c.group('gone')).toBeUndefined();
    expect(fresh.c.fetchOffsets(G, [{ name: 't', partitionIndexes: [3] }]).topics[0].partitions[0]).toMatchObject({
      committedOffset: 99n,
      metadata: 'x',
    });
    // A reloaded member goes on where it was: heartbeat and sync answer as before.
    expect(fresh.c.heartbeat({ groupId: G, generationId: 2, memberId: a, groupInstanceId: null })).toBe(E.NONE);
    const s = await fresh.c.syncGroup(syncWithoutAssignments(b, 2));
    expect(s.assignment.toString()).toBe('B2');
    await fresh.tick(10_001);
    expect(fresh.c.group(G)!.size).toBe(0);
  });
});

describe('shutdown', () => {
  it('answers waiting JoinGroups with NOT_COORDINATOR and refuses new requests', async () => {
    const h = harness({ groupInitialRebalanceDelayMs: 5000 });
    const a = await h.joinNew(G);
    h.c.shutdown();
    expect((await a.result).errorCode).toBe(E.NOT_COORDINATOR);
    expect((await h.join(G)).errorCode).toBe(E.COORDINATOR_NOT_AVAILABLE);
  });
});

describe('unloading a partition (its leadership moved to another broker)', () => {
  it("drops that partition's groups only, answers their waiting members NOT_COORDINATOR, and stops their timers", async () => {
    const h = harness({ groupInitialRebalanceDelayMs: 5000 });
    const other = ['g1', 'g2', 'g3', 'g4', 'g5', 'g6'].find((g) => h.c.partitionFor(g) !== h.c.partitionFor(G))!;
    await h.c.commitOffsets({
      groupId: other,
      generationId: -1,
      memberId: '',
      groupInstanceId: null,
      retentionTimeMs: -1,
      topics: [
        {
          name: 't',
          partitions: [{ partitionIndex: 0, committedOffset: 7n, committedLeaderEpoch: -1, committedMetadata: '' }],
        },
      ],
    });
    const waiting = await h.joinNew(G);
    expect(h.c.unloadPartition(h.c.partitionFor(G))).toBe(1);
    expect((await waiting.result).errorCode).toBe(E.NOT_COORDINATOR);
    expect(h.c.group(G)).toBeUndefined();
    // The initial-rebalance timer of the dropped group does nothing when it fires.
    const appendedBefore = h.appended.length;
    await h.tick(10_000);
    expect(h.appended.length).toBe(appendedBefore);
    expect(h.c.group(G)).toBeUndefined();
    // Another partition's group is untouched.
    expect(
      h.c.fetchOffsets(other, [{ name: 't', partitionIndexes: [0] }]).topics[0].partitions[0].committedOffset,
    ).toBe(7n);
  });

  it('a stable group unloaded and loaded again from its records goes on where it was', async () => {
    const { h, a, b } = await stableGroupOfTwo();
    expect(h.c.unloadPartition(h.c.partitionFor(G))).toBe(1);
    expect(h.c.describeGroups([G])[0].state).toBe('Dead');
    h.c.loadPartition(h.records());
    expect(h.c.group(G)!.state).toBe('Stable');
    expect(h.c.heartbeat({ groupId: G, generationId: 2, memberId: a, groupInstanceId: null })).toBe(E.NONE);
    expect(h.c.heartbeat({ groupId: G, generationId: 2, memberId: b, groupInstanceId: null })).toBe(E.NONE);
  });
});
