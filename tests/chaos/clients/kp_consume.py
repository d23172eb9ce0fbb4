"""kafka-python KafkaConsumer without a group: assign every partition, seek to the beginning and read up to the
end offsets taken at start.

usage: kp_consume.py BOOTSTRAP TOPIC
Prints {"type": "end_offsets", "offsets": {"P": O}} then one {"type": "record", "partition", "offset", "key",
"value"} line per record in the order received. Exits 3 if the end offsets are not reached within 60 s.
"""
import json
import sys
import time

from kafka import KafkaConsumer, TopicPartition

DEADLINE_S = 60


def emit(obj):
    print(json.dumps(obj, sort_keys=True), flush=True)


def text(b):
    return None if b is None else b.decode()


def main(argv):
    bootstrap, topic = argv[1], argv[2]
    consumer = KafkaConsumer(bootstrap_servers=bootstrap, group_id=None, enable_auto_commit=False,
                             client_id="chaos-kp-consumer", request_timeout_ms=30000)
    try:
        start = time.monotonic()
        partitions = None
        while not partitions:
            partitions = consumer.partitions_for_topic(topic)
            if time.monotonic() - start > DEADLINE_S:
                raise SystemExit("no metadata for topic " + topic)
        tps = [TopicPartition(topic, p) for p in sorted(partitions)]
        consumer.assign(tps)
        consumer.seek_to_beginning()
        ends = consumer.end_offsets(tps)
        emit({"type": "end_offsets", "offsets": {str(tp.partition): o for tp, o in ends.items()}})
        while any(consumer.position(tp) < ends[tp] for tp in tps):
            if time.monotonic() - start > DEADLINE_S:
                sys.stderr.write("timed out; positions %s, ends %s\n" %
                                 ({tp.partition: consumer.position(tp) for tp in tps},
                                  {tp.partition: o for tp, o in ends.items()}))
                sys.exit(3)
            for tp, msgs in consumer.poll(timeout_ms=500).items():
                for m in msgs:
                    emit({"type": "record", "partition": m.partition, "offset": m.offset,
                          "key": text(m.key), "value": text(m.value)})
    finally:
        consumer.close(autocommit=False)


if __name__ == "__main__":
    main(sys.argv)
