"""confluent-kafka Producer (librdkafka, acks=all) with a delivery callback per record.

usage: ck_produce.py BOOTSTRAP TOPIC COUNT PREFIX [--partition P] [--timestamps BASE_MS STEP_MS]
                     [--compression none|gzip|snappy|lz4|zstd] [--idempotent]
Record i has key "k<i % 7>", value "<PREFIX>-<i>" and, with --timestamps, timestamp BASE_MS + i * STEP_MS.
Prints one {"type": "ack", "partition", "offset", "key", "value", "timestamp"} line per delivery report, in the
order librdkafka reports them. Exits 1 if any delivery failed or anything is still undelivered after the flush.
"""
import argparse
import json
import sys

from confluent_kafka import Producer


def emit(obj):
    print(json.dumps(obj, sort_keys=True), flush=True)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("bootstrap")
    ap.add_argument("topic")
    ap.add_argument("count", type=int)
    ap.add_argument("prefix")
    ap.add_argument("--partition", type=int)
    ap.add_argument("--timestamps", type=int, nargs=2, metavar=("BASE_MS", "STEP_MS"))
    ap.add_argument("--compression", default="none")
    ap.add_argument("--idempotent", action="store_true")
    args = ap.parse_args()

    # linger.ms lets records gather into batches worth compressing.
    producer = Producer({"bootstrap.servers": args.bootstrap, "acks": "all", "client.id": "chaos-ck-producer",
                         "message.timeout.ms": 30000, "compression.codec": args.compression, "linger.ms": 20,
                         "enable.idempotence": args.idempotent})
    errors = []

    def on_delivery(err, msg):
        if err is not None:
            errors.append(str(err))
            sys.stderr.write("delivery failed: %s\n" % err)
            return
        emit({"type": "ack", "partition": msg.partition(), "offset": msg.offset(),
              "key": msg.key().decode(), "value": msg.value().decode(), "timestamp": msg.timestamp()[1]})

    for i in range(args.count):
        kwargs = {"key": ("k%d" % (i % 7)).encode(), "value": ("%s-%d" % (args.prefix, i)).encode(),
                  "on_delivery": on_delivery}
        if args.partition is not None:
            kwargs["partition"] = args.partition
        if args.timestamps:
            kwargs["timestamp"] = args.timestamps[0] + i * args.timestamps[1]
        while True:
            try:
                producer.produce(args.topic, **kwargs)
                break
            except BufferError:
                producer.poll(0.1)
        producer.poll(0)

    remaining = producer.flush(60)
    if errors or remaining:
        sys.stderr.write("%d delivery errors, %d undelivered after flush\n" % (len(errors), remaining))
        sys.exit(1)


if __name__ == "__main__":
    main()
