namespace DetKafka.Core.Broker;

/// <summary>
/// A topic as the broker knows it: id, partition count and its config overrides (only the keys set on the
/// topic; broker defaults fill in the rest). Ordered maps so every listing is deterministic.
/// </summary>
public sealed class TopicInfo
{
    public TopicInfo(string name, Guid topicId, int partitionCount, SortedDictionary<string, string> configOverrides)
    {
        Name = name;
        TopicId = topicId;
        PartitionCount = partitionCount;
        ConfigOverrides = configOverrides;
    }

    public string Name { get; }
    public Guid TopicId { get; }
    public int PartitionCount { get; set; }
    public SortedDictionary<string, string> ConfigOverrides { get; }

    /// <summary>Each partition's replicas as its PartitionRecord placed them (the first is the preferred leader);
    /// empty for a topic built outside the metadata image (a legacy topics file).</summary>
    public List<int[]> Replicas { get; } = new();

    /// <summary>Kafka's rule: 1-249 characters of [a-zA-Z0-9._-], and not "." or "..".</summary>
    public static string? ValidateName(string? name)
    {
        if (string.IsNullOrEmpty(name)) return "topic name is empty";
        if (name.Length > 249) return "topic name is longer than 249 characters";
        if (name is "." or "..") return "topic name cannot be '.' or '..'";
        foreach (char c in name)
        {
            bool ok = c is (>= 'a' and <= 'z') or (>= 'A' and <= 'Z') or (>= '0' and <= '9') or '.' or '_' or '-';
            if (!ok) return $"topic name '{name}' contains '{c}'; legal characters are [a-zA-Z0-9._-]";
        }
        return null;
    }
}
