"""Transactions with confluent-kafka-python (librdkafka's transactional producer and read_committed
consumer), unmodified, for test/conformance/transactions-clients.test.ts:

    python txn_confluent.py <bootstrap host:port> <topic>

Into a fresh single-partition topic: a committed transaction of 100 records, an aborted one of 50, a
second producer with the same transactional id fencing the first while its transaction is open, then a
consume-transform-produce transaction that commits a group's offsets with its output. Prints one JSON
line: what read_committed and read_uncommitted consumers saw, the fencing error, the group's offset.
"""

import json
import sys
import time

from confluent_kafka import Consumer, KafkaException, Producer, TopicPartition
from confluent_kafka.admin import AdminClient, NewTopic

TIMEOUT_S = 30


def producer(bootstrap, tid):
    p = Producer({"bootstrap.servers": bootstrap, "transactional.id": tid, "linger.ms": 5})
    p.init_transactions(TIMEOUT_S)
    return p


def produce_in_txn(p, topic, values, commit):
    p.begin_transaction()
    for v in values:
        p.produce(topic, value=v.encode())
    p.flush(TIMEOUT_S)
    if commit:
        p.commit_transaction(TIMEOUT_S)
    else:
        p.abort_transaction(TIMEOUT_S)


def read_all(bootstrap, topic, isolation, expect):
    c = Consumer(
        {
            "bootstrap.servers": bootstrap,
            "group.id": f"reader-{isolation}-{topic}",
            "auto.offset.reset": "earliest",
            "enable.auto.commit": False,
            "isolation.level": isolation,
        }
    )
    c.assign([TopicPartition(topic, 0, 0)])
    out = []
    deadline = time.time() + TIMEOUT_S
    while len(out) < expect and time.time() < deadline:
        m = c.poll(0.5)
        if m is None or m.error():
            continue
        out.append(m.value().decode())
    # A little longer: anything beyond what is expected would show here.
    end = time.time() + 1.0
    while time.time() < end:
        m = c.poll(0.2)
        if m is not None and not m.error():
            out.append(m.value().decode())
    c.close()
    return out


def main():
    bootstrap, topic = sys.argv[1], sys.argv[2]
    out_topic = f"{topic}-out"
    admin = AdminClient({"bootstrap.servers": bootstrap})
    for f in admin.create_topics([NewTopic(topic, 1, 1), NewTopic(out_topic, 1, 1)]).values():
        f.result(TIMEOUT_S)

    p = producer(bootstrap, f"{topic}-tx")
    produce_in_txn(p, topic, [f"c-{i}" for i in range(100)], True)
    produce_in_txn(p, topic, [f"a-{i}" for i in range(50)], False)

    # Fencing: the first producer's open transaction is aborted by the second's init_transactions.
    p.begin_transaction()
    p.produce(topic, value=b"zombie")
    p.flush(TIMEOUT_S)
    p2 = producer(bootstrap, f"{topic}-tx")
    fenced = None
    try:
        p.commit_transaction(TIMEOUT_S)
    except KafkaException as e:
        err = e.args[0]
        fenced = {"name": err.name(), "fatal": err.fatal()}
    produce_in_txn(p2, topic, [f"d-{i}" for i in range(10)], True)

    # Consume-transform-produce: read the committed input, write it upper-cased, commit the offsets with it.
    group = f"{topic}-eos"
    c = Consumer(
        {
            "bootstrap.servers": bootstrap,
            "group.id": group,
            "auto.offset.reset": "earliest",
            "enable.auto.commit": False,
            "isolation.level": "read_committed",
        }
    )
    c.assign([TopicPartition(topic, 0, 0)])
    batch = []
    deadline = time.time() + TIMEOUT_S
    while len(batch) < 110 and time.time() < deadline:
        m = c.poll(0.5)
        if m is not None and not m.error():
            batch.append(m)
    p2.begin_transaction()
    for m in batch:
        p2.produce(out_topic, value=m.value().upper())
    p2.send_offsets_to_transaction(
        [TopicPartition(topic, 0, batch[-1].offset() + 1)], c.consumer_group_metadata(), TIMEOUT_S
    )
    p2.commit_transaction(TIMEOUT_S)
    committed = c.committed([TopicPartition(topic, 0)], TIMEOUT_S)[0].offset
    c.close()

    print(
        json.dumps(
            {
                "readCommitted": read_all(bootstrap, topic, "read_committed", 110),
                "readUncommitted": read_all(bootstrap, topic, "read_uncommitted", 161),
                "output": read_all(bootstrap, out_topic, "read_committed", 110),
                "fenced": fenced,
                "groupOffset": committed,
                "lastInputOffset": batch[-1].offset() if batch else None,
            }
        )
    )


if __name__ == "__main__":
    main()
