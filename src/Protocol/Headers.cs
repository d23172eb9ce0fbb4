namespace DetKafka.Core.Protocol;

/// <summary>
/// Request header v0-v2. v0: api key, version, correlation id. v1 adds the client id (a classic nullable
/// string even in flexible versions). v2 adds a tagged-field section. Which one applies depends on whether
/// the request's version is flexible for its API, which <see cref="ApiVersionTable"/> knows.
/// </summary>
public readonly record struct RequestHeader(ApiKey ApiKey, short ApiVersion, int CorrelationId, string? ClientId)
{
    /// <summary>Reads api key and version first (they decide the rest of the layout), then the remainder for
    /// header v1 or v2. For an unknown key, the layout past the correlation id is unknowable: returns false
    /// with only the first three fields set.</summary>
    public static bool TryRead(ref KafkaReader reader, out RequestHeader header)
    {
        var key = (ApiKey)reader.ReadInt16();
        short version = reader.ReadInt16();
        int correlationId = reader.ReadInt32();
        if (!ApiVersionTable.IsKnown(key))
        {
            header = new RequestHeader(key, version, correlationId, null);
            return false;
        }
        string? clientId = reader.ReadNullableString(compact: false);
        if (RequestHeaderVersion(key, version) >= 2) reader.SkipTaggedFields();
        header = new RequestHeader(key, version, correlationId, clientId);
        return true;
    }

    public void Write(KafkaWriter writer)
    {
        writer.WriteInt16((short)ApiKey);
        writer.WriteInt16(ApiVersion);
        writer.WriteInt32(CorrelationId);
        writer.WriteNullableString(ClientId, compact: false);
        if (RequestHeaderVersion(ApiKey, ApiVersion) >= 2) writer.WriteEmptyTaggedFields();
    }

    public static int RequestHeaderVersion(ApiKey key, short version) => ApiVersionTable.IsFlexible(key, version) ? 2 : 1;

    /// <summary>Response header v1 (with tagged fields) for flexible versions, v0 otherwise; ApiVersions
    /// responses always use v0 so a client can parse them before it knows what the broker supports.</summary>
    public static int ResponseHeaderVersion(ApiKey key, short version)
        => key != ApiKey.ApiVersions && ApiVersionTable.IsFlexible(key, version) ? 1 : 0;
}

public static class ResponseHeader
{
    public static void Write(KafkaWriter writer, int correlationId, int headerVersion)
    {
        writer.WriteInt32(correlationId);
        if (headerVersion >= 1) writer.WriteEmptyTaggedFields();
    }

    public static int Read(ref KafkaReader reader, int headerVersion)
    {
        int correlationId = reader.ReadInt32();
        if (headerVersion >= 1) reader.SkipTaggedFields();
        return correlationId;
    }
}
