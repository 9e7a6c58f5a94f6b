import { ERROR_CODES, KafkaError } from '@sluice/protocol';
import { PRODUCER_ID_BLOCK_SIZE, type ProducerIdBlock } from '../model.js';

const MAX_PRODUCER_ID = (1n << 63n) - 1n;

/**
 * The next producer-id block (Kafka's ProducerIdControlManager): `size` ids from `nextProducerId`,
 * and the new start for the block after it. The store writes the new start with a compare on the
 * old one, so two brokers can never be handed overlapping blocks. Throws when the id space is spent.
 */
export function allocateProducerIdBlock(
  nextProducerId: bigint,
  brokerId: number,
  size: number = PRODUCER_ID_BLOCK_SIZE,
): { block: ProducerIdBlock; nextProducerId: bigint } {
  if (!Number.isInteger(size) || size <= 0) throw new RangeError(`producer-id block size ${size} is not positive`);
  if (nextProducerId < 0n) throw new RangeError(`next producer id ${nextProducerId} is negative`);
  const end = nextProducerId + BigInt(size);
  if (end - 1n > MAX_PRODUCER_ID) {
    throw new KafkaError(
      ERROR_CODES.UNKNOWN_SERVER_ERROR,
      'Exhausted all producerIds as the next block would exceed the max producer id.',
    );
  }
  return { block: { assignedBrokerId: brokerId, firstProducerId: nextProducerId, size }, nextProducerId: end };
}
