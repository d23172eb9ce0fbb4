using System.Globalization;

namespace DetKafka.Core.Protocol;

/// <summary>A partition of a topic. Orders by topic name (ordinal) then partition, the order every output uses.</summary>
public readonly record struct TopicPartition(string Topic, int Partition) : IComparable<TopicPartition>
{
    public int CompareTo(TopicPartition other)
    {
        int c = string.CompareOrdinal(Topic, other.Topic);
        return c != 0 ? c : Partition.CompareTo(other.Partition);
    }

    /// <summary>The log directory's name, <c>topic-partition</c> as in Kafka.</summary>
    public string DirectoryName => Topic + "-" + Partition.ToString(CultureInfo.InvariantCulture);

    public override string ToString() => DirectoryName;

    /// <summary>Parses a log directory name. Topic names may contain '-', so the partition follows the last one.</summary>
    public static bool TryParseDirectoryName(string name, out TopicPartition topicPartition)
    {
        topicPartition = default;
        int dash = name.LastIndexOf('-');
        if (dash <= 0 || dash == name.Length - 1) return false;
        var digits = name.AsSpan(dash + 1);
        foreach (char c in digits)
            if (c is < '0' or > '9') return false;
        if (!int.TryParse(digits, NumberStyles.None, CultureInfo.InvariantCulture, out int partition)) return false;
        // Only the canonical spelling: "t-01" would otherwise alias "t-1".
        if (partition.ToString(CultureInfo.InvariantCulture).Length != digits.Length) return false;
        topicPartition = new TopicPartition(name[..dash], partition);
        return true;
    }
}

/// <summary>Ordinal comparer for sorted collections keyed by partition.</summary>
public sealed class TopicPartitionComparer : IComparer<TopicPartition>
{
    public static readonly TopicPartitionComparer Instance = new();
    public int Compare(TopicPartition x, TopicPartition y) => x.CompareTo(y);
}
