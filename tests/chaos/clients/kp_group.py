"""kafka-python KafkaConsumer in a group: subscribe, read up to MAX records, committing after each one
(commit-after-process), then close. Mode "offsets" instead prints the group's committed offsets as the admin
client reports them (list_consumer_group_offsets).

usage: kp_group.py BOOTSTRAP TOPIC GROUP MAX        -> {"type": "record", "partition", "offset", "value"} lines
       kp_group.py BOOTSTRAP offsets GROUP          -> {"type": "committed", "topic", "partition", "offset"} lines
Exits 3 if MAX records were not read within 60 s.
"""
import json
import sys
import time

from kafka import KafkaAdminClient, KafkaConsumer, TopicPartition
from kafka.structs import OffsetAndMetadata

DEADLINE_S = 60


def emit(obj):
    print(json.dumps(obj, sort_keys=True), flush=True)


def offsets(bootstrap, group):
    admin = KafkaAdminClient(bootstrap_servers=bootstrap, client_id="chaos-kp-admin")
    try:
        for tp, om in sorted(admin.list_consumer_group_offsets(group).items()):
            emit({"type": "committed", "topic": tp.topic, "partition": tp.partition, "offset": om.offset})
    finally:
        admin.close()


def consume(bootstrap, topic, group, limit):
    consumer = KafkaConsumer(topic, bootstrap_servers=bootstrap, group_id=group, client_id="chaos-kp-group",
                             auto_offset_reset="earliest", enable_auto_commit=False, session_timeout_ms=10000)
    seen = 0
    start = time.monotonic()
    try:
        while seen < limit:
            if time.monotonic() - start > DEADLINE_S:
                sys.stderr.write("timed out after %d records\n" % seen)
                sys.exit(3)
            for tp, msgs in consumer.poll(timeout_ms=500, max_records=1).items():
                for m in msgs:
                    emit({"type": "record", "partition": m.partition, "offset": m.offset, "value": m.value.decode()})
                    consumer.commit({TopicPartition(m.topic, m.partition): OffsetAndMetadata(m.offset + 1, "")})
                    seen += 1
    finally:
        consumer.close(autocommit=False)


if __name__ == "__main__":
    if sys.argv[2] == "offsets":
        offsets(sys.argv[1], sys.argv[3])
    else:
        consume(sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4]))
