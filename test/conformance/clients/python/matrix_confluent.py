"""The client-matrix scenario (see matrix_common.py) with confluent-kafka-python, i.e. the librdkafka
its wheel bundles, unmodified.

    python matrix_confluent.py <bootstrap host:port> <roundtrip|quick|codecs>
"""

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
    MEMBERS,
    PARTITIONS,
    args,
    check_offsets,
    check_topic,
    poll,
    record,
    run_members,
    settle_group,
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
                "check.crcs": True,  # verify every fetched batch's CRC-32C (kafka-python does by default)
                **EXTRA,
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
                    ts_type, ts = m.timestamp()
                    res.check(
                        member, last, m.partition(), m.offset(), m.key(), m.value(), m.headers(), ts, ts_type == TIMESTAMP_CREATE_TIME
                    )
                if got:
                    consumer.commit(asynchronous=False)
            except Exception as e:  # noqa: BLE001 - reported, not hidden
                res.fail(f"member {member}: {e!r}")
                return

    run_members(res, consumers, loop, 60, lambda: settle_group(res, lambda: describe_group(res, admin, group)))
    return consumers


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
    """After the members left: the group is listed as Empty, then deleted and gone."""

    def listed():
        result = admin.list_consumer_groups().result(TIMEOUT_S)
        for e in result.errors:
            res.fail(f"list groups: {e}")
        return next((g for g in result.valid if g.group_id == group), None)

    def state(g):
        return g.state.name.capitalize() if g and hasattr(g.state, "name") else None

    g = poll(lambda: (lambda g: g if state(g) == "Empty" else None)(listed())) or listed()
    res.data["group"]["stateAfterLeave"] = state(g)
    if not g or state(g) != "Empty" or g.is_simple_consumer_group:
        res.fail(f"group after the members left: listed as {g}")
    admin.delete_consumer_groups([group])[group].result(TIMEOUT_S)
    if listed() is not None:
        res.fail("group still listed after delete")


def main():
    res, per_codec = args("confluent-kafka")
    admin = AdminClient({"bootstrap.servers": res.data["bootstrap"], **EXTRA})
    consumers = []
    try:
        res.data["librdkafka"] = __import__("confluent_kafka").libversion()[0]
        admin.create_topics([NewTopic(res.topic, num_partitions=PARTITIONS, replication_factor=1)])[res.topic].result(
            TIMEOUT_S
        )
        # Kafka's controller makes a new topic visible a little after answering.
        poll(lambda: res.topic in admin.list_topics(res.topic, timeout=TIMEOUT_S).topics)
        describe_topic(res, admin)
        res.mark("createTopic")
        produce(res, per_codec)
        res.mark("produce")
        group = res.topic + "-group"
        if res.data["scenario"] == "codecs":
            res.finish()  # prints and exits; `finally` still closes the clients
        if not res.data["errors"]:
            consumers = consume(res, admin, group)
            offsets(res, admin, group, consumers[0])
            res.mark("offsets")
        for c in consumers:
            c.close()  # leaves the group
        res.mark("close")
        if consumers:
            delete_group(res, admin, group)
            res.mark("deleteGroup")
        consumers = []
        admin.delete_topics([res.topic])[res.topic].result(TIMEOUT_S)
        if not poll(lambda: res.topic not in admin.list_topics(timeout=TIMEOUT_S).topics):
            res.fail("topic still listed after delete")
        res.mark("deleteTopic")
    except Exception as e:  # noqa: BLE001 - reported, not hidden
        res.fail(f"{type(e).__name__}: {e}")
    finally:
        for c in consumers:
            c.close()
    res.finish()


if __name__ == "__main__":
    main()
