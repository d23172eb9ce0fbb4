using DetKafka.Core.Protocol;

namespace DetKafka.Core.Transactions;

/// <summary>Kafka's transaction states, with the byte each is stored as in <c>__transaction_state</c>.</summary>
public enum TxnState : sbyte
{
    Empty = 0,
    Ongoing = 1,
    PrepareCommit = 2,
    PrepareAbort = 3,
    CompleteCommit = 4,
    CompleteAbort = 5,
    Dead = 6,
    PrepareEpochFence = 7,
}

/// <summary>One transactional id's state as stored: the value of its record in <c>__transaction_state</c>.</summary>
public sealed record TxnRecord(long ProducerId, short ProducerEpoch, int TimeoutMs, TxnState State,
    IReadOnlyList<TopicPartition> Partitions, long LastUpdateTimestampMs, long StartTimestampMs);

/// <summary>
/// The internal topic <c>__transaction_state</c> and its records, in Kafka's layouts (key version 0: the
/// transactional id; value version 0: producer id, epoch, timeout, state byte, partitions grouped by topic,
/// last update and start timestamps). A null value is a tombstone. The coordinator of a transactional id leads
/// partition <c>abs(javaHashCode(id)) % partitions</c>, as Kafka places it.
/// </summary>
public static class TransactionRecords
{
    public const string StateTopic = "__transaction_state";
    public const short KeyVersion = 0;
    public const short ValueVersion = 0;

    public static int PartitionFor(string transactionalId, int partitions)
        => Groups.GroupRecords.PartitionFor(transactionalId, partitions);

    public static byte[] Key(string transactionalId)
    {
        using var w = new KafkaWriter(32 + transactionalId.Length);
        w.WriteInt16(KeyVersion);
        w.WriteString(transactionalId, false);
        return w.ToArray();
    }

    public static byte[] Value(TxnRecord v)
    {
        using var w = new KafkaWriter(64);
        w.WriteInt16(ValueVersion);
        w.WriteInt64(v.ProducerId);
        w.WriteInt16(v.ProducerEpoch);
        w.WriteInt32(v.TimeoutMs);
        w.WriteInt8((sbyte)v.State);
        // Partitions grouped by topic; the list is sorted, so equal topics are adjacent.
        var topics = new List<(string Topic, List<int> Partitions)>();
        foreach (var tp in v.Partitions)
        {
            if (topics.Count == 0 || topics[^1].Topic != tp.Topic) topics.Add((tp.Topic, new List<int>()));
            topics[^1].Partitions.Add(tp.Partition);
        }
        w.WriteInt32(topics.Count);
        foreach (var (topic, partitions) in topics)
        {
            w.WriteString(topic, false);
            w.WriteInt32(partitions.Count);
            foreach (int p in partitions) w.WriteInt32(p);
        }
        w.WriteInt64(v.LastUpdateTimestampMs);
        w.WriteInt64(v.StartTimestampMs);
        return w.ToArray();
    }

    public static string ReadKey(byte[] key)
    {
        var r = new KafkaReader(key);
        short version = r.ReadInt16();
        if (version != KeyVersion) throw new ProtocolException($"unknown {StateTopic} key version {version}");
        return r.ReadString(false);
    }

    public static TxnRecord ReadValue(byte[] value)
    {
        var r = new KafkaReader(value);
        short version = r.ReadInt16();
        if (version < 0 || version > 1) throw new ProtocolException($"unknown {StateTopic} value version {version}");
        long pid = r.ReadInt64();
        short epoch = r.ReadInt16();
        int timeout = r.ReadInt32();
        var state = (TxnState)r.ReadInt8();
        if (state < TxnState.Empty || state > TxnState.PrepareEpochFence) throw new ProtocolException($"unknown transaction state {(int)state}");
        int topics = r.ReadInt32();
        var partitions = new List<TopicPartition>();
        if (topics > 0)
        {
            if (topics > value.Length) throw new ProtocolException("partition list longer than the record");
            for (int t = 0; t < topics; t++)
            {
                string topic = r.ReadString(false);
                int count = r.ReadInt32();
                if (count < 0 || count > value.Length) throw new ProtocolException("partition list longer than the record");
                for (int i = 0; i < count; i++) partitions.Add(new TopicPartition(topic, r.ReadInt32()));
            }
        }
        long lastUpdate = r.ReadInt64();
        long start = r.ReadInt64();
        partitions.Sort();
        return new TxnRecord(pid, epoch, timeout, state, partitions, lastUpdate, start);
    }
}
