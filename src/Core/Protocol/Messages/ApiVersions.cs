namespace DetKafka.Core.Protocol.Messages;

// ApiVersions (key 18), versions 0-3; flexible from 3.
// Request v3 carries the client's software name and version. The response lists, per API key, the version
// range the broker serves; throttle time from v1. An unsupported ApiVersions version is answered in the v0
// body layout with UNSUPPORTED_VERSION so any client can read it (see Handlers/ApiVersionsHandler).

public sealed class ApiVersionsRequest : IKafkaMessage
{
    public string ClientSoftwareName { get; set; } = "";
    public string ClientSoftwareVersion { get; set; } = "";

    public static ApiVersionsRequest Read(ref KafkaReader reader, short version)
    {
        var m = new ApiVersionsRequest();
        if (version >= 3)
        {
            m.ClientSoftwareName = reader.ReadString(compact: true);
            m.ClientSoftwareVersion = reader.ReadString(compact: true);
            reader.SkipTaggedFields();
        }
        return m;
    }

    public void Write(KafkaWriter writer, short version)
    {
        if (version >= 3)
        {
            writer.WriteString(ClientSoftwareName, compact: true);
            writer.WriteString(ClientSoftwareVersion, compact: true);
            writer.WriteEmptyTaggedFields();
        }
    }
}

public sealed class ApiVersionsResponse : IKafkaMessage
{
    public ErrorCode ErrorCode { get; set; }
    public List<ApiVersion> ApiKeys { get; set; } = new();
    public int ThrottleTimeMs { get; set; }

    public sealed class ApiVersion
    {
        public ApiKey ApiKey { get; set; }
        public short MinVersion { get; set; }
        public short MaxVersion { get; set; }
    }

    public static ApiVersionsResponse Read(ref KafkaReader reader, short version)
    {
        bool flexible = version >= 3;
        var m = new ApiVersionsResponse { ErrorCode = (ErrorCode)reader.ReadInt16() };
        int count = reader.ReadArrayCount(flexible);
        for (int i = 0; i < count; i++)
        {
            var v = new ApiVersion
            {
                ApiKey = (ApiKey)reader.ReadInt16(),
                MinVersion = reader.ReadInt16(),
                MaxVersion = reader.ReadInt16(),
            };
            if (flexible) reader.SkipTaggedFields();
            m.ApiKeys.Add(v);
        }
        if (version >= 1) m.ThrottleTimeMs = reader.ReadInt32();
        if (flexible) reader.SkipTaggedFields();
        return m;
    }

    public void Write(KafkaWriter writer, short version)
    {
        bool flexible = version >= 3;
        writer.WriteInt16((short)ErrorCode);
        writer.WriteArrayLength(ApiKeys.Count, flexible);
        foreach (var v in ApiKeys)
        {
            writer.WriteInt16((short)v.ApiKey);
            writer.WriteInt16(v.MinVersion);
            writer.WriteInt16(v.MaxVersion);
            if (flexible) writer.WriteEmptyTaggedFields();
        }
        if (version >= 1) writer.WriteInt32(ThrottleTimeMs);
        if (flexible) writer.WriteEmptyTaggedFields();
    }
}
