"""kafka-python KafkaAdminClient operations. One JSON object per line on stdout; the C# test asserts.

usage: kp_admin.py BOOTSTRAP create TOPIC PARTITIONS [name=value ...]   (replication.factor=N sets the factor, default 1)
       kp_admin.py BOOTSTRAP describe TOPIC
       kp_admin.py BOOTSTRAP delete TOPIC
       kp_admin.py BOOTSTRAP topics
Any client error raises, so the script exits non-zero with the traceback on stderr.
"""
import json
import sys

from kafka import KafkaAdminClient
from kafka.admin import ConfigResource, ConfigResourceType, NewTopic

TIMEOUT_MS = 15000


def emit(obj):
    print(json.dumps(obj, sort_keys=True), flush=True)


def main(argv):
    bootstrap, op = argv[1], argv[2]
    admin = KafkaAdminClient(bootstrap_servers=bootstrap, client_id="chaos-kp-admin",
                             request_timeout_ms=TIMEOUT_MS)
    try:
        if op == "create":
            topic, partitions = argv[3], int(argv[4])
            configs = dict(kv.split("=", 1) for kv in argv[5:])
            factor = int(configs.pop("replication.factor", "1"))
            resp = admin.create_topics([NewTopic(topic, partitions, factor, topic_configs=configs)],
                                       timeout_ms=TIMEOUT_MS)
            emit({"op": "create", "topic_errors": [[e[0], e[1]] for e in resp.topic_errors]})
        elif op == "describe":
            topic = argv[3]
            responses = admin.describe_configs([ConfigResource(ConfigResourceType.TOPIC, topic)])
            for resp in responses:
                for res in resp.to_object()["resources"]:
                    emit({"op": "describe",
                          "error_code": res["error_code"],
                          "resource_name": res["resource_name"],
                          "configs": {c["config_names"]: c["config_value"] for c in res["config_entries"]}})
        elif op == "delete":
            resp = admin.delete_topics([argv[3]], timeout_ms=TIMEOUT_MS)
            emit({"op": "delete", "topic_errors": [[e[0], e[1]] for e in resp.topic_error_codes]})
        elif op == "topics":
            # Metadata for all topics (null list): unlike a named request it never auto-creates.
            emit({"op": "topics", "topics": sorted(admin.list_topics())})
        else:
            raise SystemExit("unknown op " + op)
    finally:
        admin.close()


if __name__ == "__main__":
    main(sys.argv)
