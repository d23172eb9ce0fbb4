namespace DetKafka.Core.Protocol.Messages;

// DescribeConfigs (key 32), versions 0-4; flexible from 4.
// Request: ConfigurationKeys null means "all keys"; include_synonyms from v1, include_documentation from v3.
// Response: v0 says whether a value is the default (IsDefault); v1 replaces that with ConfigSource and adds the
// synonyms; v3 adds the config's type and documentation. v2 changes no layout (throttling behaviour only).

public sealed class DescribeConfigsRequest : IKafkaMessage
{
    public List<DescribeConfigsResource> Resources { get; set; } = new();
    public bool IncludeSynonyms { get; set; }
    public bool IncludeDocumentation { get; set; }

    public sealed class DescribeConfigsResource
    {
        public ConfigResourceType ResourceType { get; set; }
        public string ResourceName { get; set; } = "";
        /// <summary>Null to describe every key of the resource.</summary>
        public List<string>? ConfigurationKeys { get; set; }
    }

    public static DescribeConfigsRequest Read(ref KafkaReader reader, short version)
    {
        bool flexible = ApiVersionTable.IsFlexible(ApiKey.DescribeConfigs, version);
        var m = new DescribeConfigsRequest();
        int count = reader.ReadArrayCount(flexible);
        for (int i = 0; i < count; i++)
        {
            var r = new DescribeConfigsResource
            {
                ResourceType = (ConfigResourceType)reader.ReadInt8(),
                ResourceName = reader.ReadString(flexible),
            };
            int keyCount = reader.ReadArrayLength(flexible);
            r.ConfigurationKeys = keyCount < 0 ? null : new List<string>(keyCount);
            for (int j = 0; j < keyCount; j++) r.ConfigurationKeys!.Add(reader.ReadString(flexible));
            if (flexible) reader.SkipTaggedFields();
            m.Resources.Add(r);
        }
        if (version >= 1) m.IncludeSynonyms = reader.ReadBoolean();
        if (version >= 3) m.IncludeDocumentation = reader.ReadBoolean();
        if (flexible) reader.SkipTaggedFields();
        return m;
    }

    public void Write(KafkaWriter writer, short version)
    {
        bool flexible = ApiVersionTable.IsFlexible(ApiKey.DescribeConfigs, version);
        writer.WriteArrayLength(Resources.Count, flexible);
        foreach (var r in Resources)
        {
            writer.WriteInt8((sbyte)r.ResourceType);
            writer.WriteString(r.ResourceName, flexible);
            writer.WriteArrayLength(r.ConfigurationKeys?.Count ?? -1, flexible);
            foreach (string key in r.ConfigurationKeys ?? []) writer.WriteString(key, flexible);
            if (flexible) writer.WriteEmptyTaggedFields();
        }
        if (version >= 1) writer.WriteBoolean(IncludeSynonyms);
        if (version >= 3) writer.WriteBoolean(IncludeDocumentation);
        if (flexible) writer.WriteEmptyTaggedFields();
    }
}

public sealed class DescribeConfigsResponse : IKafkaMessage
{
    public int ThrottleTimeMs { get; set; }
    public List<DescribeConfigsResult> Results { get; set; } = new();

    public sealed class DescribeConfigsResult
    {
        public ErrorCode ErrorCode { get; set; }
        public string? ErrorMessage { get; set; }
        public ConfigResourceType ResourceType { get; set; }
        public string ResourceName { get; set; } = "";
        public List<DescribeConfigsResourceResult> Configs { get; set; } = new();
    }

    public sealed class DescribeConfigsResourceResult
    {
        public string Name { get; set; } = "";
        public string? Value { get; set; }
        public bool ReadOnly { get; set; }
        /// <summary>v0 only; later versions say the same through ConfigSource.</summary>
        public bool IsDefault { get; set; }
        /// <summary>v1+; -1 when not sent (v0).</summary>
        public ConfigSource ConfigSource { get; set; } = (ConfigSource)(-1);
        public bool IsSensitive { get; set; }
        public List<DescribeConfigsSynonym> Synonyms { get; set; } = new();
        public ConfigType ConfigType { get; set; }
        public string? Documentation { get; set; }
    }

    public sealed class DescribeConfigsSynonym
    {
        public string Name { get; set; } = "";
        public string? Value { get; set; }
        public ConfigSource Source { get; set; }
    }

    public static DescribeConfigsResponse Read(ref KafkaReader reader, short version)
    {
        bool flexible = ApiVersionTable.IsFlexible(ApiKey.DescribeConfigs, version);
        var m = new DescribeConfigsResponse { ThrottleTimeMs = reader.ReadInt32() };
        int resultCount = reader.ReadArrayCount(flexible);
        for (int i = 0; i < resultCount; i++)
        {
            var r = new DescribeConfigsResult
            {
                ErrorCode = (ErrorCode)reader.ReadInt16(),
                ErrorMessage = reader.ReadNullableString(flexible),
                ResourceType = (ConfigResourceType)reader.ReadInt8(),
                ResourceName = reader.ReadString(flexible),
            };
            int configCount = reader.ReadArrayCount(flexible);
            for (int j = 0; j < configCount; j++)
            {
                var c = new DescribeConfigsResourceResult
                {
                    Name = reader.ReadString(flexible),
                    Value = reader.ReadNullableString(flexible),
                    ReadOnly = reader.ReadBoolean(),
                };
                if (version == 0) c.IsDefault = reader.ReadBoolean();
                if (version >= 1) c.ConfigSource = (ConfigSource)reader.ReadInt8();
                c.IsSensitive = reader.ReadBoolean();
                if (version >= 1)
                {
                    int synonymCount = reader.ReadArrayCount(flexible);
                    for (int k = 0; k < synonymCount; k++)
                    {
                        var s = new DescribeConfigsSynonym
                        {
                            Name = reader.ReadString(flexible),
                            Value = reader.ReadNullableString(flexible),
                            Source = (ConfigSource)reader.ReadInt8(),
                        };
                        if (flexible) reader.SkipTaggedFields();
                        c.Synonyms.Add(s);
                    }
                }
                if (version >= 3)
                {
                    c.ConfigType = (ConfigType)reader.ReadInt8();
                    c.Documentation = reader.ReadNullableString(flexible);
                }
                if (flexible) reader.SkipTaggedFields();
                r.Configs.Add(c);
            }
            if (flexible) reader.SkipTaggedFields();
            m.Results.Add(r);
        }
        if (flexible) reader.SkipTaggedFields();
        return m;
    }

    public void Write(KafkaWriter writer, short version)
    {
        bool flexible = ApiVersionTable.IsFlexible(ApiKey.DescribeConfigs, version);
        writer.WriteInt32(ThrottleTimeMs);
        writer.WriteArrayLength(Results.Count, flexible);
        foreach (var r in Results)
        {
            writer.WriteInt16((short)r.ErrorCode);
            writer.WriteNullableString(r.ErrorMessage, flexible);
            writer.WriteInt8((sbyte)r.ResourceType);
            writer.WriteString(r.ResourceName, flexible);
            writer.WriteArrayLength(r.Configs.Count, flexible);
            foreach (var c in r.Configs)
            {
                writer.WriteString(c.Name, flexible);
                writer.WriteNullableString(c.Value, flexible);
                writer.WriteBoolean(c.ReadOnly);
                if (version == 0) writer.WriteBoolean(c.IsDefault);
                if (version >= 1) writer.WriteInt8((sbyte)c.ConfigSource);
                writer.WriteBoolean(c.IsSensitive);
                if (version >= 1)
                {
                    writer.WriteArrayLength(c.Synonyms.Count, flexible);
                    foreach (var s in c.Synonyms)
                    {
                        writer.WriteString(s.Name, flexible);
                        writer.WriteNullableString(s.Value, flexible);
                        writer.WriteInt8((sbyte)s.Source);
                        if (flexible) writer.WriteEmptyTaggedFields();
                    }
                }
                if (version >= 3)
                {
                    writer.WriteInt8((sbyte)c.ConfigType);
                    writer.WriteNullableString(c.Documentation, flexible);
                }
                if (flexible) writer.WriteEmptyTaggedFields();
            }
            if (flexible) writer.WriteEmptyTaggedFields();
        }
        if (flexible) writer.WriteEmptyTaggedFields();
    }
}
