namespace DetKafka.Core.Protocol.Messages;

// AlterConfigs (key 33), versions 0-2; flexible from 2.
// Replaces the whole dynamic config set of each resource with the listed entries (anything not listed reverts
// to its default); IncrementalAlterConfigs is the per-key variant. v1 changes no layout.

public sealed class AlterConfigsRequest : IKafkaMessage
{
    public List<AlterConfigsResource> Resources { get; set; } = new();
    public bool ValidateOnly { get; set; }

    public sealed class AlterConfigsResource
    {
        public ConfigResourceType ResourceType { get; set; }
        public string ResourceName { get; set; } = "";
        public List<AlterableConfig> Configs { get; set; } = new();
    }

    public sealed class AlterableConfig
    {
        public string Name { get; set; } = "";
        public string? Value { get; set; }
    }

    public static AlterConfigsRequest Read(ref KafkaReader reader, short version)
    {
        bool flexible = ApiVersionTable.IsFlexible(ApiKey.AlterConfigs, version);
        var m = new AlterConfigsRequest();
        int count = reader.ReadArrayCount(flexible);
        for (int i = 0; i < count; i++)
        {
            var r = new AlterConfigsResource
            {
                ResourceType = (ConfigResourceType)reader.ReadInt8(),
                ResourceName = reader.ReadString(flexible),
            };
            int configCount = reader.ReadArrayCount(flexible);
            for (int j = 0; j < configCount; j++)
            {
                var c = new AlterableConfig { Name = reader.ReadString(flexible), Value = reader.ReadNullableString(flexible) };
                if (flexible) reader.SkipTaggedFields();
                r.Configs.Add(c);
            }
            if (flexible) reader.SkipTaggedFields();
            m.Resources.Add(r);
        }
        m.ValidateOnly = reader.ReadBoolean();
        if (flexible) reader.SkipTaggedFields();
        return m;
    }

    public void Write(KafkaWriter writer, short version)
    {
        bool flexible = ApiVersionTable.IsFlexible(ApiKey.AlterConfigs, version);
        writer.WriteArrayLength(Resources.Count, flexible);
        foreach (var r in Resources)
        {
            writer.WriteInt8((sbyte)r.ResourceType);
            writer.WriteString(r.ResourceName, flexible);
            writer.WriteArrayLength(r.Configs.Count, flexible);
            foreach (var c in r.Configs)
            {
                writer.WriteString(c.Name, flexible);
                writer.WriteNullableString(c.Value, flexible);
                if (flexible) writer.WriteEmptyTaggedFields();
            }
            if (flexible) writer.WriteEmptyTaggedFields();
        }
        writer.WriteBoolean(ValidateOnly);
        if (flexible) writer.WriteEmptyTaggedFields();
    }
}

public sealed class AlterConfigsResponse : IKafkaMessage
{
    public int ThrottleTimeMs { get; set; }
    public List<AlterConfigsResourceResponse> Responses { get; set; } = new();

    public sealed class AlterConfigsResourceResponse
    {
        public ErrorCode ErrorCode { get; set; }
        public string? ErrorMessage { get; set; }
        public ConfigResourceType ResourceType { get; set; }
        public string ResourceName { get; set; } = "";
    }

    public static AlterConfigsResponse Read(ref KafkaReader reader, short version)
    {
        var m = new AlterConfigsResponse();
        m.ThrottleTimeMs = ReadBody(ref reader, ApiVersionTable.IsFlexible(ApiKey.AlterConfigs, version), m.Responses);
        return m;
    }

    public void Write(KafkaWriter writer, short version)
        => WriteBody(writer, ApiVersionTable.IsFlexible(ApiKey.AlterConfigs, version), ThrottleTimeMs, Responses);

    // IncrementalAlterConfigs answers in exactly this layout (its flexible versions start at 1, not 2), so both
    // responses share the body codec.
    internal static int ReadBody(ref KafkaReader reader, bool flexible, List<AlterConfigsResourceResponse> into)
    {
        int throttleTimeMs = reader.ReadInt32();
        int count = reader.ReadArrayCount(flexible);
        for (int i = 0; i < count; i++)
        {
            var r = new AlterConfigsResourceResponse
            {
                ErrorCode = (ErrorCode)reader.ReadInt16(),
                ErrorMessage = reader.ReadNullableString(flexible),
                ResourceType = (ConfigResourceType)reader.ReadInt8(),
                ResourceName = reader.ReadString(flexible),
            };
            if (flexible) reader.SkipTaggedFields();
            into.Add(r);
        }
        if (flexible) reader.SkipTaggedFields();
        return throttleTimeMs;
    }

    internal static void WriteBody(KafkaWriter writer, bool flexible, int throttleTimeMs, List<AlterConfigsResourceResponse> responses)
    {
        writer.WriteInt32(throttleTimeMs);
        writer.WriteArrayLength(responses.Count, flexible);
        foreach (var r in responses)
        {
            writer.WriteInt16((short)r.ErrorCode);
            writer.WriteNullableString(r.ErrorMessage, flexible);
            writer.WriteInt8((sbyte)r.ResourceType);
            writer.WriteString(r.ResourceName, flexible);
            if (flexible) writer.WriteEmptyTaggedFields();
        }
        if (flexible) writer.WriteEmptyTaggedFields();
    }
}
