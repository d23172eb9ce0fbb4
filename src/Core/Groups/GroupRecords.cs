using DetKafka.Core.Protocol;

namespace DetKafka.Core.Groups;

/// <summary>
/// The internal topic <c>__consumer_offsets</c>: which partition holds a group, and the records written there,
/// in Kafka's own layouts (so Kafka's tools can read the topic): a key version 0/1 is an offset commit keyed by
/// (group, topic, partition); key version 2 is a group's metadata keyed by the group id. A null value is a
/// tombstone (an expired or deleted offset, a deleted group), kept last-wins by replay and, once the cleaner
/// exists, by compaction.
/// </summary>
public static class GroupRecords
{
    public const string OffsetsTopic = "__consumer_offsets";
    public const short OffsetKeyVersion = 1;
    public const short GroupKeyVersion = 2;
    public const short OffsetValueVersion = 3;
    public const short GroupValueVersion = 3;

    public static bool IsInternalTopic(string topic) => topic == OffsetsTopic || topic == Transactions.TransactionRecords.StateTopic;

    /// <summary>Java's String.hashCode over UTF-16 code units (s[0]*31^(n-1) + ... + s[n-1], int overflow):
    /// Kafka places a group with it, so the same group id lands on the same partition as in Kafka.</summary>
    public static int JavaStringHashCode(string s)
    {
        int h = 0;
        foreach (char c in s) h = unchecked(31 * h + c);
        return h;
    }

    /// <summary>Kafka's <c>Utils.abs(groupId.hashCode) % partitions</c>; Utils.abs maps int.MinValue to 0.</summary>
    public static int PartitionFor(string groupId, int partitions)
    {
        int h = JavaStringHashCode(groupId);
        int abs = h == int.MinValue ? 0 : Math.Abs(h);
        return abs % partitions;
    }

    public static byte[] OffsetKey(string group, string topic, int partition)
    {
        using var w = new KafkaWriter(64);
        w.WriteInt16(OffsetKeyVersion);
        w.WriteString(group, false);
        w.WriteString(topic, false);
        w.WriteInt32(partition);
        return w.ToArray();
    }

    public static byte[] OffsetValue(OffsetAndMetadata o)
    {
        using var w = new KafkaWriter(64);
        w.WriteInt16(OffsetValueVersion);
        w.WriteInt64(o.Offset);
        w.WriteInt32(o.LeaderEpoch);
        w.WriteString(o.Metadata ?? "", false);
        w.WriteInt64(o.CommitTimestampMs);
        return w.ToArray();
    }

    public static byte[] GroupKey(string group)
    {
        using var w = new KafkaWriter(32);
        w.WriteInt16(GroupKeyVersion);
        w.WriteString(group, false);
        return w.ToArray();
    }

    public static byte[] GroupValue(Group g, long stateTimestampMs)
    {
        using var w = new KafkaWriter(256);
        w.WriteInt16(GroupValueVersion);
        w.WriteString(g.ProtocolType ?? "", false);
        w.WriteInt32(g.GenerationId);
        w.WriteNullableString(g.ProtocolName, false);
        w.WriteNullableString(g.LeaderId, false);
        w.WriteInt64(stateTimestampMs);
        w.WriteArrayLength(g.Members.Count, false);
        foreach (var m in g.Members)
        {
            w.WriteString(m.MemberId, false);
            w.WriteNullableString(m.GroupInstanceId, false);
            w.WriteString(m.ClientId, false);
            w.WriteString(m.ClientHost, false);
            w.WriteInt32(m.RebalanceTimeoutMs);
            w.WriteInt32(m.SessionTimeoutMs);
            w.WriteBytes(g.ProtocolName is { } p ? m.MetadataFor(p) : [], false);
            w.WriteBytes(m.Assignment, false);
        }
        return w.ToArray();
    }

    /// <summary>A decoded record key: an offset commit's (group, topic, partition) or a group's id.</summary>
    public readonly record struct Key(bool IsOffset, string Group, TopicPartition TopicPartition);

    public static Key ReadKey(byte[] key)
    {
        var r = new KafkaReader(key);
        short version = r.ReadInt16();
        string group = r.ReadString(false);
        if (version is 0 or 1) return new Key(true, group, new TopicPartition(r.ReadString(false), r.ReadInt32()));
        if (version == 2) return new Key(false, group, default);
        throw new ProtocolException($"unknown __consumer_offsets key version {version}");
    }

    public static OffsetAndMetadata ReadOffsetValue(byte[] value)
    {
        var r = new KafkaReader(value);
        short version = r.ReadInt16();
        long offset = r.ReadInt64();
        int epoch = version >= 3 ? r.ReadInt32() : -1;
        string metadata = r.ReadString(false);
        long commitTimestamp = r.ReadInt64();
        return new OffsetAndMetadata(offset, epoch, metadata, commitTimestamp);
    }

    /// <summary>Decoded group metadata: the fields written by <see cref="GroupValue"/>.</summary>
    public sealed record GroupValueRecord(string ProtocolType, int GenerationId, string? ProtocolName, string? LeaderId,
        long StateTimestampMs, List<GroupMember> Members);

    public static GroupValueRecord ReadGroupValue(byte[] value)
    {
        var r = new KafkaReader(value);
        short version = r.ReadInt16();
        if (version is < 0 or > 3) throw new ProtocolException($"unknown group metadata value version {version}");
        string protocolType = r.ReadString(false);
        int generation = r.ReadInt32();
        string? protocol = r.ReadNullableString(false);
        string? leader = r.ReadNullableString(false);
        long stateTimestamp = version >= 2 ? r.ReadInt64() : -1;
        int n = r.ReadArrayCount(false);
        var members = new List<GroupMember>(n);
        for (int i = 0; i < n; i++)
        {
            var m = new GroupMember { MemberId = r.ReadString(false) };
            if (version >= 3) m.GroupInstanceId = r.ReadNullableString(false);
            m.ClientId = r.ReadString(false);
            m.ClientHost = r.ReadString(false);
            m.RebalanceTimeoutMs = version >= 1 ? r.ReadInt32() : 0;
            m.SessionTimeoutMs = r.ReadInt32();
            if (version == 0) m.RebalanceTimeoutMs = m.SessionTimeoutMs;
            var subscription = r.ReadBytes(false).ToArray();
            m.Assignment = r.ReadBytes(false).ToArray();
            m.ProtocolType = protocolType;
            if (protocol is not null) m.Protocols.Add((protocol, subscription));
            members.Add(m);
        }
        return new GroupValueRecord(protocolType, generation, protocol, leader, stateTimestamp, members);
    }

    /// <summary>The topics a consumer-protocol subscription names (ConsumerProtocolSubscription: version int16,
    /// topics []string, ...); empty when the bytes are not one.</summary>
    public static List<string> SubscribedTopics(byte[] subscription)
    {
        var topics = new List<string>();
        try
        {
            var r = new KafkaReader(subscription);
            r.ReadInt16();
            int n = r.ReadArrayCount(false);
            for (int i = 0; i < n; i++) topics.Add(r.ReadString(false));
        }
        catch (ProtocolException)
        {
            topics.Clear();
        }
        return topics;
    }
}
