// kafkajs 2.2.4: a group consumer (consumer.run) reads a topic from the beginning until it has seen <count>
// records, commits, and reports what the group committed (admin.fetchOffsets). One JSON object per line.
// Usage: node kjs_group_consume.js <bootstrap> <topic> <group> <count>
const { Kafka, logLevel } = require('kafkajs');
const [bootstrap, topic, group, count] = process.argv.slice(2);
const kafka = new Kafka({ clientId: 'detkafka-chaos-kjs', brokers: [bootstrap], logLevel: logLevel.ERROR, retry: { retries: 5 } });
const out = (o) => process.stdout.write(JSON.stringify(o) + '\n');
const deadline = setTimeout(() => { process.stderr.write('timed out\n'); process.exit(3); }, 60000);

(async () => {
  const consumer = kafka.consumer({ groupId: group, sessionTimeout: 10000, heartbeatInterval: 1000 });
  await consumer.connect();
  await consumer.subscribe({ topic, fromBeginning: true });
  let seen = 0;
  await new Promise((resolve, reject) => {
    consumer.run({
      eachMessage: async ({ partition, message }) => {
        out({ type: 'record', partition, offset: Number(message.offset), value: message.value.toString() });
        if (++seen >= Number(count)) resolve();
      },
    }).catch(reject);
  });
  await consumer.commitOffsets([]).catch(() => {});
  await consumer.disconnect();
  const admin = kafka.admin();
  await admin.connect();
  const committed = await admin.fetchOffsets({ groupId: group, topics: [topic] });
  for (const t of committed) for (const p of t.partitions) out({ type: 'committed', partition: p.partition, offset: Number(p.offset) });
  const groups = await admin.listGroups();
  out({ type: 'groups', groups: groups.groups.map((g) => g.groupId) });
  await admin.disconnect();
  clearTimeout(deadline);
})().catch((e) => {
  process.stderr.write(`kafkajs failed: ${e.stack || e}\n`);
  process.exit(1);
});
