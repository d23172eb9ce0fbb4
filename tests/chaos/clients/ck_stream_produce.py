"""confluent-kafka Producer (acks=all) that streams records until killed or MAX_SECONDS pass, appending every
acknowledged record to ACK_FILE as a JSON line {"partition", "offset", "key", "value"} (flushed per line, so the
file holds every ack this process saw even when it is killed). Used by the kill -9 test: delivery errors while the
broker is down are expected and only reported on stderr.

usage: ck_stream_produce.py BOOTSTRAP TOPIC ACK_FILE PREFIX MAX_SECONDS [idempotent]
Record i has key "k<i % 5>" and value "<PREFIX>-<i>". With "idempotent" the producer sets enable.idempotence.
"""
import json
import sys
import time

from confluent_kafka import Producer

OUTSTANDING_MAX = 2000


def main(argv):
    bootstrap, topic, ack_path, prefix, max_seconds = argv[1], argv[2], argv[3], argv[4], float(argv[5])
    config = {"bootstrap.servers": bootstrap, "acks": "all", "client.id": "chaos-ck-stream",
              "message.timeout.ms": 60000, "linger.ms": 2}
    if len(argv) > 6 and argv[6] == "idempotent":
        config["enable.idempotence"] = True
    producer = Producer(config)
    state = {"acked": 0, "failed": 0}
    with open(ack_path, "a", encoding="utf-8") as acks:
        def on_delivery(err, msg):
            if err is not None:
                state["failed"] += 1
                return
            state["acked"] += 1
            acks.write(json.dumps({"partition": msg.partition(), "offset": msg.offset(),
                                   "key": msg.key().decode(), "value": msg.value().decode()}) + "\n")
            acks.flush()

        start = time.monotonic()
        i = 0
        while time.monotonic() - start < max_seconds:
            if i - state["acked"] - state["failed"] >= OUTSTANDING_MAX:
                producer.poll(0.05)
                continue
            try:
                producer.produce(topic, key=("k%d" % (i % 5)).encode(), value=("%s-%d" % (prefix, i)).encode(),
                                 on_delivery=on_delivery)
                i += 1
            except BufferError:
                producer.poll(0.05)
            producer.poll(0)
        producer.flush(10)
    sys.stderr.write("sent %d, acked %d, failed %d\n" % (i, state["acked"], state["failed"]))


if __name__ == "__main__":
    main(sys.argv)
