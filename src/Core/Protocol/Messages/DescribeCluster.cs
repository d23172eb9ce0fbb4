namespace DetKafka.Core.Protocol.Messages;

// DescribeCluster (key 60), versions 0-1; flexible from 0.
// v1 adds EndpointType (1 = brokers, 2 = controllers) to both request and response.

public sealed class DescribeClusterRequest : IKafkaMessage
{
    public const sbyte EndpointTypeBrokers = 1;
    public const sbyte EndpointTypeControllers = 2;

    public bool IncludeClusterAuthorizedOperations { get; set; }
    public sbyte EndpointType { get; set; } = EndpointTypeBrokers;

    public static DescribeClusterRequest Read(ref KafkaReader reader, short version)
    {
        bool flexible = ApiVersionTable.IsFlexible(ApiKey.DescribeCluster, version);
        var m = new DescribeClusterRequest { IncludeClusterAuthorizedOperations = reader.ReadBoolean() };
        if (version >= 1) m.EndpointType = reader.ReadInt8();
        if (flexible) reader.SkipTaggedFields();
        return m;
    }

    public void Write(KafkaWriter writer, short version)
    {
        bool flexible = ApiVersionTable.IsFlexible(ApiKey.DescribeCluster, version);
        writer.WriteBoolean(IncludeClusterAuthorizedOperations);
        if (version >= 1) writer.WriteInt8(EndpointType);
        if (flexible) writer.WriteEmptyTaggedFields();
    }
}

public sealed class DescribeClusterResponse : IKafkaMessage
{
    /// <summary>Kafka's "not requested" value for authorized-operations bitfields.</summary>
    public const int AuthorizedOperationsOmitted = int.MinValue;

    public int ThrottleTimeMs { get; set; }
    public ErrorCode ErrorCode { get; set; }
    public string? ErrorMessage { get; set; }
    public sbyte EndpointType { get; set; } = DescribeClusterRequest.EndpointTypeBrokers;
    public string ClusterId { get; set; } = "";
    public int ControllerId { get; set; } = -1;
    public List<DescribeClusterBroker> Brokers { get; set; } = new();
    public int ClusterAuthorizedOperations { get; set; } = AuthorizedOperationsOmitted;

    public sealed class DescribeClusterBroker
    {
        public int BrokerId { get; set; }
        public string Host { get; set; } = "";
        public int Port { get; set; }
        public string? Rack { get; set; }
    }

    public static DescribeClusterResponse Read(ref KafkaReader reader, short version)
    {
        bool flexible = ApiVersionTable.IsFlexible(ApiKey.DescribeCluster, version);
        var m = new DescribeClusterResponse
        {
            ThrottleTimeMs = reader.ReadInt32(),
            ErrorCode = (ErrorCode)reader.ReadInt16(),
            ErrorMessage = reader.ReadNullableString(flexible),
        };
        if (version >= 1) m.EndpointType = reader.ReadInt8();
        m.ClusterId = reader.ReadString(flexible);
        m.ControllerId = reader.ReadInt32();
        int count = reader.ReadArrayCount(flexible);
        for (int i = 0; i < count; i++)
        {
            var b = new DescribeClusterBroker
            {
                BrokerId = reader.ReadInt32(),
                Host = reader.ReadString(flexible),
                Port = reader.ReadInt32(),
                Rack = reader.ReadNullableString(flexible),
            };
            if (flexible) reader.SkipTaggedFields();
            m.Brokers.Add(b);
        }
        m.ClusterAuthorizedOperations = reader.ReadInt32();
        if (flexible) reader.SkipTaggedFields();
        return m;
    }

    public void Write(KafkaWriter writer, short version)
    {
        bool flexible = ApiVersionTable.IsFlexible(ApiKey.DescribeCluster, version);
        writer.WriteInt32(ThrottleTimeMs);
        writer.WriteInt16((short)ErrorCode);
        writer.WriteNullableString(ErrorMessage, flexible);
        if (version >= 1) writer.WriteInt8(EndpointType);
        writer.WriteString(ClusterId, flexible);
        writer.WriteInt32(ControllerId);
        writer.WriteArrayLength(Brokers.Count, flexible);
        foreach (var b in Brokers)
        {
            writer.WriteInt32(b.BrokerId);
            writer.WriteString(b.Host, flexible);
            writer.WriteInt32(b.Port);
            writer.WriteNullableString(b.Rack, flexible);
            if (flexible) writer.WriteEmptyTaggedFields();
        }
        writer.WriteInt32(ClusterAuthorizedOperations);
        if (flexible) writer.WriteEmptyTaggedFields();
    }
}
