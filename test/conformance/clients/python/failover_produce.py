"""Numbered records through a partition leader kill, with an unmodified client (acks=all, idempotent).

    python failover_produce.py <confluent|kafka-python> <bootstrap host:port,...> <topic> <count>

Sends records "0".."count-1" a few milliseconds apart, printing "acked <n>" as acknowledgements
arrive (the test kills the leader on one of these lines), waits for every send to settle, then
reads the partition back with the same client's consumer in a group. Ends with one JSON line:
{"acked": [values], "errors": [failed sends], "consumed": [values read back]}.
"""

import json
import sys
import time

client, bootstrap, topic, count = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4])
SEND_GAP_S = 0.005
SETTLE_S = 120
READ_S = 60

acked = []
errors = []


def progress():
    print(f"acked {len(acked)}", flush=True)


def run_confluent():
    from confluent_kafka import Consumer, Producer

    producer = Producer(
        {
            "bootstrap.servers": bootstrap,
            "acks": "all",
            "enable.idempotence": True,
            "linger.ms": 5,
            "message.timeout.ms": SETTLE_S * 1000,
        }
    )

    def delivered(err, msg):
        if err is not None:
            errors.append(f"{msg.value().decode()}: {err}")
        else:
            acked.append(msg.value().decode())
            if len(acked) % 10 == 0:
                progress()

    for i in range(count):
        producer.produce(topic, value=str(i).encode(), callback=delivered)
        producer.poll(0)
        time.sleep(SEND_GAP_S)
    left = producer.flush(SETTLE_S)
    if left:
        errors.append(f"{left} sends unsettled after {SETTLE_S} s")
    consumer = Consumer(
        {
            "bootstrap.servers": bootstrap,
            "group.id": f"{topic}-reader",
            "auto.offset.reset": "earliest",
            "enable.auto.commit": False,
        }
    )
    consumer.subscribe([topic])
    consumed = []
    deadline = time.time() + READ_S
    while len(consumed) < len(acked) and time.time() < deadline:
        msg = consumer.poll(0.5)
        if msg is None:
            continue
        if msg.error():
            if not msg.error().retriable():
                errors.append(f"consume: {msg.error()}")
            continue
        consumed.append(msg.value().decode())
    consumer.close()
    return consumed


def run_kafka_python():
    from kafka import KafkaConsumer, KafkaProducer

    producer = KafkaProducer(
        bootstrap_servers=bootstrap.split(","),
        acks="all",
        enable_idempotence=True,
        linger_ms=5,
        delivery_timeout_ms=SETTLE_S * 1000,
    )

    def ok(value):
        def on_success(_meta):
            acked.append(value)
            if len(acked) % 10 == 0:
                progress()

        return on_success

    def failed(value):
        return lambda exc: errors.append(f"{value}: {exc!r}")

    for i in range(count):
        value = str(i)
        future = producer.send(topic, value=value.encode())
        future.add_callback(ok(value))
        future.add_errback(failed(value))
        time.sleep(SEND_GAP_S)
    producer.flush(timeout=SETTLE_S)
    producer.close(timeout=10)
    consumer = KafkaConsumer(
        topic,
        bootstrap_servers=bootstrap.split(","),
        group_id=f"{topic}-reader",
        auto_offset_reset="earliest",
        enable_auto_commit=False,
    )
    consumed = []
    deadline = time.time() + READ_S
    while len(consumed) < len(acked) and time.time() < deadline:
        for records in consumer.poll(timeout_ms=500).values():
            consumed.extend(r.value.decode() for r in records)
    consumer.close()
    return consumed


consumed = run_confluent() if client == "confluent" else run_kafka_python()
print(json.dumps({"acked": acked, "errors": errors, "consumed": consumed}), flush=True)
