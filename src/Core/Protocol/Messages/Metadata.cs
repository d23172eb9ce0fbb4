namespace DetKafka.Core.Protocol.Messages;

// Metadata (key 3), versions 0-9; flexible from 9.
// Request: v0 has no way to say "no topics": its empty array means every topic. v1 made the array nullable
// and null means every topic. Decoding maps a v0 empty array to null so handlers see one meaning
// (Topics == null: all topics); encoding writes null as an empty array in v0.
// Response: rack, controller and is_internal from v1, cluster id from v2, throttle time from v3, offline
// replicas from v5, leader epoch from v7, authorized-operation bitfields from v8.

public sealed class MetadataRequest : IKafkaMessage
{
    /// <summary>The topics to describe; null asks for every topic.</summary>
    public List<MetadataRequestTopic>? Topics { get; set; } = new();
    public bool AllowAutoTopicCreation { get; set; } = true;
    public bool IncludeClusterAuthorizedOperations { get; set; }
    public bool IncludeTopicAuthorizedOperations { get; set; }

    public sealed class MetadataRequestTopic
    {
        public string Name { get; set; } = "";
    }

    public static MetadataRequest Read(ref KafkaReader reader, short version)
    {
        bool flexible = ApiVersionTable.IsFlexible(ApiKey.Metadata, version);
        var m = new MetadataRequest();
        int count = reader.ReadArrayLength(flexible);
        if (count < 0 && version < 1) throw new ProtocolException("null topics array in Metadata v0");
        if (count < 0 || (count == 0 && version < 1))
        {
            m.Topics = null;
        }
        else
        {
            m.Topics = new List<MetadataRequestTopic>(count);
            for (int i = 0; i < count; i++)
            {
                var t = new MetadataRequestTopic { Name = reader.ReadString(flexible) };
                if (flexible) reader.SkipTaggedFields();
                m.Topics.Add(t);
            }
        }
        if (version >= 4) m.AllowAutoTopicCreation = reader.ReadBoolean();
        if (version >= 8)
        {
            m.IncludeClusterAuthorizedOperations = reader.ReadBoolean();
            m.IncludeTopicAuthorizedOperations = reader.ReadBoolean();
        }
        if (flexible) reader.SkipTaggedFields();
        return m;
    }

    public void Write(KafkaWriter writer, short version)
    {
        bool flexible = ApiVersionTable.IsFlexible(ApiKey.Metadata, version);
        if (Topics is null)
        {
            writer.WriteArrayLength(version >= 1 ? -1 : 0, flexible);
        }
        else
        {
            writer.WriteArrayLength(Topics.Count, flexible);
            foreach (var t in Topics)
            {
                writer.WriteString(t.Name, flexible);
                if (flexible) writer.WriteEmptyTaggedFields();
            }
        }
        if (version >= 4) writer.WriteBoolean(AllowAutoTopicCreation);
        if (version >= 8)
        {
            writer.WriteBoolean(IncludeClusterAuthorizedOperations);
            writer.WriteBoolean(IncludeTopicAuthorizedOperations);
        }
        if (flexible) writer.WriteEmptyTaggedFields();
    }
}

public sealed class MetadataResponse : IKafkaMessage
{
    /// <summary>Kafka's "not requested / unknown" value for the authorized-operations bitfields.</summary>
    public const int AuthorizedOperationsOmitted = int.MinValue;

    public int ThrottleTimeMs { get; set; }
    public List<MetadataResponseBroker> Brokers { get; set; } = new();
    public string? ClusterId { get; set; }
    public int ControllerId { get; set; } = -1;
    public List<MetadataResponseTopic> Topics { get; set; } = new();
    public int ClusterAuthorizedOperations { get; set; } = AuthorizedOperationsOmitted;

    public sealed class MetadataResponseBroker
    {
        public int NodeId { get; set; }
        public string Host { get; set; } = "";
        public int Port { get; set; }
        public string? Rack { get; set; }
    }

    public sealed class MetadataResponseTopic
    {
        public ErrorCode ErrorCode { get; set; }
        public string Name { get; set; } = "";
        public bool IsInternal { get; set; }
        public List<MetadataResponsePartition> Partitions { get; set; } = new();
        public int TopicAuthorizedOperations { get; set; } = AuthorizedOperationsOmitted;
    }

    public sealed class MetadataResponsePartition
    {
        public ErrorCode ErrorCode { get; set; }
        public int PartitionIndex { get; set; }
        public int LeaderId { get; set; }
        public int LeaderEpoch { get; set; } = -1;
        public List<int> ReplicaNodes { get; set; } = new();
        public List<int> IsrNodes { get; set; } = new();
        public List<int> OfflineReplicas { get; set; } = new();
    }

    public static MetadataResponse Read(ref KafkaReader reader, short version)
    {
        bool flexible = ApiVersionTable.IsFlexible(ApiKey.Metadata, version);
        var m = new MetadataResponse();
        if (version >= 3) m.ThrottleTimeMs = reader.ReadInt32();

        int brokerCount = reader.ReadArrayCount(flexible);
        m.Brokers = new List<MetadataResponseBroker>(brokerCount);
        for (int i = 0; i < brokerCount; i++)
        {
            var b = new MetadataResponseBroker
            {
                NodeId = reader.ReadInt32(),
                Host = reader.ReadString(flexible),
                Port = reader.ReadInt32(),
            };
            if (version >= 1) b.Rack = reader.ReadNullableString(flexible);
            if (flexible) reader.SkipTaggedFields();
            m.Brokers.Add(b);
        }

        if (version >= 2) m.ClusterId = reader.ReadNullableString(flexible);
        if (version >= 1) m.ControllerId = reader.ReadInt32();

        int topicCount = reader.ReadArrayCount(flexible);
        m.Topics = new List<MetadataResponseTopic>(topicCount);
        for (int i = 0; i < topicCount; i++)
        {
            var t = new MetadataResponseTopic
            {
                ErrorCode = (ErrorCode)reader.ReadInt16(),
                Name = reader.ReadString(flexible),
            };
            if (version >= 1) t.IsInternal = reader.ReadBoolean();
            int partitionCount = reader.ReadArrayCount(flexible);
            t.Partitions = new List<MetadataResponsePartition>(partitionCount);
            for (int j = 0; j < partitionCount; j++)
            {
                var p = new MetadataResponsePartition
                {
                    ErrorCode = (ErrorCode)reader.ReadInt16(),
                    PartitionIndex = reader.ReadInt32(),
                    LeaderId = reader.ReadInt32(),
                };
                if (version >= 7) p.LeaderEpoch = reader.ReadInt32();
                p.ReplicaNodes = ReadInt32Array(ref reader, flexible);
                p.IsrNodes = ReadInt32Array(ref reader, flexible);
                if (version >= 5) p.OfflineReplicas = ReadInt32Array(ref reader, flexible);
                if (flexible) reader.SkipTaggedFields();
                t.Partitions.Add(p);
            }
            if (version >= 8) t.TopicAuthorizedOperations = reader.ReadInt32();
            if (flexible) reader.SkipTaggedFields();
            m.Topics.Add(t);
        }

        if (version >= 8) m.ClusterAuthorizedOperations = reader.ReadInt32();
        if (flexible) reader.SkipTaggedFields();
        return m;
    }

    public void Write(KafkaWriter writer, short version)
    {
        bool flexible = ApiVersionTable.IsFlexible(ApiKey.Metadata, version);
        if (version >= 3) writer.WriteInt32(ThrottleTimeMs);

        writer.WriteArrayLength(Brokers.Count, flexible);
        foreach (var b in Brokers)
        {
            writer.WriteInt32(b.NodeId);
            writer.WriteString(b.Host, flexible);
            writer.WriteInt32(b.Port);
            if (version >= 1) writer.WriteNullableString(b.Rack, flexible);
            if (flexible) writer.WriteEmptyTaggedFields();
        }

        if (version >= 2) writer.WriteNullableString(ClusterId, flexible);
        if (version >= 1) writer.WriteInt32(ControllerId);

        writer.WriteArrayLength(Topics.Count, flexible);
        foreach (var t in Topics)
        {
            writer.WriteInt16((short)t.ErrorCode);
            writer.WriteString(t.Name, flexible);
            if (version >= 1) writer.WriteBoolean(t.IsInternal);
            writer.WriteArrayLength(t.Partitions.Count, flexible);
            foreach (var p in t.Partitions)
            {
                writer.WriteInt16((short)p.ErrorCode);
                writer.WriteInt32(p.PartitionIndex);
                writer.WriteInt32(p.LeaderId);
                if (version >= 7) writer.WriteInt32(p.LeaderEpoch);
                WriteInt32Array(writer, p.ReplicaNodes, flexible);
                WriteInt32Array(writer, p.IsrNodes, flexible);
                if (version >= 5) WriteInt32Array(writer, p.OfflineReplicas, flexible);
                if (flexible) writer.WriteEmptyTaggedFields();
            }
            if (version >= 8) writer.WriteInt32(t.TopicAuthorizedOperations);
            if (flexible) writer.WriteEmptyTaggedFields();
        }

        if (version >= 8) writer.WriteInt32(ClusterAuthorizedOperations);
        if (flexible) writer.WriteEmptyTaggedFields();
    }

    private static List<int> ReadInt32Array(ref KafkaReader reader, bool flexible)
    {
        int count = reader.ReadArrayCount(flexible);
        var values = new List<int>(count);
        for (int i = 0; i < count; i++) values.Add(reader.ReadInt32());
        return values;
    }

    private static void WriteInt32Array(KafkaWriter writer, List<int> values, bool flexible)
    {
        writer.WriteArrayLength(values.Count, flexible);
        foreach (int v in values) writer.WriteInt32(v);
    }
}
