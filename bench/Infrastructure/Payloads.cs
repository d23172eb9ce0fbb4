using DetKafka.Core.Abstractions;
using DetKafka.Core.Protocol;
using DetKafka.Core.Protocol.Messages;
using DetKafka.Core.Records;

namespace DetKafka.Bench.Infrastructure;

/// <summary>
/// The inputs every benchmark shares, built once with the project's own codec so the bytes are exactly what
/// a client would send: a 16 KiB batch of 100-byte records, a Produce frame carrying it, a Fetch frame.
/// </summary>
/// <summary>Record values for the compression benchmarks: random upper-case letters (Kafka's perf tools; barely
/// compressible by lz4 and snappy, which have no entropy coding) or JSON events (text-like, repetitive).</summary>
public enum PayloadKind { Letters, Json }

public static class Payloads
{
    public const int BatchBytesMax = 16 * 1024;
    public const int RecordValueBytes = 100;
    public const int FetchResponseBytes = 1024 * 1024;
    public const string Topic = "bench";
    public const string ClientId = "bench-client";
    public const short ProduceVersion = 9;
    public const short FetchVersion = 12;
    public const long BaseTimestampMs = 1_700_000_000_000;

    /// <summary>As many 100-byte records (no key, no headers) as fit in 16 KiB, uncompressed.</summary>
    public static byte[] Batch16K()
    {
        var value = new byte[RecordValueBytes];
        for (int i = 0; i < value.Length; i++) value[i] = (byte)('a' + i % 26);
        var records = new List<SimpleRecord>();
        byte[] batch = RecordBatchBuilder.Build(records);
        while (true)
        {
            records.Add(new SimpleRecord(null, value, BaseTimestampMs + records.Count));
            var next = RecordBatchBuilder.Build(records);
            if (next.Length > BatchBytesMax) break;
            batch = next;
        }
        return batch;
    }

    /// <summary>
    /// As many 100-byte records of random upper-case letters (seeded; what Kafka's producer perf test and
    /// <c>detkafka perf</c> send) as fit in 16 KiB uncompressed, then compressed with <paramref name="codec"/>: the same
    /// records for every codec.
    /// </summary>
    public static byte[] TextBatch16K(CompressionCodec codec, PayloadKind kind = PayloadKind.Letters)
    {
        IRandom random = new SeededRandom(11);
        var records = new List<SimpleRecord>();
        while (true)
        {
            var value = new byte[RecordValueBytes];
            if (kind == PayloadKind.Letters)
                for (int i = 0; i < value.Length; i++) value[i] = (byte)('A' + (int)random.NextBelow(26));
            else
                JsonEvent(random).AsSpan(0, RecordValueBytes).CopyTo(value);
            records.Add(new SimpleRecord(null, value, BaseTimestampMs + records.Count));
            if (RecordBatchBuilder.Build(records).Length > BatchBytesMax)
            {
                records.RemoveAt(records.Count - 1);
                return RecordBatchBuilder.Build(records, codec);
            }
        }
    }

    /// <summary>A JSON event of the kind applications log (keys repeat, values vary), padded to at least 100 bytes.</summary>
    private static byte[] JsonEvent(IRandom random)
    {
        string[] events = ["click", "view", "purchase", "login", "logout", "search"];
        string text = FormattableString.Invariant(
            $"{{\"user\":{random.NextBelow(100_000)},\"event\":\"{events[random.NextBelow((ulong)events.Length)]}\",\"page\":\"/products/{random.NextBelow(1_000)}\",\"ts\":{BaseTimestampMs + (long)random.NextBelow(1_000_000)}}}");
        return System.Text.Encoding.ASCII.GetBytes(text.PadRight(RecordValueBytes));
    }

    /// <summary>Record batches filling up to <see cref="FetchResponseBytes"/> (64 batches of 16 KiB).</summary>
    public static byte[] Records1M()
    {
        var one = Batch16K();
        int count = FetchResponseBytes / one.Length;
        var all = new byte[count * one.Length];
        for (int i = 0; i < count; i++) one.CopyTo(all, i * one.Length);
        return all;
    }

    public static ProduceRequest Produce(byte[] records, short acks = -1) => new()
    {
        Acks = acks,
        TimeoutMs = 30_000,
        TopicData =
        {
            new ProduceRequest.TopicProduceData
            {
                Name = Topic,
                PartitionData = { new ProduceRequest.PartitionProduceData { Index = 0, Records = records } },
            },
        },
    };

    /// <summary>A consumer's fetch: one partition from <paramref name="offset"/>, up to 1 MiB, waiting up to
    /// 500 ms for one byte (the librdkafka defaults), read_committed.</summary>
    public static FetchRequest Fetch(long offset) => new()
    {
        ReplicaId = -1,
        MaxWaitMs = 500,
        MinBytes = 1,
        MaxBytes = FetchResponseBytes,
        IsolationLevel = 1,
        Topics =
        {
            new FetchRequest.FetchTopic
            {
                Topic = Topic,
                Partitions = { new FetchRequest.FetchPartition { Partition = 0, FetchOffset = offset, PartitionMaxBytes = FetchResponseBytes } },
            },
        },
    };

    /// <summary>A whole size-prefixed request frame.</summary>
    public static byte[] Frame(ApiKey key, short version, IKafkaMessage body, int correlationId = 1)
        => ClientCodec.EncodeRequest(key, version, correlationId, ClientId, body);
}
