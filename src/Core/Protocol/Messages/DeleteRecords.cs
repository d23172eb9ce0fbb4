namespace DetKafka.Core.Protocol.Messages;

// DeleteRecords (key 21), versions 0-2; flexible from 2.
// Moves each partition's log start offset up to the given offset (-1 means the high watermark); the response
// reports the resulting low watermark. v1 changes no layout.

public sealed class DeleteRecordsRequest : IKafkaMessage
{
    public List<DeleteRecordsTopic> Topics { get; set; } = new();
    public int TimeoutMs { get; set; }

    public sealed class DeleteRecordsTopic
    {
        public string Name { get; set; } = "";
        public List<DeleteRecordsPartition> Partitions { get; set; } = new();
    }

    public sealed class DeleteRecordsPartition
    {
        public int PartitionIndex { get; set; }
        public long Offset { get; set; }
    }

    public static DeleteRecordsRequest Read(ref KafkaReader reader, short version)
    {
        bool flexible = ApiVersionTable.IsFlexible(ApiKey.DeleteRecords, version);
        var m = new DeleteRecordsRequest();
        int topicCount = reader.ReadArrayCount(flexible);
        for (int i = 0; i < topicCount; i++)
        {
            var t = new DeleteRecordsTopic { Name = reader.ReadString(flexible) };
            int partitionCount = reader.ReadArrayCount(flexible);
            for (int j = 0; j < partitionCount; j++)
            {
                var p = new DeleteRecordsPartition { PartitionIndex = reader.ReadInt32(), Offset = reader.ReadInt64() };
                if (flexible) reader.SkipTaggedFields();
                t.Partitions.Add(p);
            }
            if (flexible) reader.SkipTaggedFields();
            m.Topics.Add(t);
        }
        m.TimeoutMs = reader.ReadInt32();
        if (flexible) reader.SkipTaggedFields();
        return m;
    }

    public void Write(KafkaWriter writer, short version)
    {
        bool flexible = ApiVersionTable.IsFlexible(ApiKey.DeleteRecords, version);
        writer.WriteArrayLength(Topics.Count, flexible);
        foreach (var t in Topics)
        {
            writer.WriteString(t.Name, flexible);
            writer.WriteArrayLength(t.Partitions.Count, flexible);
            foreach (var p in t.Partitions)
            {
                writer.WriteInt32(p.PartitionIndex);
                writer.WriteInt64(p.Offset);
                if (flexible) writer.WriteEmptyTaggedFields();
            }
            if (flexible) writer.WriteEmptyTaggedFields();
        }
        writer.WriteInt32(TimeoutMs);
        if (flexible) writer.WriteEmptyTaggedFields();
    }
}

public sealed class DeleteRecordsResponse : IKafkaMessage
{
    public int ThrottleTimeMs { get; set; }
    public List<DeleteRecordsTopicResult> Topics { get; set; } = new();

    public sealed class DeleteRecordsTopicResult
    {
        public string Name { get; set; } = "";
        public List<DeleteRecordsPartitionResult> Partitions { get; set; } = new();
    }

    public sealed class DeleteRecordsPartitionResult
    {
        public int PartitionIndex { get; set; }
        public long LowWatermark { get; set; }
        public ErrorCode ErrorCode { get; set; }
    }

    public static DeleteRecordsResponse Read(ref KafkaReader reader, short version)
    {
        bool flexible = ApiVersionTable.IsFlexible(ApiKey.DeleteRecords, version);
        var m = new DeleteRecordsResponse { ThrottleTimeMs = reader.ReadInt32() };
        int topicCount = reader.ReadArrayCount(flexible);
        for (int i = 0; i < topicCount; i++)
        {
            var t = new DeleteRecordsTopicResult { Name = reader.ReadString(flexible) };
            int partitionCount = reader.ReadArrayCount(flexible);
            for (int j = 0; j < partitionCount; j++)
            {
                var p = new DeleteRecordsPartitionResult
                {
                    PartitionIndex = reader.ReadInt32(),
                    LowWatermark = reader.ReadInt64(),
                    ErrorCode = (ErrorCode)reader.ReadInt16(),
                };
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
        bool flexible = ApiVersionTable.IsFlexible(ApiKey.DeleteRecords, version);
        writer.WriteInt32(ThrottleTimeMs);
        writer.WriteArrayLength(Topics.Count, flexible);
        foreach (var t in Topics)
        {
            writer.WriteString(t.Name, flexible);
            writer.WriteArrayLength(t.Partitions.Count, flexible);
            foreach (var p in t.Partitions)
            {
                writer.WriteInt32(p.PartitionIndex);
                writer.WriteInt64(p.LowWatermark);
                writer.WriteInt16((short)p.ErrorCode);
                if (flexible) writer.WriteEmptyTaggedFields();
            }
            if (flexible) writer.WriteEmptyTaggedFields();
        }
        if (flexible) writer.WriteEmptyTaggedFields();
    }
}
