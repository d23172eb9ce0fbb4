using DetKafka.Core.Protocol;

namespace DetKafka.Core.Broker;

/// <summary>What a waiting request waits on.</summary>
public enum WatchKeyKind : byte
{
    /// <summary>A partition's high watermark or log (produce acks, fetch min_bytes, coordinator writes).</summary>
    Partition = 0,
    /// <summary>A consumer group's state (for waits the group coordinator will key by group id).</summary>
    Group = 1,
    /// <summary>A transactional id's state (for the transaction coordinator's waits).</summary>
    Transaction = 2,
}

/// <summary>
/// A key of the <see cref="Purgatory"/>'s watcher lists, as in Kafka's DelayedOperationPurgatory: a completion
/// retries only the requests watching its key. Compared ordinally and hashed by <see cref="WatchKeyComparer"/>,
/// never by the process-randomized string hash.
/// </summary>
public readonly record struct WatchKey(WatchKeyKind Kind, string Name, int Partition) : IComparable<WatchKey>
{
    public static WatchKey For(TopicPartition tp) => new(WatchKeyKind.Partition, tp.Topic, tp.Partition);
    public static WatchKey ForPartition(string topic, int partition) => new(WatchKeyKind.Partition, topic, partition);
    public static WatchKey ForGroup(string groupId) => new(WatchKeyKind.Group, groupId, -1);
    public static WatchKey ForTransaction(string transactionalId) => new(WatchKeyKind.Transaction, transactionalId, -1);

    public int CompareTo(WatchKey other)
    {
        int c = Kind.CompareTo(other.Kind);
        if (c != 0) return c;
        c = string.CompareOrdinal(Name, other.Name);
        return c != 0 ? c : Partition.CompareTo(other.Partition);
    }

    public override string ToString() => Kind == WatchKeyKind.Partition ? $"{Name}-{Partition}" : $"{Kind}:{Name}";
}

/// <summary>Ordinal equality and a deterministic hash (FNV-1a over the name's chars), so nothing depends on the
/// process's string hash seed.</summary>
public sealed class WatchKeyComparer : IEqualityComparer<WatchKey>, IComparer<WatchKey>
{
    public static readonly WatchKeyComparer Instance = new();

    public bool Equals(WatchKey x, WatchKey y)
        => x.Kind == y.Kind && x.Partition == y.Partition && string.Equals(x.Name, y.Name, StringComparison.Ordinal);

    public int GetHashCode(WatchKey key)
    {
        uint h = 2166136261;
        foreach (char c in key.Name) h = (h ^ c) * 16777619;
        h = (h ^ (uint)key.Partition) * 16777619;
        h = (h ^ (uint)key.Kind) * 16777619;
        return (int)h;
    }

    public int Compare(WatchKey x, WatchKey y) => x.CompareTo(y);
}
