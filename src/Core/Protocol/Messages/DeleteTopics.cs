namespace DetKafka.Core.Protocol.Messages;

// DeleteTopics (key 20), versions 0-6; flexible from 4.
// Request v0-v5 name topics in TopicNames; v6 replaces it with Topics, each a nullable name or a topic id.
// Only the field of the version at hand is encoded; a handler reads whichever the version carries.
// Response: throttle time from v1, error message from v5, topic id from v6 where the name becomes nullable
// (a topic deleted by an unknown id has no name to report).

public sealed class DeleteTopicsRequest : IKafkaMessage
{
    /// <summary>v6+.</summary>
    public List<DeleteTopicState> Topics { get; set; } = new();
    /// <summary>v0-v5.</summary>
    public List<string> TopicNames { get; set; } = new();
    public int TimeoutMs { get; set; }

    public sealed class DeleteTopicState
    {
        public string? Name { get; set; }
        public Guid TopicId { get; set; }
    }

    public static DeleteTopicsRequest Read(ref KafkaReader reader, short version)
    {
        bool flexible = ApiVersionTable.IsFlexible(ApiKey.DeleteTopics, version);
        var m = new DeleteTopicsRequest();
        if (version >= 6)
        {
            int count = reader.ReadArrayCount(flexible);
            for (int i = 0; i < count; i++)
            {
                var t = new DeleteTopicState { Name = reader.ReadNullableString(flexible), TopicId = reader.ReadUuid() };
                if (flexible) reader.SkipTaggedFields();
                m.Topics.Add(t);
            }
        }
        else
        {
            int count = reader.ReadArrayCount(flexible);
            for (int i = 0; i < count; i++) m.TopicNames.Add(reader.ReadString(flexible));
        }
        m.TimeoutMs = reader.ReadInt32();
        if (flexible) reader.SkipTaggedFields();
        return m;
    }

    public void Write(KafkaWriter writer, short version)
    {
        bool flexible = ApiVersionTable.IsFlexible(ApiKey.DeleteTopics, version);
        if (version >= 6)
        {
            writer.WriteArrayLength(Topics.Count, flexible);
            foreach (var t in Topics)
            {
                writer.WriteNullableString(t.Name, flexible);
                writer.WriteUuid(t.TopicId);
                if (flexible) writer.WriteEmptyTaggedFields();
            }
        }
        else
        {
            writer.WriteArrayLength(TopicNames.Count, flexible);
            foreach (string name in TopicNames) writer.WriteString(name, flexible);
        }
        writer.WriteInt32(TimeoutMs);
        if (flexible) writer.WriteEmptyTaggedFields();
    }
}

public sealed class DeleteTopicsResponse : IKafkaMessage
{
    public int ThrottleTimeMs { get; set; }
    public List<DeletableTopicResult> Responses { get; set; } = new();

    public sealed class DeletableTopicResult
    {
        /// <summary>Nullable from v6 only; an earlier version cannot carry null.</summary>
        public string? Name { get; set; } = "";
        public Guid TopicId { get; set; }
        public ErrorCode ErrorCode { get; set; }
        public string? ErrorMessage { get; set; }
    }

    public static DeleteTopicsResponse Read(ref KafkaReader reader, short version)
    {
        bool flexible = ApiVersionTable.IsFlexible(ApiKey.DeleteTopics, version);
        var m = new DeleteTopicsResponse();
        if (version >= 1) m.ThrottleTimeMs = reader.ReadInt32();
        int count = reader.ReadArrayCount(flexible);
        for (int i = 0; i < count; i++)
        {
            var r = new DeletableTopicResult
            {
                Name = version >= 6 ? reader.ReadNullableString(flexible) : reader.ReadString(flexible),
            };
            if (version >= 6) r.TopicId = reader.ReadUuid();
            r.ErrorCode = (ErrorCode)reader.ReadInt16();
            if (version >= 5) r.ErrorMessage = reader.ReadNullableString(flexible);
            if (flexible) reader.SkipTaggedFields();
            m.Responses.Add(r);
        }
        if (flexible) reader.SkipTaggedFields();
        return m;
    }

    public void Write(KafkaWriter writer, short version)
    {
        bool flexible = ApiVersionTable.IsFlexible(ApiKey.DeleteTopics, version);
        if (version >= 1) writer.WriteInt32(ThrottleTimeMs);
        writer.WriteArrayLength(Responses.Count, flexible);
        foreach (var r in Responses)
        {
            if (version >= 6) writer.WriteNullableString(r.Name, flexible);
            else writer.WriteString(r.Name!, flexible);
            if (version >= 6) writer.WriteUuid(r.TopicId);
            writer.WriteInt16((short)r.ErrorCode);
            if (version >= 5) writer.WriteNullableString(r.ErrorMessage, flexible);
            if (flexible) writer.WriteEmptyTaggedFields();
        }
        if (flexible) writer.WriteEmptyTaggedFields();
    }
}
