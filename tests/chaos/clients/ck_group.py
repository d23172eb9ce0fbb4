"""confluent-kafka (librdkafka 2.0.2): three group members join one after another and two of them leave while a
producer writes; every member commits after processing each message (at-least-once).

usage: ck_group.py BOOTSTRAP TOPIC GROUP COUNT [STRATEGY]   (partition.assignment.strategy, default range;
       cooperative-sticky rebalances incrementally: the callbacks then get only the partitions that move)
Prints {"type": "produced", "value"} per acknowledged record, {"type": "consumed", "member", "partition",
"offset", "value"} per record processed, {"type": "assign"|"revoke", "member", "partitions"} per rebalance
callback, and {"type": "overlap", ...} whenever a partition is assigned to a member while another still owns it.
Exits 3 if not everything acknowledged was consumed within 90 s.
"""
import json
import sys
import threading
import time

from confluent_kafka import Consumer, KafkaException, Producer

lock = threading.Lock()
owner = {}          # partition -> member that owns it now
consumed = set()
stop_all = threading.Event()


def emit(obj):
    with lock:
        print(json.dumps(obj, sort_keys=True), flush=True)


def member(name, bootstrap, topic, group, stop, strategy):
    def on_assign(c, parts):
        with lock:
            for p in parts:
                if p.partition in owner and owner[p.partition] != name:
                    print(json.dumps({"type": "overlap", "member": name, "partition": p.partition,
                                      "owner": owner[p.partition]}), flush=True)
                owner[p.partition] = name
        emit({"type": "assign", "member": name, "partitions": sorted(p.partition for p in parts)})

    def on_revoke(c, parts):
        with lock:
            for p in parts:
                if owner.get(p.partition) == name:
                    del owner[p.partition]
        emit({"type": "revoke", "member": name, "partitions": sorted(p.partition for p in parts)})

    c = Consumer({"bootstrap.servers": bootstrap, "group.id": group, "client.id": name,
                  "auto.offset.reset": "earliest", "enable.auto.commit": False,
                  "session.timeout.ms": 10000, "heartbeat.interval.ms": 500,
                  "partition.assignment.strategy": strategy})
    c.subscribe([topic], on_assign=on_assign, on_revoke=on_revoke)
    while not stop.is_set() and not stop_all.is_set():
        m = c.poll(0.2)
        if m is None or m.error():
            continue
        v = m.value().decode()
        with lock:
            consumed.add(v)
        emit({"type": "consumed", "member": name, "partition": m.partition(), "offset": m.offset(), "value": v})
        try:
            c.commit(message=m, asynchronous=False)
        except KafkaException as e:
            # REBALANCE_IN_PROGRESS and the like: the record stays uncommitted, its next owner reads it again
            # (at-least-once); the member carries on, as an application would.
            emit({"type": "commit-error", "member": name, "error": str(e)})
    c.close()
    emit({"type": "closed", "member": name})


def main(argv):
    bootstrap, topic, group, count = argv[1], argv[2], argv[3], int(argv[4])
    strategy = argv[5] if len(argv) > 5 else "range"
    produced = []
    p = Producer({"bootstrap.servers": bootstrap, "acks": "all", "linger.ms": 5})

    def ack(err, msg):
        if err is None:
            produced.append(msg.value().decode())
            emit({"type": "produced", "value": msg.value().decode(), "partition": msg.partition()})

    stops = [threading.Event() for _ in range(3)]
    threads = []
    start = time.monotonic()
    for i in range(count):
        p.produce(topic, value=("v-%d" % i).encode(), key=("k%d" % i).encode(), on_delivery=ack)
        p.poll(0)
        elapsed = time.monotonic() - start
        # members join at 0 s, 5 s and 10 s (past group.initial.rebalance.delay.ms, 3 s); m0 leaves at 16 s and
        # m1 at 20 s; m2 stays to the end
        for j, at in enumerate((0, 5, 10)):
            if len(threads) == j and elapsed >= at:
                t = threading.Thread(target=member, args=("m%d" % j, bootstrap, topic, group, stops[j], strategy), daemon=True)
                t.start()
                threads.append(t)
        if elapsed >= 16 and not stops[0].is_set():
            stops[0].set()
        if elapsed >= 20 and not stops[1].is_set():
            stops[1].set()
        time.sleep(24.0 / count)
    p.flush(30)
    stops[0].set()
    stops[1].set()
    deadline = time.monotonic() + 90
    while time.monotonic() < deadline:
        with lock:
            missing = [v for v in produced if v not in consumed]
        if not missing:
            break
        time.sleep(0.5)
    stop_all.set()
    for t in threads:
        t.join(30)
    with lock:
        missing = [v for v in produced if v not in consumed]
    emit({"type": "summary", "produced": len(produced), "consumed_distinct": len(consumed), "missing": len(missing)})
    if missing:
        sys.exit(3)


if __name__ == "__main__":
    main(sys.argv)
