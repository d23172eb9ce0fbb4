"""kafka-python against a compacted topic: create it (small segment.ms, short delete.retention.ms), produce
VERSIONS versions of KEYS keys, then tombstones for every TOMB_EVERY-th key, then keep a 'tick' key busy for a
few seconds (dirty data, so the cleaner runs again after the tombstones' retention), then read from the
beginning until every key shows one value and tombstoned keys none, or the deadline passes.

usage: kp_compaction.py BOOTSTRAP TOPIC KEYS VERSIONS TOMB_EVERY
Prints {"type": "ack", ...} per acknowledged record, then {"type": "read", "records": [[offset, key, value]...],
"done": bool} for the last read. Exits 3 when the deadline passes first.
"""
import json
import sys
import time

from kafka import KafkaAdminClient, KafkaConsumer, KafkaProducer, TopicPartition
from kafka.admin import NewTopic

DEADLINE_S = 90


def emit(obj):
    print(json.dumps(obj, sort_keys=True), flush=True)


def read_all(bootstrap, topic):
    consumer = KafkaConsumer(bootstrap_servers=bootstrap, group_id=None, enable_auto_commit=False,
                             client_id="chaos-kp-compaction-reader")
    try:
        tp = TopicPartition(topic, 0)
        consumer.assign([tp])
        consumer.seek_to_beginning()
        end = consumer.end_offsets([tp])[tp]
        records = []
        start = time.monotonic()
        while consumer.position(tp) < end and time.monotonic() - start < 30:
            for _, msgs in consumer.poll(timeout_ms=500).items():
                for m in msgs:
                    records.append([m.offset, m.key.decode(), None if m.value is None else m.value.decode()])
        return records
    finally:
        consumer.close(autocommit=False)


def main(argv):
    bootstrap, topic = argv[1], argv[2]
    keys, versions, tomb_every = int(argv[3]), int(argv[4]), int(argv[5])
    admin = KafkaAdminClient(bootstrap_servers=bootstrap, client_id="chaos-kp-compaction-admin")
    configs = {"cleanup.policy": "compact", "segment.ms": "300", "min.cleanable.dirty.ratio": "0.01",
               "delete.retention.ms": "1000", "min.compaction.lag.ms": "0"}
    resp = admin.create_topics([NewTopic(topic, 1, 1, topic_configs=configs)], timeout_ms=15000)
    emit({"type": "create", "errors": [[e[0], e[1]] for e in resp.topic_errors]})
    admin.close()

    producer = KafkaProducer(bootstrap_servers=bootstrap, acks="all", client_id="chaos-kp-compaction")
    futures = []
    for v in range(versions):
        for k in range(keys):
            futures.append(producer.send(topic, key=("key-%d" % k).encode(), value=("v%d" % v).encode()))
        producer.flush()
        time.sleep(0.1)
    for k in range(0, keys, tomb_every):
        futures.append(producer.send(topic, key=("key-%d" % k).encode(), value=None))
    producer.flush()
    for f in futures:
        md = f.get(timeout=30)
        emit({"type": "ack", "offset": md.offset})

    start = time.monotonic()
    records, done = [], False
    ticks = 0
    while time.monotonic() - start < DEADLINE_S:
        # Ticks for a while: dirty data so the cleaner cleans again once the tombstones are old enough.
        if time.monotonic() - start < 4:
            producer.send(topic, key=b"tick", value=str(ticks).encode())
            producer.flush()
            ticks += 1
            time.sleep(0.2)
            continue
        records = read_all(bootstrap, topic)
        by_key = {}
        for _, k, v in records:
            by_key.setdefault(k, []).append(v)
        done = all(len(by_key.get("key-%d" % k, [])) == (0 if k % tomb_every == 0 else 1) for k in range(keys))
        if done:
            break
        time.sleep(0.5)
    producer.close()
    emit({"type": "read", "records": records, "done": done})
    if not done:
        sys.exit(3)


if __name__ == "__main__":
    main(sys.argv)
