"""One member of a KIP-848 consumer group (group.protocol=consumer) with confluent-kafka-python, i.e. the
librdkafka its wheel bundles, unmodified. Used by test/conformance/kip848-clients.test.ts.

    python kip848_confluent.py <bootstrap host:port> <topic> <group> <client id>

Prints one line per event, flushed at once so that a SIGKILL loses nothing printed:
    R <partition> <offset> <value>   a record handed to the application
    C <partition> <offset>           a commit the broker acknowledged (the next offset to read)
Offsets are auto-committed every 200 ms. SIGTERM closes the consumer (commit, leave with epoch -1) and exits 0.
"""

import os
import signal
import sys

from confluent_kafka import Consumer, KafkaException

bootstrap, topic, group, client_id = sys.argv[1:5]
stopping = False


def stop(_signum, _frame):
    global stopping
    stopping = True


signal.signal(signal.SIGTERM, stop)


def on_commit(err, partitions):
    if err is not None:
        print(f"E commit {err}", file=sys.stderr, flush=True)
        return
    for p in partitions:
        if p.error is None and p.offset >= 0:
            print(f"C {p.partition} {p.offset}", flush=True)


consumer = Consumer(
    {
        "bootstrap.servers": bootstrap,
        "group.id": group,
        "group.protocol": "consumer",
        "client.id": client_id,
        "auto.offset.reset": "earliest",
        "enable.auto.commit": True,
        "auto.commit.interval.ms": 200,
        "on_commit": on_commit,
        # librdkafka's own log (on stderr) with KIP848_DEBUG=1.
        **({"debug": "cgrp,protocol"} if os.environ.get("KIP848_DEBUG") else {}),
    }
)
consumer.subscribe([topic])
# Bounded: the test stops every member (SIGTERM or SIGKILL) well before this.
for _ in range(600_000):
    if stopping:
        break
    msg = consumer.poll(0.1)
    if msg is None:
        continue
    if msg.error() is not None:
        if msg.error().fatal():
            raise KafkaException(msg.error())
        print(f"E {msg.error()}", file=sys.stderr, flush=True)
        continue
    print(f"R {msg.partition()} {msg.offset()} {msg.value().decode()}", flush=True)
consumer.close()
