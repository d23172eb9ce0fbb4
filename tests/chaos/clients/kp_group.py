"""kafka-python KafkaConsumer in a group: subscribe, read up to MAX records, committing after each one
(commit-after-process), then close. Mode "offsets" instead prints the group's committed offsets as the admin
client reports them (list_consumer_group_offsets).

usage: kp_group.py BOOTSTRAP TOPIC GROUP MAX        -> {"type": "record", "partition", "offset", "value"} lines
       kp_group.py BOOTSTRAP offsets GROUP          -> {"type": "committed", "topic", "partition", "offset"} lines
       kp_group.py BOOTSTRAP coordinator GROUP      -> {"type": "coordinator", "node"} (FindCoordinator, retried 60 s)
       kp_group.py BOOTSTRAP txn-coordinator ID     -> {"type": "coordinator", "node"} (FindCoordinator key type 1)
Exits 3 if MAX records were not read within 60 s.
"""
import json
import sys
import time

from kafka import KafkaAdminClient, KafkaConsumer, TopicPartition
from kafka.structs import OffsetAndMetadata

DEADLINE_S = 60
# kafka-python 2.0.2 hands control records to the application (it never checks is_control_batch). A replicated
# DetKafka partition holds a LEADER_CHANGE control batch per leader epoch (REPLICATION.md); its record's key is the
# control record key, version 0, type 2. Such records are reported as "control", committed past, and not counted.
LEADER_CHANGE_KEY = b"\x00\x00\x00\x02"


def emit(obj):
    print(json.dumps(obj, sort_keys=True), flush=True)


def offsets(bootstrap, group):
    start = time.monotonic()
    while True:
        admin = None
        try:
            admin = KafkaAdminClient(bootstrap_servers=bootstrap, client_id="chaos-kp-admin")
            found = sorted(admin.list_consumer_group_offsets(group).items())
            break
        except Exception as e:  # a node gone or a coordinator still loading: retried until the deadline
            if time.monotonic() - start > DEADLINE_S:
                raise
            sys.stderr.write("list offsets: %r\n" % (e,))
            time.sleep(0.5)
        finally:
            if admin is not None:
                admin.close()
    for tp, om in found:
        emit({"type": "committed", "topic": tp.topic, "partition": tp.partition, "offset": om.offset})


def coordinator(bootstrap, group):
    start = time.monotonic()
    while True:
        admin = None
        try:
            # After a kill the client may first reach a node that is gone or not ready: retried as a client does.
            admin = KafkaAdminClient(bootstrap_servers=bootstrap, client_id="chaos-kp-admin")
            # kafka-python 2.0.2's FindCoordinator helper; it raises on COORDINATOR_NOT_AVAILABLE.
            emit({"type": "coordinator", "node": admin._find_coordinator_ids([group])[group]})
            return
        except Exception as e:
            if time.monotonic() - start > DEADLINE_S:
                raise
            sys.stderr.write("find coordinator: %r\n" % (e,))
            time.sleep(0.5)
        finally:
            if admin is not None:
                admin.close()


def find_txn_coordinator_once(host, port, txn_id):
    """FindCoordinator v1, key type 1, over a plain socket: kafka-python 2.0.2's v1 response schema lacks
    throttle_time_ms, so its own request would misread the answer."""
    import socket
    import struct

    def string(s):
        b = s.encode()
        return struct.pack(">h", len(b)) + b

    body = struct.pack(">hhi", 10, 1, 7) + string("chaos-kp-admin") + string(txn_id) + struct.pack(">b", 1)
    with socket.create_connection((host, int(port)), timeout=10) as sock:
        sock.sendall(struct.pack(">i", len(body)) + body)
        data = b""
        while len(data) < 4 or len(data) < 4 + struct.unpack(">i", data[:4])[0]:
            chunk = sock.recv(65536)
            if not chunk:
                raise RuntimeError("connection closed")
            data += chunk
    pos = 4 + 4 + 4  # size, correlation id, throttle_time_ms
    error, = struct.unpack(">h", data[pos:pos + 2])
    pos += 2
    n, = struct.unpack(">h", data[pos:pos + 2])
    pos += 2 + max(n, 0)
    node, = struct.unpack(">i", data[pos:pos + 4])
    if error != 0:
        raise RuntimeError("FindCoordinator error %d" % error)
    return node


def txn_coordinator(bootstrap, txn_id):
    start = time.monotonic()
    while True:
        for address in bootstrap.split(","):
            host, port = address.rsplit(":", 1)
            try:
                emit({"type": "coordinator", "node": find_txn_coordinator_once(host, port, txn_id)})
                return
            except Exception as e:  # a node gone, the topic being created, or its partition without a leader yet
                sys.stderr.write("find transaction coordinator at %s: %r\n" % (address, e))
        if time.monotonic() - start > DEADLINE_S:
            raise SystemExit("no transaction coordinator for %s" % txn_id)
        time.sleep(0.5)


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
                    control = m.key == LEADER_CHANGE_KEY
                    if control:
                        emit({"type": "control", "partition": m.partition, "offset": m.offset})
                    else:
                        emit({"type": "record", "partition": m.partition, "offset": m.offset, "value": m.value.decode()})
                    consumer.commit({TopicPartition(m.topic, m.partition): OffsetAndMetadata(m.offset + 1, "")})
                    seen += 0 if control else 1
    finally:
        consumer.close(autocommit=False)


if __name__ == "__main__":
    if sys.argv[2] == "offsets":
        offsets(sys.argv[1], sys.argv[3])
    elif sys.argv[2] == "coordinator":
        coordinator(sys.argv[1], sys.argv[3])
    elif sys.argv[2] == "txn-coordinator":
        txn_coordinator(sys.argv[1], sys.argv[3])
    else:
        consume(sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4]))
