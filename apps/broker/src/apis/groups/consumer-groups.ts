import type { MetadataImage } from '@sluice/cluster';
import {
  type AppendFunction,
  ConsumerGroupCoordinator,
  type ConsumerGroupMigrationPolicy,
  type GroupCoordinator,
  type Scheduler,
  type TopicMetadataView,
} from '@sluice/coordinator';
import type { Logger } from 'pino';
import type { BrokerConfig } from '../../config/index.js';
import type { TopicManager } from '../../state/topic-manager.js';

/** group.consumer.assignors takes short names (Kafka 4.4's default: uniform,range) or Kafka's class names. */
const ASSIGNOR_CLASSES: Record<string, string> = {
  'org.apache.kafka.coordinator.group.assignor.UniformAssignor': 'uniform',
  'org.apache.kafka.coordinator.group.assignor.RangeAssignor': 'range',
};

export interface ConsumerGroupSetup {
  config: BrokerConfig;
  topics: TopicManager;
  logger: Logger;
  append: AppendFunction;
  classic: GroupCoordinator;
  numPartitions: number;
  scheduler?: Scheduler;
  /** The cluster image, for the racks of partition replicas (rack-aware assignment). */
  image?: () => MetadataImage;
}

/** The topics as the KIP-848 coordinator sees them: ids, partition counts, replica racks. */
export function topicMetadataView(topics: TopicManager, image?: () => MetadataImage): TopicMetadataView {
  return {
    byName: (name) => {
      const t = topics.get(name);
      return t === undefined ? undefined : { topicId: t.topicId, partitionCount: t.partitions.length };
    },
    nameOf: (topicId) => topics.getById(topicId)?.name,
    names: function* () {
      for (const t of topics.all()) yield t.name;
    },
    partitionRacks:
      image === undefined
        ? undefined
        : (topicId, partition) => {
            const img = image();
            const racks: string[] = [];
            for (const id of img.partition(topicId, partition)?.replicas ?? []) {
              const rack = img.brokers.get(id)?.rack;
              if (rack) racks.push(rack);
            }
            return racks;
          },
  };
}

/** The broker's KIP-848 consumer-group coordinator over `__consumer_offsets`, configured from Kafka's broker configs. */
export function createConsumerGroupCoordinator(setup: ConsumerGroupSetup): ConsumerGroupCoordinator {
  const { config, logger } = setup;
  const log = logger.child({ component: 'consumer-group-coordinator' });
  return new ConsumerGroupCoordinator({
    config: {
      numPartitions: setup.numPartitions,
      sessionTimeoutMs: config.get('group.consumer.session.timeout.ms'),
      heartbeatIntervalMs: config.get('group.consumer.heartbeat.interval.ms'),
      maxSize: config.get('group.consumer.max.size'),
      assignors: config.get('group.consumer.assignors').map((a) => ASSIGNOR_CLASSES[a] ?? a),
      migrationPolicy: config.get('group.consumer.migration.policy') as ConsumerGroupMigrationPolicy,
    },
    // Online upgrade and downgrade between the two protocols (group.consumer.migration.policy).
    classic: setup.classic,
    append: setup.append,
    topics: topicMetadataView(setup.topics, setup.image),
    scheduler: setup.scheduler,
    logger: { info: (m) => log.info(m), warn: (m) => log.warn(m), error: (m) => log.error(m) },
    classicGroupActive: (groupId) => {
      const g = setup.classic.group(groupId);
      return g !== undefined && !g.is('Empty') && !g.is('Dead');
    },
  });
}
