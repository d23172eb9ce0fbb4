namespace DetKafka.Core.Protocol;

/// <summary>
/// Protocol facts per API key that the codec needs regardless of what this broker implements: the first
/// flexible version (compact encodings and tagged fields from there on). What the broker *serves* is
/// declared by each handler (Handlers/) and ApiVersions is derived from those declarations.
/// </summary>
public static class ApiVersionTable
{
    /// <summary>The first flexible version: from the key's spec where it has one; otherwise from the facts
    /// below, for keys the broker knows but has no codec for yet (it must still read their request headers to
    /// answer them). A key moves out of this list when its spec lands.</summary>
    private static short FirstFlexibleVersion(ApiKey key) => MessageCodec.FirstFlexibleVersion(key) ?? key switch
    {
        ApiKey.SaslHandshake => short.MaxValue,
        ApiKey.OffsetForLeaderEpoch => 4,
        ApiKey.AddPartitionsToTxn => 3,
        ApiKey.AddOffsetsToTxn => 3,
        ApiKey.EndTxn => 3,
        ApiKey.WriteTxnMarkers => 1,
        ApiKey.TxnOffsetCommit => 3,
        ApiKey.SaslAuthenticate => 2,
        ApiKey.DescribeProducers => 0,
        _ => short.MaxValue,
    };

    public static bool IsKnown(ApiKey key) => Enum.IsDefined(key);

    public static bool IsFlexible(ApiKey key, short version) => version >= FirstFlexibleVersion(key);
}
