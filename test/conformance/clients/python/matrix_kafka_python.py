"""The client-matrix scenario (see matrix_common.py) with the unmodified kafka-python client.

    python matrix_kafka_python.py <bootstrap host:port> <roundtrip|quick|codecs>
"""

from kafka import KafkaAdminClient, KafkaConsumer, KafkaProducer, TopicPartition
from kafka.consumer.subscription_state import ConsumerRebalanceListener

from matrix_common import (
    CODECS,
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

TIMEOUT_MS = 30_000


def produce(res, per_codec):
    for codec in CODECS:
        producer = KafkaProducer(
            bootstrap_servers=res.data["bootstrap"],
            acks="all",
            enable_idempotence=True,
            compression_type=None if codec == "none" else codec,
            linger_ms=5,
        )
        futures = []
        for i in range(per_codec):
            key, value, headers = record(codec, i)
            futures.append((i, producer.send(res.topic, key=key, value=value, headers=headers)))
        producer.flush(timeout=TIMEOUT_MS / 1000)
        for i, future in futures:
            try:
                meta = future.get(timeout=TIMEOUT_MS / 1000)
                res.acked(codec, i, meta.partition, meta.offset, meta.timestamp)
            except Exception as e:  # noqa: BLE001 - reported, not hidden
                res.fail(f"produce {codec} #{i}: {e!r}")
                break
        producer.close()


class Forget(ConsumerRebalanceListener):
    """Forgets a member's last offsets of partitions it gives up (another member continues them)."""

    def __init__(self, last):
        self.last = last

    def on_partitions_revoked(self, revoked):
        for tp in revoked:
            self.last.pop(tp.partition, None)

    def on_partitions_assigned(self, assigned):
        pass


def consume(res, admin, group):
    consumers = []
    lasts = []
    for n in range(MEMBERS):
        last = {}
        consumer = KafkaConsumer(
            bootstrap_servers=res.data["bootstrap"],
            group_id=group,
            client_id=f"matrix-member-{n + 1}",
            auto_offset_reset="earliest",
            enable_auto_commit=False,
        )
        consumer.subscribe([res.topic], listener=Forget(last))
        consumers.append(consumer)
        lasts.append(last)

    def loop(consumer, member, stop):
        last = lasts[member - 1]
        while not stop.is_set():
            try:
                batches = consumer.poll(timeout_ms=300)
                for tp, records in batches.items():
                    for r in records:
                        res.check(member, last, tp.partition, r.offset, r.key, r.value, r.headers, r.timestamp, r.timestamp_type == 0)
                if batches:
                    consumer.commit()
            except Exception as e:  # noqa: BLE001 - reported, not hidden
                res.fail(f"member {member}: {e!r}")
                return

    run_members(res, consumers, loop, 60, lambda: settle_group(res, lambda: describe_group(res, admin, group)))
    return consumers


def describe_group(res, admin, group):
    g = admin.describe_groups([group])[group]
    if g.get("error"):
        res.fail(f"describe group: {g['error']}")
    assigned = []
    for m in g["members"]:
        assignment = m["member_assignment"]
        for t in assignment["assigned_partitions"] if isinstance(assignment, dict) else assignment.assignment:
            topic, parts = (t["topic"], t["partitions"]) if isinstance(t, dict) else t
            if topic == res.topic:
                assigned.extend(parts)
    return g.get("group_state"), g.get("protocol_type"), len(g["members"]), assigned


def offsets(res, admin, group, consumer):
    listed = admin.list_group_offsets(group)[group]
    committed = {tp.partition: om.offset for tp, om in listed.items() if tp.topic == res.topic}
    ends = consumer.end_offsets([TopicPartition(res.topic, p) for p in range(PARTITIONS)])
    check_offsets(res, committed, {tp.partition: o for tp, o in ends.items()})


def describe_topic(res, admin):
    (t,) = admin.describe_topics([res.topic])
    if t.get("error_code"):
        res.fail(f"describe topic: {t}")
    check_topic(
        res,
        [
            (p["partition_index"], p["leader_id"], p["replica_nodes"], p["isr_nodes"], p["error_code"])
            for p in t.get("partitions", [])
        ],
    )


def delete_group(res, admin, group):
    """After the members left: the group is listed as Empty, then deleted and gone."""

    def listed():
        return next((g for g in admin.list_groups() if g["group_id"] == group), None)

    g = poll(lambda: (lambda g: g if g and g.get("group_state") == "Empty" else None)(listed())) or listed()
    res.data["group"]["stateAfterLeave"] = g and g.get("group_state")
    if not g or g.get("group_state") != "Empty" or g.get("protocol_type") != "consumer":
        res.fail(f"group after the members left: listed as {g}")
    deleted = admin.delete_groups([group])
    if deleted.get(group) != "OK":
        res.fail(f"delete group: {deleted}")
    if listed() is not None:
        res.fail("group still listed after delete")


def main():
    res, per_codec = args("kafka-python")
    admin = KafkaAdminClient(bootstrap_servers=res.data["bootstrap"])
    consumers = []
    try:
        created = admin.create_topics(
            {res.topic: {"num_partitions": PARTITIONS, "replication_factor": 1}}, wait_for_metadata=True
        )
        if created["topics"][0].get("num_partitions") != PARTITIONS:
            res.fail(f"create topic answered {created['topics'][0]}")
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
        admin.delete_topics([res.topic])
        if not poll(lambda: res.topic not in admin.list_topics()):
            res.fail("topic still listed after delete")
        res.mark("deleteTopic")
    except Exception as e:  # noqa: BLE001 - reported, not hidden
        res.fail(f"{type(e).__name__}: {e}")
    finally:
        for c in consumers:
            c.close()
        admin.close()
    res.finish()


if __name__ == "__main__":
    main()
