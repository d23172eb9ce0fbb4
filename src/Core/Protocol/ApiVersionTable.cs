namespace DetKafka.Core.Protocol;

/// <summary>
/// Protocol facts per API key that the codec needs regardless of what this broker implements: the first
/// flexible version (compact encodings and tagged fields from there on). What the broker *serves* is
/// declared by each handler (Handlers/) and ApiVersions is derived from those declarations.
/// </summary>
public static class ApiVersionTable
{
    private static short FirstFlexibleVersion(ApiKey key) => key switch
    {
        ApiKey.Produce => 9,
        ApiKey.Fetch => 12,
        ApiKey.ListOffsets => 6,
        ApiKey.Metadata => 9,
        ApiKey.OffsetCommit => 8,
        ApiKey.OffsetFetch => 6,
        ApiKey.FindCoordinator => 3,
        ApiKey.JoinGroup => 6,
        ApiKey.Heartbeat => 4,
        ApiKey.LeaveGroup => 4,
        ApiKey.SyncGroup => 4,
        ApiKey.DescribeGroups => 5,
        ApiKey.ListGroups => 3,
        ApiKey.SaslHandshake => short.MaxValue,
        ApiKey.ApiVersions => 3,
        ApiKey.CreateTopics => 5,
        ApiKey.DeleteTopics => 4,
        ApiKey.DeleteRecords => 2,
        ApiKey.InitProducerId => 2,
        ApiKey.OffsetForLeaderEpoch => 4,
        ApiKey.AddPartitionsToTxn => 3,
        ApiKey.AddOffsetsToTxn => 3,
        ApiKey.EndTxn => 3,
        ApiKey.WriteTxnMarkers => 1,
        ApiKey.TxnOffsetCommit => 3,
        ApiKey.DescribeConfigs => 4,
        ApiKey.AlterConfigs => 2,
        ApiKey.SaslAuthenticate => 2,
        ApiKey.CreatePartitions => 2,
        ApiKey.DeleteGroups => 2,
        ApiKey.IncrementalAlterConfigs => 1,
        ApiKey.DescribeCluster => 0,
        ApiKey.DescribeProducers => 0,
        _ => short.MaxValue,
    };

    public static bool IsKnown(ApiKey key) => Enum.IsDefined(key);

    public static bool IsFlexible(ApiKey key, short version) => version >= FirstFlexibleVersion(key);
}
