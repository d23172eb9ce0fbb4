namespace DetKafka.Core.Protocol;

/// <summary>
/// The client side of the codec: frame a request, cut and decode a response. Shared by the simulator's
/// workload clients, the load generator and tests, so they all exercise the same encoding as the broker.
/// </summary>
public static class ClientCodec
{
    /// <summary>Appends one size-prefixed request frame to <paramref name="writer"/>.</summary>
    public static void WriteRequest(KafkaWriter writer, ApiKey key, short version, int correlationId, string? clientId, IKafkaMessage body)
    {
        int sizeAt = writer.ReserveInt32();
        new RequestHeader(key, version, correlationId, clientId).Write(writer);
        body.Write(writer, version);
        writer.PatchInt32(sizeAt, writer.Position - sizeAt - Frame.SizePrefixBytes);
    }

    public static byte[] EncodeRequest(ApiKey key, short version, int correlationId, string? clientId, IKafkaMessage body)
    {
        using var w = new KafkaWriter();
        WriteRequest(w, key, version, correlationId, clientId, body);
        return w.ToArray();
    }

    /// <summary>Decodes a response payload (the bytes after the size prefix).</summary>
    public static IKafkaMessage DecodeResponse(ApiKey key, short version, ArraySegment<byte> payload, out int correlationId)
    {
        var reader = new KafkaReader(payload);
        correlationId = ResponseHeader.Read(ref reader, RequestHeader.ResponseHeaderVersion(key, version));
        var message = MessageCodec.ReadResponse(key, ref reader, version);
        if (!reader.IsAtEnd) throw new ProtocolException($"{reader.Remaining} trailing bytes after a {key} v{version} response");
        return message;
    }
}
