import type { Topic } from '@sluice/client';
import type { RecordCache } from './record-cache.js';
import type { BytesStore } from './stores.js';

/** A record inside the topology (table nodes carry a Change as value). */
export interface Rec {
  key: unknown;
  value: unknown;
  timestamp: number;
}

/** A table update: the value before and after (null: absent / deleted). */
export interface Change<V> {
  newValue: V | null;
  oldValue: V | null;
}

/** What a processor sees of its task. */
export interface ProcessorContext {
  readonly taskId: string;
  readonly partition: number;
  /** The largest timestamp the task has seen (including the record being processed). */
  readonly streamTime: number;
  /** A store of the task, logged to its changelog topic. */
  store(name: string): BytesStore;
  /** Sends a result (to an output or repartition topic); the commit waits for its acknowledgement. */
  send(topic: Topic<unknown, unknown>, key: unknown, value: unknown, timestamp: number): void;
  /** Called after each record with the task's stream time (suppression emits closed windows then). */
  onStreamTime(fn: (streamTime: number) => void): void;
  /** A record dropped because its window had closed. */
  droppedLate(): void;
  /** A global table's store (the instance's full copy, shared by its tasks; read-only here). */
  globalStore(name: string): BytesStore;
  /** The instance's record cache, when `cacheMaxBytesBuffering` > 0. */
  readonly recordCache?: RecordCache;
}

export type Forward = (r: Rec) => void;

/** A global table: its store is filled from every partition of `topic` on every instance. */
export interface GlobalStoreDef {
  name: string;
  topic: Topic<unknown, unknown>;
  persistent: boolean;
}

export interface StoreDef {
  name: string;
  persistent: boolean;
}

/** Reads a table's current value for a key in a task (for joins against a table). */
export type ValueGetter = (ctx: ProcessorContext) => (key: unknown) => unknown;

export interface NodeDef {
  readonly name: string;
  readonly kind: 'source' | 'processor' | 'sink';
  readonly children: NodeDef[];
  readonly parents: NodeDef[];
  readonly stores: StoreDef[];
  /** Source: the topics read; sink: the topic written. */
  readonly topics: string[];
  /** Tables joined against: the task must hold their stores too (same sub-topology). */
  readonly linked: NodeDef[];
  build(ctx: ProcessorContext, forward: Forward): Forward;
}

export interface SourceDef extends NodeDef {
  readonly kind: 'source';
  readonly topic: Topic<unknown, unknown>;
  readonly timestampExtractor?: (r: { key: unknown; value: unknown; timestamp: number }) => number;
  /** Created and owned by the application (a repartition topic). */
  readonly internal: boolean;
}

/** The sub-topologies (parts joined only through repartition topics), their sources and stores. */
export interface SubTopology {
  id: number;
  sources: SourceDef[];
  nodes: NodeDef[];
  stores: StoreDef[];
}

export interface InternalTopic {
  name: string;
  kind: 'repartition' | 'changelog';
  /** Sub-topology whose partition count it takes (repartition: the writer's; changelog: the owner's). */
  subTopology: number;
}

export class Topology {
  readonly subTopologies: SubTopology[];

  private boundTo: string | undefined;

  constructor(
    readonly sources: SourceDef[],
    /** Repartition topics: named `<application.id>-<suffix>` once bound; nodes = [sink, source]. */
    private readonly internal: Array<{ suffix: string; topic: { name: string }; nodes: Array<{ topics: string[] }> }>,
    /** Global tables, read outside the tasks. */
    readonly globalStores: GlobalStoreDef[] = [],
  ) {
    this.subTopologies = splitSubTopologies(sources);
  }

  /** Gives repartition topics their application-id prefix (a topology runs under one application id). */
  bind(applicationId: string): void {
    if (this.boundTo === applicationId) return;
    if (this.boundTo !== undefined) throw new Error(`topology already runs as ${this.boundTo}`);
    this.boundTo = applicationId;
    for (const t of this.internal) {
      t.topic.name = `${applicationId}-${t.suffix}`;
      for (const n of t.nodes) n.topics[0] = t.topic.name;
    }
  }

  /** Input topics the application reads that it does not create. */
  externalSources(): string[] {
    return this.sources.filter((s) => !s.internal).map((s) => s.topic.name);
  }

  subTopologyOf(node: NodeDef): SubTopology {
    const st = this.subTopologies.find((s) => s.nodes.includes(node));
    if (st === undefined) throw new Error(`node ${node.name} is in no sub-topology`);
    return st;
  }

  /** The repartition sinks by topic name. */
  repartitionWriters(): Map<string, NodeDef> {
    return new Map(this.internal.map((t) => [t.topic.name, t.nodes[0] as NodeDef]));
  }

  /** As Kafka's TopologyDescription: sub-topologies, their nodes, topics and stores. */
  describe(): string {
    const lines = ['Topologies:'];
    for (const st of this.subTopologies) {
      lines.push(`   Sub-topology: ${st.id}`);
      for (const n of st.nodes) {
        const extra =
          n.kind === 'source'
            ? ` (topics: [${n.topics.join(', ')}])`
            : n.kind === 'sink'
              ? ` (topic: ${n.topics[0]})`
              : ` (stores: [${n.stores.map((s) => s.name).join(', ')}])`;
        lines.push(
          `    ${n.kind === 'source' ? 'Source' : n.kind === 'sink' ? 'Sink' : 'Processor'}: ${n.name}${extra}`,
        );
        lines.push(`      --> ${n.children.map((c) => c.name).join(', ') || 'none'}`);
        if (n.kind !== 'source') lines.push(`      <-- ${n.parents.map((p) => p.name).join(', ')}`);
      }
    }
    return `${lines.join('\n')}\n`;
  }
}

/** Groups nodes connected by parent/child or join links; sources that share a group are co-partitioned. */
function splitSubTopologies(sources: SourceDef[]): SubTopology[] {
  // Join links point from the joining node to the table: follow them both ways.
  const linkedFrom = new Map<NodeDef, NodeDef[]>();
  const all = new Set<NodeDef>();
  const walk: NodeDef[] = [...sources];
  while (walk.length > 0) {
    const n = walk.pop() as NodeDef;
    if (all.has(n)) continue;
    all.add(n);
    walk.push(...n.children);
    for (const l of n.linked) linkedFrom.set(l, [...(linkedFrom.get(l) ?? []), n]);
  }
  const seen = new Map<NodeDef, number>();
  const out: SubTopology[] = [];
  for (const src of sources) {
    if (seen.has(src)) continue;
    const st: SubTopology = { id: out.length, sources: [], nodes: [], stores: [] };
    out.push(st);
    const stack: NodeDef[] = [src];
    while (stack.length > 0) {
      const n = stack.pop() as NodeDef;
      if (seen.has(n)) continue;
      seen.set(n, st.id);
      st.nodes.push(n);
      if (n.kind === 'source') st.sources.push(n as SourceDef);
      for (const s of n.stores) if (!st.stores.some((x) => x.name === s.name)) st.stores.push(s);
      stack.push(...n.children, ...n.parents, ...n.linked, ...(linkedFrom.get(n) ?? []));
    }
    // In creation order (the number at the end of each generated name).
    st.nodes.sort((a, b) => seqOf(a.name) - seqOf(b.name));
  }
  return out;
}

const seqOf = (name: string): number => Number(/(\d+)$/.exec(name)?.[1] ?? 0);
