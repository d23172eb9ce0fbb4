// kafkajs 2.2.4 with a compression codec: gzip is built in; snappy comes from kafkajs-snappy, lz4 and zstd from
// small codecs over lz4js and @mongodb-js/zstd (kafkajs' own lz4/zstd codec packages need native builds).
// Sends N records in batches of 250 with acks=all; one JSON object per line on stdout; the C# test asserts.
// Usage: node kjs_compress.js <bootstrap> <topic> <gzip|snappy|lz4|zstd> <count>
const { Kafka, CompressionTypes, CompressionCodecs, logLevel } = require('kafkajs');
const SnappyCodec = require('kafkajs-snappy');
const lz4 = require('lz4js');
const zstd = require('@mongodb-js/zstd');

CompressionCodecs[CompressionTypes.Snappy] = SnappyCodec;
CompressionCodecs[CompressionTypes.LZ4] = () => ({
  async compress(encoder) { return Buffer.from(lz4.compress(encoder.buffer)); },
  async decompress(buffer) { return Buffer.from(lz4.decompress(buffer)); },
});
CompressionCodecs[CompressionTypes.ZSTD] = () => ({
  async compress(encoder) { return zstd.compress(encoder.buffer, 3); },
  async decompress(buffer) { return zstd.decompress(buffer); },
});

const [bootstrap, topic, codec, count] = process.argv.slice(2);
const types = { gzip: CompressionTypes.GZIP, snappy: CompressionTypes.Snappy, lz4: CompressionTypes.LZ4, zstd: CompressionTypes.ZSTD };
if (!(codec in types)) throw new Error(`unknown codec ${codec}`);
const kafka = new Kafka({ clientId: 'detkafka-chaos-compress', brokers: [bootstrap], logLevel: logLevel.ERROR, retry: { retries: 5 } });
const out = (o) => process.stdout.write(JSON.stringify(o) + '\n');

(async () => {
  const producer = kafka.producer();
  await producer.connect();
  const n = Number(count);
  for (let i = 0; i < n; i += 250) {
    const messages = [];
    for (let j = i; j < Math.min(n, i + 250); j++) messages.push({ key: `k${j}`, value: `kjs-${codec}-${j}` });
    const acks = await producer.send({ topic, acks: -1, compression: types[codec], messages });
    for (const a of acks) out({ type: 'ack', partition: a.partition, baseOffset: Number(a.baseOffset), errorCode: a.errorCode });
  }
  await producer.disconnect();
})().catch((e) => {
  process.stderr.write(`kafkajs failed: ${e.stack || e}\n`);
  process.exit(1);
});
