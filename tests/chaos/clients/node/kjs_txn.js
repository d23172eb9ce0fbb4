// kafkajs 2.2.4 transactions: the admin creates a topic; a transactional producer commits one transaction
// (c-*), aborts one (a-*), commits another (d-*), then sends consumed offsets of group <group> in a committed
// transaction (sendOffsets); a read_committed kafkajs consumer (its default) reads the topic back.
// One JSON object per line on stdout; the C# test asserts.
// Usage: node kjs_txn.js <bootstrap> <topic> <partitions> <transactionalId> <group>
const { Kafka, logLevel } = require('kafkajs');
const [bootstrap, topic, partitions, transactionalId, group] = process.argv.slice(2);
const kafka = new Kafka({ clientId: 'detkafka-chaos-txn', brokers: [bootstrap], logLevel: logLevel.ERROR, retry: { retries: 8 } });
const out = (o) => process.stdout.write(JSON.stringify(o) + '\n');

(async () => {
  const admin = kafka.admin();
  await admin.connect();
  await admin.createTopics({ topics: [{ topic, numPartitions: Number(partitions) }] });
  const producer = kafka.producer({ transactionalId, maxInFlightRequests: 1, idempotent: true, allowAutoTopicCreation: false });
  await producer.connect();
  for (const [prefix, commit] of [['c', true], ['a', false], ['d', true]]) {
    const txn = await producer.transaction();
    const messages = [];
    for (let i = 0; i < 10; i++) messages.push({ value: `${prefix}-${i}` });
    await txn.send({ topic, messages });
    if (commit) await txn.commit(); else await txn.abort();
    out({ type: 'txn', result: commit ? 'commit' : 'abort' });
  }
  const txn = await producer.transaction();
  await txn.sendOffsets({ consumerGroupId: group, topics: [{ topic, partitions: [{ partition: 0, offset: '5' }] }] });
  await txn.commit();
  out({ type: 'offsets-committed' });
  // EndTxn is answered once the commit is decided; the offsets become visible when its marker is durable.
  let committed = -1;
  for (let i = 0; i < 50 && committed !== 5; i++) {
    const fetched = await admin.fetchOffsets({ groupId: group, topics: [topic] });
    committed = Number(fetched[0].partitions.find((p) => p.partition === 0).offset);
    if (committed !== 5) await new Promise((r) => setTimeout(r, 100));
  }
  out({ type: 'committed', partition: 0, offset: committed });
  await producer.disconnect();

  const consumer = kafka.consumer({ groupId: `${group}-reader` });
  await consumer.connect();
  await consumer.subscribe({ topic, fromBeginning: true });
  const seen = [];
  await consumer.run({ eachMessage: async ({ partition, message }) => {
    seen.push(message.value.toString());
    out({ type: 'record', partition, offset: Number(message.offset), value: message.value.toString() });
  } });
  const deadline = Date.now() + 30000;
  while (seen.length < 20 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 200));
  await new Promise((r) => setTimeout(r, 1500)); // anything aborted would arrive now too
  await consumer.disconnect();
  await admin.disconnect();
})().catch((e) => {
  process.stderr.write(`kafkajs failed: ${e.stack || e}\n`);
  process.exit(1);
});
