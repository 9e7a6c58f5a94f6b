"""What the client-matrix scripts share: the records, the checks and the JSON result.

The scenario (the same as ../go/main.go): create a 3-partition topic through the admin API; for each
codec produce keyed records with headers (acks=all, idempotent where the client can); consume them back
in a group of two members that commit; check every record against what the producer was told
(partition, offset, key, value, headers) and the order of each member's stream per partition; describe
the group and its committed offsets; delete the topic.
"""

import json
import logging
import os
import sys
import threading
import time

PARTITIONS = 3
MEMBERS = 2
CODECS = ["none", "gzip", "snappy", "lz4", "zstd"]
# codecs: only create and produce (200 a codec), for the test to read the stored batches' codecs.
PER_CODEC = {"roundtrip": 3000, "quick": 300, "codecs": 200}
# MATRIX_DEBUG=1: the client's own debug log on stderr (to compare what it saw from two brokers).
DEBUG = os.environ.get("MATRIX_DEBUG") == "1"
if DEBUG:
    logging.basicConfig(stream=sys.stderr, level=logging.DEBUG, format="%(asctime)s %(name)s %(levelname)s %(message)s")


def record(codec, i):
    """Key, value and headers of record i of a codec, as str/bytes the clients take."""
    key = f"key-{i % 50}".encode()
    value = f"{codec}|{i}|compressible value text, compressible value text, compressible".encode()
    headers = [("seq", str(i).encode()), ("codec", codec.encode()), ("empty", b"")]
    return key, value, headers


class Result:
    def __init__(self, client, scenario, bootstrap):
        self.started = time.monotonic()
        self.lock = threading.Lock()
        self.data = {
            "client": client,
            "scenario": scenario,
            "bootstrap": bootstrap,
            "topic": f"matrix-{client}-{time.time_ns()}",
            "ok": False,
            "produced": {},
            "consumed": 0,
            "redelivered": 0,
            "group": {},
            "committed": {},
            "endOffsets": {},
            "errors": [],
            "elapsedMs": 0,
            "phasesMs": {},
        }
        self.last_mark = self.started
        self.expected = {}  # (partition, offset) -> (key, value, headers, timestamp ms)
        self.seen = set()
        self.complete = threading.Event()

    def mark(self, phase):
        """Records how long the phase that just ended took (to compare the brokers' latencies)."""
        now = time.monotonic()
        self.data["phasesMs"][phase] = int((now - self.last_mark) * 1000)
        self.last_mark = now

    @property
    def topic(self):
        return self.data["topic"]

    def fail(self, message):
        with self.lock:
            # Bounded: a broken broker must not flood the report.
            if len(self.data["errors"]) < 50:
                self.data["errors"].append(message)

    def acked(self, codec, i, partition, offset, timestamp_ms):
        """timestamp_ms: the record's timestamp as the producer was told on acknowledgement."""
        with self.lock:
            where = (partition, offset)
            if where in self.expected:
                self.fail_locked(f"produce {codec} #{i}: offset {partition}/{offset} acknowledged twice")
            self.expected[where] = (*record(codec, i), timestamp_ms)
            self.data["produced"][codec] = self.data["produced"].get(codec, 0) + 1

    def check(self, member, last, partition, offset, key, value, headers, timestamp_ms, create_time):
        """One consumed record; `last` is this member's last offset per partition while it owns it;
        create_time: whether the record's timestamp type is CreateTime."""
        with self.lock:
            prev = last.get(partition)
            if prev is not None and offset <= prev:
                self.fail_locked(f"member {member} partition {partition}: offset {offset} after {prev}")
            last[partition] = offset
            want = self.expected.get((partition, offset))
            if want is None:
                self.fail_locked(f"record at {partition}/{offset} was never acknowledged")
                return
            if (partition, offset) in self.seen:
                self.data["redelivered"] += 1
            self.seen.add((partition, offset))
            got = (key, value, list(headers or []), timestamp_ms if create_time else ("LogAppendTime", timestamp_ms))
            if got != want:
                self.fail_locked(f"record at {partition}/{offset}: got {got!r}, sent {want!r}")
            if len(self.seen) == len(self.expected):
                self.complete.set()

    def fail_locked(self, message):
        if len(self.data["errors"]) < 50:
            self.data["errors"].append(message)

    def finish(self):
        self.data["consumed"] = len(self.seen)
        self.data["elapsedMs"] = int((time.monotonic() - self.started) * 1000)
        self.data["ok"] = not self.data["errors"]
        print(json.dumps(self.data))
        sys.exit(0 if self.data["ok"] else 1)


def check_group(res, state, protocol_type, members, assigned):
    res.data["group"] = {
        "state": state,
        "protocolType": protocol_type,
        "members": members,
        "assigned": sorted(assigned),
    }
    if state != "Stable" or protocol_type != "consumer" or members != MEMBERS:
        res.fail(f"group: state {state}, protocol type {protocol_type!r}, {members} members")
    if sorted(assigned) != list(range(PARTITIONS)):
        res.fail(f"group assignment covers partitions {sorted(assigned)}")


def check_topic(res, partitions):
    """partitions: (partition, leader, replicas, isr, error) per partition of the described topic."""
    if sorted(p[0] for p in partitions) != list(range(PARTITIONS)):
        res.fail(f"describe topic: partitions {sorted(p[0] for p in partitions)}")
    for partition, leader, replicas, isr, error in partitions:
        if error or leader is None or leader < 0 or len(replicas) != 1 or len(isr) != 1:
            res.fail(f"describe topic: partition {partition} leader {leader} replicas {replicas} isr {isr} error {error}")


def poll(what, attempts=50, pause_s=0.1):
    """Calls what() until it returns a true value, a bounded number of times; returns the last value."""
    for attempt in range(attempts):
        value = what()
        if value or attempt == attempts - 1:
            return value
        time.sleep(pause_s)


def check_offsets(res, committed, ends):
    """committed and ends: partition -> offset (committed None when missing)."""
    for p in range(PARTITIONS):
        res.data["endOffsets"][str(p)] = ends.get(p)
        res.data["committed"][str(p)] = committed.get(p)
        if committed.get(p) != ends.get(p):
            res.fail(f"partition {p}: committed {committed.get(p)}, end offset {ends.get(p)}")


def args(client):
    if len(sys.argv) != 3 or sys.argv[2] not in PER_CODEC:
        print(f"usage: {sys.argv[0]} <bootstrap host:port> <{'|'.join(PER_CODEC)}>", file=sys.stderr)
        sys.exit(2)
    return Result(client, sys.argv[2], sys.argv[1]), PER_CODEC[sys.argv[2]]


def run_members(res, consumers, loop, deadline_s, settle):
    """Runs loop(consumer, member number, stop) for each consumer in its own thread until every record
    is seen or the deadline passes, then settle() (describing the group) while the members still poll,
    so that a member that joined late is rebalanced in. The consumers stay open for the caller."""
    stop = threading.Event()
    threads = [threading.Thread(target=loop, args=(c, n + 1, stop), daemon=True) for n, c in enumerate(consumers)]
    for t in threads:
        t.start()
    try:
        res.complete.wait(deadline_s)
        res.mark("consume")
        with res.lock:
            if len(res.seen) != len(res.expected):
                res.fail_locked(f"consumed {len(res.seen)} distinct records, {len(res.expected)} were acknowledged")
        settle()
        res.mark("describeGroup")
    finally:
        stop.set()
        for t in threads:
            t.join(10)


def settle_group(res, describe):
    """Polls describe() -> (state, protocol type, members, assigned partitions) a bounded while until the
    group is stable with every member, then checks the last answer."""
    for attempt in range(50):
        state, protocol_type, members, assigned = describe()
        if (state == "Stable" and members == MEMBERS and sorted(assigned) == list(range(PARTITIONS))) or attempt == 49:
            break
        time.sleep(0.2)
    check_group(res, state, protocol_type, members, assigned)


def consume_in_group(res, new_member, poll_once, describe):
    """Consumes the topic with MEMBERS consumers in one group (see run_members) and returns them open.
    new_member(member, last) -> a consumer subscribed to the topic that drops from `last` the partitions it
    gives up; poll_once(consumer, member, last) checks (res.check) and commits what one poll returned;
    describe: as settle_group takes it."""
    consumers = []
    lasts = []
    for n in range(MEMBERS):
        last = {}
        consumers.append(new_member(n + 1, last))
        lasts.append(last)

    def loop(consumer, member, stop):
        last = lasts[member - 1]
        while not stop.is_set():
            try:
                poll_once(consumer, member, last)
            except Exception as e:  # noqa: BLE001 - reported, not hidden
                res.fail(f"member {member}: {e!r}")
                return

    run_members(res, consumers, loop, 60, lambda: settle_group(res, describe))
    return consumers


def delete_empty_group(res, listed, state, is_consumer, delete):
    """After the members left: the group is listed as Empty, then deleted and gone. listed() -> the group's
    listing or None; state(listing) -> its state (None for None); is_consumer(listing) -> whether its
    protocol type is "consumer"; delete() deletes the group."""
    g = poll(lambda: (lambda g: g if state(g) == "Empty" else None)(listed())) or listed()
    res.data["group"]["stateAfterLeave"] = state(g)
    if not g or state(g) != "Empty" or not is_consumer(g):
        res.fail(f"group after the members left: listed as {g}")
    delete()
    if listed() is not None:
        res.fail("group still listed after delete")


def run_scenario(res, per_codec, admin, client, close_admin=None):
    """Runs the scenario's steps in order with one client's functions, then prints the result and exits.
    client: a module with create_topic(res, admin) (returns once the topic is visible),
    describe_topic(res, admin), produce(res, per_codec), consume(res, admin, group) -> the open consumers,
    offsets(res, admin, group, consumer), delete_group(res, admin, group), delete_topic(res, admin) and
    topic_listed(res, admin)."""
    consumers = []
    try:
        client.create_topic(res, admin)
        client.describe_topic(res, admin)
        res.mark("createTopic")
        client.produce(res, per_codec)
        res.mark("produce")
        group = res.topic + "-group"
        if res.data["scenario"] == "codecs":
            res.finish()  # prints and exits; `finally` still closes the clients
        if not res.data["errors"]:
            consumers = client.consume(res, admin, group)
            client.offsets(res, admin, group, consumers[0])
            res.mark("offsets")
        for c in consumers:
            c.close()  # leaves the group
        res.mark("close")
        if consumers:
            client.delete_group(res, admin, group)
            res.mark("deleteGroup")
        consumers = []
        client.delete_topic(res, admin)
        if not poll(lambda: not client.topic_listed(res, admin)):
            res.fail("topic still listed after delete")
        res.mark("deleteTopic")
    except Exception as e:  # noqa: BLE001 - reported, not hidden
        res.fail(f"{type(e).__name__}: {e}")
    finally:
        for c in consumers:
            c.close()
        if close_admin:
            close_admin()
    res.finish()
