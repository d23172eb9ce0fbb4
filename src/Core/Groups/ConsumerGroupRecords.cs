using DetKafka.Core.Protocol;

namespace DetKafka.Core.Groups;

/// <summary>
/// DetKafka's own record for a KIP-848 consumer group in <c>__consumer_offsets</c> (not Kafka's layout, which
/// splits a group over six record types): one snapshot of the whole group per change, keyed by the group id
/// under key version <see cref="KeyVersion"/> (Kafka's key versions stop well below it, so the two never
/// collide), last one wins on replay, a null value deletes the consumer group state (the group became classic
/// or was deleted). Committed offsets stay in Kafka's offset-commit records. docs/design/GROUPS.md has the
/// layout. A snapshot is bounded: at most group.consumer.max.size members.
/// </summary>
public static class ConsumerGroupRecords
{
    public const short KeyVersion = 100;
    public const short ValueVersion = 0;

    public static bool IsConsumerGroupKey(byte[] key) => key.Length >= 2 && (short)(key[0] << 8 | key[1]) == KeyVersion;

    public static byte[] Key(string group)
    {
        using var w = new KafkaWriter(32);
        w.WriteInt16(KeyVersion);
        w.WriteString(group, false);
        return w.ToArray();
    }

    public static string ReadKey(byte[] key)
    {
        var r = new KafkaReader(key);
        if (r.ReadInt16() != KeyVersion) throw new ProtocolException("not a consumer group key");
        return r.ReadString(false);
    }

    public static byte[] Value(ConsumerGroup g)
    {
        using var w = new KafkaWriter(256);
        w.WriteInt16(ValueVersion);
        w.WriteInt32(g.GroupEpoch);
        w.WriteInt32(g.AssignmentEpoch);
        w.WriteString(g.AssignorName, false);
        w.WriteArrayLength(g.SubscribedTopics.Count, false);
        foreach (var (t, n) in g.SubscribedTopics)
        {
            w.WriteString(t, false);
            w.WriteInt32(n);
        }
        w.WriteArrayLength(g.Members.Count, false);
        foreach (var m in g.Members.Values)
        {
            w.WriteString(m.MemberId, false);
            w.WriteNullableString(m.InstanceId, false);
            w.WriteNullableString(m.RackId, false);
            w.WriteString(m.ClientId, false);
            w.WriteString(m.ClientHost, false);
            w.WriteInt32(m.RebalanceTimeoutMs);
            w.WriteArrayLength(m.SubscribedTopicNames.Count, false);
            foreach (var t in m.SubscribedTopicNames) w.WriteString(t, false);
            w.WriteNullableString(m.SubscribedTopicRegex, false);
            w.WriteNullableString(m.ServerAssignor, false);
            w.WriteInt32(m.MemberEpoch);
            w.WriteInt32(m.PreviousMemberEpoch);
            w.WriteInt8((sbyte)m.State);
            WritePartitions(w, m.Assigned);
            WritePartitions(w, m.PendingRevocation);
            WritePartitions(w, g.TargetAssignment.GetValueOrDefault(m.MemberId) ?? new SortedSet<TopicPartition>());
        }
        return w.ToArray();
    }

    /// <summary>Partitions grouped by topic: count of topics, then per topic its name and partition indexes.</summary>
    private static void WritePartitions(KafkaWriter w, SortedSet<TopicPartition> parts)
    {
        var byTopic = parts.GroupBy(tp => tp.Topic).ToList();
        w.WriteArrayLength(byTopic.Count, false);
        foreach (var t in byTopic)
        {
            w.WriteString(t.Key, false);
            w.WriteArrayLength(t.Count(), false);
            foreach (var tp in t) w.WriteInt32(tp.Partition);
        }
    }

    private static void ReadPartitions(ref KafkaReader r, SortedSet<TopicPartition> into)
    {
        int topics = r.ReadArrayCount(false);
        for (int i = 0; i < topics; i++)
        {
            string topic = r.ReadString(false);
            int n = r.ReadArrayCount(false);
            for (int k = 0; k < n; k++) into.Add(new TopicPartition(topic, r.ReadInt32()));
        }
    }

    public static ConsumerGroup ReadValue(string groupId, byte[] value)
    {
        var r = new KafkaReader(value);
        short version = r.ReadInt16();
        if (version != ValueVersion) throw new ProtocolException($"unknown consumer group value version {version}");
        var g = new ConsumerGroup(groupId) { GroupEpoch = r.ReadInt32(), AssignmentEpoch = r.ReadInt32(), AssignorName = r.ReadString(false) };
        int topics = r.ReadArrayCount(false);
        for (int i = 0; i < topics; i++) g.SubscribedTopics[r.ReadString(false)] = r.ReadInt32();
        int members = r.ReadArrayCount(false);
        for (int i = 0; i < members; i++)
        {
            var m = new ConsumerGroupMember
            {
                MemberId = r.ReadString(false),
                InstanceId = r.ReadNullableString(false),
                RackId = r.ReadNullableString(false),
                ClientId = r.ReadString(false),
                ClientHost = r.ReadString(false),
                RebalanceTimeoutMs = r.ReadInt32(),
            };
            int subs = r.ReadArrayCount(false);
            for (int k = 0; k < subs; k++) m.SubscribedTopicNames.Add(r.ReadString(false));
            m.SubscribedTopicRegex = r.ReadNullableString(false);
            m.ServerAssignor = r.ReadNullableString(false);
            m.MemberEpoch = r.ReadInt32();
            m.PreviousMemberEpoch = r.ReadInt32();
            sbyte state = r.ReadInt8();
            if (state is < 0 or > 2) throw new ProtocolException($"unknown member state {state}");
            m.State = (ConsumerMemberState)state;
            ReadPartitions(ref r, m.Assigned);
            ReadPartitions(ref r, m.PendingRevocation);
            var target = new SortedSet<TopicPartition>();
            ReadPartitions(ref r, target);
            g.Members[m.MemberId] = m;
            g.TargetAssignment[m.MemberId] = target;
            if (m.InstanceId is { } inst) g.StaticMembers[inst] = m.MemberId;
            g.RestoreOwnership(m);
        }
        g.CheckInvariants();
        return g;
    }
}
