import { describe, expect, it } from 'vitest';
import { type ConsumerRecord, type Producer, serde, topic } from '../src/index.js';

interface Order {
  id: string;
  amount: number;
}

const orders = topic('orders', { key: serde.string(), value: serde.json<Order>() });
const counters = topic('counters', { key: serde.nullable(serde.string()), value: serde.int64() });

// Compile-time checks: `tsc -p packages/client/tsconfig.json` fails if any @ts-expect-error line compiles cleanly.
function typeChecks(producer: Producer, record: ConsumerRecord<string, Order>): void {
  void producer.send(orders, { key: 'o-1', value: { id: 'o-1', amount: 3 } });
  // @ts-expect-error the key must be a string
  void producer.send(orders, { key: 42, value: { id: 'o-1', amount: 3 } });
  // @ts-expect-error the value must be an Order
  void producer.send(orders, { key: 'o-1', value: { id: 'o-1' } });
  // @ts-expect-error the key is required: the key serde does not accept null
  void producer.send(orders, { value: { id: 'o-1', amount: 3 } });
  // A nullable key may be left out.
  void producer.send(counters, { value: 5n });
  // @ts-expect-error the value is a bigint
  void producer.send(counters, { key: null, value: 5 });
  const amount: number = record.value.amount;
  // @ts-expect-error keys of `orders` records are strings
  const wrong: number = record.key;
  void amount;
  void wrong;
}

describe('typed topics and serdes', () => {
  it('keeps the type-level checks compiled', () => {
    expect(typeof typeChecks).toBe('function');
  });

  it('round-trips through each serde', () => {
    const o: Order = { id: 'x', amount: 1.5 };
    expect(orders.value.deserialize(orders.value.serialize(o))).toEqual(o);
    expect(orders.key.deserialize(orders.key.serialize('ключ'))).toBe('ключ');
    expect(serde.int32().deserialize(serde.int32().serialize(-7))).toBe(-7);
    expect(serde.int32().serialize(258)).toEqual(Buffer.from([0, 0, 1, 2]));
    expect(serde.int64().deserialize(serde.int64().serialize(2n ** 62n))).toBe(2n ** 62n);
    expect(counters.key.serialize(null)).toBeNull();
    expect(counters.key.deserialize(null)).toBeNull();
    expect(() => serde.string().deserialize(null)).toThrow(TypeError);
    const raw = topic('raw');
    expect(raw.value.deserialize(Buffer.from('a'))).toEqual(Buffer.from('a'));
    expect(raw.key.serialize(null)).toBeNull();
  });
});
