import { type Serde, serde, type Topic } from '@sluice/client';
import { changeSerde } from './change-serde.js';
import { foreignKeyJoin } from './fk-join.js';
import { kvState, listState } from './state.js';
import type { BytesStore } from './stores.js';
import {
  type Change,
  type Forward,
  type GlobalStoreDef,
  type NodeDef,
  type ProcessorContext,
  type Rec,
  type SourceDef,
  type StoreDef,
  Topology,
  type ValueGetter,
} from './topology.js';
import { UnjoinedBuffer } from './unjoined-buffer.js';
import { JoinWindows, SessionWindows, SlidingWindows, TimeWindows, type Windowed, windowedSerde } from './windows.js';

/** Serdes of an intermediate step (repartition topics, stores); JSON where not given. */
export interface Serdes<K, V> {
  key?: Serde<K>;
  value?: Serde<V>;
}

export interface Materialized<K, V> extends Serdes<K, V> {
  /** The store's name (its changelog is `<application.id>-<name>-changelog`). */
  name?: string;
  /** LMDB on disk under the state directory (default) or in memory (restored from the changelog on start). */
  persistent?: boolean;
}

export interface Grouped<K, V> extends Serdes<K, V> {
  /** Names the repartition topic `<application.id>-<name>-repartition`. */
  name?: string;
}

export interface StreamOptions<K, V> {
  /** Event time of a record (default: the record's timestamp); a negative result drops the record. */
  timestampExtractor?: (r: { key: K; value: V; timestamp: number }) => number;
}

/** `to(topic)` accepts a topic whose key and value types take the stream's. */
type Fits<K, V, TK, TV> = [K] extends [TK]
  ? [V] extends [TV]
    ? unknown
    : { error: 'the stream value type does not fit the topic' }
  : { error: 'the stream key type does not fit the topic' };

const json = <T>(): Serde<T> => serde.json<T>();

class Node implements NodeDef {
  readonly children: NodeDef[] = [];
  readonly stores: StoreDef[] = [];
  readonly linked: NodeDef[] = [];
  constructor(
    readonly name: string,
    readonly kind: 'source' | 'processor' | 'sink',
    readonly parents: NodeDef[],
    readonly topics: string[],
    readonly build: (ctx: ProcessorContext, forward: Forward) => Forward,
  ) {
    for (const p of parents) p.children.push(this);
  }
}

class Source extends Node implements SourceDef {
  declare readonly kind: 'source';
  constructor(
    name: string,
    readonly topic: Topic<unknown, unknown>,
    readonly internal: boolean,
    readonly timestampExtractor?: (r: { key: unknown; value: unknown; timestamp: number }) => number,
  ) {
    super(name, 'source', [], [topic.name], (_ctx, fwd) => fwd);
  }
}

/** A mutable topic: repartition topics get their application-id prefix when the topology is bound. */
interface InternalTopicRef {
  suffix: string;
  topic: { name: string; key: Serde<unknown>; value: Serde<unknown> };
  nodes: Node[];
}

/** Builds a topology: `stream(topic)`, `table(topic)`, then `build()`. */
export class StreamsBuilder {
  private seq = 0;
  private readonly sources: Source[] = [];
  private readonly internal: InternalTopicRef[] = [];
  private readonly storeNames = new Set<string>();
  private readonly globals: GlobalStoreDef[] = [];

  /** Kafka's generated names: PREFIX-0000000007. */
  newName(prefix: string): string {
    return `${prefix}-${String(this.seq++).padStart(10, '0')}`;
  }

  node(prefix: string, parents: NodeDef[], build: (ctx: ProcessorContext, forward: Forward) => Forward): Node {
    return new Node(this.newName(prefix), 'processor', parents, [], build);
  }

  store(node: NodeDef, name: string | undefined, persistent: boolean | undefined, prefix: string): string {
    const n = name ?? this.newName(prefix);
    if (this.storeNames.has(n)) throw new RangeError(`store ${n} is defined twice`);
    this.storeNames.add(n);
    node.stores.push({ name: n, persistent: persistent ?? true });
    return n;
  }

  stream<K, V>(topic: Topic<K, V>, options: StreamOptions<K, V> = {}): KStream<K, V> {
    const src = new Source(
      this.newName('KSTREAM-SOURCE'),
      topic as Topic<unknown, unknown>,
      false,
      options.timestampExtractor as SourceDef['timestampExtractor'],
    );
    this.sources.push(src);
    return new KStream<K, V>(this, src, false, topic.key, topic.value);
  }

  /** A topic read as a table (latest value per key, null deletes), materialized in a store. */
  table<K, V>(topic: Topic<K, V>, options: Materialized<K, V> & StreamOptions<K, V> = {}): KTable<K, NonNullable<V>> {
    const src = new Source(
      this.newName('KSTREAM-SOURCE'),
      topic as Topic<unknown, unknown>,
      false,
      options.timestampExtractor as SourceDef['timestampExtractor'],
    );
    this.sources.push(src);
    const ks = options.key ?? topic.key;
    const vs = serde.nullable(options.value ?? topic.value);
    let storeName = '';
    const node = this.node('KTABLE-SOURCE', [src], (ctx, fwd) => {
      const st = kvState(ctx.store(storeName), ks, vs);
      return (r) => {
        if (r.key === null || r.key === undefined) return;
        const old = st.get(r.key as K);
        const value = (r.value ?? null) as V | null;
        st.put(r.key as K, value);
        const rec = {
          key: r.key,
          value: { newValue: value, oldValue: old } satisfies Change<V>,
          timestamp: r.timestamp,
        };
        forwardChange(ctx, fwd, storeName, ks.serialize(r.key as K), rec, () => vs.serialize(value)?.length ?? 0);
      };
    });
    storeName = this.store(node, options.name, options.persistent, `${topic.name}-STATE-STORE`);
    const getter: ValueGetter = (ctx) => {
      const st = kvState(ctx.store(storeName), ks, vs);
      return (k) => st.get(k as K);
    };
    // A table's values are never null: a null record value deletes the key.
    return new KTable<K, NonNullable<V>>(
      this,
      node,
      getter,
      ks,
      (options.value ?? topic.value) as Serde<NonNullable<V>>,
      storeName,
    );
  }

  /** Writes to `<application.id>-<name>-repartition` and reads it back (a new sub-topology). */
  repartition<K, V>(parent: NodeDef, name: string, key: Serde<K>, value: Serde<V>, suffix = 'repartition'): Source {
    const ref: InternalTopicRef = {
      suffix: `${name}-${suffix}`,
      topic: { name: `${name}-${suffix}`, key: key as Serde<unknown>, value: value as Serde<unknown> },
      nodes: [],
    };
    const t = ref.topic as Topic<unknown, unknown>;
    const sink = new Node(this.newName('KSTREAM-SINK'), 'sink', [parent], [t.name], (ctx) => (r) => {
      if (r.key === null || r.key === undefined) return; // null keys cannot be grouped or joined
      ctx.send(t, r.key, r.value, r.timestamp);
    });
    const src = new Source(this.newName('KSTREAM-SOURCE'), t, true);
    ref.nodes.push(sink, src);
    this.internal.push(ref);
    this.sources.push(src);
    return src;
  }

  /**
   * A table every instance holds whole: read from all partitions of `topic` by each instance's own
   * consumer (outside the group), so streams join it by any key without repartitioning. The topic is
   * its changelog (nothing else is written); the store holds the topic's bytes.
   */
  globalTable<K, V>(
    topic: Topic<K, V>,
    options: { name?: string; persistent?: boolean } = {},
  ): GlobalKTable<K, NonNullable<V>> {
    if (this.globals.some((g) => g.topic.name === topic.name))
      throw new RangeError(`topic ${topic.name} is read as a global table twice`);
    const name = options.name ?? this.newName(`${topic.name}-STATE-STORE`);
    if (this.storeNames.has(name)) throw new RangeError(`store ${name} is defined twice`);
    this.storeNames.add(name);
    this.globals.push({ name, topic: topic as Topic<unknown, unknown>, persistent: options.persistent ?? true });
    return new GlobalKTable<K, NonNullable<V>>(
      name,
      topic.key,
      serde.nullable(topic.value) as Serde<NonNullable<V> | null>,
    );
  }

  build(): Topology {
    return new Topology(this.sources, this.internal, this.globals);
  }
}

/** A record stream of keys K and values V. */
export class KStream<K, V> {
  constructor(
    readonly builder: StreamsBuilder,
    readonly node: NodeDef,
    /** A key-changing step came before: grouping or joining repartitions first. */
    readonly keyChanged: boolean,
    readonly keySerde?: Serde<K>,
    readonly valueSerde?: Serde<V>,
  ) {}

  private next<K2, V2>(
    prefix: string,
    keyChanged: boolean,
    process: (r: Rec, fwd: Forward) => void,
    keySerde?: Serde<K2>,
    valueSerde?: Serde<V2>,
  ): KStream<K2, V2> {
    const n = this.builder.node(prefix, [this.node], (_ctx, fwd) => (r) => process(r, fwd));
    return new KStream<K2, V2>(this.builder, n, keyChanged, keySerde, valueSerde);
  }

  filter(predicate: (key: K, value: V) => boolean): KStream<K, V> {
    return this.next(
      'KSTREAM-FILTER',
      this.keyChanged,
      (r, f) => predicate(r.key as K, r.value as V) && f(r),
      this.keySerde,
      this.valueSerde,
    );
  }

  filterNot(predicate: (key: K, value: V) => boolean): KStream<K, V> {
    return this.filter((k, v) => !predicate(k, v));
  }

  map<K2, V2>(mapper: (key: K, value: V) => [K2, V2]): KStream<K2, V2> {
    return this.next('KSTREAM-MAP', true, (r, f) => {
      const [key, value] = mapper(r.key as K, r.value as V);
      f({ key, value, timestamp: r.timestamp });
    });
  }

  mapValues<V2>(mapper: (value: V, key: K) => V2): KStream<K, V2> {
    return this.next(
      'KSTREAM-MAPVALUES',
      this.keyChanged,
      (r, f) => f({ key: r.key, value: mapper(r.value as V, r.key as K), timestamp: r.timestamp }),
      this.keySerde,
    );
  }

  selectKey<K2>(selector: (key: K, value: V) => K2): KStream<K2, V> {
    return this.next(
      'KSTREAM-KEY-SELECT',
      true,
      (r, f) => f({ key: selector(r.key as K, r.value as V), value: r.value, timestamp: r.timestamp }),
      undefined,
      this.valueSerde,
    );
  }

  flatMap<K2, V2>(mapper: (key: K, value: V) => Iterable<[K2, V2]>): KStream<K2, V2> {
    return this.next('KSTREAM-FLATMAP', true, (r, f) => {
      for (const [key, value] of mapper(r.key as K, r.value as V)) f({ key, value, timestamp: r.timestamp });
    });
  }

  flatMapValues<V2>(mapper: (value: V, key: K) => Iterable<V2>): KStream<K, V2> {
    return this.next(
      'KSTREAM-FLATMAPVALUES',
      this.keyChanged,
      (r, f) => {
        for (const value of mapper(r.value as V, r.key as K)) f({ key: r.key, value, timestamp: r.timestamp });
      },
      this.keySerde,
    );
  }

  peek(action: (key: K, value: V) => void): KStream<K, V> {
    return this.next(
      'KSTREAM-PEEK',
      this.keyChanged,
      (r, f) => {
        action(r.key as K, r.value as V);
        f(r);
      },
      this.keySerde,
      this.valueSerde,
    );
  }

  /** One stream per predicate; a record goes to the first whose predicate holds (dropped if none). */
  branch(...predicates: Array<(key: K, value: V) => boolean>): KStream<K, V>[] {
    const outs: Node[] = [];
    const branch = this.builder.node('KSTREAM-BRANCH', [this.node], (_ctx, fwd) => fwd);
    // Each branch child filters by "first matching predicate is mine".
    return predicates.map((_, i) => {
      const n = this.builder.node(`KSTREAM-BRANCHCHILD`, [branch], (_ctx, fwd) => (r) => {
        const first = predicates.findIndex((p) => p(r.key as K, r.value as V));
        if (first === i) fwd(r);
      });
      outs.push(n);
      return new KStream<K, V>(this.builder, n, this.keyChanged, this.keySerde, this.valueSerde);
    });
  }

  merge(other: KStream<K, V>): KStream<K, V> {
    const n = this.builder.node('KSTREAM-MERGE', [this.node, other.node], (_ctx, fwd) => fwd);
    return new KStream<K, V>(this.builder, n, this.keyChanged || other.keyChanged, this.keySerde, this.valueSerde);
  }

  /** Writes the stream to `topic` with its serdes (partitioned by the serialized key, as Kafka's default partitioner). */
  to<TK, TV>(topic: Topic<TK, TV> & Fits<K, V, TK, TV>): void {
    const t = topic as unknown as Topic<unknown, unknown>;
    new Node(this.builder.newName('KSTREAM-SINK'), 'sink', [this.node], [t.name], (ctx) => (r) => {
      ctx.send(t, r.key, r.value, r.timestamp);
    });
  }

  /** After a key change: through `<application.id>-<name>-repartition`, so equal keys meet in one task. */
  repartitioned(name: string, key?: Serde<K>, value?: Serde<V>): KStream<K, V> {
    if (!this.keyChanged) return this;
    const ks = key ?? this.keySerde ?? json<K>();
    const vs = value ?? this.valueSerde ?? json<V>();
    const src = this.builder.repartition(this.node, name, ks, vs);
    return new KStream<K, V>(this.builder, src, false, ks, vs);
  }

  groupByKey(grouped: Grouped<K, V> = {}): KGroupedStream<K, V> {
    return new KGroupedStream<K, V>(this, grouped.key ?? this.keySerde, grouped.value ?? this.valueSerde, grouped.name);
  }

  groupBy<K2>(selector: (key: K, value: V) => K2, grouped: Grouped<K2, V> = {}): KGroupedStream<K2, V> {
    return this.selectKey(selector).groupByKey(grouped);
  }

  /** Stream–table join: each record with the table's current value for its key (inner: none, no output). */
  join<VT, VR>(table: KTable<K, VT>, joiner: (value: V, tableValue: VT) => VR): KStream<K, VR>;
  /** Stream–stream join: records of both sides with equal keys whose timestamps are within the windows. */
  join<VO, VR>(
    other: KStream<K, VO>,
    joiner: (value: V, otherValue: VO) => VR,
    windows: JoinWindows,
    serdes?: { value?: Serde<V>; otherValue?: Serde<VO> },
  ): KStream<K, VR>;
  /**
   * Stream–globalTable join: each record with the global table's value for `keySelector(key, value)` (any
   * key, no repartitioning: every instance holds the whole table). No value, no output.
   */
  join<GK, GV, VR>(
    table: GlobalKTable<GK, GV>,
    keySelector: (key: K, value: V) => NoInfer<GK>,
    joiner: (value: V, tableValue: GV) => VR,
  ): KStream<K, VR>;
  join<VO, VR>(
    other: KTable<K, VO> | KStream<K, VO> | GlobalKTable<unknown, VO>,
    joiner: ((value: V, o: VO) => VR) | ((key: K, value: V) => unknown),
    windows?: JoinWindows | ((value: V, o: VO) => VR),
    serdes?: { value?: Serde<V>; otherValue?: Serde<VO> },
  ): KStream<K, VR> {
    const j = joiner as (value: V, o: VO) => VR;
    if (other instanceof GlobalKTable)
      return this.globalJoin(other, joiner as (k: K, v: V) => unknown, windows as (v: V, o: VO) => VR, false);
    if (other instanceof KTable) return this.tableJoin(other, j, false);
    if (!(windows instanceof JoinWindows)) throw new RangeError('a stream–stream join needs JoinWindows');
    return streamStreamJoin(this, other, j, windows, serdes ?? {});
  }

  /** Stream–table left join: the joiner gets null when the table has no value for the key. */
  leftJoin<VT, VR>(table: KTable<K, VT>, joiner: (value: V, tableValue: VT | null) => VR): KStream<K, VR>;
  /**
   * Stream–stream left join: as `join`, and a record of this side that joined nothing is emitted with null
   * once its window has closed (stream time past its timestamp + difference + grace), as Kafka Streams 3.1+.
   */
  leftJoin<VO, VR>(
    other: KStream<K, VO>,
    joiner: (value: V, otherValue: VO | null) => VR,
    windows: JoinWindows,
    serdes?: { value?: Serde<V>; otherValue?: Serde<VO> },
  ): KStream<K, VR>;
  /** Stream–globalTable left join: the joiner gets null when the global table has no value for the selected key. */
  leftJoin<GK, GV, VR>(
    table: GlobalKTable<GK, GV>,
    keySelector: (key: K, value: V) => NoInfer<GK>,
    joiner: (value: V, tableValue: GV | null) => VR,
  ): KStream<K, VR>;
  leftJoin<VO, VR>(
    other: KTable<K, VO> | KStream<K, VO> | GlobalKTable<unknown, VO>,
    joiner: ((value: V, o: VO | null) => VR) | ((key: K, value: V) => unknown),
    windows?: JoinWindows | ((value: V, o: VO | null) => VR),
    serdes?: { value?: Serde<V>; otherValue?: Serde<VO> },
  ): KStream<K, VR> {
    const j = joiner as (v: V, o: VO) => VR;
    if (other instanceof GlobalKTable)
      return this.globalJoin(other, joiner as (k: K, v: V) => unknown, windows as (v: V, o: VO) => VR, true);
    if (other instanceof KTable) return this.tableJoin(other, j, true);
    if (!(windows instanceof JoinWindows)) throw new RangeError('a stream–stream join needs JoinWindows');
    return streamStreamJoin(this, other, j, windows, serdes ?? {}, 'left');
  }

  private globalJoin<GV, VR>(
    table: GlobalKTable<unknown, GV>,
    keySelector: (key: K, value: V) => unknown,
    joiner: (v: V, g: GV) => VR,
    left: boolean,
  ): KStream<K, VR> {
    const n = this.builder.node('KSTREAM-JOIN', [this.node], (ctx, fwd) => {
      const get = table.getter(ctx);
      return (r) => {
        // As Kafka: a null value does not join; the stream key may be null (the selector picks the table key).
        if (r.value === null || r.value === undefined) return;
        const gk = keySelector(r.key as K, r.value as V);
        const gv = gk === null || gk === undefined ? null : get(gk);
        if (gv === null && !left) return;
        fwd({ key: r.key, value: joiner(r.value as V, gv as GV), timestamp: r.timestamp });
      };
    });
    return new KStream<K, VR>(this.builder, n, this.keyChanged, this.keySerde);
  }

  /** Stream–stream outer join: unjoined records of either side are emitted with null once their window closes. */
  outerJoin<VO, VR>(
    other: KStream<K, VO>,
    joiner: (value: V | null, otherValue: VO | null) => VR,
    windows: JoinWindows,
    serdes?: { value?: Serde<V>; otherValue?: Serde<VO> },
  ): KStream<K, VR> {
    return streamStreamJoin(this, other, joiner as (v: V, o: VO) => VR, windows, serdes ?? {}, 'outer');
  }

  private tableJoin<VT, VR>(table: KTable<K, VT>, joiner: (v: V, t: VT) => VR, left: boolean): KStream<K, VR> {
    const me = this.repartitioned(this.builder.newName('KSTREAM-JOIN'), table.keySerde);
    const n = this.builder.node('KSTREAM-JOIN', [me.node], (ctx, fwd) => {
      const get = table.getter(ctx);
      return (r) => {
        if (r.key === null || r.key === undefined) return;
        const tv = get(r.key) as VT | null;
        if (tv === null && !left) return;
        fwd({ key: r.key, value: joiner(r.value as V, tv as VT), timestamp: r.timestamp });
      };
    });
    n.linked.push(table.node);
    return new KStream<K, VR>(this.builder, n, false, me.keySerde);
  }
}

function streamStreamJoin<K, V, VO, VR>(
  left: KStream<K, V>,
  right: KStream<K, VO>,
  joiner: (v: V, o: VO) => VR,
  windows: JoinWindows,
  serdes: { value?: Serde<V>; otherValue?: Serde<VO> },
  kind: 'inner' | 'left' | 'outer' = 'inner',
): KStream<K, VR> {
  const b = left.builder;
  const l = left.repartitioned(b.newName('KSTREAM-JOINTHIS'));
  const r = right.repartitioned(b.newName('KSTREAM-JOINOTHER'), l.keySerde);
  const ks = l.keySerde ?? r.keySerde ?? json<K>();
  const lvs = serdes.value ?? l.valueSerde ?? json<V>();
  const rvs = serdes.otherValue ?? r.valueSerde ?? json<VO>();
  const names = { left: '', right: '', outer: '' };
  // As Kafka's join window stores: a side keeps its records for before + after + grace behind stream time.
  const retention = windows.sizeMs + windows.graceMs;
  // Per task, shared by both sides: the smallest timestamp that may be waiting in the outer store.
  const pending = new WeakMap<ProcessorContext, UnjoinedBuffer>();
  const bufferOf = (ctx: ProcessorContext): UnjoinedBuffer => {
    let u = pending.get(ctx);
    if (u === undefined) {
      u = new UnjoinedBuffer(ctx.store(names.outer));
      pending.set(ctx, u);
    }
    return u;
  };
  const side = (mine: 'left' | 'right') => (ctx: ProcessorContext, fwd: Forward) => {
    const ownSerde = (mine === 'left' ? lvs : rvs) as Serde<unknown>;
    const otherSerde = (mine === 'left' ? rvs : lvs) as Serde<unknown>;
    const own = listState<K, unknown>(ctx.store(names[mine]), ks, ownSerde);
    const other = listState<K, unknown>(ctx.store(names[mine === 'left' ? 'right' : 'left']), ks, otherSerde);
    const unjoined = kind === 'inner' ? undefined : bufferOf(ctx);
    // Which side's lone records get a null partner: the left in a left join, both in an outer join.
    const emitsAlone = kind === 'outer' || (kind === 'left' && mine === 'left');
    const pairUp = (mineValue: unknown, otherValue: unknown): VR =>
      mine === 'left' ? joiner(mineValue as V, otherValue as VO) : joiner(otherValue as V, mineValue as VO);
    // The other side's records this side's record at t joins: [t - before, t + after] for the left side,
    // mirrored for the right (Kafka's KStreamKStreamJoin swaps before and after there).
    const joinBeforeMs = mine === 'left' ? windows.beforeMs : windows.afterMs;
    const joinAfterMs = mine === 'left' ? windows.afterMs : windows.beforeMs;
    return (rec: Rec) => {
      // As Kafka: null keys and values do not join (in a left/outer join null means "no partner").
      if (rec.key === null || rec.key === undefined || rec.value === null || rec.value === undefined) return;
      const k = rec.key as K;
      const kb = ks.serialize(k) ?? Buffer.alloc(0);
      // Records whose windows have closed without a partner: emitted now, in timestamp order. A left
      // record waits for right ones up to `after` later, a right one for left ones up to `before` later.
      if (unjoined !== undefined && rec.timestamp === ctx.streamTime) {
        const closeBefore = ctx.streamTime - windows.graceMs;
        for (const u of unjoined.takeClosed(closeBefore - windows.afterMs, closeBefore - windows.beforeMs)) {
          const key = ks.deserialize(u.key);
          const v = (u.left ? lvs : rvs).deserialize(u.value);
          const value = u.left ? joiner(v as V, null as VO) : joiner(null as V, v as VO);
          fwd({ key, value, timestamp: u.timestamp });
        }
      }
      const timeFrom = Math.max(0, rec.timestamp - joinBeforeMs);
      const timeTo = Math.max(0, rec.timestamp + joinAfterMs);
      // The other side's records at or before this have expired (Kafka's window store drops them).
      const expired = ctx.streamTime - retention;
      let joined = false;
      for (const [ts, v] of other.get(k)) {
        if (ts < timeFrom || ts > timeTo || ts <= expired) continue;
        joined = true;
        // The partner was waiting alone: it has joined now.
        unjoined?.remove(ts, mine !== 'left', kb);
        fwd({ key: rec.key, value: pairUp(rec.value, v), timestamp: Math.max(ts, rec.timestamp) });
      }
      if (!joined && emitsAlone) {
        // Out of order with its window already past: no later partner can come, so no wait (as Kafka).
        if (timeTo < ctx.streamTime) {
          fwd({ key: rec.key, value: pairUp(rec.value, null), timestamp: rec.timestamp });
        } else {
          unjoined?.add(rec.timestamp, mine === 'left', kb, ownSerde.serialize(rec.value));
        }
      }
      // Late: too old for this side's store, so no later record of the other side can join it (it has been
      // joined with what the other side still holds, as in Kafka, whose window store drops the put).
      if (rec.timestamp <= expired) ctx.droppedLate();
      else own.append(k, rec.timestamp, rec.value, expired + 1);
    };
  };
  const ln = b.node('KSTREAM-JOINTHIS', [l.node], side('left') as (c: ProcessorContext, f: Forward) => Forward);
  const rn = b.node('KSTREAM-JOINOTHER', [r.node], side('right') as (c: ProcessorContext, f: Forward) => Forward);
  names.left = b.store(ln, undefined, true, 'KSTREAM-JOINTHIS-STORE');
  names.right = b.store(rn, undefined, true, 'KSTREAM-JOINOTHER-STORE');
  if (kind !== 'inner') names.outer = b.store(ln, undefined, true, 'KSTREAM-OUTERSHARED-STORE');
  ln.linked.push(rn);
  const merged = b.node('KSTREAM-MERGE', [ln, rn], (_ctx, fwd) => fwd);
  return new KStream<K, VR>(b, merged, false, ks);
}

/** A table held whole by every instance (`builder.globalTable`): only for joins from streams. */
export class GlobalKTable<K, V> {
  constructor(
    /** Its store, on every instance (the topic is its changelog). */
    readonly storeName: string,
    readonly keySerde: Serde<K>,
    private readonly valueSerde: Serde<V | null>,
  ) {}

  /** Looks keys up in this instance's copy. */
  getter(ctx: ProcessorContext): (key: unknown) => V | null {
    return this.reader(ctx.globalStore(this.storeName));
  }

  /** Typed lookups in a store of this table's bytes. */
  reader(store: BytesStore): (key: unknown) => V | null {
    const st = kvState(store, this.keySerde, this.valueSerde);
    return (k) => st.get(k as K);
  }
}

/** A changelog stream: the latest value per key; `toStream()` gives its updates. */
export class KTable<K, V> {
  constructor(
    readonly builder: StreamsBuilder,
    /** Emits Change<V> records. */
    readonly node: NodeDef,
    readonly getter: ValueGetter,
    readonly keySerde?: Serde<K>,
    readonly valueSerde?: Serde<V>,
    /** The store holding this table, if it has one of its own (queryable). */
    readonly storeName?: string,
  ) {}

  /** The updates as a stream (a deletion is a null value: a tombstone when written to a topic). */
  toStream(): KStream<K, V> {
    const n = this.builder.node('KTABLE-TOSTREAM', [this.node], (_ctx, fwd) => (r) => {
      fwd({ key: r.key, value: (r.value as Change<V>).newValue, timestamp: r.timestamp });
    });
    return new KStream<K, V>(this.builder, n, false, this.keySerde, this.valueSerde);
  }

  filter(predicate: (key: K, value: V) => boolean): KTable<K, V> {
    const keep = (k: unknown, v: unknown): unknown =>
      v !== null && v !== undefined && predicate(k as K, v as V) ? v : null;
    const n = this.builder.node('KTABLE-FILTER', [this.node], (_ctx, fwd) => (r) => {
      const c = r.value as Change<V>;
      const newValue = keep(r.key, c.newValue);
      const oldValue = keep(r.key, c.oldValue);
      if (newValue === null && oldValue === null) return;
      fwd({ key: r.key, value: { newValue, oldValue }, timestamp: r.timestamp });
    });
    const parent = this.getter;
    return new KTable<K, V>(
      this.builder,
      n,
      (ctx) => {
        const get = parent(ctx);
        return (k) => keep(k, get(k));
      },
      this.keySerde,
      this.valueSerde,
    );
  }

  mapValues<V2>(mapper: (value: V, key: K) => V2): KTable<K, V2> {
    const m = (k: unknown, v: unknown): unknown => (v === null || v === undefined ? null : mapper(v as V, k as K));
    const n = this.builder.node('KTABLE-MAPVALUES', [this.node], (_ctx, fwd) => (r) => {
      const c = r.value as Change<V>;
      fwd({
        key: r.key,
        value: { newValue: m(r.key, c.newValue), oldValue: m(r.key, c.oldValue) },
        timestamp: r.timestamp,
      });
    });
    const parent = this.getter;
    return new KTable<K, V2>(
      this.builder,
      n,
      (ctx) => {
        const get = parent(ctx);
        return (k) => m(k, get(k));
      },
      this.keySerde,
    );
  }

  /** Table–table join on the key: updates of either side look up the other; null when either is absent (inner). */
  join<VO, VR>(other: KTable<K, VO>, joiner: (value: V, otherValue: VO) => VR): KTable<K, VR>;
  /**
   * Foreign-key join: each row joins the row of `other` whose key `foreignKey(value)` gives, through a
   * subscription and a response topic (Kafka's KIP-213 design); a changed or deleted foreign key or row
   * updates the result. Inner: no right row, no result.
   */
  join<KO, VO, VR>(
    other: KTable<KO, VO>,
    foreignKey: (value: V) => NoInfer<KO>,
    joiner: (value: V, otherValue: VO) => VR,
    materialized?: { value?: Serde<VR> },
  ): KTable<K, VR>;
  join<KO, VO, VR>(
    other: KTable<KO, VO>,
    a: ((value: V, otherValue: VO) => VR) | ((value: V) => KO),
    joiner?: (value: V, otherValue: VO) => VR,
    materialized: { value?: Serde<VR> } = {},
  ): KTable<K, VR> {
    if (joiner === undefined) return tableTableJoin(this, other as never, a as (v: V, o: VO) => VR, 'inner');
    return this.fkJoin(other, a as (v: V) => KO, joiner as (v: V, o: VO | null) => VR, false, materialized.value);
  }

  leftJoin<VO, VR>(other: KTable<K, VO>, joiner: (value: V, otherValue: VO | null) => VR): KTable<K, VR>;
  /** Foreign-key left join: every row has a result; the joiner gets null without a right row (or foreign key). */
  leftJoin<KO, VO, VR>(
    other: KTable<KO, VO>,
    foreignKey: (value: V) => NoInfer<KO> | null,
    joiner: (value: V, otherValue: VO | null) => VR,
    materialized?: { value?: Serde<VR> },
  ): KTable<K, VR>;
  leftJoin<KO, VO, VR>(
    other: KTable<KO, VO>,
    a: ((value: V, otherValue: VO | null) => VR) | ((value: V) => KO | null),
    joiner?: (value: V, otherValue: VO | null) => VR,
    materialized: { value?: Serde<VR> } = {},
  ): KTable<K, VR> {
    if (joiner === undefined) return tableTableJoin(this, other as never, a as (v: V, o: VO) => VR, 'left');
    return this.fkJoin(other, a as (v: V) => KO, joiner, true, materialized.value);
  }

  private fkJoin<KO, VO, VR>(
    other: KTable<KO, VO>,
    foreignKey: (v: V) => KO,
    joiner: (v: V, o: VO | null) => VR,
    left: boolean,
    valueSerde: Serde<VR> | undefined,
  ): KTable<K, VR> {
    const parts = foreignKeyJoin(this.builder, this, other, foreignKey, joiner, left, valueSerde ?? json<VR>());
    return new KTable<K, VR>(this.builder, parts.node, parts.getter, this.keySerde, valueSerde, parts.storeName);
  }

  outerJoin<VO, VR>(other: KTable<K, VO>, joiner: (value: V | null, otherValue: VO | null) => VR): KTable<K, VR> {
    return tableTableJoin(this, other, joiner as (v: V, o: VO) => VR, 'outer');
  }

  /**
   * Re-groups the table by a new key and value, always through a repartition topic. Each update sends
   * the old row's pair to be subtracted and the new row's to be added (one record when both have the same
   * new key), so a row that moves to another group leaves the old one.
   */
  groupBy<K2, V2>(selector: (key: K, value: V) => [K2, V2], grouped: Grouped<K2, V2> = {}): KGroupedTable<K2, V2> {
    const ks = grouped.key ?? json<K2>();
    const same = (a: K2, b: K2): boolean => {
      const x = ks.serialize(a);
      const y = ks.serialize(b);
      return x !== null && y !== null && x.equals(y);
    };
    const pair = (k: unknown, v: unknown): [K2, V2] | null => {
      if (v === null || v === undefined) return null;
      const p = selector(k as K, v as V);
      // A null key or value cannot be aggregated (Kafka's KTableRepartitionMap skips it too).
      return p[0] === null || p[0] === undefined || p[1] === null || p[1] === undefined ? null : p;
    };
    const n = this.builder.node('KTABLE-SELECT', [this.node], (_ctx, fwd) => (r) => {
      const c = r.value as Change<V>;
      const np = pair(r.key, c.newValue);
      const op = pair(r.key, c.oldValue);
      if (np !== null && op !== null && same(np[0], op[0])) {
        fwd({ key: np[0], value: { newValue: np[1], oldValue: op[1] } satisfies Change<V2>, timestamp: r.timestamp });
        return;
      }
      // The subtraction first, as Kafka: the old group loses the row before the new one gains it.
      if (op !== null) fwd({ key: op[0], value: { newValue: null, oldValue: op[1] }, timestamp: r.timestamp });
      if (np !== null) fwd({ key: np[0], value: { newValue: np[1], oldValue: null }, timestamp: r.timestamp });
    });
    return new KGroupedTable<K2, V2>(this.builder, n, ks, grouped.value, grouped.name);
  }

  /**
   * Kafka's `suppress(Suppressed.untilWindowCloses(unbounded()))`: holds a windowed table's updates and
   * emits each window's final value once stream time passes its end plus grace.
   */
  suppressUntilWindowCloses(this: KTable<Windowed<unknown>, V>, graceMs?: number): KTable<K, V> {
    const self = this as unknown as WindowedKTable<unknown, V>;
    const grace = graceMs ?? self.graceMs ?? 0;
    const ks = this.keySerde ?? windowedSerde(json<unknown>());
    const vs = serde.json<{ t: number; n: string | null; o: string | null }>();
    const valueSerde = serde.nullable(this.valueSerde ?? json<V>());
    let storeName = '';
    const n = this.builder.node('KTABLE-SUPPRESS', [this.node], (ctx, fwd) => {
      const buffer = kvState(ctx.store(storeName), ks, serde.nullable(vs));
      const enc = (v: unknown): string | null => {
        const b = valueSerde.serialize(v as V | null);
        return b === null ? null : b.toString('base64');
      };
      const dec = (s: string | null): unknown => valueSerde.deserialize(s === null ? null : Buffer.from(s, 'base64'));
      // No buffered window ends before this (-Infinity: unknown, as after a restore). The buffer is read
      // only when a window may be due, not on every record (it holds a window per key).
      let minEnd = Number.NEGATIVE_INFINITY;
      ctx.onStreamTime((now) => {
        if (minEnd + grace > now) return;
        const due: Array<[Windowed<unknown>, { t: number; n: string | null; o: string | null }]> = [];
        let min = Number.POSITIVE_INFINITY;
        for (const [w, e] of buffer.entries()) {
          if (e !== null && w.end + grace <= now) due.push([w, e]);
          else if (w.end < min) min = w.end;
        }
        minEnd = min;
        // Kafka's suppression buffer emits in window-end order, then by key bytes (checked against Kafka Streams).
        const kb = (w: Windowed<unknown>) => ks.serialize(w) ?? Buffer.alloc(0);
        due.sort(([x], [y]) => x.end - y.end || Buffer.compare(kb(x), kb(y)));
        for (const [w, e] of due) {
          buffer.put(w, null);
          fwd({ key: w, value: { newValue: dec(e.n), oldValue: dec(e.o) }, timestamp: e.t });
        }
      });
      return (r) => {
        const w = r.key as Windowed<unknown>;
        const c = r.value as Change<V>;
        const prev = buffer.get(w);
        // The first old value seen stays: the emitted change goes from before the window's updates to the last.
        buffer.put(w, { t: r.timestamp, n: enc(c.newValue), o: prev === null ? enc(c.oldValue) : prev.o });
        if (w.end < minEnd) minEnd = w.end;
      };
    });
    storeName = this.builder.store(n, undefined, true, 'KTABLE-SUPPRESS-STATE-STORE');
    return new KTable<K, V>(this.builder, n, this.getter, this.keySerde as Serde<K> | undefined, this.valueSerde);
  }
}

/** A windowed aggregate: knows its grace period, for suppression. */
export class WindowedKTable<K, V> extends KTable<Windowed<K>, V> {
  graceMs?: number;
}

function tableTableJoin<K, V, VO, VR>(
  left: KTable<K, V>,
  right: KTable<K, VO>,
  joiner: (v: V, o: VO) => VR,
  kind: 'inner' | 'left' | 'outer',
): KTable<K, VR> {
  const b = left.builder;
  const join = (l: unknown, r: unknown): unknown => {
    const hasL = l !== null && l !== undefined;
    const hasR = r !== null && r !== undefined;
    if (hasL && hasR) return joiner(l as V, r as VO);
    if (kind === 'outer' && (hasL || hasR)) return joiner((hasL ? l : null) as V, (hasR ? r : null) as VO);
    if (kind === 'left' && hasL) return joiner(l as V, null as VO);
    return null;
  };
  const side = (fromLeft: boolean) => (ctx: ProcessorContext, fwd: Forward) => {
    const other = (fromLeft ? right : left).getter(ctx);
    return (r: Rec) => {
      const c = r.value as Change<unknown>;
      const o = other(r.key);
      const newValue = fromLeft ? join(c.newValue, o) : join(o, c.newValue);
      const oldValue = fromLeft ? join(c.oldValue, o) : join(o, c.oldValue);
      if (newValue === null && oldValue === null) return;
      fwd({ key: r.key, value: { newValue, oldValue }, timestamp: r.timestamp });
    };
  };
  const ln = b.node('KTABLE-JOINTHIS', [left.node], side(true));
  const rn = b.node('KTABLE-JOINOTHER', [right.node], side(false));
  ln.linked.push(right.node);
  rn.linked.push(left.node);
  const merged = b.node('KTABLE-MERGE', [ln, rn], (_ctx, fwd) => fwd);
  return new KTable<K, VR>(
    b,
    merged,
    (ctx) => {
      const gl = left.getter(ctx);
      const gr = right.getter(ctx);
      return (k) => join(gl(k), gr(k));
    },
    left.keySerde ?? right.keySerde,
  );
}

/**
 * A table update goes downstream at once, or, with record caching on, through the instance's cache:
 * merged per key and sent at the next commit or when the cache is full (Kafka's caching stores).
 */
function forwardChange(
  ctx: ProcessorContext,
  fwd: Forward,
  store: string,
  key: Buffer | null,
  rec: Rec,
  valueBytes: () => number,
): void {
  const cache = ctx.recordCache;
  if (cache === undefined || cache.maxBytes <= 0 || key === null) {
    fwd(rec);
    return;
  }
  cache.put(ctx.taskId, store, key, rec, key.length + valueBytes(), fwd);
}

/** Records grouped by key, ready to aggregate into a table. */
export class KGroupedStream<K, V> {
  constructor(
    private readonly ungrouped: KStream<K, V>,
    readonly keySerde?: Serde<K>,
    readonly valueSerde?: Serde<V>,
    /** Names the repartition topic; else the store's name does (as Kafka Streams). */
    readonly name?: string,
  ) {}

  /** The stream to aggregate: repartitioned first when a key changed (named after `name` or the store). */
  input(storeName: string | undefined): KStream<K, V> {
    const n = this.name ?? storeName ?? this.ungrouped.builder.newName('KSTREAM-AGGREGATE-STATE-STORE');
    return this.ungrouped.repartitioned(n, this.keySerde, this.valueSerde);
  }

  get builder(): StreamsBuilder {
    return this.ungrouped.builder;
  }

  count(materialized: Materialized<K, number> = {}): KTable<K, number> {
    return this.aggregate(
      () => 0,
      (_k, _v, n) => n + 1,
      { ...materialized, value: materialized.value ?? json<number>() },
    );
  }

  reduce(reducer: (aggregate: V, value: V) => V, materialized: Materialized<K, V> = {}): KTable<K, V> {
    return this.aggregateWith<V>((_k, v, agg) => (agg === null ? v : reducer(agg, v)), {
      ...materialized,
      value: materialized.value ?? this.valueSerde,
    });
  }

  aggregate<VA>(
    initializer: () => VA,
    aggregator: (key: K, value: V, aggregate: VA) => VA,
    materialized: Materialized<K, VA> = {},
  ): KTable<K, VA> {
    return this.aggregateWith<VA>((k, v, agg) => aggregator(k, v, agg ?? initializer()), materialized);
  }

  private aggregateWith<VA>(
    step: (key: K, value: V, agg: VA | null) => VA,
    materialized: Materialized<K, VA>,
  ): KTable<K, VA> {
    const b = this.builder;
    const ks = materialized.key ?? this.keySerde ?? json<K>();
    const vs = serde.nullable(materialized.value ?? json<VA>());
    let storeName = '';
    const input = this.input(materialized.name);
    const n = b.node('KSTREAM-AGGREGATE', [input.node], (ctx, fwd) => {
      const st = kvState(ctx.store(storeName), ks, vs);
      return (r) => {
        // Null keys and values are not aggregated (as Kafka's KStreamAggregate).
        if (r.key === null || r.key === undefined || r.value === null || r.value === undefined) return;
        const k = r.key as K;
        const old = st.get(k);
        const nv = step(k, r.value as V, old);
        st.put(k, nv);
        const rec = { key: k, value: { newValue: nv, oldValue: old } satisfies Change<VA>, timestamp: r.timestamp };
        forwardChange(ctx, fwd, storeName, ks.serialize(k), rec, () => vs.serialize(nv)?.length ?? 0);
      };
    });
    storeName = b.store(n, materialized.name, materialized.persistent, 'KSTREAM-AGGREGATE-STATE-STORE');
    const getter: ValueGetter = (ctx) => {
      const st = kvState(ctx.store(storeName), ks, vs);
      return (k) => st.get(k as K);
    };
    return new KTable<K, VA>(b, n, getter, ks, materialized.value, storeName);
  }

  windowedBy(windows: TimeWindows | SlidingWindows): TimeWindowedKStream<K, V>;
  windowedBy(windows: SessionWindows): SessionWindowedKStream<K, V>;
  windowedBy(
    windows: TimeWindows | SlidingWindows | SessionWindows,
  ): TimeWindowedKStream<K, V> | SessionWindowedKStream<K, V> {
    if (windows instanceof SessionWindows) return new SessionWindowedKStream(this, windows);
    return new TimeWindowedKStream(this, windows);
  }
}

/** A table re-grouped by `KTable.groupBy`: updates carry old and new values, so aggregates can subtract. */
export class KGroupedTable<K, V> {
  constructor(
    readonly builder: StreamsBuilder,
    /** Emits Change<V> records keyed by the new key. */
    private readonly selected: NodeDef,
    readonly keySerde: Serde<K>,
    readonly valueSerde?: Serde<V>,
    /** Names the repartition topic; else the store's name does (as Kafka Streams). */
    readonly name?: string,
  ) {}

  count(materialized: Materialized<K, number> = {}): KTable<K, number> {
    return this.aggregate(
      () => 0,
      (_k, _v, n) => n + 1,
      (_k, _v, n) => n - 1,
      { ...materialized, value: materialized.value ?? json<number>() },
    );
  }

  /** `adder` folds a new row's value in, `subtractor` takes an old one out. */
  reduce(
    adder: (aggregate: V, value: V) => V,
    subtractor: (aggregate: V, value: V) => V,
    materialized: Materialized<K, V> = {},
  ): KTable<K, V> {
    return this.aggregateWith<V>(
      (_k, v, agg) => (agg === null ? v : adder(agg, v)),
      (_k, v, agg) => subtractor(agg, v),
      { ...materialized, value: materialized.value ?? this.valueSerde },
    );
  }

  aggregate<VA>(
    initializer: () => VA,
    adder: (key: K, value: V, aggregate: VA) => VA,
    subtractor: (key: K, value: V, aggregate: VA) => VA,
    materialized: Materialized<K, VA> = {},
  ): KTable<K, VA> {
    return this.aggregateWith<VA>((k, v, agg) => adder(k, v, agg ?? initializer()), subtractor, materialized);
  }

  private aggregateWith<VA>(
    add: (key: K, value: V, agg: VA | null) => VA,
    subtract: (key: K, value: V, agg: VA) => VA,
    materialized: Materialized<K, VA>,
  ): KTable<K, VA> {
    const b = this.builder;
    const ks = materialized.key ?? this.keySerde;
    const vs = serde.nullable(materialized.value ?? json<VA>());
    const repartitionName = this.name ?? materialized.name ?? b.newName('KTABLE-AGGREGATE-STATE-STORE');
    const src = b.repartition(this.selected, repartitionName, this.keySerde, changeSerde(this.valueSerde ?? json<V>()));
    let storeName = '';
    const n = b.node('KTABLE-AGGREGATE', [src], (ctx, fwd) => {
      const st = kvState(ctx.store(storeName), ks, vs);
      return (r) => {
        if (r.key === null || r.key === undefined) return;
        const k = r.key as K;
        const c = r.value as Change<V>;
        const old = st.get(k);
        // As Kafka's KTableAggregate: take the old value out first, then add the new one.
        let agg = c.oldValue !== null && old !== null ? subtract(k, c.oldValue, old) : old;
        if (c.newValue !== null) agg = add(k, c.newValue, agg);
        st.put(k, agg);
        const rec = { key: k, value: { newValue: agg, oldValue: old } satisfies Change<VA>, timestamp: r.timestamp };
        forwardChange(ctx, fwd, storeName, ks.serialize(k), rec, () => vs.serialize(agg)?.length ?? 0);
      };
    });
    storeName = b.store(n, materialized.name, materialized.persistent, 'KTABLE-AGGREGATE-STATE-STORE');
    const getter: ValueGetter = (ctx) => {
      const st = kvState(ctx.store(storeName), ks, vs);
      return (k) => st.get(k as K);
    };
    return new KTable<K, VA>(b, n, getter, ks, materialized.value, storeName);
  }
}

export { SlidingWindows, TimeWindows };

/** Aggregations per key and time window (tumbling, hopping or sliding). */
export class TimeWindowedKStream<K, V> {
  constructor(
    readonly grouped: KGroupedStream<K, V>,
    readonly windows: TimeWindows | SlidingWindows,
  ) {}

  count(materialized: Materialized<K, number> = {}): WindowedKTable<K, number> {
    return this.aggregate(
      () => 0,
      (_k, _v, n) => n + 1,
      { ...materialized, value: materialized.value ?? json<number>() },
    );
  }

  reduce(reducer: (aggregate: V, value: V) => V, materialized: Materialized<K, V> = {}): WindowedKTable<K, V> {
    return this.aggregateWith<V>((_k, v, agg) => (agg === null ? v : reducer(agg, v)), {
      ...materialized,
      value: materialized.value ?? this.grouped.valueSerde,
    });
  }

  aggregate<VA>(
    initializer: () => VA,
    aggregator: (key: K, value: V, aggregate: VA) => VA,
    materialized: Materialized<K, VA> = {},
  ): WindowedKTable<K, VA> {
    return this.aggregateWith<VA>((k, v, agg) => aggregator(k, v, agg ?? initializer()), materialized);
  }

  private aggregateWith<VA>(
    step: (key: K, value: V, agg: VA | null) => VA,
    materialized: Materialized<K, VA>,
  ): WindowedKTable<K, VA> {
    const b = this.grouped.builder;
    const ks = materialized.key ?? this.grouped.keySerde ?? json<K>();
    const wks = windowedSerde(ks);
    const input = this.grouped.input(materialized.name);
    const vs = serde.nullable(materialized.value ?? json<VA>());
    const windows = this.windows;
    let storeName = '';
    let recordsStore = '';
    const n = b.node('KSTREAM-WINDOWED-AGGREGATE', [input.node], (ctx, fwd) => {
      const st = kvState(ctx.store(storeName), wks, vs);
      const emit = (w: Windowed<K>, nv: VA | null, old: VA | null, ts: number): void => {
        if (nv === old) return;
        st.put(w, nv);
        const rec = { key: w, value: { newValue: nv, oldValue: old } satisfies Change<VA>, timestamp: ts };
        forwardChange(ctx, fwd, storeName, wks.serialize(w), rec, () => vs.serialize(nv)?.length ?? 0);
      };
      if (windows instanceof TimeWindows) {
        return (r) => {
          if (r.key === null || r.key === undefined || r.value === null || r.value === undefined) return;
          const k = r.key as K;
          const closeTime = ctx.streamTime - windows.graceMs;
          let late = true;
          for (const { start, end } of windows.windowsFor(r.timestamp)) {
            if (end <= closeTime) continue;
            late = false;
            const w = { key: k, start, end };
            const old = st.get(w);
            emit(w, step(k, r.value as V, old), old, r.timestamp);
          }
          if (late) ctx.droppedLate();
        };
      }
      // Sliding windows: recompute each window the record falls in (or creates) from the key's buffered records.
      const recs = listState(ctx.store(recordsStore), ks, this.grouped.valueSerde ?? json<V>());
      const diff = windows.timeDifferenceMs;
      return (r) => {
        if (r.key === null || r.key === undefined || r.value === null || r.value === undefined) return;
        const k = r.key as K;
        const closeTime = ctx.streamTime - windows.graceMs;
        // Its own left window [t-diff, t] has closed (Kafka drops such records too).
        if (r.timestamp <= closeTime) {
          ctx.droppedLate();
          return;
        }
        recs.append(k, r.timestamp, r.value, ctx.streamTime - 2 * diff - windows.graceMs - 1);
        const all = recs.get(k);
        const starts = new Set<number>();
        const t = r.timestamp;
        starts.add(t - diff); // the record's left window
        if (all.some(([ts]) => ts > t && ts <= t + 1 + diff)) starts.add(t + 1); // its right window
        for (const [ts] of all) {
          if (ts >= t && ts - diff <= t) starts.add(ts - diff); // left windows of later records holding t
          if (ts < t && ts + 1 + diff >= t) starts.add(ts + 1); // right windows of earlier records holding t
        }
        for (const start of [...starts].sort((a, b) => a - b)) {
          const end = start + diff;
          if (end <= closeTime) continue;
          let agg: VA | null = null;
          let n = 0;
          for (const [ts, v] of all) {
            if (ts >= start && ts <= end) {
              agg = step(k, v as V, agg);
              n++;
            }
          }
          if (n === 0) continue;
          const w = { key: k, start, end };
          emit(w, agg, st.get(w), r.timestamp);
        }
      };
    });
    storeName = b.store(n, materialized.name, materialized.persistent, 'KSTREAM-WINDOWED-AGGREGATE-STATE-STORE');
    if (windows instanceof SlidingWindows)
      recordsStore = b.store(n, undefined, materialized.persistent, 'KSTREAM-SLIDING-RECORDS-STORE');
    const t = new WindowedKTable<K, VA>(
      b,
      n,
      (ctx) => {
        const st = kvState(ctx.store(storeName), wks, vs);
        return (k) => st.get(k as Windowed<K>);
      },
      wks,
      materialized.value,
      storeName,
    );
    t.graceMs = windows.graceMs;
    return t;
  }
}

/** Aggregations per key and session. */
export class SessionWindowedKStream<K, V> {
  constructor(
    readonly grouped: KGroupedStream<K, V>,
    readonly windows: SessionWindows,
  ) {}

  count(materialized: Materialized<K, number> = {}): WindowedKTable<K, number> {
    return this.aggregate(
      () => 0,
      (_k, _v, n) => n + 1,
      (_k, a, b) => a + b,
      { ...materialized, value: materialized.value ?? json<number>() },
    );
  }

  reduce(reducer: (aggregate: V, value: V) => V, materialized: Materialized<K, V> = {}): WindowedKTable<K, V> {
    return this.aggregateWith<V>(
      (_k, v, agg) => (agg === null ? v : reducer(agg, v)),
      (_k, a, b) => reducer(a, b),
      { ...materialized, value: materialized.value ?? this.grouped.valueSerde },
    );
  }

  /** `merger` combines two sessions' aggregates when a record bridges them. */
  aggregate<VA>(
    initializer: () => VA,
    aggregator: (key: K, value: V, aggregate: VA) => VA,
    merger: (key: K, a: VA, b: VA) => VA,
    materialized: Materialized<K, VA> = {},
  ): WindowedKTable<K, VA> {
    return this.aggregateWith<VA>((k, v, agg) => aggregator(k, v, agg ?? initializer()), merger, materialized);
  }

  private aggregateWith<VA>(
    step: (key: K, value: V, agg: VA | null) => VA,
    merger: (key: K, a: VA, b: VA) => VA,
    materialized: Materialized<K, VA>,
  ): WindowedKTable<K, VA> {
    const b = this.grouped.builder;
    const ks = materialized.key ?? this.grouped.keySerde ?? json<K>();
    const vs = materialized.value ?? json<VA>();
    const input = this.grouped.input(materialized.name);
    const { gapMs, graceMs } = this.windows;
    let storeName = '';
    const n = b.node('KSTREAM-SESSION-AGGREGATE', [input.node], (ctx, fwd) => {
      const sessions = listState(ctx.store(storeName), ks, vs);
      return (r) => {
        if (r.key === null || r.key === undefined || r.value === null || r.value === undefined) return;
        const k = r.key as K;
        const t = r.timestamp;
        const closeTime = ctx.streamTime - graceMs;
        const all = sessions.getSessions(k).sort((a, b) => a.start - b.start);
        const overlapping = all.filter((s) => s.end >= t - gapMs && s.start <= t + gapMs);
        let start = t;
        let end = t;
        let agg: VA | null = null;
        for (const s of overlapping) {
          start = Math.min(start, s.start);
          end = Math.max(end, s.end);
          agg = agg === null ? (s.value as VA) : merger(k, agg, s.value as VA);
        }
        if (end < closeTime) {
          // The session the record would join or start has closed.
          ctx.droppedLate();
          return;
        }
        agg = step(k, r.value as V, agg);
        for (const s of overlapping) {
          if (s.start === start && s.end === end) continue; // the same window, updated below
          fwd({
            key: { key: k, start: s.start, end: s.end },
            value: { newValue: null, oldValue: s.value },
            timestamp: t,
          });
        }
        const kept = all.filter((s) => !overlapping.includes(s) && s.end >= closeTime - gapMs);
        kept.push({ start, end, value: agg });
        sessions.putSessions(k, kept);
        const old =
          overlapping.length === 1 && overlapping[0].start === start && overlapping[0].end === end
            ? overlapping[0].value
            : null;
        fwd({
          key: { key: k, start, end },
          value: { newValue: agg, oldValue: old === null ? null : old },
          timestamp: t,
        });
      };
    });
    storeName = b.store(n, materialized.name, materialized.persistent, 'KSTREAM-SESSION-AGGREGATE-STATE-STORE');
    const t = new WindowedKTable<K, VA>(
      b,
      n,
      (ctx) => {
        const sessions = listState(ctx.store(storeName), ks, vs);
        return (w) => {
          const x = w as Windowed<K>;
          return sessions.getSessions(x.key).find((s) => s.start === x.start && s.end === x.end)?.value ?? null;
        };
      },
      windowedSerde(ks),
      materialized.value,
      storeName,
    );
    t.graceMs = graceMs;
    return t;
  }
}
