// Compile-time checks of the DSL's types (checked by `tsc` in `npm run typecheck`; not run by vitest):
// each @ts-expect-error line must fail to compile, or tsc reports the directive as unused.
import { serde, topic } from '@sluice/client';
import { JoinWindows, StreamsBuilder, TimeWindows, type Windowed } from '../src/index.js';

interface Order {
  id: string;
  amount: number;
}
interface Customer {
  name: string;
}

const b = new StreamsBuilder();
const orders = b.stream(topic('orders', { key: serde.string(), value: serde.json<Order>() }));
const customers = b.table(topic('customers', { key: serde.string(), value: serde.json<Customer>() }));
const byNumber = b.table(topic('by-number', { key: serde.int32(), value: serde.json<Customer>() }));

// Values follow the steps.
const amounts = orders.mapValues((o) => o.amount);
amounts.filter((_k, n) => n > 3);
// @ts-expect-error: the values are numbers now
amounts.mapValues((n) => n.id);

// to(): key and value must fit the topic's serdes.
amounts.to(topic('amounts', { key: serde.string(), value: serde.json<number>() }));
// @ts-expect-error: number values into a topic of strings
amounts.to(topic('amounts-text', { key: serde.string(), value: serde.string() }));
// @ts-expect-error: string keys into a topic of int32 keys
amounts.to(topic('amounts-by-int', { key: serde.int32(), value: serde.json<number>() }));

// Joins need the same key type on both sides.
orders.join(customers, (o, c) => `${o.id} ${c.name}`);
// @ts-expect-error: a table keyed by numbers cannot join a stream keyed by strings
orders.join(byNumber, (o, c) => `${o.id} ${c.name}`);
orders.leftJoin(customers, (o, c) => `${o.id} ${c?.name ?? '?'}`);
// @ts-expect-error: a left join's table value may be null
orders.leftJoin(customers, (o, c) => `${o.id} ${c.name}`);
orders.join(
  orders.mapValues((o) => o.amount),
  (o, n) => o.amount + n,
  JoinWindows.ofTimeDifferenceWithNoGrace(10),
);

// Aggregations give tables of the aggregate type.
const totals = orders.groupByKey().aggregate(
  () => 0,
  (_k, o, sum) => sum + o.amount,
);
totals.toStream().to(topic('totals', { key: serde.string(), value: serde.json<number>() }));
const initialZero = () => 0;
// @ts-expect-error: the aggregate is a number, not an Order
orders.groupByKey().aggregate(initialZero, (_k, _o, sum: Order) => sum);
// @ts-expect-error: reduce keeps the value type
orders.groupByKey().reduce((a, o) => a.amount + o.amount);

// Windowed keys.
const windowed = orders.groupByKey().windowedBy(TimeWindows.ofSizeWithNoGrace(60_000)).count();
windowed.toStream().map((w: Windowed<string>, n) => [`${w.key}@${w.start}`, n] as [string, number]);
// @ts-expect-error: a windowed key is not a string
windowed.toStream().to(topic('per-minute', { key: serde.string(), value: serde.json<number>() }));

// Table groupBy: the adder and subtractor take the grouped value type.
const perName = customers.groupBy((_id, c) => [c.name, 1]);
perName.aggregate(
  () => 0,
  (_k, n, s) => s + n,
  (_k, n, s) => s - n,
);
perName
  .count()
  .toStream()
  .to(topic('per-name', { key: serde.string(), value: serde.json<number>() }));
perName.aggregate(
  () => 0,
  (_k, n, s) => s + n,
  // @ts-expect-error: the grouped values are numbers, not customers
  (_k, c: Customer, s) => s - c.name.length,
);
// @ts-expect-error: a table reduce needs a subtractor
perName.reduce((a, n) => a + n);

// Stream–stream left and outer joins: the missing side is null.
const amountsByOrder = orders.mapValues((o) => o.amount);
orders.leftJoin(amountsByOrder, (o, n) => o.amount + (n ?? 0), JoinWindows.ofTimeDifferenceWithNoGrace(10));
// @ts-expect-error: a stream–stream left join's other value may be null
orders.leftJoin(amountsByOrder, (o, n: number) => o.amount + n, JoinWindows.ofTimeDifferenceWithNoGrace(10));
orders.outerJoin(amountsByOrder, (o, n) => (o?.amount ?? 0) + (n ?? 0), JoinWindows.ofTimeDifferenceWithNoGrace(10));
orders.outerJoin(
  amountsByOrder,
  // @ts-expect-error: in an outer join this side's value may be null too
  (o: Order, n) => o.amount + (n ?? 0),
  JoinWindows.ofTimeDifferenceWithNoGrace(10),
);

// Stream–globalTable joins: the key selector gives the global table's key type.
const customersEverywhere = b.globalTable(topic('customers-g', { key: serde.string(), value: serde.json<Customer>() }));
orders.join(
  customersEverywhere,
  (_k, o) => o.id,
  (o, c) => `${o.id} ${c.name}`,
);
orders.leftJoin(
  customersEverywhere,
  (_k, o) => o.id,
  (o, c) => `${o.id} ${c?.name ?? '?'}`,
);
// @ts-expect-error: the global table is keyed by strings, not numbers
orders.join(
  customersEverywhere,
  (_k, o) => o.amount,
  (o, c) => `${o.id} ${c.name}`,
);
orders.leftJoin(
  customersEverywhere,
  (_k, o) => o.id,
  // @ts-expect-error: a left join's global table value may be null
  (o, c) => `${o.id} ${c.name}`,
);

// Foreign-key table joins: the foreign key must have the other table's key type.
const idsToCustomer = b.table(
  topic('order-customer', { key: serde.string(), value: serde.json<{ customer: number }>() }),
);
idsToCustomer.join(
  byNumber,
  (v) => v.customer,
  (v, c) => `${v.customer}:${c.name}`,
);
idsToCustomer.join(
  byNumber,
  // @ts-expect-error: byNumber is keyed by numbers, the foreign key is a string
  (v) => String(v.customer),
  (v, c) => `${v.customer}:${c.name}`,
);
idsToCustomer.leftJoin(
  byNumber,
  (v) => v.customer,
  // @ts-expect-error: a left join's other value may be null
  (v, c) => `${v.customer}:${c.name}`,
);
