using DetKafka.Core.Protocol;
using DetKafka.Core.Protocol.Messages;

namespace DetKafka.Core.Client;

/// <summary>What the client last learned from a Metadata response: brokers and, per topic of interest, each
/// partition's leader. Sorted collections, so anything iterating it is deterministic.</summary>
public sealed class ClusterMetadata
{
    private readonly SortedDictionary<int, BrokerAddress> _brokers = new();
    private readonly SortedDictionary<string, TopicState> _topics = new(StringComparer.Ordinal);

    private sealed record TopicState(ErrorCode Error, int[] Leaders);

    public string? ClusterId { get; private set; }
    public int ControllerId { get; private set; } = -1;

    /// <summary>Client monotonic time of the last successful update; -1 before the first.</summary>
    public long LastUpdateMs { get; private set; } = -1;

    public IReadOnlyDictionary<int, BrokerAddress> Brokers => _brokers;

    public BrokerAddress? AddressOf(int nodeId) => _brokers.TryGetValue(nodeId, out var a) ? a : null;

    /// <summary>Partitions of a topic, or -1 while unknown (never described, or described with an error).</summary>
    public int PartitionCount(string topic)
        => _topics.TryGetValue(topic, out var t) && t.Error == ErrorCode.None ? t.Leaders.Length : -1;

    /// <summary>The error the last Metadata response gave for a topic (None when fine or never asked).</summary>
    public ErrorCode TopicError(string topic) => _topics.TryGetValue(topic, out var t) ? t.Error : ErrorCode.None;

    /// <summary>The partition's leader, or -1 while unknown.</summary>
    public int LeaderFor(TopicPartition tp)
    {
        if (!_topics.TryGetValue(tp.Topic, out var t) || t.Error != ErrorCode.None) return -1;
        return tp.Partition >= 0 && tp.Partition < t.Leaders.Length ? t.Leaders[tp.Partition] : -1;
    }

    /// <summary>Applies a response. Returns true when every topic it describes is usable (no error, every
    /// partition led by a known broker).</summary>
    internal bool Update(MetadataResponse response, long nowMs)
    {
        _brokers.Clear();
        foreach (var b in response.Brokers) _brokers[b.NodeId] = new BrokerAddress(b.Host, b.Port);
        ClusterId = response.ClusterId;
        ControllerId = response.ControllerId;
        bool complete = true;
        foreach (var t in response.Topics)
        {
            if (t.Name is null) continue; // only a v12+ answer to a lookup by topic id, which this client never sends
            if (t.ErrorCode != ErrorCode.None)
            {
                _topics[t.Name] = new TopicState(t.ErrorCode, []);
                complete = false;
                continue;
            }
            int count = 0;
            foreach (var p in t.Partitions) count = Math.Max(count, p.PartitionIndex + 1);
            var leaders = new int[count];
            Array.Fill(leaders, -1);
            foreach (var p in t.Partitions)
            {
                if (p.PartitionIndex < 0) continue;
                bool usable = p.ErrorCode == ErrorCode.None && _brokers.ContainsKey(p.LeaderId);
                leaders[p.PartitionIndex] = usable ? p.LeaderId : -1;
                if (!usable) complete = false;
            }
            _topics[t.Name] = new TopicState(ErrorCode.None, leaders);
        }
        LastUpdateMs = nowMs;
        return complete;
    }
}
