import { ERROR_CODES } from '@sluice/protocol';
import { describe, expect, it } from 'vitest';
import type { BrokerContext } from '../server/context.js';
import { initProducerIdHandler } from './init-producer-id.js';

const request = {
  transactionalId: null,
  transactionTimeoutMs: 60_000,
  producerId: -1n,
  producerEpoch: -1,
  enable2Pc: false,
  keepPreparedTxn: false,
};
const ctx = {} as Parameters<ReturnType<typeof initProducerIdHandler>['handle']>[1];

function handlerWith(ids: (bigint | null)[]) {
  const broker = { producerIds: { nextId: () => ids.shift() ?? null } } as unknown as BrokerContext;
  return initProducerIdHandler(broker);
}

describe('InitProducerId', () => {
  it('hands out the next id of the reserved block with epoch 0', () => {
    const res = handlerWith([42n]).handle(request, ctx);
    expect(res).toMatchObject({ errorCode: 0, producerId: 42n, producerEpoch: 0 });
  });

  it('answers COORDINATOR_LOAD_IN_PROGRESS (retriable) while no block of ids is at hand', () => {
    const res = handlerWith([null]).handle(request, ctx);
    expect(res).toMatchObject({
      errorCode: ERROR_CODES.COORDINATOR_LOAD_IN_PROGRESS,
      producerId: -1n,
      producerEpoch: -1,
    });
  });
});
