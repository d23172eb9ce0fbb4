using DetKafka.Core.Protocol;
using DetKafka.Core.Records;
using DetKafka.Core.Util;

namespace DetKafka.Core.Metadata;

/// <summary>
/// The record types of the metadata log, in Kafka's metadata-record style (KRaft's <c>__cluster_metadata</c>):
/// each change to the topic image is one small record, and the image is what applying them in order gives. The
/// type numbers are Kafka's metadata record api keys, so a later move to Kafka's own layouts keeps the names and
/// numbers; the field layouts are our own (below).
/// </summary>
public enum MetadataRecordType : short
{
    Topic = 2,
    Partition = 3,
    Config = 4,
    RemoveTopic = 9,
    ProducerIds = 15,
}

/// <summary>One metadata record. Immutable: a proposed batch is shared by the log, the controller's view and
/// the published image.</summary>
public abstract record MetadataRecord
{
    public abstract MetadataRecordType Type { get; }
}

/// <summary>A new topic: its name and id (Kafka's TopicRecord). Its partitions follow as PartitionRecords.</summary>
public sealed record TopicRecord(string Name, Guid TopicId) : MetadataRecord
{
    public override MetadataRecordType Type => MetadataRecordType.Topic;
}

/// <summary>One partition of a topic (Kafka's PartitionRecord): its replicas, leader and leader epoch. One node
/// today, so replicas = [leader] = [this node], epoch 0; the partition layer owns the live values.</summary>
public sealed record PartitionRecord(Guid TopicId, int PartitionId, int Leader, int LeaderEpoch, IReadOnlyList<int> Replicas) : MetadataRecord
{
    public override MetadataRecordType Type => MetadataRecordType.Partition;
}

/// <summary>A topic config override set (Value not null) or removed (Value null), Kafka's ConfigRecord.
/// ResourceType is Kafka's ConfigResource type (2 = topic).</summary>
public sealed record ConfigRecord(sbyte ResourceType, string ResourceName, string Name, string? Value) : MetadataRecord
{
    public const sbyte TopicResource = 2;
    public override MetadataRecordType Type => MetadataRecordType.Config;
}

/// <summary>A topic is deleted, with its partitions and configs (Kafka's RemoveTopicRecord).</summary>
public sealed record RemoveTopicRecord(Guid TopicId) : MetadataRecord
{
    public override MetadataRecordType Type => MetadataRecordType.RemoveTopic;
}

/// <summary>Producer ids below <paramref name="NextProducerId"/> are taken (Kafka's ProducerIdsRecord): a block is
/// recorded before its first id is handed out, so no two producers of the cluster ever get the same id. Only the
/// largest value matters; <paramref name="BrokerId"/> names the node that took the block.</summary>
public sealed record ProducerIdsRecord(int BrokerId, long NextProducerId) : MetadataRecord
{
    public override MetadataRecordType Type => MetadataRecordType.ProducerIds;
}

/// <summary>
/// The frame every batch of records has, in the log and in the snapshot:
/// <c>int32 length</c> (of what follows it), <c>uint32 crc</c> (CRC-32C of what follows it), <c>int64 base offset</c>,
/// <c>int32 record count</c>, then per record <c>int16 type</c>, <c>int16 version</c> and its fields (strings with
/// an int16 length, nullable strings with -1 for null, uuids as 16 bytes, arrays with an int32 count). A batch is
/// the unit of atomicity: a proposal is one batch, and recovery keeps a batch whole or not at all.
/// </summary>
public static class MetadataCodec
{
    /// <summary>Frame header: length, crc, base offset, record count.</summary>
    public const int FrameHeaderBytes = 4 + 4 + 8 + 4;

    /// <summary>Largest batch (a topic with 10,000 partitions is about 0.5 MB).</summary>
    public const int BatchBytesMax = 16 * 1024 * 1024;

    /// <summary>Most records in one batch.</summary>
    public const int BatchRecordsMax = 1 << 20;

    public static void WriteBatch(KafkaWriter w, long baseOffset, IReadOnlyList<MetadataRecord> records)
    {
        Check.That(records.Count is >= 0 and <= BatchRecordsMax, "a batch has at most max records (a snapshot of no topics has none)");
        int start = w.Position;
        int lengthAt = w.ReserveInt32();
        int crcAt = w.ReserveInt32();
        w.WriteInt64(baseOffset);
        w.WriteInt32(records.Count);
        foreach (var record in records) WriteRecord(w, record);
        int length = w.Position - lengthAt - 4;
        Check.That(length <= BatchBytesMax, "metadata batch bounded");
        w.PatchInt32(lengthAt, length);
        uint crc = Crc32C.Compute(w.WrittenSpan[(crcAt + 4)..]);
        w.PatchInt32(crcAt, unchecked((int)crc));
        Check.That(start == lengthAt);
    }

    private static void WriteRecord(KafkaWriter w, MetadataRecord record)
    {
        w.WriteInt16((short)record.Type);
        w.WriteInt16(0); // version
        switch (record)
        {
            case TopicRecord t:
                w.WriteString(t.Name, compact: false);
                w.WriteUuid(t.TopicId);
                break;
            case PartitionRecord p:
                w.WriteUuid(p.TopicId);
                w.WriteInt32(p.PartitionId);
                w.WriteInt32(p.Leader);
                w.WriteInt32(p.LeaderEpoch);
                w.WriteInt32(p.Replicas.Count);
                foreach (int r in p.Replicas) w.WriteInt32(r);
                break;
            case ConfigRecord c:
                w.WriteInt8(c.ResourceType);
                w.WriteString(c.ResourceName, compact: false);
                w.WriteString(c.Name, compact: false);
                w.WriteNullableString(c.Value, compact: false);
                break;
            case RemoveTopicRecord r:
                w.WriteUuid(r.TopicId);
                break;
            case ProducerIdsRecord p:
                w.WriteInt32(p.BrokerId);
                w.WriteInt64(p.NextProducerId);
                break;
            default:
                throw new InvariantViolationException("unknown metadata record " + record.GetType().Name);
        }
    }

    public enum FrameStatus { Ok, End, Torn }

    /// <summary>
    /// Reads the frame at <paramref name="position"/> of <paramref name="bytes"/>: Ok with the batch, End when no
    /// bytes are left, Torn when what is there is not a whole frame with a matching CRC (a torn or damaged tail;
    /// recovery truncates there).
    /// </summary>
    public static FrameStatus TryReadBatch(byte[] bytes, int position, out long baseOffset, out List<MetadataRecord> records, out int frameBytes)
    {
        baseOffset = -1;
        records = [];
        frameBytes = 0;
        int available = bytes.Length - position;
        if (available == 0) return FrameStatus.End;
        if (available < FrameHeaderBytes) return FrameStatus.Torn;
        int length = System.Buffers.Binary.BinaryPrimitives.ReadInt32BigEndian(bytes.AsSpan(position));
        if (length < FrameHeaderBytes - 4 || length > BatchBytesMax || length > available - 4) return FrameStatus.Torn;
        uint stored = System.Buffers.Binary.BinaryPrimitives.ReadUInt32BigEndian(bytes.AsSpan(position + 4));
        if (Crc32C.Compute(bytes.AsSpan(position + 8, length - 4)) != stored) return FrameStatus.Torn;
        var r = new KafkaReader(bytes, position + 8, length - 4);
        try
        {
            baseOffset = r.ReadInt64();
            int count = r.ReadInt32();
            if (baseOffset < 0 || count < 0 || count > BatchRecordsMax) return FrameStatus.Torn;
            records = new List<MetadataRecord>(Math.Min(count, 1024));
            for (int i = 0; i < count; i++) records.Add(ReadRecord(ref r));
            if (!r.IsAtEnd) return FrameStatus.Torn;
        }
        catch (ProtocolException)
        {
            // A CRC that matches over bytes that do not decode is a writer bug, not a torn write; treated the same
            // (the tail from here is not trusted) and the caller logs it.
            return FrameStatus.Torn;
        }
        frameBytes = length + 4;
        return FrameStatus.Ok;
    }

    private static MetadataRecord ReadRecord(ref KafkaReader r)
    {
        var type = (MetadataRecordType)r.ReadInt16();
        short version = r.ReadInt16();
        if (version != 0) throw new ProtocolException($"metadata record {type} version {version} is newer than this broker");
        switch (type)
        {
            case MetadataRecordType.Topic:
                return new TopicRecord(r.ReadString(false), r.ReadUuid());
            case MetadataRecordType.Partition:
            {
                var topicId = r.ReadUuid();
                int partition = r.ReadInt32();
                int leader = r.ReadInt32();
                int epoch = r.ReadInt32();
                int n = r.ReadInt32();
                if (n < 0 || n > 1024) throw new ProtocolException("replica count out of range");
                var replicas = new int[n];
                for (int i = 0; i < n; i++) replicas[i] = r.ReadInt32();
                return new PartitionRecord(topicId, partition, leader, epoch, replicas);
            }
            case MetadataRecordType.Config:
                return new ConfigRecord(r.ReadInt8(), r.ReadString(false), r.ReadString(false), r.ReadNullableString(false));
            case MetadataRecordType.RemoveTopic:
                return new RemoveTopicRecord(r.ReadUuid());
            case MetadataRecordType.ProducerIds:
            {
                int broker = r.ReadInt32();
                long next = r.ReadInt64();
                if (next < 0) throw new ProtocolException("negative producer id block");
                return new ProducerIdsRecord(broker, next);
            }
            default:
                throw new ProtocolException($"unknown metadata record type {(short)type}");
        }
    }
}
