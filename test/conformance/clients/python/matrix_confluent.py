"""The client-matrix scenario (see matrix_common.py) with confluent-kafka-python, i.e. the librdkafka
its wheel bundles, unmodified.

    python matrix_confluent.py <bootstrap host:port> <roundtrip|quick>
"""

import time

from confluent_kafka import Consumer, ConsumerGroupTopicPartitions, Producer, TopicPartition
from confluent_kafka.admin import AdminClient, NewTopic

from matrix_common import CODECS, MEMBERS, PARTITIONS, args, check_group, check_offsets, record, run_members

TIMEOUT_S = 30


def produce(res, per_codec):
    for codec in CODECS:
        producer = Producer(
            {
                "bootstrap.servers": res.data["bootstrap"],
                "acks": "all",
                "enable.idempotence": True,
                "compression.type": codec,
                "linger.ms": 5,
            }
        )
        for i in range(per_codec):
            key, value, headers = record(codec, i)

            def delivered(err, msg, i=i, codec=codec):
                if err is not None:
                    res.fail(f"produce {codec} #{i}: {err}")
                else:
                    res.acked(codec, i, msg.partition(), msg.offset())

            while True:
                try:
                    producer.produce(res.topic, key=key, value=value, headers=headers, on_delivery=delivered)
                    break
                except BufferError:
                    producer.poll(0.1)  # local queue full: serve delivery reports, then retry
        left = producer.flush(TIMEOUT_S)
        if left:
            res.fail(f"produce {codec}: {left} records not delivered within {TIMEOUT_S} s")


def consume(res, group):
    consumers = []
    lasts = []
    for n in range(MEMBERS):
        last = {}

        def forget(_consumer, partitions, last=last):
            for tp in partitions:
                last.pop(tp.partition, None)

        consumer = Consumer(
            {
                "bootstrap.servers": res.data["bootstrap"],
                "group.id": group,
                "client.id": f"matrix-member-{n + 1}",
                "auto.offset.reset": "earliest",
                "enable.auto.commit": False,
            }
        )
        consumer.subscribe([res.topic], on_revoke=forget, on_lost=forget)
        consumers.append(consumer)
        lasts.append(last)

    def loop(consumer, member, stop):
        last = lasts[member - 1]
        while not stop.is_set():
            try:
                msgs = consumer.consume(num_messages=500, timeout=0.3)
                got = False
                for m in msgs:
                    if m.error():
                        res.fail(f"member {member}: {m.error()}")
                        continue
                    got = True
                    res.check(member, last, m.partition(), m.offset(), m.key(), m.value(), m.headers())
                if got:
                    consumer.commit(asynchronous=False)
            except Exception as e:  # noqa: BLE001 - reported, not hidden
                res.fail(f"member {member}: {e!r}")
                return

    run_members(res, consumers, loop, 60)
    return consumers


def describe(res, admin, group, consumer):
    for attempt in range(50):
        g = admin.describe_consumer_groups([group])[group].result(TIMEOUT_S)
        state = g.state.name.capitalize() if hasattr(g.state, "name") else str(g.state)
        if (state == "Stable" and len(g.members) == MEMBERS) or attempt == 49:
            break
        time.sleep(0.2)
    assigned = [
        tp.partition
        for m in g.members
        if m.assignment is not None
        for tp in m.assignment.topic_partitions
        if tp.topic == res.topic
    ]
    # The description has no protocol type; a "simple" group is one without it.
    protocol_type = "" if g.is_simple_consumer_group else "consumer"
    check_group(res, state, protocol_type, len(g.members), assigned)
    res.data["group"]["assignor"] = g.partition_assignor
    listed = admin.list_consumer_group_offsets([ConsumerGroupTopicPartitions(group)])[group].result(TIMEOUT_S)
    committed = {tp.partition: tp.offset for tp in listed.topic_partitions if tp.topic == res.topic and not tp.error}
    for tp in listed.topic_partitions:
        if tp.error:
            res.fail(f"committed offset of partition {tp.partition}: {tp.error}")
    ends = {p: consumer.get_watermark_offsets(TopicPartition(res.topic, p), timeout=TIMEOUT_S)[1] for p in range(PARTITIONS)}
    check_offsets(res, committed, ends)


def main():
    res, per_codec = args("confluent-kafka")
    admin = AdminClient({"bootstrap.servers": res.data["bootstrap"]})
    consumers = []
    try:
        res.data["librdkafka"] = __import__("confluent_kafka").libversion()[0]
        admin.create_topics([NewTopic(res.topic, num_partitions=PARTITIONS, replication_factor=1)])[res.topic].result(
            TIMEOUT_S
        )
        produce(res, per_codec)
        if not res.data["errors"]:
            group = res.topic + "-group"
            consumers = consume(res, group)
            describe(res, admin, group, consumers[0])
        for c in consumers:
            c.close()
        consumers = []
        admin.delete_topics([res.topic])[res.topic].result(TIMEOUT_S)
    except Exception as e:  # noqa: BLE001 - reported, not hidden
        res.fail(f"{type(e).__name__}: {e}")
    finally:
        for c in consumers:
            c.close()
    res.finish()


if __name__ == "__main__":
    main()
