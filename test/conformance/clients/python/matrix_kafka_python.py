"""The client-matrix scenario (see matrix_common.py) with the unmodified kafka-python client.

    python matrix_kafka_python.py <bootstrap host:port> <roundtrip|quick|codecs>
"""

import sys

from kafka import KafkaAdminClient, KafkaConsumer, KafkaProducer, TopicPartition
from kafka.consumer.subscription_state import ConsumerRebalanceListener

from matrix_common import (
    CODECS,
    PARTITIONS,
    args,
    check_offsets,
    check_topic,
    consume_in_group,
    delete_empty_group,
    record,
    run_scenario,
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
    def new_member(member, last):
        consumer = KafkaConsumer(
            bootstrap_servers=res.data["bootstrap"],
            group_id=group,
            client_id=f"matrix-member-{member}",
            auto_offset_reset="earliest",
            enable_auto_commit=False,
        )
        consumer.subscribe([res.topic], listener=Forget(last))
        return consumer

    def poll_once(consumer, member, last):
        batches = consumer.poll(timeout_ms=300)
        for tp, records in batches.items():
            for r in records:
                res.check(member, last, tp.partition, r.offset, r.key, r.value, r.headers, r.timestamp, r.timestamp_type == 0)
        if batches:
            consumer.commit()

    return consume_in_group(res, new_member, poll_once, lambda: describe_group(res, admin, group))


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
    def delete():
        deleted = admin.delete_groups([group])
        if deleted.get(group) != "OK":
            res.fail(f"delete group: {deleted}")

    delete_empty_group(
        res,
        lambda: next((g for g in admin.list_groups() if g["group_id"] == group), None),
        lambda g: g and g.get("group_state"),
        lambda g: g.get("protocol_type") == "consumer",
        delete,
    )


def create_topic(res, admin):
    created = admin.create_topics(
        {res.topic: {"num_partitions": PARTITIONS, "replication_factor": 1}}, wait_for_metadata=True
    )
    if created["topics"][0].get("num_partitions") != PARTITIONS:
        res.fail(f"create topic answered {created['topics'][0]}")


def delete_topic(res, admin):
    admin.delete_topics([res.topic])


def topic_listed(res, admin):
    return res.topic in admin.list_topics()


def main():
    res, per_codec = args("kafka-python")
    admin = KafkaAdminClient(bootstrap_servers=res.data["bootstrap"])
    run_scenario(res, per_codec, admin, sys.modules[__name__], close_admin=admin.close)


if __name__ == "__main__":
    main()
