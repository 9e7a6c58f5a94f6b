import { randomUUID } from 'node:crypto';
import { ERROR_CODES } from '@sluice/protocol';
import { MetadataConflictError, MetadataUnavailableError } from '../errors.js';
import type { MetadataImage } from '../image.js';
import type { ControllerRecord, TopicRecord } from '../model.js';
import type { MetadataStore, WriteFence } from '../store.js';
import { MAX_ELECTIONS_PER_REBALANCE, planLeaderRebalance } from './partition-admin.js';
import { initialPartitionRecords } from './partition-change.js';
import { placeReplicas, validateAssignments } from './placement.js';
import { activeBrokers, planReconciliation } from './reconcile.js';

export interface ClusterControllerOptions {
  /** Whether a topic allows unclean leader election (`unclean.leader.election.enable`). */
  uncleanFor?: (topicName: string) => boolean;
  /** Told about failed reconciliation rounds (they are retried). */
  onError?: (error: Error) => void;
  /** Delay before retrying a failed round (ms). */
  retryMs?: number;
  random?: () => number;
  /**
   * `auto.leader.rebalance.enable` with `leader.imbalance.check.interval.seconds` (in ms here): while
   * active, the controller moves leadership back to preferred replicas every interval (Kafka's KRaft
   * maybeBalancePartitionLeaders). Absent: off.
   */
  leaderRebalanceIntervalMs?: number;
}

/** Kafka reschedules a rebalance round that hit its cap almost at once (10 ms), so a backlog drains. */
const REBALANCE_BACKLOG_DELAY_MS = 10;

export interface NewTopic {
  name: string;
  configs?: Record<string, string>;
  /** Either a partition count and replication factor, or explicit replica lists. */
  partitions?: number;
  replicationFactor?: number;
  assignments?: number[][];
}

/**
 * The active controller's loop on one broker: campaigns through the store; while it holds the role,
 * it keeps partition leadership consistent with the live brokers (see planReconciliation) after
 * every change, and creates topics with Kafka's placement. Every write is fenced by its controller
 * epoch, so a controller that lost the role without noticing cannot overwrite anything.
 */
export class ClusterController {
  private role: ControllerRecord | null = null;
  private stopped = false;
  private readonly abort = new AbortController();
  private pending = false;
  private running: Promise<void> | null = null;
  private unsubscribe: (() => void) | null = null;
  private rebalanceTimer: NodeJS.Timeout | null = null;
  private readonly uncleanFor: (topicName: string) => boolean;
  private readonly onError: (error: Error) => void;

  constructor(
    private readonly store: MetadataStore,
    private readonly nodeId: number,
    private readonly options: ClusterControllerOptions = {},
  ) {
    this.uncleanFor = options.uncleanFor ?? (() => false);
    this.onError = options.onError ?? (() => {});
  }

  /** True while this broker holds the controller role as far as the cache shows. */
  get isActive(): boolean {
    const c = this.store.image.controller;
    return this.role !== null && c !== null && c.controllerEpoch === this.role.controllerEpoch;
  }

  get fence(): WriteFence | null {
    return this.role ? { kind: 'controller', nodeId: this.nodeId, controllerEpoch: this.role.controllerEpoch } : null;
  }

  /** Campaigns (in the background) and acts as controller whenever elected, until stop(). */
  start(): void {
    this.unsubscribe = this.store.onChange((_changes, image) => {
      if (this.role && image.controller?.controllerEpoch !== this.role.controllerEpoch) {
        // Lost the role (lease lapse, resignation): campaign again.
        this.role = null;
        void this.campaign();
        return;
      }
      this.schedule();
    });
    void this.campaign();
  }

  private async campaign(): Promise<void> {
    while (!this.stopped && !this.role) {
      try {
        this.role = await this.store.campaign(this.nodeId, this.abort.signal);
        this.schedule();
        this.scheduleRebalance(this.options.leaderRebalanceIntervalMs);
      } catch (err) {
        if (this.stopped) return;
        this.onError(err as Error);
        await new Promise((r) => setTimeout(r, this.options.retryMs ?? 500));
      }
    }
  }

  /** Runs a reconciliation round soon; rounds never overlap, and a change during one causes another. */
  private schedule(): void {
    if (!this.role || this.stopped) return;
    this.pending = true;
    if (this.running) return;
    this.running = (async () => {
      while (this.pending && this.role && !this.stopped) {
        this.pending = false;
        try {
          await this.reconcileOnce();
        } catch (err) {
          this.onError(err as Error);
          if (err instanceof MetadataConflictError || err instanceof MetadataUnavailableError) {
            await new Promise((r) => setTimeout(r, this.options.retryMs ?? 500));
            this.pending = true;
          }
        }
      }
    })().finally(() => {
      this.running = null;
    });
  }

  private async reconcileOnce(): Promise<void> {
    const fence = this.fence;
    if (!fence || !this.isActive) return;
    const image = this.store.image;
    const changes = planReconciliation(image, this.uncleanFor);
    if (changes.length === 0) return;
    await this.store.alterPartitions(
      changes.map((next) => ({ expectedPartitionEpoch: next.partitionEpoch - 1, next })),
      fence,
    );
  }

  /** Arms the next automatic leader rebalance round (one timer at a time; none when off or stopped). */
  private scheduleRebalance(delayMs: number | undefined): void {
    if (delayMs === undefined || this.stopped || this.rebalanceTimer) return;
    this.rebalanceTimer = setTimeout(() => {
      this.rebalanceTimer = null;
      this.rebalanceOnce().then(
        (backlog) =>
          this.scheduleRebalance(backlog ? REBALANCE_BACKLOG_DELAY_MS : this.options.leaderRebalanceIntervalMs),
        (err) => {
          this.onError(err as Error);
          this.scheduleRebalance(this.options.leaderRebalanceIntervalMs);
        },
      );
    }, delayMs);
    this.rebalanceTimer.unref();
  }

  /**
   * One automatic leader rebalance round while this broker is the active controller: preferred
   * elections where the preferred replica is a live ISR member and does not lead. True when the round
   * hit its cap (more are waiting).
   */
  async rebalanceOnce(): Promise<boolean> {
    const fence = this.fence;
    if (!fence || !this.isActive) return false;
    const changes = planLeaderRebalance(this.store.image, MAX_ELECTIONS_PER_REBALANCE);
    if (changes.length === 0) return false;
    await this.store.alterPartitions(
      changes.map((next) => ({ expectedPartitionEpoch: next.partitionEpoch - 1, next })),
      fence,
    );
    return changes.length >= MAX_ELECTIONS_PER_REBALANCE;
  }

  /** Resolves when no reconciliation round is running or pending. */
  async idle(): Promise<void> {
    while (this.running) await this.running;
  }

  /** CreateTopics on the controller: placement (or explicit assignments), first partition records, write. */
  async createTopic(request: NewTopic): Promise<TopicRecord> {
    const fence = this.fence;
    if (!fence || !this.isActive)
      throw new MetadataConflictError(ERROR_CODES.NOT_CONTROLLER, `Node ${this.nodeId} is not the active controller.`);
    const image: MetadataImage = this.store.image;
    const isActive = activeBrokers(image);
    let assignments: number[][];
    if (request.assignments) {
      validateAssignments(request.assignments, new Set(image.brokers.keys()));
      assignments = request.assignments;
    } else {
      const brokers = [...image.brokers.values()].map((b) => ({
        id: b.nodeId,
        rack: b.rack,
        fenced: b.inControlledShutdown,
      }));
      assignments = placeReplicas(
        request.partitions ?? 1,
        request.replicationFactor ?? 1,
        brokers,
        this.options.random,
      );
    }
    const topic: TopicRecord = {
      name: request.name,
      topicId: randomUUID(),
      configs: { ...(request.configs ?? {}) },
      partitionCount: assignments.length,
    };
    await this.store.createTopic(topic, initialPartitionRecords(topic.topicId, 0, assignments, isActive), fence);
    return topic;
  }

  async stop(): Promise<void> {
    this.stopped = true;
    if (this.rebalanceTimer) clearTimeout(this.rebalanceTimer);
    this.rebalanceTimer = null;
    this.abort.abort(new Error('controller stopped'));
    this.unsubscribe?.();
    await this.idle();
    if (this.role) {
      this.role = null;
      await this.store.resign().catch((err) => this.onError(err as Error));
    }
  }
}
