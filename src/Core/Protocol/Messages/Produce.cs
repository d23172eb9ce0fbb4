using DetKafka.Core.Util;

namespace DetKafka.Core.Protocol.Messages;

// Produce (key 0), versions 0-9; flexible from 9.
// The codec reads and writes v0-2 although the broker serves only 3+ (message format v2): it must still
// decode an old request and answer it with UNSUPPORTED_VERSION in the layout that version expects.
// Request: transactional id from v3. Records stay a slice of the request buffer; the log validates them.
// Response: throttle time from v1, log append time from v2, log start offset from v5, record errors and
// error message from v8.

public sealed class ProduceRequest : IKafkaMessage
{
    public string? TransactionalId { get; set; }
    public short Acks { get; set; }
    public int TimeoutMs { get; set; }
    public List<TopicProduceData> TopicData { get; set; } = new();

    public sealed class TopicProduceData
    {
        public string Name { get; set; } = "";
        public List<PartitionProduceData> PartitionData { get; set; } = new();
    }

    public sealed class PartitionProduceData
    {
        public int Index { get; set; }

        /// <summary>The record batches as sent, a slice of the request buffer (not copied); null when absent.</summary>
        public ReadOnlyMemory<byte>? Records { get; set; }
    }

    public static ProduceRequest Read(ref KafkaReader reader, short version)
    {
        var m = new ProduceRequest();
        m.ReadFrom(ref reader, version);
        return m;
    }

    /// <summary>Decodes into this instance, reusing its lists and their elements (the broker decodes every
    /// Produce into one instance). Every field is assigned, so nothing of an earlier request survives.</summary>
    internal void ReadFrom(ref KafkaReader reader, short version)
    {
        bool flexible = ApiVersionTable.IsFlexible(ApiKey.Produce, version);
        TransactionalId = version >= 3 ? reader.ReadNullableString(flexible) : null;
        Acks = reader.ReadInt16();
        TimeoutMs = reader.ReadInt32();
        int topicCount = reader.ReadArrayCount(flexible);
        TopicData.EnsureCapacity(topicCount);
        for (int i = 0; i < topicCount; i++)
        {
            var t = Reuse.Slot(TopicData, i);
            t.Name = reader.ReadString(flexible);
            int partitionCount = reader.ReadArrayCount(flexible);
            t.PartitionData.EnsureCapacity(partitionCount);
            for (int j = 0; j < partitionCount; j++)
            {
                var p = Reuse.Slot(t.PartitionData, j);
                p.Index = reader.ReadInt32();
                p.Records = reader.ReadNullableBytes(flexible);
                if (flexible) reader.SkipTaggedFields();
            }
            Reuse.Truncate(t.PartitionData, partitionCount);
            if (flexible) reader.SkipTaggedFields();
        }
        Reuse.Truncate(TopicData, topicCount);
        if (flexible) reader.SkipTaggedFields();
    }

    /// <summary>Lets go of the request buffer the records point into (a reused instance outlives it).</summary>
    internal void ReleaseRecords()
    {
        foreach (var t in TopicData)
            foreach (var p in t.PartitionData) p.Records = null;
    }

    public void Write(KafkaWriter writer, short version)
    {
        bool flexible = ApiVersionTable.IsFlexible(ApiKey.Produce, version);
        if (version >= 3) writer.WriteNullableString(TransactionalId, flexible);
        writer.WriteInt16(Acks);
        writer.WriteInt32(TimeoutMs);
        writer.WriteArrayLength(TopicData.Count, flexible);
        foreach (var t in TopicData)
        {
            writer.WriteString(t.Name, flexible);
            writer.WriteArrayLength(t.PartitionData.Count, flexible);
            foreach (var p in t.PartitionData)
            {
                writer.WriteInt32(p.Index);
                writer.WriteNullableBytes(p.Records, flexible);
                if (flexible) writer.WriteEmptyTaggedFields();
            }
            if (flexible) writer.WriteEmptyTaggedFields();
        }
        if (flexible) writer.WriteEmptyTaggedFields();
    }
}

public sealed class ProduceResponse : IKafkaMessage
{
    public List<TopicProduceResponse> Responses { get; set; } = new();
    public int ThrottleTimeMs { get; set; }

    public sealed class TopicProduceResponse
    {
        public string Name { get; set; } = "";
        public List<PartitionProduceResponse> PartitionResponses { get; set; } = new();
    }

    public sealed class PartitionProduceResponse
    {
        public int Index { get; set; }
        public ErrorCode ErrorCode { get; set; }
        public long BaseOffset { get; set; }
        public long LogAppendTimeMs { get; set; } = -1;
        public long LogStartOffset { get; set; } = -1;
        public List<BatchIndexAndErrorMessage> RecordErrors { get; set; } = new();
        public string? ErrorMessage { get; set; }

        /// <summary>Back to a new instance's values, keeping the list (the broker reuses responses).</summary>
        internal void Reset(int index)
        {
            Index = index;
            ErrorCode = ErrorCode.None;
            BaseOffset = 0;
            LogAppendTimeMs = -1;
            LogStartOffset = -1;
            RecordErrors.Clear();
            ErrorMessage = null;
        }
    }

    public sealed class BatchIndexAndErrorMessage
    {
        public int BatchIndex { get; set; }
        public string? BatchIndexErrorMessage { get; set; }
    }

    public static ProduceResponse Read(ref KafkaReader reader, short version)
    {
        bool flexible = ApiVersionTable.IsFlexible(ApiKey.Produce, version);
        var m = new ProduceResponse();
        int topicCount = reader.ReadArrayCount(flexible);
        m.Responses = new List<TopicProduceResponse>(topicCount);
        for (int i = 0; i < topicCount; i++)
        {
            var t = new TopicProduceResponse { Name = reader.ReadString(flexible) };
            int partitionCount = reader.ReadArrayCount(flexible);
            t.PartitionResponses = new List<PartitionProduceResponse>(partitionCount);
            for (int j = 0; j < partitionCount; j++)
            {
                var p = new PartitionProduceResponse
                {
                    Index = reader.ReadInt32(),
                    ErrorCode = (ErrorCode)reader.ReadInt16(),
                    BaseOffset = reader.ReadInt64(),
                };
                if (version >= 2) p.LogAppendTimeMs = reader.ReadInt64();
                if (version >= 5) p.LogStartOffset = reader.ReadInt64();
                if (version >= 8)
                {
                    int errorCount = reader.ReadArrayCount(flexible);
                    p.RecordErrors = new List<BatchIndexAndErrorMessage>(errorCount);
                    for (int k = 0; k < errorCount; k++)
                    {
                        var e = new BatchIndexAndErrorMessage
                        {
                            BatchIndex = reader.ReadInt32(),
                            BatchIndexErrorMessage = reader.ReadNullableString(flexible),
                        };
                        if (flexible) reader.SkipTaggedFields();
                        p.RecordErrors.Add(e);
                    }
                    p.ErrorMessage = reader.ReadNullableString(flexible);
                }
                if (flexible) reader.SkipTaggedFields();
                t.PartitionResponses.Add(p);
            }
            if (flexible) reader.SkipTaggedFields();
            m.Responses.Add(t);
        }
        if (version >= 1) m.ThrottleTimeMs = reader.ReadInt32();
        if (flexible) reader.SkipTaggedFields();
        return m;
    }

    public void Write(KafkaWriter writer, short version)
    {
        bool flexible = ApiVersionTable.IsFlexible(ApiKey.Produce, version);
        writer.WriteArrayLength(Responses.Count, flexible);
        foreach (var t in Responses)
        {
            writer.WriteString(t.Name, flexible);
            writer.WriteArrayLength(t.PartitionResponses.Count, flexible);
            foreach (var p in t.PartitionResponses)
            {
                writer.WriteInt32(p.Index);
                writer.WriteInt16((short)p.ErrorCode);
                writer.WriteInt64(p.BaseOffset);
                if (version >= 2) writer.WriteInt64(p.LogAppendTimeMs);
                if (version >= 5) writer.WriteInt64(p.LogStartOffset);
                if (version >= 8)
                {
                    writer.WriteArrayLength(p.RecordErrors.Count, flexible);
                    foreach (var e in p.RecordErrors)
                    {
                        writer.WriteInt32(e.BatchIndex);
                        writer.WriteNullableString(e.BatchIndexErrorMessage, flexible);
                        if (flexible) writer.WriteEmptyTaggedFields();
                    }
                    writer.WriteNullableString(p.ErrorMessage, flexible);
                }
                if (flexible) writer.WriteEmptyTaggedFields();
            }
            if (flexible) writer.WriteEmptyTaggedFields();
        }
        if (version >= 1) writer.WriteInt32(ThrottleTimeMs);
        if (flexible) writer.WriteEmptyTaggedFields();
    }
}
