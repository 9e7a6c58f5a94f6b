import { createHash } from 'node:crypto';
import { type Serde, serde } from '@sluice/client';
import type { StreamsBuilder } from './dsl.js';
import { kvState } from './state.js';
import type { Change, NodeDef, Rec, ValueGetter } from './topology.js';

/**
 * Kafka Streams' foreign-key table join (KIP-213), through two internal topics:
 *
 * - `<app>-KTABLE-FK-JOIN-SUBSCRIPTION-REGISTRATION-<n>-topic`, keyed by the foreign key (so it is
 *   co-partitioned with the right table): each left row subscribes to its foreign key, unsubscribes
 *   from an old one when it changes, and unsubscribes with a null answer when deleted.
 * - `<app>-KTABLE-FK-JOIN-SUBSCRIPTION-RESPONSE-<n>-topic`, keyed by the left key: the right value for
 *   a subscription, sent when it registers and on every update of the right row.
 *
 * Each subscription carries a hash of the left value it came from; the left side drops an answer
 * whose hash no longer matches its row (an answer to a superseded subscription), as Kafka does. The
 * result is materialized (old values, queryable). One simplification: every subscription is answered
 * (Kafka skips answers that cannot change the result, such as "no right row" in an inner join); the
 * result store drops a null that follows a null, so the result table gets the same updates.
 */
export interface FkJoinParts {
  node: NodeDef;
  getter: ValueGetter;
  storeName: string;
}

/** What a subscription asks the right side: store and answer, drop silently, or drop and answer null. */
type Instruction = 'sub' | 'del' | 'delp';
interface Subscription {
  k: string; // left key bytes, base64
  h: string | null; // hash of the left value bytes
  i: Instruction;
}
interface Response {
  h: string | null;
  v: string | null; // right value bytes, base64
}
type Local = { local: true; value: unknown } | { local: false; fk: unknown; sub: Subscription };

const bytesSerde: Serde<Buffer> = {
  serialize: (b) => b,
  deserialize: (b) => {
    if (b === null) throw new TypeError('foreign-key join: null key on an internal topic');
    return b;
  },
};

export function foreignKeyJoin<K, V, KO, VO, VR>(
  b: StreamsBuilder,
  left: { node: NodeDef; getter: ValueGetter; keySerde?: Serde<K>; valueSerde?: Serde<V> },
  right: { node: NodeDef; getter: ValueGetter; keySerde?: Serde<KO>; valueSerde?: Serde<VO> },
  fkOf: (value: V) => KO,
  joiner: (value: V, other: VO | null) => VR,
  leftJoin: boolean,
  resultSerde: Serde<VR>,
): FkJoinParts {
  const lks = left.keySerde ?? serde.json<K>();
  const lvs = left.valueSerde ?? serde.json<V>();
  const rks = right.keySerde ?? serde.json<KO>();
  const rvs = right.valueSerde ?? serde.json<VO>();
  const hash = (v: V): string =>
    createHash('md5')
      .update(lvs.serialize(v) ?? Buffer.alloc(0))
      .digest('base64');
  const fkBytes = (fk: unknown): Buffer | null =>
    fk === null || fk === undefined ? null : (rks.serialize(fk as KO) ?? null);
  const result = (lv: V | null, rv: VO | null): VR | null =>
    lv === null ? null : rv === null && !leftJoin ? null : joiner(lv, rv);

  // Left side: each row update becomes subscriptions (or, without a foreign key, a local result).
  const send = b.node('KTABLE-FK-JOIN-SUBSCRIPTION-SEND', [left.node], (_ctx, fwd) => (r) => {
    const c = r.value as Change<V>;
    const k = (lks.serialize(r.key as K) ?? Buffer.alloc(0)).toString('base64');
    const oldFk = c.oldValue === null ? null : fkOf(c.oldValue);
    const newFk = c.newValue === null ? null : fkOf(c.newValue);
    const ob = fkBytes(oldFk);
    const nb = fkBytes(newFk);
    const out = (value: Local): void => fwd({ key: r.key, value, timestamp: r.timestamp });
    if (c.newValue === null) {
      // Deleted: the right side drops the subscription and answers null, which deletes the result.
      if (ob !== null) out({ local: false, fk: oldFk, sub: { k, h: null, i: 'delp' } });
      else out({ local: true, value: null });
      return;
    }
    if (ob !== null && (nb === null || !ob.equals(nb))) out({ local: false, fk: oldFk, sub: { k, h: null, i: 'del' } });
    if (nb === null) out({ local: true, value: result(c.newValue, null) });
    else out({ local: false, fk: newFk, sub: { k, h: hash(c.newValue), i: 'sub' } });
  });
  const toSubscribe = b.node('KTABLE-FK-JOIN-SUBSCRIPTION-FILTER', [send], (_ctx, fwd) => (r) => {
    const l = r.value as Local;
    if (!l.local) fwd({ key: l.fk, value: l.sub, timestamp: r.timestamp });
  });
  const subs = b.repartition(
    toSubscribe,
    b.newName('KTABLE-FK-JOIN-SUBSCRIPTION-REGISTRATION'),
    rks,
    serde.json<Subscription>(),
    'topic',
  );

  // Right side: subscriptions per foreign key (left key → hash), answered now and on each right update.
  let subStore = '';
  const subStateSerde = serde.nullable(serde.json<Record<string, string | null>>());
  const answer = (key: string, h: string | null, v: VO | null, ts: number): Rec => ({
    key: Buffer.from(key, 'base64'),
    value: { h, v: v === null ? null : (rvs.serialize(v)?.toString('base64') ?? null) } satisfies Response,
    timestamp: ts,
  });
  const register = b.node('KTABLE-FK-JOIN-SUBSCRIPTION-PROCESSOR', [subs], (ctx, fwd) => {
    const st = kvState(ctx.store(subStore), rks, subStateSerde);
    const get = right.getter(ctx);
    return (r) => {
      if (r.key === null || r.key === undefined) return;
      const fk = r.key as KO;
      const s = r.value as Subscription;
      const all = { ...(st.get(fk) ?? {}) };
      if (s.i === 'sub') all[s.k] = s.h;
      else delete all[s.k];
      st.put(fk, Object.keys(all).length === 0 ? null : all);
      if (s.i === 'del') return;
      const rv = s.i === 'delp' ? null : ((get(fk) ?? null) as VO | null);
      fwd(answer(s.k, s.h, rv, r.timestamp));
    };
  });
  register.linked.push(right.node);
  subStore = b.store(register, undefined, true, 'KTABLE-FK-JOIN-SUBSCRIPTION-STATE-STORE');
  const onRight = b.node('KTABLE-FK-JOIN-SUBSCRIPTION-RIGHT', [right.node], (ctx, fwd) => {
    const st = kvState(ctx.store(subStore), rks, subStateSerde);
    return (r) => {
      if (r.key === null || r.key === undefined) return;
      const c = r.value as Change<VO>;
      for (const [k, h] of Object.entries(st.get(r.key as KO) ?? {})) fwd(answer(k, h, c.newValue, r.timestamp));
    };
  });
  const answers = b.node('KTABLE-FK-JOIN-SUBSCRIPTION-MERGE', [register, onRight], (_ctx, fwd) => fwd);
  const responses = b.repartition(
    answers,
    b.newName('KTABLE-FK-JOIN-SUBSCRIPTION-RESPONSE'),
    bytesSerde,
    serde.json<Response>(),
    'topic',
  );

  // Left side again: answers whose hash still matches the row give the result.
  const resolve = b.node('KTABLE-FK-JOIN-SUBSCRIPTION-RESPONSE-RESOLVER', [responses], (ctx, fwd) => {
    const get = left.getter(ctx);
    return (r) => {
      const key = lks.deserialize(r.key as Buffer);
      const a = r.value as Response;
      const lv = (get(key) ?? null) as V | null;
      if ((lv === null ? null : hash(lv)) !== a.h) return; // stale: the row changed since it subscribed
      const rv = a.v === null ? null : rvs.deserialize(Buffer.from(a.v, 'base64'));
      fwd({ key, value: result(lv, rv), timestamp: r.timestamp });
    };
  });
  resolve.linked.push(left.node);
  const local = b.node('KTABLE-FK-JOIN-LOCAL', [send], (_ctx, fwd) => (r) => {
    const l = r.value as Local;
    if (l.local) fwd({ key: r.key, value: l.value, timestamp: r.timestamp });
  });
  let resultStore = '';
  const rs = serde.nullable(resultSerde);
  const out = b.node('KTABLE-FK-JOIN-OUTPUT', [resolve, local], (ctx, fwd) => {
    const st = kvState(ctx.store(resultStore), lks, rs);
    return (r) => {
      const k = r.key as K;
      const old = st.get(k);
      const nv = (r.value ?? null) as VR | null;
      if (old === null && nv === null) return;
      st.put(k, nv);
      fwd({ key: k, value: { newValue: nv, oldValue: old } satisfies Change<VR>, timestamp: r.timestamp });
    };
  });
  resultStore = b.store(out, undefined, true, 'KTABLE-FK-JOIN-OUTPUT-STATE-STORE');
  return {
    node: out,
    storeName: resultStore,
    getter: (ctx) => {
      const st = kvState(ctx.store(resultStore), lks, rs);
      return (k) => st.get(k as K);
    },
  };
}
