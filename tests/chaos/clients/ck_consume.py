"""confluent-kafka Consumer with manual assign from the beginning of every partition, reading up to the high
watermarks taken at start. group.id is required by the client; offsets are never committed.

usage: ck_consume.py BOOTSTRAP TOPIC
Prints {"type": "watermarks", "offsets": {"P": [LOW, HIGH]}} then one {"type": "record", "partition", "offset",
"key", "value", "timestamp"} line per record. Exits 3 if the high watermarks are not reached within 60 s, 1 on a
consumer error.
"""
import json
import sys
import time

from confluent_kafka import OFFSET_BEGINNING, Consumer, KafkaError, TopicPartition

DEADLINE_S = 60


def emit(obj):
    print(json.dumps(obj, sort_keys=True), flush=True)


def text(b):
    return None if b is None else b.decode()


def main(argv):
    bootstrap, topic = argv[1], argv[2]
    consumer = Consumer({"bootstrap.servers": bootstrap, "group.id": "chaos-ck-consumer",
                         "enable.auto.commit": False, "enable.auto.offset.store": False,
                         "auto.offset.reset": "earliest", "client.id": "chaos-ck-consumer"})
    try:
        start = time.monotonic()
        md = consumer.list_topics(topic, timeout=15)
        tmd = md.topics.get(topic)
        if tmd is None or tmd.error is not None or not tmd.partitions:
            raise SystemExit("no metadata for topic %s: %s" % (topic, tmd and tmd.error))
        parts = sorted(tmd.partitions)
        marks = {p: consumer.get_watermark_offsets(TopicPartition(topic, p), timeout=15) for p in parts}
        emit({"type": "watermarks", "offsets": {str(p): list(m) for p, m in marks.items()}})
        consumer.assign([TopicPartition(topic, p, OFFSET_BEGINNING) for p in parts])
        next_offset = {p: marks[p][0] for p in parts}
        while any(next_offset[p] < marks[p][1] for p in parts):
            if time.monotonic() - start > DEADLINE_S:
                sys.stderr.write("timed out; next offsets %s, watermarks %s\n" % (next_offset, marks))
                sys.exit(3)
            msg = consumer.poll(0.5)
            if msg is None:
                continue
            if msg.error():
                if msg.error().code() == KafkaError._PARTITION_EOF:
                    continue
                sys.stderr.write("consumer error: %s\n" % msg.error())
                sys.exit(1)
            next_offset[msg.partition()] = msg.offset() + 1
            emit({"type": "record", "partition": msg.partition(), "offset": msg.offset(),
                  "key": text(msg.key()), "value": text(msg.value()), "timestamp": msg.timestamp()[1]})
    finally:
        consumer.close()


if __name__ == "__main__":
    main(sys.argv)
