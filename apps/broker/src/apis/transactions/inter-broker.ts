import { type BrokerAddress, BrokerPool } from '@sluice/client';
import type { MetadataStore } from '@sluice/cluster/core';
import type { TxnIdentity, TxnMarkers } from '@sluice/coordinator';
import { AddPartitionsToTxnApi, ERROR_CODES, WriteTxnMarkersApi } from '@sluice/protocol';
import { type InterBrokerSettings, interBrokerConnection } from '../../server/inter-broker.js';

/** Kafka's request.timeout.ms default, which its marker channel and verification requests use. */
const REQUEST_TIMEOUT_MS = 30_000;

/**
 * The transaction requests one broker sends another: WriteTxnMarkers from a transaction
 * coordinator to a partition's leader, and AddPartitionsToTxn (verifyOnly, KIP-890 part 1) from a
 * partition's leader to the transaction's coordinator. One connection per broker, opened on first
 * use, to that broker's inter-broker listener with its TLS and SASL login (the broker's own
 * principal, which holds CLUSTER_ACTION under ACLs); a failed one is reopened by the next request.
 */
export class TxnInterBroker {
  private readonly pool: BrokerPool;

  constructor(
    private readonly store: Pick<MetadataStore, 'image'>,
    self: BrokerAddress,
    nodeId: number,
    private readonly interBroker: InterBrokerSettings,
  ) {
    this.pool = new BrokerPool([self], {
      clientId: `sluice-txn-${nodeId}`,
      ssl: interBroker.ssl,
      sasl: interBroker.sasl,
      requestTimeoutMs: REQUEST_TIMEOUT_MS,
      connectTimeoutMs: REQUEST_TIMEOUT_MS,
      // Verification is AddPartitionsToTxn v4+, the broker-to-broker versions a producer does not speak.
      versionCaps: new Map([[AddPartitionsToTxnApi.apiKey, AddPartitionsToTxnApi.maxVersion]]),
    });
  }

  /** Broker `nodeId`'s inter-broker listener, or null while it is not registered (or has no such listener). */
  private address(nodeId: number): BrokerAddress | null {
    const registered = this.store.image.brokers.get(nodeId);
    const c = registered ? interBrokerConnection(this.interBroker, registered.listeners) : null;
    return c ? { host: c.host, port: c.port } : null;
  }

  /**
   * Asks broker `nodeId` to write the markers (it leads the partitions, as far as this broker
   * knows). An error code per partition in order; a broker that is not registered or cannot be
   * reached answers NOT_LEADER_OR_FOLLOWER / NETWORK_EXCEPTION for all of them (the coordinator
   * retries with backoff, after the metadata has moved on).
   */
  async writeMarkers(nodeId: number, m: TxnMarkers): Promise<number[]> {
    const address = this.address(nodeId);
    if (address === null) return m.partitions.map(() => ERROR_CODES.NOT_LEADER_OR_FOLLOWER);
    const byTopic = new Map<string, number[]>();
    for (const tp of m.partitions) {
      const list = byTopic.get(tp.topic) ?? [];
      list.push(tp.partition);
      byTopic.set(tp.topic, list);
    }
    let res: Awaited<ReturnType<typeof this.sendMarkers>>;
    try {
      res = await this.sendMarkers(address, m, byTopic);
    } catch {
      return m.partitions.map(() => ERROR_CODES.NETWORK_EXCEPTION);
    }
    const codes = new Map<string, number>();
    for (const t of res.markers[0]?.topics ?? [])
      for (const p of t.partitions) codes.set(`${t.name}\u0000${p.partitionIndex}`, p.errorCode);
    // A partition the answer leaves out was not written: retried.
    return m.partitions.map((tp) => codes.get(`${tp.topic}\u0000${tp.partition}`) ?? ERROR_CODES.UNKNOWN_SERVER_ERROR);
  }

  private async sendMarkers(address: BrokerAddress, m: TxnMarkers, byTopic: Map<string, number[]>) {
    const connection = await this.pool.get(address);
    return connection.request(WriteTxnMarkersApi, {
      markers: [
        {
          producerId: m.producerId,
          producerEpoch: m.producerEpoch,
          transactionResult: m.commit,
          coordinatorEpoch: m.coordinatorEpoch,
          transactionVersion: 0,
          topics: [...byTopic].map(([name, partitionIndexes]) => ({ name, partitionIndexes })),
        },
      ],
    });
  }

  /**
   * KIP-890 part 1 from a partition leader: asks the coordinator on broker `nodeId` whether the
   * partition is in the producer's ongoing transaction (AddPartitionsToTxn v5, verifyOnly), or
   * with `add` has it added (transactions V2, KIP-890 part 2). The
   * coordinator's code for the partition; NOT_COORDINATOR when it cannot be asked (the producer
   * retries, as Kafka's leader answers then).
   */
  async verify(nodeId: number, who: TxnIdentity, topic: string, partition: number, add = false): Promise<number> {
    const address = this.address(nodeId);
    if (address === null) return ERROR_CODES.NOT_COORDINATOR;
    try {
      const connection = await this.pool.get(address);
      const res = await connection.request(AddPartitionsToTxnApi, {
        ...AddPartitionsToTxnApi.request.defaults(),
        transactions: [
          {
            transactionalId: who.transactionalId,
            producerId: who.producerId,
            producerEpoch: who.producerEpoch,
            verifyOnly: !add,
            topics: [{ name: topic, partitions: [partition] }],
          },
        ],
      });
      if (res.errorCode !== ERROR_CODES.NONE) return res.errorCode;
      const p = res.resultsByTransaction[0]?.topicResults[0]?.resultsByPartition[0];
      return p?.partitionErrorCode ?? ERROR_CODES.UNKNOWN_SERVER_ERROR;
    } catch {
      return ERROR_CODES.NOT_COORDINATOR;
    }
  }

  close(): Promise<void> {
    return this.pool.close();
  }
}
