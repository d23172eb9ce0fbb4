namespace DetKafka.Core.Protocol.Messages;

// CreateTopics (key 19), versions 0-7; flexible from 5.
// Request: validate_only from v1; v4 only relaxes the meaning of -1 partitions/replication factor (no layout
// change), v6 and v7 only add error codes. Response: throttle time from v2, per-topic error message from v1;
// from v5 the result echoes the topic's partitions, replication factor and configs (nullable) plus an optional
// topic_config_error_code in tagged field 0 (sent only when the configs could not be returned); topic id from v7.

public sealed class CreateTopicsRequest : IKafkaMessage
{
    public List<CreatableTopic> Topics { get; set; } = new();
    public int TimeoutMs { get; set; } = 60000;
    public bool ValidateOnly { get; set; }

    public sealed class CreatableTopic
    {
        public string Name { get; set; } = "";
        /// <summary>-1 when Assignments is given, or (v4+) to take the broker default.</summary>
        public int NumPartitions { get; set; }
        public short ReplicationFactor { get; set; }
        public List<CreatableReplicaAssignment> Assignments { get; set; } = new();
        public List<CreatableTopicConfig> Configs { get; set; } = new();
    }

    public sealed class CreatableReplicaAssignment
    {
        public int PartitionIndex { get; set; }
        public List<int> BrokerIds { get; set; } = new();
    }

    public sealed class CreatableTopicConfig
    {
        public string Name { get; set; } = "";
        public string? Value { get; set; }
    }

    public static CreateTopicsRequest Read(ref KafkaReader reader, short version)
    {
        bool flexible = ApiVersionTable.IsFlexible(ApiKey.CreateTopics, version);
        var m = new CreateTopicsRequest();
        int topicCount = reader.ReadArrayCount(flexible);
        for (int i = 0; i < topicCount; i++)
        {
            var t = new CreatableTopic
            {
                Name = reader.ReadString(flexible),
                NumPartitions = reader.ReadInt32(),
                ReplicationFactor = reader.ReadInt16(),
            };
            int assignmentCount = reader.ReadArrayCount(flexible);
            for (int j = 0; j < assignmentCount; j++)
            {
                var a = new CreatableReplicaAssignment { PartitionIndex = reader.ReadInt32() };
                int brokerCount = reader.ReadArrayCount(flexible);
                for (int k = 0; k < brokerCount; k++) a.BrokerIds.Add(reader.ReadInt32());
                if (flexible) reader.SkipTaggedFields();
                t.Assignments.Add(a);
            }
            int configCount = reader.ReadArrayCount(flexible);
            for (int j = 0; j < configCount; j++)
            {
                var c = new CreatableTopicConfig
                {
                    Name = reader.ReadString(flexible),
                    Value = reader.ReadNullableString(flexible),
                };
                if (flexible) reader.SkipTaggedFields();
                t.Configs.Add(c);
            }
            if (flexible) reader.SkipTaggedFields();
            m.Topics.Add(t);
        }
        m.TimeoutMs = reader.ReadInt32();
        if (version >= 1) m.ValidateOnly = reader.ReadBoolean();
        if (flexible) reader.SkipTaggedFields();
        return m;
    }

    public void Write(KafkaWriter writer, short version)
    {
        bool flexible = ApiVersionTable.IsFlexible(ApiKey.CreateTopics, version);
        writer.WriteArrayLength(Topics.Count, flexible);
        foreach (var t in Topics)
        {
            writer.WriteString(t.Name, flexible);
            writer.WriteInt32(t.NumPartitions);
            writer.WriteInt16(t.ReplicationFactor);
            writer.WriteArrayLength(t.Assignments.Count, flexible);
            foreach (var a in t.Assignments)
            {
                writer.WriteInt32(a.PartitionIndex);
                writer.WriteArrayLength(a.BrokerIds.Count, flexible);
                foreach (int b in a.BrokerIds) writer.WriteInt32(b);
                if (flexible) writer.WriteEmptyTaggedFields();
            }
            writer.WriteArrayLength(t.Configs.Count, flexible);
            foreach (var c in t.Configs)
            {
                writer.WriteString(c.Name, flexible);
                writer.WriteNullableString(c.Value, flexible);
                if (flexible) writer.WriteEmptyTaggedFields();
            }
            if (flexible) writer.WriteEmptyTaggedFields();
        }
        writer.WriteInt32(TimeoutMs);
        if (version >= 1) writer.WriteBoolean(ValidateOnly);
        if (flexible) writer.WriteEmptyTaggedFields();
    }
}

public sealed class CreateTopicsResponse : IKafkaMessage
{
    /// <summary>The only tagged field this codec keeps: tag 0 of a topic result, an int16.</summary>
    private const uint TopicConfigErrorCodeTag = 0;

    public int ThrottleTimeMs { get; set; }
    public List<CreatableTopicResult> Topics { get; set; } = new();

    public sealed class CreatableTopicResult
    {
        public string Name { get; set; } = "";
        public Guid TopicId { get; set; }
        public ErrorCode ErrorCode { get; set; }
        public string? ErrorMessage { get; set; }
        /// <summary>Tagged (v5+); written only when not None, as Kafka does for a field at its default.</summary>
        public ErrorCode TopicConfigErrorCode { get; set; }
        public int NumPartitions { get; set; } = -1;
        public short ReplicationFactor { get; set; } = -1;
        /// <summary>Null when the configs are not returned (for instance, not authorized to describe them).</summary>
        public List<CreatableTopicConfigs>? Configs { get; set; } = new();
    }

    public sealed class CreatableTopicConfigs
    {
        public string Name { get; set; } = "";
        public string? Value { get; set; }
        public bool ReadOnly { get; set; }
        public ConfigSource ConfigSource { get; set; } = (ConfigSource)(-1);
        public bool IsSensitive { get; set; }
    }

    public static CreateTopicsResponse Read(ref KafkaReader reader, short version)
    {
        bool flexible = ApiVersionTable.IsFlexible(ApiKey.CreateTopics, version);
        var m = new CreateTopicsResponse();
        if (version >= 2) m.ThrottleTimeMs = reader.ReadInt32();
        int topicCount = reader.ReadArrayCount(flexible);
        for (int i = 0; i < topicCount; i++)
        {
            var t = new CreatableTopicResult { Name = reader.ReadString(flexible) };
            if (version >= 7) t.TopicId = reader.ReadUuid();
            t.ErrorCode = (ErrorCode)reader.ReadInt16();
            if (version >= 1) t.ErrorMessage = reader.ReadNullableString(flexible);
            if (version >= 5)
            {
                t.NumPartitions = reader.ReadInt32();
                t.ReplicationFactor = reader.ReadInt16();
                int configCount = reader.ReadArrayLength(flexible);
                t.Configs = configCount < 0 ? null : new List<CreatableTopicConfigs>(configCount);
                for (int j = 0; j < configCount; j++)
                {
                    var c = new CreatableTopicConfigs
                    {
                        Name = reader.ReadString(flexible),
                        Value = reader.ReadNullableString(flexible),
                        ReadOnly = reader.ReadBoolean(),
                        ConfigSource = (ConfigSource)reader.ReadInt8(),
                        IsSensitive = reader.ReadBoolean(),
                    };
                    if (flexible) reader.SkipTaggedFields();
                    t.Configs!.Add(c);
                }
            }
            if (flexible) ReadTopicResultTaggedFields(ref reader, t);
            m.Topics.Add(t);
        }
        if (flexible) reader.SkipTaggedFields();
        return m;
    }

    private static void ReadTopicResultTaggedFields(ref KafkaReader reader, CreatableTopicResult t)
    {
        uint count = reader.ReadUnsignedVarInt();
        if (count > (uint)reader.Remaining) throw new ProtocolException("more tagged fields than bytes");
        uint previousTag = 0;
        for (uint i = 0; i < count; i++)
        {
            uint tag = reader.ReadUnsignedVarInt();
            if (i > 0 && tag <= previousTag) throw new ProtocolException("tagged fields out of order");
            previousTag = tag;
            uint size = reader.ReadUnsignedVarInt();
            if (size > (uint)reader.Remaining) throw new ProtocolException($"tagged field {tag} overruns the frame");
            if (tag == TopicConfigErrorCodeTag)
            {
                if (size != 2) throw new ProtocolException($"topic_config_error_code has size {size}, expected 2");
                t.TopicConfigErrorCode = (ErrorCode)reader.ReadInt16();
            }
            else
            {
                reader.Skip((int)size);
            }
        }
    }

    public void Write(KafkaWriter writer, short version)
    {
        bool flexible = ApiVersionTable.IsFlexible(ApiKey.CreateTopics, version);
        if (version >= 2) writer.WriteInt32(ThrottleTimeMs);
        writer.WriteArrayLength(Topics.Count, flexible);
        foreach (var t in Topics)
        {
            writer.WriteString(t.Name, flexible);
            if (version >= 7) writer.WriteUuid(t.TopicId);
            writer.WriteInt16((short)t.ErrorCode);
            if (version >= 1) writer.WriteNullableString(t.ErrorMessage, flexible);
            if (version >= 5)
            {
                writer.WriteInt32(t.NumPartitions);
                writer.WriteInt16(t.ReplicationFactor);
                writer.WriteArrayLength(t.Configs?.Count ?? -1, flexible);
                foreach (var c in t.Configs ?? [])
                {
                    writer.WriteString(c.Name, flexible);
                    writer.WriteNullableString(c.Value, flexible);
                    writer.WriteBoolean(c.ReadOnly);
                    writer.WriteInt8((sbyte)c.ConfigSource);
                    writer.WriteBoolean(c.IsSensitive);
                    if (flexible) writer.WriteEmptyTaggedFields();
                }
            }
            if (flexible)
            {
                if (t.TopicConfigErrorCode == ErrorCode.None)
                {
                    writer.WriteEmptyTaggedFields();
                }
                else
                {
                    writer.WriteUnsignedVarInt(1);
                    writer.WriteUnsignedVarInt(TopicConfigErrorCodeTag);
                    writer.WriteUnsignedVarInt(2);
                    writer.WriteInt16((short)t.TopicConfigErrorCode);
                }
            }
        }
        if (flexible) writer.WriteEmptyTaggedFields();
    }
}
