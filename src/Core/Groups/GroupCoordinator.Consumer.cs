using DetKafka.Core.Abstractions;
using DetKafka.Core.Broker;
using DetKafka.Core.Protocol;
using DetKafka.Core.Protocol.Messages;
using DetKafka.Core.Records;
using DetKafka.Core.Util;

namespace DetKafka.Core.Groups;

// KIP-848's consumer group protocol: ConsumerGroupHeartbeat and ConsumerGroupDescribe, the timers that fence
// silent members, and the commit checks for members of consumer groups. The state machine itself is
// ConsumerGroup; this file connects it to requests, timers and __consumer_offsets.
public sealed partial class GroupCoordinator
{
    public const string ConsumerProtocolType = "consumer";

    private ConsumerGroupConfig ConsumerConfig => Config.ConsumerGroup;

    // ---- ConsumerGroupHeartbeat ---------------------------------------------------------------------------

    public void ConsumerGroupHeartbeat(RequestContext request, ConsumerGroupHeartbeatRequest hb)
    {
        var reply = new PendingReply(request);
        void Fail(ErrorCode error, string? message)
            => reply.Respond(new ConsumerGroupHeartbeatResponse { ErrorCode = error, ErrorMessage = message, MemberId = hb.MemberId.Length == 0 ? null : hb.MemberId, MemberEpoch = hb.MemberEpoch });

        var (invalid, why) = ValidateHeartbeat(hb);
        if (invalid != ErrorCode.None)
        {
            Fail(invalid, why);
            return;
        }
        var error = CheckCoordinator(hb.GroupId);
        if (error != ErrorCode.None)
        {
            Fail(error, null);
            return;
        }
        if (!_groups.TryGetValue(hb.GroupId, out var group))
        {
            if (hb.MemberEpoch != ConsumerGroup.JoinEpoch)
            {
                Fail(ErrorCode.GroupIdNotFound, $"group {hb.GroupId} does not exist");
                return;
            }
            if (_groups.Count >= GroupsMax)
            {
                Fail(ErrorCode.CoordinatorNotAvailable, "too many groups");
                return;
            }
            group = GetOrCreate(hb.GroupId);
        }
        if (group.State == GroupState.Dead)
        {
            Fail(ErrorCode.CoordinatorNotAvailable, "group is being deleted");
            return;
        }
        if (group.Consumer is null)
        {
            // Kafka: a classic group with members is not a consumer group; an empty one is converted by the
            // first consumer-protocol join (its offsets stay).
            if (group.Members.Count > 0 || group.PendingMembers.Count > 0 || hb.MemberEpoch != ConsumerGroup.JoinEpoch)
            {
                Fail(ErrorCode.GroupIdNotFound, $"group {hb.GroupId} is not a consumer group");
                return;
            }
            group.Consumer = new ConsumerGroup(group.Id) { AssignorName = ConsumerConfig.Assignors[0] };
            group.ProtocolType = ConsumerProtocolType;
            group.ProtocolName = null;
            group.LeaderId = null;
            group.GenerationId = 0;
        }
        var cg = group.Consumer;
        var owned = hb.TopicPartitions is null ? null : ResolveTopicIds(hb.TopicPartitions);
        bool durable = false;
        ConsumerGroupMember? member;
        switch (hb.MemberEpoch)
        {
            case ConsumerGroup.JoinEpoch:
            {
                var (joined, joinError, message) = JoinConsumerMember(cg, request, hb);
                if (joinError != ErrorCode.None)
                {
                    Fail(joinError, message);
                    return;
                }
                member = joined!;
                durable = true;
                break;
            }
            case ConsumerGroup.LeaveEpoch:
            case ConsumerGroup.LeaveStaticEpoch:
            {
                if (!cg.Members.TryGetValue(hb.MemberId, out var leaving))
                {
                    Fail(ErrorCode.UnknownMemberId, null);
                    return;
                }
                if (hb.MemberEpoch == ConsumerGroup.LeaveStaticEpoch && leaving.InstanceId is not null)
                {
                    // A static member leaving to return: it keeps its assignment for one session timeout.
                    leaving.PreviousMemberEpoch = leaving.MemberEpoch;
                    leaving.MemberEpoch = ConsumerGroup.LeaveStaticEpoch;
                    ScheduleConsumerSession(group, leaving);
                    _broker.Log.Info("Group {Group}: static member {Instance} ({Member}) left to return", group.Id, leaving.InstanceId, leaving.MemberId);
                }
                else
                {
                    cg.RemoveMember(leaving.MemberId);
                    _broker.Log.Info("Group {Group}: member {Member} left, group epoch {Epoch}", group.Id, leaving.MemberId, cg.GroupEpoch);
                }
                AfterMembershipChange(group);
                WriteConsumerGroup(group, writeError =>
                {
                    if (StoreGroupError(writeError) is var e && e != ErrorCode.None) Fail(e, null);
                    else reply.Respond(new ConsumerGroupHeartbeatResponse { MemberId = hb.MemberId, MemberEpoch = hb.MemberEpoch, HeartbeatIntervalMs = ConsumerConfig.HeartbeatIntervalMs });
                });
                return;
            }
            default:
            {
                if (!cg.Members.TryGetValue(hb.MemberId, out member))
                {
                    Fail(ErrorCode.UnknownMemberId, null);
                    return;
                }
                if (hb.InstanceId is { } inst && member.InstanceId != inst)
                {
                    Fail(ErrorCode.FencedInstanceId, null);
                    return;
                }
                var epochError = ConsumerGroup.ValidateEpoch(member, hb.MemberEpoch, owned);
                if (epochError != ErrorCode.None)
                {
                    Fail(epochError, $"member epoch {hb.MemberEpoch}, expected {member.MemberEpoch}");
                    return;
                }
                durable |= UpdateMember(cg, member, hb);
                break;
            }
        }

        durable |= RefreshTopics(cg);
        durable |= cg.MaybeComputeTargetAssignment(PickAssignor(cg));
        durable |= cg.Reconcile(member, owned);
        ScheduleConsumerSession(group, member);
        MaybeScheduleRebalanceTimeout(group, member);
        SyncGroupState(group);

        var response = new ConsumerGroupHeartbeatResponse
        {
            MemberId = member.MemberId,
            MemberEpoch = member.MemberEpoch,
            HeartbeatIntervalMs = ConsumerConfig.HeartbeatIntervalMs,
        };
        bool full = hb.MemberEpoch == ConsumerGroup.JoinEpoch || (hb.TopicPartitions is not null && (hb.SubscribedTopicNames is not null || hb.SubscribedTopicRegex is not null));
        if (full || member.SentEpoch != member.MemberEpoch || member.SentAssignment is null || !member.SentAssignment.SetEquals(member.Assigned))
        {
            response.Assignment = ToWireAssignment(member.Assigned);
            member.SentEpoch = member.MemberEpoch;
            member.SentAssignment = new SortedSet<TopicPartition>(member.Assigned);
        }
        if (!durable)
        {
            reply.Respond(response);
            return;
        }
        WriteConsumerGroup(group, writeError =>
        {
            if (StoreGroupError(writeError) is var e && e != ErrorCode.None) Fail(e, null);
            else reply.Respond(response);
        });
    }

    /// <summary>Kafka's request checks: what each epoch needs. INVALID_REQUEST otherwise.</summary>
    private (ErrorCode, string?) ValidateHeartbeat(ConsumerGroupHeartbeatRequest hb)
    {
        if (string.IsNullOrEmpty(hb.GroupId)) return (ErrorCode.InvalidRequest, "GroupId can't be empty");
        if (hb.RackId is { Length: 0 }) return (ErrorCode.InvalidRequest, "RackId can't be empty");
        if (hb.InstanceId is { Length: 0 }) return (ErrorCode.InvalidRequest, "InstanceId can't be empty");
        if (hb.MemberEpoch != ConsumerGroup.JoinEpoch && hb.MemberId.Length == 0) return (ErrorCode.InvalidRequest, "MemberId can't be empty");
        if (hb.MemberEpoch == ConsumerGroup.JoinEpoch)
        {
            if (hb.RebalanceTimeoutMs == -1) return (ErrorCode.InvalidRequest, "RebalanceTimeoutMs must be provided in first request");
            if (hb.TopicPartitions is null || hb.TopicPartitions.Count > 0) return (ErrorCode.InvalidRequest, "TopicPartitions must be empty when (re-)joining");
            if (hb.SubscribedTopicNames is null && string.IsNullOrEmpty(hb.SubscribedTopicRegex)) return (ErrorCode.InvalidRequest, "SubscribedTopicNames or SubscribedTopicRegex must be set in first request");
        }
        else if (hb.MemberEpoch < ConsumerGroup.LeaveStaticEpoch)
        {
            return (ErrorCode.InvalidRequest, $"MemberEpoch {hb.MemberEpoch} is invalid");
        }
        if (hb.SubscribedTopicNames is { Count: > 10_000 }) return (ErrorCode.InvalidRequest, "too many subscribed topics");
        if (hb.SubscribedTopicRegex is { Length: > 0 } re && !ConsumerGroupRegex.IsValid(re))
            return (ErrorCode.InvalidRegularExpression, $"SubscribedTopicRegex {re} is not a valid regular expression");
        if (hb.ServerAssignor is { } a && !ConsumerConfig.Assignors.Contains(a))
            return (ErrorCode.UnsupportedAssignor, $"ServerAssignor {a} is not supported; supported: {string.Join(",", ConsumerConfig.Assignors)}");
        return (ErrorCode.None, null);
    }

    private (ConsumerGroupMember? Member, ErrorCode Error, string? Message) JoinConsumerMember(ConsumerGroup cg, RequestContext request, ConsumerGroupHeartbeatRequest hb)
    {
        string memberId = hb.MemberId.Length > 0 ? hb.MemberId : UrlSafeUuid();
        if (hb.InstanceId is { } inst && cg.StaticMembers.TryGetValue(inst, out var existingId) && cg.Members.TryGetValue(existingId, out var existing))
        {
            if (existing.IsStaticAway)
            {
                int epoch = existing.PreviousMemberEpoch;
                var replaced = cg.ReplaceStaticMember(existing, memberId, epoch);
                replaced.ClientId = request.Header.ClientId ?? "";
                replaced.ClientHost = request.Connection.ToString();
                UpdateMember(cg, replaced, hb);
                _broker.Log.Info("Group {Group}: static member {Instance} returned as {Member} (was {Old})", cg.Id, inst, memberId, existingId);
                return (replaced, ErrorCode.None, null);
            }
            if (existingId != memberId)
                return (null, ErrorCode.UnreleasedInstanceId, $"static member {inst} is still in the group as {existingId}");
        }
        if (cg.Members.ContainsKey(memberId))
        {
            // A known member rejoining with epoch 0 was fenced or lost its state: it gave up its partitions.
            cg.RemoveMember(memberId);
        }
        else if (cg.Members.Count >= ConsumerConfig.MaxSize)
        {
            return (null, ErrorCode.GroupMaxSizeReached, $"the group has reached its maximum size of {ConsumerConfig.MaxSize}");
        }
        var member = new ConsumerGroupMember
        {
            MemberId = memberId,
            InstanceId = hb.InstanceId,
            RackId = hb.RackId,
            ClientId = request.Header.ClientId ?? "",
            ClientHost = request.Connection.ToString(),
            RebalanceTimeoutMs = hb.RebalanceTimeoutMs,
            SubscribedTopicNames = hb.SubscribedTopicNames?.Distinct(StringComparer.Ordinal).ToList() ?? new(),
            SubscribedTopicRegex = hb.SubscribedTopicRegex is { Length: > 0 } r ? r : null,
            ServerAssignor = hb.ServerAssignor,
            MemberEpoch = ConsumerGroup.JoinEpoch,
        };
        cg.AddMember(member);
        _broker.Log.Info("Group {Group}: member {Member} joined, group epoch {Epoch}", cg.Id, memberId, cg.GroupEpoch);
        return (member, ErrorCode.None, null);
    }

    /// <summary>Applies what a heartbeat changed (null fields are unchanged); a new subscription bumps the group
    /// epoch. Returns whether anything durable changed.</summary>
    private static bool UpdateMember(ConsumerGroup cg, ConsumerGroupMember m, ConsumerGroupHeartbeatRequest hb)
    {
        bool changed = false, bump = false;
        if (hb.SubscribedTopicNames is { } names)
        {
            var distinct = names.Distinct(StringComparer.Ordinal).ToList();
            if (!distinct.OrderBy(n => n, StringComparer.Ordinal).SequenceEqual(m.SubscribedTopicNames.OrderBy(n => n, StringComparer.Ordinal)))
            {
                m.SubscribedTopicNames = distinct;
                bump = true;
            }
        }
        // An empty regex is how a client (librdkafka with a list of names) says it subscribes by none.
        if (hb.SubscribedTopicRegex is { } re && (re.Length == 0 ? null : re) is var regex && regex != m.SubscribedTopicRegex)
        {
            m.SubscribedTopicRegex = regex;
            bump = true;
        }
        if (hb.ServerAssignor is { } a && a != m.ServerAssignor)
        {
            m.ServerAssignor = a;
            bump = true;
        }
        if (hb.RebalanceTimeoutMs >= 0 && hb.RebalanceTimeoutMs != m.RebalanceTimeoutMs)
        {
            m.RebalanceTimeoutMs = hb.RebalanceTimeoutMs;
            changed = true;
        }
        if (hb.RackId is { } rack && rack != m.RackId)
        {
            m.RackId = rack;
            changed = true;
        }
        if (bump) cg.GroupEpoch++;
        return changed || bump;
    }

    /// <summary>The subscribed topics' current partition counts from the node's metadata (a topic created,
    /// grown or deleted shows here on the next heartbeat); a difference bumps the group epoch.</summary>
    private bool RefreshTopics(ConsumerGroup cg)
    {
        var names = cg.SubscribedTopicNames(_broker.Topics.Select(t => t.Name));
        var counts = new SortedDictionary<string, int>(StringComparer.Ordinal);
        foreach (var name in names)
            if (_broker.FindTopic(name) is { } t) counts[name] = t.PartitionCount;
        return cg.UpdateSubscribedTopics(counts);
    }

    /// <summary>The assignor the members ask for most (ties: the first in group.consumer.assignors), else the
    /// default, the first configured.</summary>
    private IConsumerGroupAssignor PickAssignor(ConsumerGroup cg)
    {
        string? best = null;
        int bestVotes = 0;
        foreach (var name in ConsumerConfig.Assignors)
        {
            int votes = cg.Members.Values.Count(m => m.ServerAssignor == name);
            if (votes > bestVotes)
            {
                best = name;
                bestVotes = votes;
            }
        }
        var assignor = ConsumerGroupAssignors.Find(best ?? ConsumerConfig.Assignors[0]);
        Check.That(assignor is not null, "configured assignors are known (checked when the config is parsed)");
        return assignor!;
    }

    /// <summary>After a member left or was removed: a new target for the rest (they pick it up on their next
    /// heartbeat) and the group's coarse state for expiry and DeleteGroups.</summary>
    private void AfterMembershipChange(Group group)
    {
        var cg = group.Consumer!;
        RefreshTopics(cg);
        cg.MaybeComputeTargetAssignment(PickAssignor(cg));
        SyncGroupState(group);
    }

    private static void SyncGroupState(Group group)
    {
        var cg = group.Consumer!;
        var state = cg.Members.Count > 0 ? GroupState.Stable : GroupState.Empty;
        if (group.State != state) group.RestoreState(state, group.StateTimestampMs);
        group.GenerationId = cg.GroupEpoch;
    }

    private SortedSet<TopicPartition> ResolveTopicIds(List<ConsumerGroupHeartbeatRequest.ConsumerGroupHeartbeatRequestTopicPartitions> parts)
    {
        var set = new SortedSet<TopicPartition>();
        foreach (var t in parts)
        {
            // A topic id the node does not know (deleted) names partitions nobody can own any more: skipped.
            var topic = _broker.Topics.FirstOrDefault(x => x.TopicId == t.TopicId);
            if (topic is null) continue;
            foreach (int p in t.Partitions) set.Add(new TopicPartition(topic.Name, p));
        }
        return set;
    }

    private ConsumerGroupHeartbeatResponse.ConsumerGroupHeartbeatAssignment ToWireAssignment(SortedSet<TopicPartition> parts)
    {
        var a = new ConsumerGroupHeartbeatResponse.ConsumerGroupHeartbeatAssignment();
        foreach (var byTopic in parts.GroupBy(tp => tp.Topic))
        {
            if (_broker.FindTopic(byTopic.Key) is not { } topic) continue;
            var t = new ConsumerGroupHeartbeatResponse.ConsumerGroupHeartbeatResponseTopicPartitions { TopicId = topic.TopicId };
            foreach (var tp in byTopic) t.Partitions.Add(tp.Partition);
            a.TopicPartitions.Add(t);
        }
        return a;
    }

    /// <summary>Kafka's KIP-848 member ids: a random UUID in URL-safe base64 without padding (seeded here).</summary>
    private string UrlSafeUuid()
        => Convert.ToBase64String(_broker.Random.NextUuid().ToByteArray(bigEndian: true)).TrimEnd('=').Replace('+', '-').Replace('/', '_');

    // ---- timers -------------------------------------------------------------------------------------------------

    /// <summary>group.consumer.session.timeout.ms on the node's clock: every heartbeat restarts it; when it
    /// fires the member is removed and its partitions freed (for a static member that left with -2 too).</summary>
    private void ScheduleConsumerSession(Group group, ConsumerGroupMember member)
    {
        member.SessionTimer?.Cancel();
        string memberId = member.MemberId;
        member.SessionTimer = _broker.Timers.Schedule(Now + ConsumerConfig.SessionTimeoutMs, () => FenceConsumerMember(group, memberId, "session timeout"));
    }

    /// <summary>A member asked to revoke partitions must confirm within its rebalance timeout
    /// (max.poll.interval.ms from the client), or it is removed so its partitions can move.</summary>
    private void MaybeScheduleRebalanceTimeout(Group group, ConsumerGroupMember member)
    {
        if (member.State != ConsumerMemberState.UnrevokedPartitions)
        {
            member.RebalanceTimer?.Cancel();
            member.RebalanceTimer = null;
            return;
        }
        if (member.RebalanceTimer is { IsCancelled: false }) return;
        string memberId = member.MemberId;
        int timeout = Math.Max(member.RebalanceTimeoutMs, 1);
        member.RebalanceTimer = _broker.Timers.Schedule(Now + timeout, () =>
        {
            if (group.Consumer?.Members.GetValueOrDefault(memberId) is { State: ConsumerMemberState.UnrevokedPartitions })
                FenceConsumerMember(group, memberId, "rebalance timeout");
        });
    }

    private void FenceConsumerMember(Group group, string memberId, string why)
    {
        if (!ReferenceEquals(_groups.GetValueOrDefault(group.Id), group) || group.Consumer is not { } cg || !cg.Members.ContainsKey(memberId)) return;
        cg.RemoveMember(memberId);
        _broker.Log.Info("Group {Group}: member {Member} removed ({Why}), group epoch {Epoch}", group.Id, memberId, why, cg.GroupEpoch);
        AfterMembershipChange(group);
        WriteConsumerGroup(group, _ => { });
    }

    // ---- records --------------------------------------------------------------------------------------------

    private void WriteConsumerGroup(Group group, Action<ErrorCode> done)
        => Write(group, [(ConsumerGroupRecords.Key(group.Id), ConsumerGroupRecords.Value(group.Consumer!))], done);

    /// <summary>Replays one consumer group snapshot (or its tombstone) during <see cref="Load"/>.</summary>
    private void ReplayConsumerGroup(DecodedRecord r)
    {
        string id = ConsumerGroupRecords.ReadKey(r.Key!);
        if (r.Value is null)
        {
            if (_groups.GetValueOrDefault(id) is { } g) g.Consumer = null;
            return;
        }
        var group = GetOrCreate(id);
        group.Consumer = ConsumerGroupRecords.ReadValue(id, r.Value);
        group.ProtocolType = ConsumerProtocolType;
    }

    /// <summary>After loading: consumer groups' members come back for one session, like classic members.</summary>
    private void ResumeConsumerGroups(int onlyPartition = -1)
    {
        foreach (var group in _groups.Values)
        {
            if (group.Consumer is not { } cg || (onlyPartition >= 0 && PartitionFor(group.Id) != onlyPartition)) continue;
            group.ProtocolType = ConsumerProtocolType;
            SyncGroupState(group);
            foreach (var m in cg.Members.Values)
            {
                m.SentEpoch = int.MinValue;
                ScheduleConsumerSession(group, m);
                MaybeScheduleRebalanceTimeout(group, m);
            }
        }
    }

    /// <summary>Tombstones for a consumer group's own record, added wherever the group is deleted.</summary>
    private static void AddConsumerTombstone(Group group, List<(byte[], byte[]?)> tombstones)
    {
        if (group.Consumer is not null) tombstones.Add((ConsumerGroupRecords.Key(group.Id), null));
    }

    /// <summary>A classic JoinGroup meeting a consumer group: INCONSISTENT_GROUP_PROTOCOL while it has members;
    /// an empty one becomes classic again (Kafka's downgrade of an empty group), its record deleted.</summary>
    private ErrorCode ClassicJoinOnConsumerGroup(Group group)
    {
        if (group.Consumer is not { } cg) return ErrorCode.None;
        if (cg.Members.Count > 0) return ErrorCode.InconsistentGroupProtocol;
        group.Consumer = null;
        group.ProtocolType = null;
        group.GenerationId = 0;
        Write(group, [(ConsumerGroupRecords.Key(group.Id), null)], _ => { });
        return ErrorCode.None;
    }

    // ---- commits ------------------------------------------------------------------------------------------------

    /// <summary>OffsetCommit for a consumer group (Kafka's ConsumerGroup.validateOffsetCommit): a commit outside
    /// the group (epoch -1, no member id) only while it has no members; otherwise the member must exist and
    /// commit at its current epoch: an older one is STALE_MEMBER_EPOCH (the client retries after its next
    /// heartbeat), a newer one FENCED_MEMBER_EPOCH. Before v9 the field is a generation, which consumer
    /// members do not have: UNSUPPORTED_VERSION, as Kafka.</summary>
    private ErrorCode ValidateConsumerCommit(Group group, short version, int epoch, string memberId)
    {
        var cg = group.Consumer!;
        if (epoch < 0 && memberId.Length == 0) return cg.Members.Count == 0 ? ErrorCode.None : ErrorCode.UnknownMemberId;
        if (!cg.Members.TryGetValue(memberId, out var m)) return ErrorCode.UnknownMemberId;
        if (version < 9) return ErrorCode.UnsupportedVersion;
        if (epoch > m.MemberEpoch) return ErrorCode.FencedMemberEpoch;
        if (epoch < m.MemberEpoch) return ErrorCode.StaleMemberEpoch;
        return ErrorCode.None;
    }

    /// <summary>OffsetFetch v9 from a member of a consumer group: it must exist and ask at its epoch.</summary>
    public ErrorCode ValidateConsumerOffsetFetch(string groupId, string? memberId, int memberEpoch)
    {
        if (memberId is null || memberEpoch < 0) return ErrorCode.None;
        if (_groups.GetValueOrDefault(groupId)?.Consumer is not { } cg) return ErrorCode.None; // classic groups: no member check here
        if (!cg.Members.TryGetValue(memberId, out var m)) return ErrorCode.UnknownMemberId;
        if (memberEpoch != m.MemberEpoch) return ErrorCode.StaleMemberEpoch;
        return ErrorCode.None;
    }

    // ---- ConsumerGroupDescribe ------------------------------------------------------------------------------------

    public ConsumerGroupDescribeResponse.DescribedGroup DescribeConsumerGroup(string groupId, short version)
    {
        var described = new ConsumerGroupDescribeResponse.DescribedGroup { GroupId = groupId, GroupState = "" };
        var error = CheckCoordinator(groupId, create: false);
        if (error == ErrorCode.CoordinatorNotAvailable && _broker.FindTopic(GroupRecords.OffsetsTopic) is null) error = ErrorCode.GroupIdNotFound;
        if (error == ErrorCode.None && (!_groups.TryGetValue(groupId, out var g) || g.State == GroupState.Dead))
        {
            error = ErrorCode.GroupIdNotFound;
            described.ErrorMessage = $"Group {groupId} not found.";
        }
        else if (error == ErrorCode.None && _groups[groupId].Consumer is null)
        {
            error = ErrorCode.GroupIdNotFound;
            described.ErrorMessage = $"Group {groupId} is not a consumer group.";
        }
        if (error != ErrorCode.None)
        {
            described.ErrorCode = error;
            return described;
        }
        var cg = _groups[groupId].Consumer!;
        described.GroupState = cg.State.ToString();
        described.GroupEpoch = cg.GroupEpoch;
        described.AssignmentEpoch = cg.AssignmentEpoch;
        described.AssignorName = cg.AssignorName;
        foreach (var m in cg.Members.Values)
        {
            var d = new ConsumerGroupDescribeResponse.Member
            {
                MemberId = m.MemberId,
                InstanceId = m.InstanceId,
                RackId = m.RackId,
                MemberEpoch = m.MemberEpoch,
                ClientId = m.ClientId,
                ClientHost = m.ClientHost,
                SubscribedTopicNames = m.SubscribedTopicNames.ToList(),
                SubscribedTopicRegex = m.SubscribedTopicRegex,
                MemberType = 1, // KIP-1099: a consumer-protocol member
            };
            foreach (var byTopic in m.Assigned.GroupBy(tp => tp.Topic))
                d.Assignment.TopicPartitions.Add(new ConsumerGroupDescribeResponse.AssignedTopicPartitions
                {
                    TopicId = _broker.FindTopic(byTopic.Key)?.TopicId ?? Guid.Empty,
                    TopicName = byTopic.Key,
                    Partitions = byTopic.Select(tp => tp.Partition).ToList(),
                });
            foreach (var byTopic in (cg.TargetAssignment.GetValueOrDefault(m.MemberId) ?? new SortedSet<TopicPartition>()).GroupBy(tp => tp.Topic))
                d.TargetAssignment.TopicPartitions.Add(new ConsumerGroupDescribeResponse.TargetTopicPartitions
                {
                    TopicId = _broker.FindTopic(byTopic.Key)?.TopicId ?? Guid.Empty,
                    TopicName = byTopic.Key,
                    Partitions = byTopic.Select(tp => tp.Partition).ToList(),
                });
            described.Members.Add(d);
        }
        return described;
    }

    /// <summary>A consumer group's member as the classic DescribeGroups shows it: the assignment encoded as a
    /// ConsumerProtocolAssignment (version 0: topics with partitions, no user data), so tools that decode
    /// classic assignments (the CLI's group describe) show consumer groups unchanged.</summary>
    internal static byte[] ClassicAssignmentBytes(SortedSet<TopicPartition> parts)
    {
        using var w = new KafkaWriter(64);
        w.WriteInt16(0);
        var byTopic = parts.GroupBy(tp => tp.Topic).ToList();
        w.WriteArrayLength(byTopic.Count, false);
        foreach (var t in byTopic)
        {
            w.WriteString(t.Key, false);
            w.WriteArrayLength(t.Count(), false);
            foreach (var tp in t) w.WriteInt32(tp.Partition);
        }
        w.WriteNullableBytes(ReadOnlySpan<byte>.Empty, isNull: true, false);
        return w.ToArray();
    }
}
