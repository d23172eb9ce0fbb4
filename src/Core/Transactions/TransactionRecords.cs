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

/// <summary>One transactional id's state as stored: the value of its record in <c>__transaction_state</c>.
/// The last three are KIP-890 part 2's (value version 1, tagged): <paramref name="PreviousProducerId"/> the id
/// before the last change of producer id, <paramref name="NextProducerId"/> the id a prepared transaction whose
/// epoch was exhausted moves to once complete, <paramref name="ClientTransactionVersion"/> 2 when the last
/// EndTxn came from a client at EndTxn v5 (the epoch is bumped at every transaction), else 0.</summary>
public sealed record TxnRecord(long ProducerId, short ProducerEpoch, int TimeoutMs, TxnState State,
    IReadOnlyList<TopicPartition> Partitions, long LastUpdateTimestampMs, long StartTimestampMs,
    long PreviousProducerId = -1, long NextProducerId = -1, short ClientTransactionVersion = 0)
{
    /// <summary>Version 1 is needed only for what version 0 cannot say; every other record stays at version 0.</summary>
    public bool NeedsVersion1 => PreviousProducerId >= 0 || NextProducerId >= 0 || ClientTransactionVersion != 0;
}

/// <summary>
/// The internal topic <c>__transaction_state</c> and its records, in Kafka's layouts (key version 0: the
/// transactional id; value version 0: producer id, epoch, timeout, state byte, partitions grouped by topic,
/// last update and start timestamps; value version 1, Kafka's first flexible one: the same fields with compact
/// strings and arrays, plus tagged fields 0 PreviousProducerId, 1 NextProducerId, 2 ClientTransactionVersion,
/// written only for a record that carries one of them). A null value is a tombstone. The coordinator of a transactional id leads
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
        bool flexible = v.NeedsVersion1;
        using var w = new KafkaWriter(64);
        w.WriteInt16(flexible ? (short)1 : ValueVersion);
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
        WriteLength(w, topics.Count, flexible);
        foreach (var (topic, partitions) in topics)
        {
            w.WriteString(topic, flexible);
            WriteLength(w, partitions.Count, flexible);
            foreach (int p in partitions) w.WriteInt32(p);
            if (flexible) w.WriteUnsignedVarInt(0); // the partition entry's tagged fields: none
        }
        w.WriteInt64(v.LastUpdateTimestampMs);
        w.WriteInt64(v.StartTimestampMs);
        if (flexible)
        {
            // Tagged fields in increasing tag order; a field at its default is left out, as Kafka's writer does.
            int count = (v.PreviousProducerId >= 0 ? 1 : 0) + (v.NextProducerId >= 0 ? 1 : 0) + (v.ClientTransactionVersion != 0 ? 1 : 0);
            w.WriteUnsignedVarInt((uint)count);
            if (v.PreviousProducerId >= 0) { w.WriteUnsignedVarInt(0); w.WriteUnsignedVarInt(8); w.WriteInt64(v.PreviousProducerId); }
            if (v.NextProducerId >= 0) { w.WriteUnsignedVarInt(1); w.WriteUnsignedVarInt(8); w.WriteInt64(v.NextProducerId); }
            if (v.ClientTransactionVersion != 0) { w.WriteUnsignedVarInt(2); w.WriteUnsignedVarInt(2); w.WriteInt16(v.ClientTransactionVersion); }
        }
        return w.ToArray();
    }

    private static void WriteLength(KafkaWriter w, int count, bool compact)
    {
        if (compact) w.WriteUnsignedVarInt((uint)count + 1);
        else w.WriteInt32(count);
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
        bool flexible = version >= 1;
        long pid = r.ReadInt64();
        short epoch = r.ReadInt16();
        int timeout = r.ReadInt32();
        var state = (TxnState)r.ReadInt8();
        if (state < TxnState.Empty || state > TxnState.PrepareEpochFence) throw new ProtocolException($"unknown transaction state {(int)state}");
        int topics = r.ReadArrayLength(flexible);
        var partitions = new List<TopicPartition>();
        if (topics > 0)
        {
            if (topics > value.Length) throw new ProtocolException("partition list longer than the record");
            for (int t = 0; t < topics; t++)
            {
                string topic = r.ReadString(flexible);
                int count = r.ReadArrayLength(flexible);
                if (count < 0 || count > value.Length) throw new ProtocolException("partition list longer than the record");
                for (int i = 0; i < count; i++) partitions.Add(new TopicPartition(topic, r.ReadInt32()));
                if (flexible) r.SkipTaggedFields();
            }
        }
        long lastUpdate = r.ReadInt64();
        long start = r.ReadInt64();
        long previous = -1, next = -1;
        short clientVersion = 0;
        if (flexible)
        {
            int fields = r.ReadTaggedFieldCount();
            uint lastTag = 0;
            for (int i = 0; i < fields; i++)
            {
                uint tag = r.ReadTaggedFieldHeader(i, ref lastTag, out int size);
                if (tag == 0 && size == 8) previous = r.ReadInt64();
                else if (tag == 1 && size == 8) next = r.ReadInt64();
                else if (tag == 2 && size == 2) clientVersion = r.ReadInt16();
                else r.Skip(size); // a tag this version does not know: ignored, as Kafka's reader does
            }
        }
        partitions.Sort();
        return new TxnRecord(pid, epoch, timeout, state, partitions, lastUpdate, start, previous, next, clientVersion);
    }
}
