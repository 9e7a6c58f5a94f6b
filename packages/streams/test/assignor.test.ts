// The streams assignor's task placement: balanced, sticky to previous holders, standbys never with the active task.
import { expect, it } from 'vitest';
import { assignTasks, decodeAssignmentInfo, decodeSubscriptionInfo, type TaskDef } from '../src/assignor.js';

const tasks = (n: number, stateful = true): TaskDef[] =>
  Array.from({ length: n }, (_, p) => ({ id: `0_${p}`, partitions: [{ topic: 't', partition: p }], stateful }));
const member = (memberId: string, active: string[] = [], standby: string[] = []) => ({
  memberId,
  info: { endpoint: null, active, standby },
});

it('balances tasks and keeps each with its previous owner where the balance allows', () => {
  const { active } = assignTasks([member('a', ['0_0', '0_1', '0_2', '0_3']), member('b')], tasks(4), 0);
  expect(active.get('a')).toHaveLength(2);
  expect(active.get('b')).toHaveLength(2);
  // a keeps two of its own; b gets the rest.
  expect(active.get('a')?.every((t) => ['0_0', '0_1', '0_2', '0_3'].includes(t))).toBe(true);
  const again = assignTasks([member('a', ['0_2']), member('b', ['0_0']), member('c')], tasks(3), 0).active;
  expect(again.get('a')).toEqual(['0_2']);
  expect(again.get('b')).toEqual(['0_0']);
  expect(again.get('c')).toEqual(['0_1']);
  // A newcomer gets its share even when the others owned everything.
  const spread = assignTasks([member('a', ['0_0', '0_1']), member('b', ['0_2', '0_3']), member('c')], tasks(4), 0);
  expect([...spread.active.values()].map((l) => l.length).sort()).toEqual([1, 1, 2]);
});

it('prefers a member holding the state (a standby) for a task without its owner', () => {
  const { active } = assignTasks([member('a'), member('b', [], ['0_1'])], tasks(2), 1);
  expect(active.get('b')).toEqual(['0_1']);
  expect(active.get('a')).toEqual(['0_0']);
});

it('places standbys on other members only, as many as asked and possible, for stateful tasks only', () => {
  const three = [member('a'), member('b'), member('c')];
  const { active, standby } = assignTasks(three, tasks(3), 2);
  for (const t of tasks(3)) {
    const owner = [...active].find(([, l]) => l.includes(t.id))?.[0];
    const holders = [...standby].filter(([, l]) => l.includes(t.id)).map(([id]) => id);
    expect(holders).toHaveLength(2);
    expect(holders).not.toContain(owner);
  }
  expect(assignTasks([member('a')], tasks(2), 1).standby.get('a')).toEqual([]);
  expect([...assignTasks(three, tasks(3, false), 1).standby.values()].flat()).toEqual([]);
});

it('reads userdata it did not write as nothing, and refuses what is not JSON', () => {
  expect(decodeSubscriptionInfo(null)).toEqual({ endpoint: null, active: [], standby: [] });
  expect(decodeAssignmentInfo(Buffer.from('{"standby":["0_1"],"hosts":{"h:1":{"active":["0_0"]}}}'))).toEqual({
    standby: ['0_1'],
    hosts: { 'h:1': { active: ['0_0'], standby: [] } },
  });
  expect(() => decodeSubscriptionInfo(Buffer.from('\u0000garbage'))).toThrow(/streams subscription userdata/);
});
