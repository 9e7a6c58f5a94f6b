"""The client-matrix scenario (see matrix_common.py) with the unmodified kafka-python client.

    python matrix_kafka_python.py <bootstrap host:port> <roundtrip|quick>
"""

import time

from kafka import KafkaAdminClient, KafkaConsumer, KafkaProducer, TopicPartition
from kafka.consumer.subscription_state import ConsumerRebalanceListener

from matrix_common import CODECS, MEMBERS, PARTITIONS, args, check_group, check_offsets, record, run_members

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
                res.acked(codec, i, meta.partition, meta.offset)
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


def consume(res, group):
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
                        res.check(member, last, tp.partition, r.offset, r.key, r.value, r.headers)
                if batches:
                    consumer.commit()
            except Exception as e:  # noqa: BLE001 - reported, not hidden
                res.fail(f"member {member}: {e!r}")
                return

    run_members(res, consumers, loop, 60)
    return consumers


def describe(res, admin, group, consumer):
    for attempt in range(50):
        g = admin.describe_groups([group])[group]
        if (g.get("group_state") == "Stable" and len(g["members"]) == MEMBERS) or attempt == 49:
            break
        time.sleep(0.2)
    if g.get("error"):
        res.fail(f"describe group: {g['error']}")
        return
    assigned = []
    for m in g["members"]:
        assignment = m["member_assignment"]
        for t in assignment["assigned_partitions"] if isinstance(assignment, dict) else assignment.assignment:
            topic, parts = (t["topic"], t["partitions"]) if isinstance(t, dict) else t
            if topic == res.topic:
                assigned.extend(parts)
    check_group(res, g.get("group_state"), g.get("protocol_type"), len(g["members"]), assigned)
    offsets = admin.list_group_offsets(group)[group]
    committed = {tp.partition: om.offset for tp, om in offsets.items() if tp.topic == res.topic}
    ends = consumer.end_offsets([TopicPartition(res.topic, p) for p in range(PARTITIONS)])
    check_offsets(res, committed, {tp.partition: o for tp, o in ends.items()})


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
        produce(res, per_codec)
        if not res.data["errors"]:
            group = res.topic + "-group"
            consumers = consume(res, group)
            describe(res, admin, group, consumers[0])
        for c in consumers:
            c.close()
        consumers = []
        admin.delete_topics([res.topic])
        if res.topic in admin.list_topics():
            res.fail("topic still listed after delete")
    except Exception as e:  # noqa: BLE001 - reported, not hidden
        res.fail(f"{type(e).__name__}: {e}")
    finally:
        for c in consumers:
            c.close()
        admin.close()
    res.finish()


if __name__ == "__main__":
    main()
