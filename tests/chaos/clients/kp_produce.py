"""kafka-python KafkaProducer(acks='all'): sends COUNT records and waits on every future.

usage: kp_produce.py BOOTSTRAP TOPIC COUNT PREFIX [COMPRESSION]
COMPRESSION is kafka-python's compression_type: gzip, snappy (python3-snappy), lz4 (python3-lz4) or zstd
(python3-zstandard); absent, records go uncompressed. kafka-python raises if the codec's module is missing.
Record i has key "k<i % 7>" and value "<PREFIX>-<i>". Prints one JSON line per acknowledged record, in send order:
{"type": "ack", "partition": P, "offset": O, "key": K, "value": V}. A failed future raises: exit non-zero.
"""
import json
import sys

from kafka import KafkaProducer


def emit(obj):
    print(json.dumps(obj, sort_keys=True), flush=True)


def main(argv):
    bootstrap, topic, count, prefix = argv[1], argv[2], int(argv[3]), argv[4]
    compression = argv[5] if len(argv) > 5 else None
    producer = KafkaProducer(bootstrap_servers=bootstrap, acks="all", client_id="chaos-kp-producer",
                             request_timeout_ms=15000, max_block_ms=15000, retries=0,
                             compression_type=compression, linger_ms=20 if compression else 0)
    try:
        sent = []
        for i in range(count):
            key, value = "k%d" % (i % 7), "%s-%d" % (prefix, i)
            sent.append((key, value, producer.send(topic, key=key.encode(), value=value.encode())))
        producer.flush(timeout=30)
        for key, value, future in sent:
            md = future.get(timeout=30)
            emit({"type": "ack", "partition": md.partition, "offset": md.offset, "key": key, "value": value})
    finally:
        producer.close(timeout=10)


if __name__ == "__main__":
    main(sys.argv)
