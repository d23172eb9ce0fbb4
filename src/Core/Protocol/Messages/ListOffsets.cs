namespace DetKafka.Core.Protocol.Messages;

// ListOffsets (key 2), versions 0-7; flexible from 6.
// v0 asks for up to max_num_offsets offsets and gets an array back (old_style_offsets); v1 replaced that
// with one (timestamp, offset) pair. Isolation level from v2, throttle time from v2, leader epochs from v4.
// v7 only adds the MAX_TIMESTAMP (-3) query value; its layout equals v6.

public sealed class ListOffsetsRequest : IKafkaMessage
{
    /// <summary>Query values for <see cref="ListOffsetsPartition.Timestamp"/>.</summary>
    public const long LatestTimestamp = -1, EarliestTimestamp = -2, MaxTimestamp = -3;

    public int ReplicaId { get; set; } = -1;

    /// <summary>0 = READ_UNCOMMITTED, 1 = READ_COMMITTED.</summary>
    public sbyte IsolationLevel { get; set; }
    public List<ListOffsetsTopic> Topics { get; set; } = new();

    public sealed class ListOffsetsTopic
    {
        public string Name { get; set; } = "";
        public List<ListOffsetsPartition> Partitions { get; set; } = new();
    }

    public sealed class ListOffsetsPartition
    {
        public int PartitionIndex { get; set; }
        public int CurrentLeaderEpoch { get; set; } = -1;
        public long Timestamp { get; set; }
        public int MaxNumOffsets { get; set; } = 1;
    }

    public static ListOffsetsRequest Read(ref KafkaReader reader, short version)
    {
        bool flexible = ApiVersionTable.IsFlexible(ApiKey.ListOffsets, version);
        var m = new ListOffsetsRequest { ReplicaId = reader.ReadInt32() };
        if (version >= 2) m.IsolationLevel = reader.ReadInt8();
        int topicCount = reader.ReadArrayCount(flexible);
        m.Topics = new List<ListOffsetsTopic>(topicCount);
        for (int i = 0; i < topicCount; i++)
        {
            var t = new ListOffsetsTopic { Name = reader.ReadString(flexible) };
            int partitionCount = reader.ReadArrayCount(flexible);
            t.Partitions = new List<ListOffsetsPartition>(partitionCount);
            for (int j = 0; j < partitionCount; j++)
            {
                var p = new ListOffsetsPartition { PartitionIndex = reader.ReadInt32() };
                if (version >= 4) p.CurrentLeaderEpoch = reader.ReadInt32();
                p.Timestamp = reader.ReadInt64();
                if (version == 0) p.MaxNumOffsets = reader.ReadInt32();
                if (flexible) reader.SkipTaggedFields();
                t.Partitions.Add(p);
            }
            if (flexible) reader.SkipTaggedFields();
            m.Topics.Add(t);
        }
        if (flexible) reader.SkipTaggedFields();
        return m;
    }

    public void Write(KafkaWriter writer, short version)
    {
        bool flexible = ApiVersionTable.IsFlexible(ApiKey.ListOffsets, version);
        writer.WriteInt32(ReplicaId);
        if (version >= 2) writer.WriteInt8(IsolationLevel);
        writer.WriteArrayLength(Topics.Count, flexible);
        foreach (var t in Topics)
        {
            writer.WriteString(t.Name, flexible);
            writer.WriteArrayLength(t.Partitions.Count, flexible);
            foreach (var p in t.Partitions)
            {
                writer.WriteInt32(p.PartitionIndex);
                if (version >= 4) writer.WriteInt32(p.CurrentLeaderEpoch);
                writer.WriteInt64(p.Timestamp);
                if (version == 0) writer.WriteInt32(p.MaxNumOffsets);
                if (flexible) writer.WriteEmptyTaggedFields();
            }
            if (flexible) writer.WriteEmptyTaggedFields();
        }
        if (flexible) writer.WriteEmptyTaggedFields();
    }
}

public sealed class ListOffsetsResponse : IKafkaMessage
{
    public int ThrottleTimeMs { get; set; }
    public List<ListOffsetsTopicResponse> Topics { get; set; } = new();

    public sealed class ListOffsetsTopicResponse
    {
        public string Name { get; set; } = "";
        public List<ListOffsetsPartitionResponse> Partitions { get; set; } = new();
    }

    public sealed class ListOffsetsPartitionResponse
    {
        public int PartitionIndex { get; set; }
        public ErrorCode ErrorCode { get; set; }

        /// <summary>v0 only: the offsets found, newest first.</summary>
        public List<long> OldStyleOffsets { get; set; } = new();
        public long Timestamp { get; set; } = -1;
        public long Offset { get; set; } = -1;
        public int LeaderEpoch { get; set; } = -1;
    }

    public static ListOffsetsResponse Read(ref KafkaReader reader, short version)
    {
        bool flexible = ApiVersionTable.IsFlexible(ApiKey.ListOffsets, version);
        var m = new ListOffsetsResponse();
        if (version >= 2) m.ThrottleTimeMs = reader.ReadInt32();
        int topicCount = reader.ReadArrayCount(flexible);
        m.Topics = new List<ListOffsetsTopicResponse>(topicCount);
        for (int i = 0; i < topicCount; i++)
        {
            var t = new ListOffsetsTopicResponse { Name = reader.ReadString(flexible) };
            int partitionCount = reader.ReadArrayCount(flexible);
            t.Partitions = new List<ListOffsetsPartitionResponse>(partitionCount);
            for (int j = 0; j < partitionCount; j++)
            {
                var p = new ListOffsetsPartitionResponse
                {
                    PartitionIndex = reader.ReadInt32(),
                    ErrorCode = (ErrorCode)reader.ReadInt16(),
                };
                if (version == 0)
                {
                    int offsetCount = reader.ReadArrayCount(flexible);
                    p.OldStyleOffsets = new List<long>(offsetCount);
                    for (int k = 0; k < offsetCount; k++) p.OldStyleOffsets.Add(reader.ReadInt64());
                }
                if (version >= 1)
                {
                    p.Timestamp = reader.ReadInt64();
                    p.Offset = reader.ReadInt64();
                }
                if (version >= 4) p.LeaderEpoch = reader.ReadInt32();
                if (flexible) reader.SkipTaggedFields();
                t.Partitions.Add(p);
            }
            if (flexible) reader.SkipTaggedFields();
            m.Topics.Add(t);
        }
        if (flexible) reader.SkipTaggedFields();
        return m;
    }

    public void Write(KafkaWriter writer, short version)
    {
        bool flexible = ApiVersionTable.IsFlexible(ApiKey.ListOffsets, version);
        if (version >= 2) writer.WriteInt32(ThrottleTimeMs);
        writer.WriteArrayLength(Topics.Count, flexible);
        foreach (var t in Topics)
        {
            writer.WriteString(t.Name, flexible);
            writer.WriteArrayLength(t.Partitions.Count, flexible);
            foreach (var p in t.Partitions)
            {
                writer.WriteInt32(p.PartitionIndex);
                writer.WriteInt16((short)p.ErrorCode);
                if (version == 0)
                {
                    writer.WriteArrayLength(p.OldStyleOffsets.Count, flexible);
                    foreach (long offset in p.OldStyleOffsets) writer.WriteInt64(offset);
                }
                if (version >= 1)
                {
                    writer.WriteInt64(p.Timestamp);
                    writer.WriteInt64(p.Offset);
                }
                if (version >= 4) writer.WriteInt32(p.LeaderEpoch);
                if (flexible) writer.WriteEmptyTaggedFields();
            }
            if (flexible) writer.WriteEmptyTaggedFields();
        }
        if (flexible) writer.WriteEmptyTaggedFields();
    }
}
