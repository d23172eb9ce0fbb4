namespace DetKafka.Core.Protocol.Messages;

// IncrementalAlterConfigs (key 44), versions 0-1; flexible from 1.
// Unlike AlterConfigs, each entry carries its own operation (set, delete, append, subtract) and keys not
// listed are left alone. The response has the same shape as AlterConfigs'.

public sealed class IncrementalAlterConfigsRequest : IKafkaMessage
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
        public AlterConfigOpType ConfigOperation { get; set; }
        /// <summary>Null for a delete (and allowed by the protocol for any operation).</summary>
        public string? Value { get; set; }
    }

    public static IncrementalAlterConfigsRequest Read(ref KafkaReader reader, short version)
    {
        bool flexible = ApiVersionTable.IsFlexible(ApiKey.IncrementalAlterConfigs, version);
        var m = new IncrementalAlterConfigsRequest();
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
                var c = new AlterableConfig
                {
                    Name = reader.ReadString(flexible),
                    ConfigOperation = (AlterConfigOpType)reader.ReadInt8(),
                    Value = reader.ReadNullableString(flexible),
                };
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
        bool flexible = ApiVersionTable.IsFlexible(ApiKey.IncrementalAlterConfigs, version);
        writer.WriteArrayLength(Resources.Count, flexible);
        foreach (var r in Resources)
        {
            writer.WriteInt8((sbyte)r.ResourceType);
            writer.WriteString(r.ResourceName, flexible);
            writer.WriteArrayLength(r.Configs.Count, flexible);
            foreach (var c in r.Configs)
            {
                writer.WriteString(c.Name, flexible);
                writer.WriteInt8((sbyte)c.ConfigOperation);
                writer.WriteNullableString(c.Value, flexible);
                if (flexible) writer.WriteEmptyTaggedFields();
            }
            if (flexible) writer.WriteEmptyTaggedFields();
        }
        writer.WriteBoolean(ValidateOnly);
        if (flexible) writer.WriteEmptyTaggedFields();
    }
}

public sealed class IncrementalAlterConfigsResponse : IKafkaMessage
{
    public int ThrottleTimeMs { get; set; }
    public List<AlterConfigsResponse.AlterConfigsResourceResponse> Responses { get; set; } = new();

    public static IncrementalAlterConfigsResponse Read(ref KafkaReader reader, short version)
    {
        var m = new IncrementalAlterConfigsResponse();
        m.ThrottleTimeMs = AlterConfigsResponse.ReadBody(ref reader, ApiVersionTable.IsFlexible(ApiKey.IncrementalAlterConfigs, version), m.Responses);
        return m;
    }

    public void Write(KafkaWriter writer, short version)
        => AlterConfigsResponse.WriteBody(writer, ApiVersionTable.IsFlexible(ApiKey.IncrementalAlterConfigs, version), ThrottleTimeMs, Responses);
}
