namespace DetKafka.Core.Protocol.Messages;

// CreatePartitions (key 37), versions 0-3; flexible from 2.
// v1 and v3 change no layout (they only change when throttling happens and which errors may come back).
// Assignments is nullable: null lets the broker place the new partitions itself.

public sealed class CreatePartitionsRequest : IKafkaMessage
{
    public List<CreatePartitionsTopic> Topics { get; set; } = new();
    public int TimeoutMs { get; set; }
    public bool ValidateOnly { get; set; }

    public sealed class CreatePartitionsTopic
    {
        public string Name { get; set; } = "";
        /// <summary>The new total partition count, not the number to add.</summary>
        public int Count { get; set; }
        public List<CreatePartitionsAssignment>? Assignments { get; set; }
    }

    public sealed class CreatePartitionsAssignment
    {
        public List<int> BrokerIds { get; set; } = new();
    }

    public static CreatePartitionsRequest Read(ref KafkaReader reader, short version)
    {
        bool flexible = ApiVersionTable.IsFlexible(ApiKey.CreatePartitions, version);
        var m = new CreatePartitionsRequest();
        int topicCount = reader.ReadArrayCount(flexible);
        for (int i = 0; i < topicCount; i++)
        {
            var t = new CreatePartitionsTopic { Name = reader.ReadString(flexible), Count = reader.ReadInt32() };
            int assignmentCount = reader.ReadArrayLength(flexible);
            t.Assignments = assignmentCount < 0 ? null : new List<CreatePartitionsAssignment>(assignmentCount);
            for (int j = 0; j < assignmentCount; j++)
            {
                var a = new CreatePartitionsAssignment();
                int brokerCount = reader.ReadArrayCount(flexible);
                for (int k = 0; k < brokerCount; k++) a.BrokerIds.Add(reader.ReadInt32());
                if (flexible) reader.SkipTaggedFields();
                t.Assignments!.Add(a);
            }
            if (flexible) reader.SkipTaggedFields();
            m.Topics.Add(t);
        }
        m.TimeoutMs = reader.ReadInt32();
        m.ValidateOnly = reader.ReadBoolean();
        if (flexible) reader.SkipTaggedFields();
        return m;
    }

    public void Write(KafkaWriter writer, short version)
    {
        bool flexible = ApiVersionTable.IsFlexible(ApiKey.CreatePartitions, version);
        writer.WriteArrayLength(Topics.Count, flexible);
        foreach (var t in Topics)
        {
            writer.WriteString(t.Name, flexible);
            writer.WriteInt32(t.Count);
            writer.WriteArrayLength(t.Assignments?.Count ?? -1, flexible);
            foreach (var a in t.Assignments ?? [])
            {
                writer.WriteArrayLength(a.BrokerIds.Count, flexible);
                foreach (int b in a.BrokerIds) writer.WriteInt32(b);
                if (flexible) writer.WriteEmptyTaggedFields();
            }
            if (flexible) writer.WriteEmptyTaggedFields();
        }
        writer.WriteInt32(TimeoutMs);
        writer.WriteBoolean(ValidateOnly);
        if (flexible) writer.WriteEmptyTaggedFields();
    }
}

public sealed class CreatePartitionsResponse : IKafkaMessage
{
    public int ThrottleTimeMs { get; set; }
    public List<CreatePartitionsTopicResult> Results { get; set; } = new();

    public sealed class CreatePartitionsTopicResult
    {
        public string Name { get; set; } = "";
        public ErrorCode ErrorCode { get; set; }
        public string? ErrorMessage { get; set; }
    }

    public static CreatePartitionsResponse Read(ref KafkaReader reader, short version)
    {
        bool flexible = ApiVersionTable.IsFlexible(ApiKey.CreatePartitions, version);
        var m = new CreatePartitionsResponse { ThrottleTimeMs = reader.ReadInt32() };
        int count = reader.ReadArrayCount(flexible);
        for (int i = 0; i < count; i++)
        {
            var r = new CreatePartitionsTopicResult
            {
                Name = reader.ReadString(flexible),
                ErrorCode = (ErrorCode)reader.ReadInt16(),
                ErrorMessage = reader.ReadNullableString(flexible),
            };
            if (flexible) reader.SkipTaggedFields();
            m.Results.Add(r);
        }
        if (flexible) reader.SkipTaggedFields();
        return m;
    }

    public void Write(KafkaWriter writer, short version)
    {
        bool flexible = ApiVersionTable.IsFlexible(ApiKey.CreatePartitions, version);
        writer.WriteInt32(ThrottleTimeMs);
        writer.WriteArrayLength(Results.Count, flexible);
        foreach (var r in Results)
        {
            writer.WriteString(r.Name, flexible);
            writer.WriteInt16((short)r.ErrorCode);
            writer.WriteNullableString(r.ErrorMessage, flexible);
            if (flexible) writer.WriteEmptyTaggedFields();
        }
        if (flexible) writer.WriteEmptyTaggedFields();
    }
}
