"""The client-matrix scenario (see matrix_common.py) with confluent-kafka-python, i.e. the librdkafka
its wheel bundles, unmodified.

    python matrix_confluent.py <bootstrap host:port> <roundtrip|quick|codecs>
"""

import sys

from confluent_kafka import (
    TIMESTAMP_CREATE_TIME,
    Consumer,
    ConsumerGroupTopicPartitions,
    Producer,
    TopicCollection,
    TopicPartition,
)
from confluent_kafka.admin import AdminClient, NewTopic

from matrix_common import (
    CODECS,
    DEBUG,
    PARTITIONS,
    args,
    check_offsets,
    check_topic,
    consume_in_group,
    delete_empty_group,
    poll,
    record,
    run_scenario,
)

TIMEOUT_S = 30
# librdkafka's own log (on stderr) with MATRIX_DEBUG=1.
EXTRA = {"debug": "broker,protocol,cgrp,topic,msg,eos,fetch"} if DEBUG else {}


def produce(res, per_codec):
    for codec in CODECS:
        producer = Producer(
            {
                "bootstrap.servers": res.data["bootstrap"],
                "acks": "all",
                "enable.idempotence": True,
                "compression.type": codec,
                "linger.ms": 5,
                **EXTRA,
            }
        )
        for i in range(per_codec):
            key, value, headers = record(codec, i)

            def delivered(err, msg, i=i, codec=codec):
                if err is not None:
                    res.fail(f"produce {codec} #{i}: {err}")
                else:
                    res.acked(codec, i, msg.partition(), msg.offset(), msg.timestamp()[1])

            while True:
                try:
                    producer.produce(res.topic, key=key, value=value, headers=headers, on_delivery=delivered)
                    break
                except BufferError:
                    producer.poll(0.1)  # local queue full: serve delivery reports, then retry
        left = producer.flush(TIMEOUT_S)
        if left:
            res.fail(f"produce {codec}: {left} records not delivered within {TIMEOUT_S} s")


def consume(res, admin, group):
    def new_member(member, last):
        def forget(_consumer, partitions):
            for tp in partitions:
                last.pop(tp.partition, None)

        consumer = Consumer(
            {
                "bootstrap.servers": res.data["bootstrap"],
                "group.id": group,
                "client.id": f"matrix-member-{member}",
                "auto.offset.reset": "earliest",
                "enable.auto.commit": False,
                "check.crcs": True,  # verify every fetched batch's CRC-32C (kafka-python does by default)
                **EXTRA,
            }
        )
        consumer.subscribe([res.topic], on_revoke=forget, on_lost=forget)
        return consumer

    def poll_once(consumer, member, last):
        msgs = consumer.consume(num_messages=500, timeout=0.3)
        got = False
        for m in msgs:
            if m.error():
                res.fail(f"member {member}: {m.error()}")
                continue
            got = True
            ts_type, ts = m.timestamp()
            res.check(
                member, last, m.partition(), m.offset(), m.key(), m.value(), m.headers(), ts, ts_type == TIMESTAMP_CREATE_TIME
            )
        if got:
            consumer.commit(asynchronous=False)

    return consume_in_group(res, new_member, poll_once, lambda: describe_group(res, admin, group))


def describe_group(res, admin, group):
    g = admin.describe_consumer_groups([group])[group].result(TIMEOUT_S)
    state = g.state.name.capitalize() if hasattr(g.state, "name") else str(g.state)
    assigned = [
        tp.partition
        for m in g.members
        if m.assignment is not None
        for tp in m.assignment.topic_partitions
        if tp.topic == res.topic
    ]
    res.data["assignor"] = g.partition_assignor
    # The description has no protocol type; a "simple" group is one without it.
    return state, "" if g.is_simple_consumer_group else "consumer", len(g.members), assigned


def offsets(res, admin, group, consumer):
    listed = admin.list_consumer_group_offsets([ConsumerGroupTopicPartitions(group)])[group].result(TIMEOUT_S)
    committed = {tp.partition: tp.offset for tp in listed.topic_partitions if tp.topic == res.topic and not tp.error}
    for tp in listed.topic_partitions:
        if tp.error:
            res.fail(f"committed offset of partition {tp.partition}: {tp.error}")
    ends = {
        p: consumer.get_watermark_offsets(TopicPartition(res.topic, p), timeout=TIMEOUT_S)[1] for p in range(PARTITIONS)
    }
    check_offsets(res, committed, ends)


def describe_topic(res, admin):
    t = admin.describe_topics(TopicCollection([res.topic]))[res.topic].result(TIMEOUT_S)
    check_topic(
        res,
        [(p.id, p.leader.id if p.leader else None, p.replicas, p.isr, None) for p in t.partitions],
    )


def delete_group(res, admin, group):
    def listed():
        result = admin.list_consumer_groups().result(TIMEOUT_S)
        for e in result.errors:
            res.fail(f"list groups: {e}")
        return next((g for g in result.valid if g.group_id == group), None)

    delete_empty_group(
        res,
        listed,
        lambda g: g.state.name.capitalize() if g and hasattr(g.state, "name") else None,
        lambda g: not g.is_simple_consumer_group,
        lambda: admin.delete_consumer_groups([group])[group].result(TIMEOUT_S),
    )


def create_topic(res, admin):
    res.data["librdkafka"] = __import__("confluent_kafka").libversion()[0]
    admin.create_topics([NewTopic(res.topic, num_partitions=PARTITIONS, replication_factor=1)])[res.topic].result(
        TIMEOUT_S
    )
    # Kafka's controller makes a new topic visible a little after answering.
    poll(lambda: res.topic in admin.list_topics(res.topic, timeout=TIMEOUT_S).topics)


def delete_topic(res, admin):
    admin.delete_topics([res.topic])[res.topic].result(TIMEOUT_S)


def topic_listed(res, admin):
    return res.topic in admin.list_topics(timeout=TIMEOUT_S).topics


def main():
    res, per_codec = args("confluent-kafka")
    admin = AdminClient({"bootstrap.servers": res.data["bootstrap"], **EXTRA})
    run_scenario(res, per_codec, admin, sys.modules[__name__])


if __name__ == "__main__":
    main()
