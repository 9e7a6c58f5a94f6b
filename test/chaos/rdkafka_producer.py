"""librdkafka (confluent-kafka) producer for the chaos suite: idempotent, acks=all, numbered values
`<name>:<n>` to partition n % partitions at a fixed rate until SIGTERM, then a bounded flush.
Prints one JSON line per record sent ({"sent": n}) and per outcome ({"v", "p", "o"} or {"err"}),
and {"fatal": ...} when librdkafka raises a fatal (idempotence) error.

usage: rdkafka_producer.py <bootstrap> <topic> <partitions> <records/s> <name> <compression>
"""

import json
import signal
import sys
import time

from confluent_kafka import KafkaException, Producer

bootstrap, topic, partitions, rate, name, compression = sys.argv[1:7]
partitions = int(partitions)
rate = float(rate)
stop = False


def on_term(_signum, _frame):
    global stop
    stop = True


signal.signal(signal.SIGTERM, on_term)


def emit(o):
    sys.stdout.write(json.dumps(o) + "\n")
    sys.stdout.flush()


def on_error(err):
    if err.fatal():
        emit({"fatal": str(err)})


producer = Producer(
    {
        "bootstrap.servers": bootstrap,
        "enable.idempotence": True,
        "acks": "all",
        "linger.ms": 5,
        "message.timeout.ms": 60000,
        "request.timeout.ms": 10000,
        "compression.type": compression,
        "topic.metadata.refresh.interval.ms": 5000,
        "error_cb": on_error,
    }
)


def report(value):
    def cb(err, msg):
        if err is not None:
            emit({"v": value, "err": str(err)})
        else:
            emit({"v": value, "p": msg.partition(), "o": msg.offset()})

    return cb


started = time.monotonic()
n = 0
while not stop:
    due = started + n / rate
    now = time.monotonic()
    if now < due:
        producer.poll(min(due - now, 0.05))
        continue
    value = f"{name}:{n}"
    try:
        producer.produce(topic, value=value.encode(), partition=n % partitions, on_delivery=report(value))
    except BufferError:
        producer.poll(0.05)
        continue
    except KafkaException as e:
        emit({"fatal": str(e)})
        break
    emit({"sent": n})
    n += 1
    producer.poll(0)

left = producer.flush(75)
emit({"done": n, "unflushed": left})
