// kafkajs 2.2.4: the admin creates a topic, an acks=all producer sends N keyed records in batches, the admin
// reads the offsets back. One JSON object per line on stdout; the C# test asserts.
// Usage: node kjs_produce.js <bootstrap> <topic> <partitions> <count> [idempotent]
const { Kafka, logLevel } = require('kafkajs');
const [bootstrap, topic, partitions, count, mode] = process.argv.slice(2);
const kafka = new Kafka({ clientId: 'detkafka-chaos', brokers: [bootstrap], logLevel: logLevel.ERROR, retry: { retries: 5 } });
const out = (o) => process.stdout.write(JSON.stringify(o) + '\n');

(async () => {
  const admin = kafka.admin();
  await admin.connect();
  const created = await admin.createTopics({ topics: [{ topic, numPartitions: Number(partitions) }] });
  out({ type: 'create', created });
  const idempotent = mode === 'idempotent';
  const producer = kafka.producer({ allowAutoTopicCreation: false, idempotent, ...(idempotent ? { maxInFlightRequests: 1 } : {}) });
  await producer.connect();
  const n = Number(count);
  for (let i = 0; i < n; i += 500) {
    const messages = [];
    for (let j = i; j < Math.min(n, i + 500); j++) messages.push({ key: `k${j}`, value: `kjs-${j}` });
    const acks = await producer.send({ topic, acks: -1, messages });
    for (const a of acks) out({ type: 'ack', partition: a.partition, baseOffset: Number(a.baseOffset), errorCode: a.errorCode });
  }
  const offsets = await admin.fetchTopicOffsets(topic);
  for (const o of offsets) out({ type: 'offsets', partition: o.partition, low: Number(o.low), high: Number(o.high) });
  await producer.disconnect();
  await admin.disconnect();
})().catch((e) => {
  process.stderr.write(`kafkajs failed: ${e.stack || e}\n`);
  process.exit(1);
});
