"""confluent-kafka transactions against the broker.

usage:
  ck_txn.py produce BOOTSTRAP TOPIC TXN_ID      three transactions of 10 records each to every partition:
                                                 commit (c-*), abort (a-*), commit (d-*); prints one
                                                 {"type": "txn", "n", "result"} line per transaction
  ck_txn.py consume BOOTSTRAP TOPIC ISOLATION   read every partition from the beginning with isolation.level
                                                 ISOLATION until every partition reached its end; prints
                                                 {"type": "record", ...} lines
  ck_txn.py zombie BOOTSTRAP TOPIC TXN_ID       a producer opens a transaction, a second instance with the same
                                                 transactional.id initialises; the first one's commit must fail
                                                 fenced; the second commits. Prints {"type": "zombie", ...}
  ck_txn.py open BOOTSTRAP TOPIC TXN_ID          a transaction of 10 records (o-*) to every partition, flushed and
                                                 left open: the process exits without committing; prints
                                                 {"type": "open", "count"}
  ck_txn.py ctp BOOTSTRAP IN OUT TXN_ID GROUP    consume-transform-produce: read IN in group GROUP, write each
                                                 value upper-cased to OUT and the consumed offsets with
                                                 send_offsets_to_transaction, one transaction per poll batch;
                                                 the first batch is aborted on purpose, then re-read and committed
Exits 1 on an unexpected error.
"""
import json
import sys
import time

from confluent_kafka import OFFSET_BEGINNING, Consumer, KafkaError, KafkaException, Producer, TopicPartition


def emit(obj):
    print(json.dumps(obj, sort_keys=True), flush=True)


def text(b):
    return None if b is None else b.decode()


def producer(bootstrap, txn_id):
    p = Producer({"bootstrap.servers": bootstrap, "transactional.id": txn_id, "client.id": "chaos-ck-txn",
                  "transaction.timeout.ms": 30000})
    p.init_transactions(30)
    return p


def partitions_of(client, topic):
    md = client.list_topics(topic, timeout=15)
    tmd = md.topics.get(topic)
    if tmd is None or tmd.error is not None or not tmd.partitions:
        raise SystemExit("no metadata for topic %s: %s" % (topic, tmd and tmd.error))
    return sorted(tmd.partitions)


def produce(bootstrap, topic, txn_id):
    p = producer(bootstrap, txn_id)
    parts = partitions_of(p, topic)
    for n, (prefix, commit) in enumerate([("c", True), ("a", False), ("d", True)]):
        p.begin_transaction()
        for part in parts:
            for i in range(10):
                p.produce(topic, value=("%s-%d-%d" % (prefix, part, i)).encode(), partition=part)
        if commit:
            p.commit_transaction(30)
        else:
            p.flush(30)
            p.abort_transaction(30)
        emit({"type": "txn", "n": n, "result": "commit" if commit else "abort"})


def consume(bootstrap, topic, isolation):
    c = Consumer({"bootstrap.servers": bootstrap, "group.id": "chaos-ck-txn-consumer", "enable.auto.commit": False,
                  "auto.offset.reset": "earliest", "isolation.level": isolation, "enable.partition.eof": True})
    try:
        parts = partitions_of(c, topic)
        c.assign([TopicPartition(topic, part, OFFSET_BEGINNING) for part in parts])
        at_eof = set()
        deadline = time.monotonic() + 60
        while len(at_eof) < len(parts):
            if time.monotonic() > deadline:
                sys.stderr.write("timed out; at end: %s\n" % sorted(at_eof))
                sys.exit(3)
            msg = c.poll(0.5)
            if msg is None:
                continue
            if msg.error():
                if msg.error().code() == KafkaError._PARTITION_EOF:
                    at_eof.add(msg.partition())
                    continue
                sys.stderr.write("consumer error: %s\n" % msg.error())
                sys.exit(1)
            at_eof.discard(msg.partition())
            emit({"type": "record", "partition": msg.partition(), "offset": msg.offset(),
                  "key": text(msg.key()), "value": text(msg.value()), "timestamp": msg.timestamp()[1]})
    finally:
        c.close()


def zombie(bootstrap, topic, txn_id):
    first = producer(bootstrap, txn_id)
    first.begin_transaction()
    first.produce(topic, value=b"zombie", partition=0)
    first.flush(30)
    second = producer(bootstrap, txn_id)  # fences the first and aborts its open transaction
    second.begin_transaction()
    second.produce(topic, value=b"second", partition=0)
    second.commit_transaction(30)
    emit({"type": "zombie", "who": "second", "result": "committed"})
    try:
        first.produce(topic, value=b"zombie-late", partition=0)
        first.commit_transaction(30)
        emit({"type": "zombie", "who": "first", "result": "committed"})
    except KafkaException as e:
        err = e.args[0]
        emit({"type": "zombie", "who": "first", "result": "failed", "fatal": err.fatal(), "code": err.name(),
              "message": err.str()})


def ctp(bootstrap, topic_in, topic_out, txn_id, group):
    p = producer(bootstrap, txn_id)
    c = Consumer({"bootstrap.servers": bootstrap, "group.id": group, "enable.auto.commit": False,
                  "auto.offset.reset": "earliest", "isolation.level": "read_committed", "enable.partition.eof": True})
    c.subscribe([topic_in])
    aborted_once = False
    seen_any = False
    idle = 0
    deadline = time.monotonic() + 90
    while idle < 6:
        if time.monotonic() > deadline:
            sys.stderr.write("ctp timed out\n")
            sys.exit(3)
        msgs = [m for m in c.consume(100, 1.0) if not m.error()]
        if not msgs:
            # Idle polls count only once input has flowed: joining the group can take longer than the idle
            # budget on a loaded machine, and the input topic is known not to be empty.
            if seen_any:
                idle += 1
            continue
        seen_any = True
        idle = 0
        p.begin_transaction()
        for m in msgs:
            p.produce(topic_out, value=m.value().upper(), partition=m.partition())
        offsets = {}
        for m in msgs:
            offsets[(m.topic(), m.partition())] = m.offset() + 1
        p.send_offsets_to_transaction([TopicPartition(t, part, o) for (t, part), o in offsets.items()],
                                      c.consumer_group_metadata(), 30)
        if not aborted_once:
            aborted_once = True
            p.abort_transaction(30)
            emit({"type": "ctp", "result": "abort", "count": len(msgs)})
            # Rewind to the committed offsets so the aborted batch is processed again.
            committed = c.committed([TopicPartition(t, part) for (t, part) in offsets], 15)
            for tp in committed:
                c.seek(TopicPartition(tp.topic, tp.partition, tp.offset if tp.offset >= 0 else OFFSET_BEGINNING))
            continue
        p.commit_transaction(30)
        emit({"type": "ctp", "result": "commit", "count": len(msgs)})
    c.close()


def open_transaction(bootstrap, topic, txn_id):
    p = producer(bootstrap, txn_id)
    parts = partitions_of(p, topic)
    p.begin_transaction()
    for part in parts:
        for i in range(10):
            p.produce(topic, value=("o-%d-%d" % (part, i)).encode(), partition=part)
    p.flush(30)
    emit({"type": "open", "count": 10 * len(parts)})
    # Neither committed nor aborted: the coordinator (or the next producer with this id) must end it.


def main(argv):
    mode = argv[1]
    if mode == "produce":
        produce(argv[2], argv[3], argv[4])
    elif mode == "consume":
        consume(argv[2], argv[3], argv[4])
    elif mode == "zombie":
        zombie(argv[2], argv[3], argv[4])
    elif mode == "open":
        open_transaction(argv[2], argv[3], argv[4])
    elif mode == "ctp":
        ctp(argv[2], argv[3], argv[4], argv[5], argv[6])
    else:
        raise SystemExit("unknown mode " + mode)


if __name__ == "__main__":
    main(sys.argv)
