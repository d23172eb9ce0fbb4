using DetKafka.Core.Util;

namespace DetKafka.Core.Protocol.Messages;

// Fetch (key 1), versions 4-12; flexible from 12. v4 is the first that reads message format v2 and
// carries an isolation level, so nothing older is implemented (the version checks below still follow the
// protocol for v0-3 where they are cheap to state).
// Request: max bytes from v3, isolation level from v4, partition log start offset from v5, fetch sessions
// and forgotten topics from v7, current leader epoch from v9, rack id from v11, last fetched epoch from v12.
// Response: throttle time from v1, last stable offset and aborted transactions from v4, log start offset
// from v5, top-level error and session id from v7, preferred read replica from v11. v12's partition tagged
// fields (diverging epoch, current leader, snapshot id) are for replication and KRaft: skipped, never sent.

public sealed class FetchRequest : IKafkaMessage
{
    public int ReplicaId { get; set; } = -1;
    public int MaxWaitMs { get; set; }
    public int MinBytes { get; set; }
    public int MaxBytes { get; set; } = int.MaxValue;

    /// <summary>0 = READ_UNCOMMITTED, 1 = READ_COMMITTED.</summary>
    public sbyte IsolationLevel { get; set; }
    public int SessionId { get; set; }
    public int SessionEpoch { get; set; } = -1;
    public List<FetchTopic> Topics { get; set; } = new();
    public List<ForgottenTopic> ForgottenTopicsData { get; set; } = new();
    public string RackId { get; set; } = "";

    public sealed class FetchTopic
    {
        public string Topic { get; set; } = "";
        public List<FetchPartition> Partitions { get; set; } = new();
    }

    public sealed class FetchPartition
    {
        public int Partition { get; set; }
        public int CurrentLeaderEpoch { get; set; } = -1;
        public long FetchOffset { get; set; }
        public int LastFetchedEpoch { get; set; } = -1;
        public long LogStartOffset { get; set; } = -1;
        public int PartitionMaxBytes { get; set; }
    }

    public sealed class ForgottenTopic
    {
        public string Topic { get; set; } = "";
        public List<int> Partitions { get; set; } = new();
    }

    public static FetchRequest Read(ref KafkaReader reader, short version)
    {
        var m = new FetchRequest();
        m.ReadFrom(ref reader, version);
        return m;
    }

    /// <summary>Decodes into this instance, reusing its lists and their elements (a pooled waiting fetch
    /// owns one). Every field is assigned, so nothing of an earlier request survives.</summary>
    internal void ReadFrom(ref KafkaReader reader, short version)
    {
        bool flexible = ApiVersionTable.IsFlexible(ApiKey.Fetch, version);
        ReplicaId = reader.ReadInt32();
        MaxWaitMs = reader.ReadInt32();
        MinBytes = reader.ReadInt32();
        MaxBytes = version >= 3 ? reader.ReadInt32() : int.MaxValue;
        IsolationLevel = version >= 4 ? reader.ReadInt8() : (sbyte)0;
        SessionId = version >= 7 ? reader.ReadInt32() : 0;
        SessionEpoch = version >= 7 ? reader.ReadInt32() : -1;

        int topicCount = reader.ReadArrayCount(flexible);
        Topics.EnsureCapacity(topicCount);
        for (int i = 0; i < topicCount; i++)
        {
            var t = Reuse.Slot(Topics, i);
            t.Topic = reader.ReadString(flexible);
            int partitionCount = reader.ReadArrayCount(flexible);
            t.Partitions.EnsureCapacity(partitionCount);
            for (int j = 0; j < partitionCount; j++)
            {
                var p = Reuse.Slot(t.Partitions, j);
                p.Partition = reader.ReadInt32();
                p.CurrentLeaderEpoch = version >= 9 ? reader.ReadInt32() : -1;
                p.FetchOffset = reader.ReadInt64();
                p.LastFetchedEpoch = version >= 12 ? reader.ReadInt32() : -1;
                p.LogStartOffset = version >= 5 ? reader.ReadInt64() : -1;
                p.PartitionMaxBytes = reader.ReadInt32();
                if (flexible) reader.SkipTaggedFields();
            }
            Reuse.Truncate(t.Partitions, partitionCount);
            if (flexible) reader.SkipTaggedFields();
        }
        Reuse.Truncate(Topics, topicCount);

        int forgottenCount = version >= 7 ? reader.ReadArrayCount(flexible) : 0;
        ForgottenTopicsData.EnsureCapacity(forgottenCount);
        for (int i = 0; i < forgottenCount; i++)
        {
            var f = Reuse.Slot(ForgottenTopicsData, i);
            f.Topic = reader.ReadString(flexible);
            int partitionCount = reader.ReadArrayCount(flexible);
            f.Partitions.Clear();
            f.Partitions.EnsureCapacity(partitionCount);
            for (int j = 0; j < partitionCount; j++) f.Partitions.Add(reader.ReadInt32());
            if (flexible) reader.SkipTaggedFields();
        }
        Reuse.Truncate(ForgottenTopicsData, forgottenCount);

        RackId = version >= 11 ? reader.ReadString(flexible) : "";
        // v12+ may carry the cluster id as tag 0; a broker without KRaft registration has no use for it.
        if (flexible) reader.SkipTaggedFields();
    }

    public void Write(KafkaWriter writer, short version)
    {
        bool flexible = ApiVersionTable.IsFlexible(ApiKey.Fetch, version);
        writer.WriteInt32(ReplicaId);
        writer.WriteInt32(MaxWaitMs);
        writer.WriteInt32(MinBytes);
        if (version >= 3) writer.WriteInt32(MaxBytes);
        if (version >= 4) writer.WriteInt8(IsolationLevel);
        if (version >= 7)
        {
            writer.WriteInt32(SessionId);
            writer.WriteInt32(SessionEpoch);
        }

        writer.WriteArrayLength(Topics.Count, flexible);
        foreach (var t in Topics)
        {
            writer.WriteString(t.Topic, flexible);
            writer.WriteArrayLength(t.Partitions.Count, flexible);
            foreach (var p in t.Partitions)
            {
                writer.WriteInt32(p.Partition);
                if (version >= 9) writer.WriteInt32(p.CurrentLeaderEpoch);
                writer.WriteInt64(p.FetchOffset);
                if (version >= 12) writer.WriteInt32(p.LastFetchedEpoch);
                if (version >= 5) writer.WriteInt64(p.LogStartOffset);
                writer.WriteInt32(p.PartitionMaxBytes);
                if (flexible) writer.WriteEmptyTaggedFields();
            }
            if (flexible) writer.WriteEmptyTaggedFields();
        }

        if (version >= 7)
        {
            writer.WriteArrayLength(ForgottenTopicsData.Count, flexible);
            foreach (var f in ForgottenTopicsData)
            {
                writer.WriteString(f.Topic, flexible);
                writer.WriteArrayLength(f.Partitions.Count, flexible);
                foreach (int partition in f.Partitions) writer.WriteInt32(partition);
                if (flexible) writer.WriteEmptyTaggedFields();
            }
        }

        if (version >= 11) writer.WriteString(RackId, flexible);
        if (flexible) writer.WriteEmptyTaggedFields();
    }
}

public sealed class FetchResponse : IKafkaMessage
{
    public int ThrottleTimeMs { get; set; }
    public ErrorCode ErrorCode { get; set; }
    public int SessionId { get; set; }
    public List<FetchableTopicResponse> Responses { get; set; } = new();

    public sealed class FetchableTopicResponse
    {
        public string Topic { get; set; } = "";
        public List<PartitionData> Partitions { get; set; } = new();
    }

    public sealed class PartitionData
    {
        public int PartitionIndex { get; set; }
        public ErrorCode ErrorCode { get; set; }
        public long HighWatermark { get; set; }
        public long LastStableOffset { get; set; } = -1;
        public long LogStartOffset { get; set; } = -1;

        /// <summary>Aborted transactions overlapping the returned records (READ_COMMITTED); null when not reported.</summary>
        public List<AbortedTransaction>? AbortedTransactions { get; set; }
        public int PreferredReadReplica { get; set; } = -1;

        /// <summary>Record batches; on read, a slice of the response buffer (not copied).</summary>
        public ReadOnlyMemory<byte>? Records { get; set; }

        /// <summary>When set, the records are these bytes of a log, copied into the writer by
        /// <see cref="FetchResponse.Write"/> in place of <see cref="Records"/> (the broker's fetch path).</summary>
        public RecordsSlice? RecordsFrom { get; set; }

        /// <summary>Back to a new instance's values (the broker reuses responses); the caller decides about
        /// <see cref="AbortedTransactions"/>, which is set to null here.</summary>
        internal void Reset(int partitionIndex)
        {
            PartitionIndex = partitionIndex;
            ErrorCode = ErrorCode.None;
            HighWatermark = 0;
            LastStableOffset = -1;
            LogStartOffset = -1;
            AbortedTransactions = null;
            PreferredReadReplica = -1;
            Records = null;
            RecordsFrom = null;
        }
    }

    public sealed class AbortedTransaction
    {
        public long ProducerId { get; set; }
        public long FirstOffset { get; set; }
    }

    public static FetchResponse Read(ref KafkaReader reader, short version)
    {
        bool flexible = ApiVersionTable.IsFlexible(ApiKey.Fetch, version);
        var m = new FetchResponse();
        if (version >= 1) m.ThrottleTimeMs = reader.ReadInt32();
        if (version >= 7)
        {
            m.ErrorCode = (ErrorCode)reader.ReadInt16();
            m.SessionId = reader.ReadInt32();
        }

        int topicCount = reader.ReadArrayCount(flexible);
        m.Responses = new List<FetchableTopicResponse>(topicCount);
        for (int i = 0; i < topicCount; i++)
        {
            var t = new FetchableTopicResponse { Topic = reader.ReadString(flexible) };
            int partitionCount = reader.ReadArrayCount(flexible);
            t.Partitions = new List<PartitionData>(partitionCount);
            for (int j = 0; j < partitionCount; j++)
            {
                var p = new PartitionData
                {
                    PartitionIndex = reader.ReadInt32(),
                    ErrorCode = (ErrorCode)reader.ReadInt16(),
                    HighWatermark = reader.ReadInt64(),
                };
                if (version >= 4) p.LastStableOffset = reader.ReadInt64();
                if (version >= 5) p.LogStartOffset = reader.ReadInt64();
                if (version >= 4)
                {
                    int abortedCount = reader.ReadArrayLength(flexible);
                    if (abortedCount >= 0)
                    {
                        p.AbortedTransactions = new List<AbortedTransaction>(abortedCount);
                        for (int k = 0; k < abortedCount; k++)
                        {
                            var a = new AbortedTransaction
                            {
                                ProducerId = reader.ReadInt64(),
                                FirstOffset = reader.ReadInt64(),
                            };
                            if (flexible) reader.SkipTaggedFields();
                            p.AbortedTransactions.Add(a);
                        }
                    }
                }
                if (version >= 11) p.PreferredReadReplica = reader.ReadInt32();
                p.Records = reader.ReadNullableBytes(flexible);
                if (flexible) reader.SkipTaggedFields();
                t.Partitions.Add(p);
            }
            if (flexible) reader.SkipTaggedFields();
            m.Responses.Add(t);
        }
        if (flexible) reader.SkipTaggedFields();
        return m;
    }

    public void Write(KafkaWriter writer, short version)
    {
        bool flexible = ApiVersionTable.IsFlexible(ApiKey.Fetch, version);
        if (version >= 1) writer.WriteInt32(ThrottleTimeMs);
        if (version >= 7)
        {
            writer.WriteInt16((short)ErrorCode);
            writer.WriteInt32(SessionId);
        }

        writer.WriteArrayLength(Responses.Count, flexible);
        foreach (var t in Responses)
        {
            writer.WriteString(t.Topic, flexible);
            writer.WriteArrayLength(t.Partitions.Count, flexible);
            foreach (var p in t.Partitions)
            {
                writer.WriteInt32(p.PartitionIndex);
                writer.WriteInt16((short)p.ErrorCode);
                writer.WriteInt64(p.HighWatermark);
                if (version >= 4) writer.WriteInt64(p.LastStableOffset);
                if (version >= 5) writer.WriteInt64(p.LogStartOffset);
                if (version >= 4)
                {
                    if (p.AbortedTransactions is null)
                    {
                        writer.WriteArrayLength(-1, flexible);
                    }
                    else
                    {
                        writer.WriteArrayLength(p.AbortedTransactions.Count, flexible);
                        foreach (var a in p.AbortedTransactions)
                        {
                            writer.WriteInt64(a.ProducerId);
                            writer.WriteInt64(a.FirstOffset);
                            if (flexible) writer.WriteEmptyTaggedFields();
                        }
                    }
                }
                if (version >= 11) writer.WriteInt32(p.PreferredReadReplica);
                if (p.RecordsFrom is { } slice)
                    slice.Source.CopyTo(slice.Position, writer.WriteBytesInPlace(slice.Length, flexible));
                else
                    writer.WriteNullableBytes(p.Records, flexible);
                if (flexible) writer.WriteEmptyTaggedFields();
            }
            if (flexible) writer.WriteEmptyTaggedFields();
        }
        if (flexible) writer.WriteEmptyTaggedFields();
    }
}
