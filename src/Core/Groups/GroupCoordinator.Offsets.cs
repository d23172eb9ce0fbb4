using DetKafka.Core.Abstractions;
using DetKafka.Core.Broker;
using DetKafka.Core.Protocol;
using DetKafka.Core.Protocol.Messages;

namespace DetKafka.Core.Groups;

// OffsetCommit, OffsetFetch, OffsetDelete and the admin APIs (ListGroups, DescribeGroups, DeleteGroups).
public sealed partial class GroupCoordinator
{
    // ---- OffsetCommit ---------------------------------------------------------------------------------------

    public void Commit(RequestContext request, OffsetCommitRequest commit)
    {
        var reply = new PendingReply(request);
        var response = new OffsetCommitResponse();
        var parts = new List<OffsetCommitResponse.OffsetCommitResponsePartition>();
        var entries = new List<(TopicPartition Tp, OffsetAndMetadata Offset, OffsetCommitResponse.OffsetCommitResponsePartition Answer)>();
        foreach (var t in commit.Topics)
        {
            var topic = new OffsetCommitResponse.OffsetCommitResponseTopic { Name = t.Name };
            response.Topics.Add(topic);
            foreach (var p in t.Partitions)
            {
                var answer = new OffsetCommitResponse.OffsetCommitResponsePartition { PartitionIndex = p.PartitionIndex };
                topic.Partitions.Add(answer);
                parts.Add(answer);
                answer.ErrorCode = CommitEntryError(t.Name, p.PartitionIndex, p.CommittedMetadata);
                if (answer.ErrorCode == ErrorCode.None)
                    entries.Add((new TopicPartition(t.Name, p.PartitionIndex),
                        new OffsetAndMetadata(p.CommittedOffset, p.CommittedLeaderEpoch, p.CommittedMetadata, WallNow), answer));
            }
        }

        var error = CheckCoordinator(commit.GroupId);
        Group? group = null;
        if (error == ErrorCode.None)
        {
            int generation = request.Version >= 1 ? commit.GenerationId : -1;
            string memberId = request.Version >= 1 ? commit.MemberId : "";
            group = _groups.GetValueOrDefault(commit.GroupId);
            if (group is null)
            {
                // Kafka: a group unknown here with generation -1 only stores offsets (an admin or a consumer that
                // assigns partitions itself); with a generation it is a member of a group that no longer exists.
                if (generation >= 0) error = ErrorCode.IllegalGeneration;
                else if (_groups.Count >= GroupsMax) error = ErrorCode.CoordinatorNotAvailable;
                else group = GetOrCreate(commit.GroupId);
            }
            if (group is not null)
                error = group.Consumer is not null
                    ? ValidateConsumerCommit(group, request.Version, generation, memberId)
                    : ValidateCommit(group, generation, memberId, commit.GroupInstanceId);
        }
        if (error != ErrorCode.None)
        {
            foreach (var p in parts) p.ErrorCode = error;
            reply.Respond(response);
            return;
        }
        if (entries.Count == 0)
        {
            reply.Respond(response);
            return;
        }
        var records = new List<(byte[], byte[]?)>(entries.Count);
        foreach (var (tp, offset, _) in entries)
            records.Add((GroupRecords.OffsetKey(group!.Id, tp.Topic, tp.Partition), GroupRecords.OffsetValue(offset)));
        var target = group!;
        bool answered = false;
        target.CommitsInFlight++;
        Write(target, records, writeError =>
        {
            var mapped = CommitError(writeError);
            target.CommitsInFlight--;
            foreach (var (tp, offset, answer) in entries)
            {
                answer.ErrorCode = mapped;
                long stored = (Faults & GroupFaults.CommitSkipsARecord) != 0 ? offset.Offset + 1 : offset.Offset;
                if (mapped == ErrorCode.None) target.Offsets[tp] = offset with { Offset = stored };
            }
            if (!answered) reply.Respond(response);
            answered = true;
            if (target.CommitsInFlight == 0 && target.State == GroupState.PreparingRebalance) TryCompleteJoin(target);
        });
        if ((Faults & GroupFaults.AnswerCommitBeforeDurable) != 0 && !answered)
        {
            // Fault switch: acknowledge before the record is synced, and apply it at once.
            foreach (var (tp, offset, _) in entries) target.Offsets[tp] = offset;
            answered = true;
            reply.Respond(response);
        }
    }

    private ErrorCode ValidateCommit(Group group, int generation, string memberId, string? instanceId)
    {
        if (group.State == GroupState.Dead) return ErrorCode.CoordinatorNotAvailable;
        if (instanceId is not null && group.StaticMembers.TryGetValue(instanceId, out var current) && current != memberId)
            return ErrorCode.FencedInstanceId;
        if (generation < 0 && group.State == GroupState.Empty) return ErrorCode.None;
        if (group.State == GroupState.CompletingRebalance) return ErrorCode.RebalanceInProgress;
        var member = group.Find(memberId);
        if (member is null) return ErrorCode.UnknownMemberId;
        if (generation != group.GenerationId) return ErrorCode.IllegalGeneration;
        ScheduleSession(group, member); // a commit is proof of life, as in Kafka
        return ErrorCode.None;
    }

    // ---- OffsetFetch -----------------------------------------------------------------------------------------

    /// <summary>One group's committed offsets for the asked partitions (null: every partition it has an offset
    /// for); -1 where none is committed. Lag is the client's log end offset (ListOffsets) minus these.</summary>
    public (ErrorCode Error, List<(string Topic, List<(int Partition, OffsetAndMetadata? Offset)> Partitions)> Topics) FetchOffsets(
        string groupId, IReadOnlyList<(string Name, IReadOnlyList<int> Partitions)>? topics)
    {
        var result = new List<(string, List<(int, OffsetAndMetadata?)>)>();
        var error = CheckCoordinator(groupId, create: false);
        if (error == ErrorCode.CoordinatorNotAvailable && _broker.FindTopic(GroupRecords.OffsetsTopic) is null) error = ErrorCode.None;
        if (error != ErrorCode.None) return (error, result);
        var group = _groups.GetValueOrDefault(groupId);
        if (topics is null)
        {
            if (group is null) return (ErrorCode.None, result);
            foreach (var (tp, o) in group.Offsets)
            {
                if (result.Count == 0 || result[^1].Item1 != tp.Topic) result.Add((tp.Topic, new List<(int, OffsetAndMetadata?)>()));
                result[^1].Item2.Add((tp.Partition, o));
            }
            return (ErrorCode.None, result);
        }
        foreach (var (name, partitions) in topics)
        {
            var list = new List<(int, OffsetAndMetadata?)>(partitions.Count);
            foreach (int p in partitions)
            {
                var o = group?.Offsets.GetValueOrDefault(new TopicPartition(name, p));
                if ((Faults & GroupFaults.FetchOffsetOneBehind) != 0 && o is { Offset: > 0 }) o = o with { Offset = o.Offset - 1 };
                list.Add((p, o));
            }
            result.Add((name, list));
        }
        return (ErrorCode.None, result);
    }

    // ---- OffsetDelete ----------------------------------------------------------------------------------------

    public void DeleteOffsets(RequestContext request, OffsetDeleteRequest delete)
    {
        var reply = new PendingReply(request);
        var response = new OffsetDeleteResponse();
        var error = CheckCoordinator(delete.GroupId, create: false);
        var group = _groups.GetValueOrDefault(delete.GroupId);
        if (error == ErrorCode.None && (group is null || group.State == GroupState.Dead)) error = ErrorCode.GroupIdNotFound;
        if (error == ErrorCode.None && group!.State != GroupState.Empty && group.ProtocolType != "consumer") error = ErrorCode.NonEmptyGroup;
        if (error != ErrorCode.None)
        {
            response.ErrorCode = error;
            reply.Respond(response);
            return;
        }
        var subscribed = new HashSet<string>(StringComparer.Ordinal);
        if (group!.State != GroupState.Empty && group.ProtocolName is { } protocol)
            foreach (var m in group.Members) subscribed.UnionWith(GroupRecords.SubscribedTopics(m.MetadataFor(protocol)));
        if (group.Consumer is { Members.Count: > 0 } consumer) subscribed.UnionWith(consumer.SubscribedTopics.Keys);
        var tombstones = new List<(byte[], byte[]?)>();
        foreach (var t in delete.Topics)
        {
            var topic = new OffsetDeleteResponse.OffsetDeleteResponseTopic { Name = t.Name };
            response.Topics.Add(topic);
            foreach (var p in t.Partitions)
            {
                var answer = new OffsetDeleteResponse.OffsetDeleteResponsePartition { PartitionIndex = p.PartitionIndex };
                topic.Partitions.Add(answer);
                if (subscribed.Contains(t.Name)) answer.ErrorCode = ErrorCode.GroupSubscribedToTopic;
                else if (group.Offsets.Remove(new TopicPartition(t.Name, p.PartitionIndex)))
                    tombstones.Add((GroupRecords.OffsetKey(group.Id, t.Name, p.PartitionIndex), null));
            }
        }
        if (tombstones.Count == 0)
        {
            reply.Respond(response);
            return;
        }
        Write(group, tombstones, writeError =>
        {
            if (CommitError(writeError) is var e && e != ErrorCode.None) response.ErrorCode = e;
            reply.Respond(response);
        });
    }

    // ---- ListGroups, DescribeGroups, DeleteGroups ---------------------------------------------------------------

    /// <summary>Groups this node coordinates, in id order, optionally only those in the given states and of the
    /// given types (<see cref="Group.TypeName"/>), both matched case-insensitively, as Kafka does.</summary>
    public List<Group> ListGroups(IReadOnlyCollection<string>? states, IReadOnlyCollection<string>? types = null)
    {
        var list = new List<Group>();
        foreach (var g in _groups.Values)
        {
            if (g.State == GroupState.Dead) continue;
            if (states is { Count: > 0 } && !states.Any(s => string.Equals(s, g.StateName, StringComparison.OrdinalIgnoreCase))) continue;
            if (types is { Count: > 0 } && !types.Any(t => string.Equals(t, g.TypeName, StringComparison.OrdinalIgnoreCase))) continue;
            list.Add(g);
        }
        return list;
    }

    public DescribeGroupsResponse.DescribedGroup Describe(string groupId)
    {
        var described = new DescribeGroupsResponse.DescribedGroup { GroupId = groupId };
        var error = CheckCoordinator(groupId, create: false);
        if (error == ErrorCode.CoordinatorNotAvailable && _broker.FindTopic(GroupRecords.OffsetsTopic) is null) error = ErrorCode.None;
        if (error != ErrorCode.None)
        {
            described.ErrorCode = error;
            return described;
        }
        if (!_groups.TryGetValue(groupId, out var group))
        {
            described.GroupState = nameof(GroupState.Dead);
            return described;
        }
        described.GroupState = group.StateName;
        described.ProtocolType = group.ProtocolType ?? "";
        if (group.Consumer is { } cg)
        {
            // A KIP-848 group through the classic API: protocol data is its assignor, each member's assignment
            // a ConsumerProtocolAssignment (GROUPS.md), its subscription none.
            described.ProtocolData = cg.AssignorName;
            foreach (var m in cg.Members.Values)
                described.Members.Add(new DescribeGroupsResponse.DescribedGroupMember
                {
                    MemberId = m.MemberId,
                    GroupInstanceId = m.InstanceId,
                    ClientId = m.ClientId,
                    ClientHost = m.ClientHost,
                    MemberMetadata = Array.Empty<byte>(),
                    MemberAssignment = ClassicAssignmentBytes(m.Assigned),
                });
            return described;
        }
        bool stable = group.State == GroupState.Stable;
        described.ProtocolData = stable ? group.ProtocolName ?? "" : "";
        foreach (var m in group.Members)
        {
            described.Members.Add(new DescribeGroupsResponse.DescribedGroupMember
            {
                MemberId = m.MemberId,
                GroupInstanceId = m.GroupInstanceId,
                ClientId = m.ClientId,
                ClientHost = m.ClientHost,
                MemberMetadata = stable ? m.MetadataFor(group.ProtocolName!) : Array.Empty<byte>(),
                MemberAssignment = stable ? m.Assignment : Array.Empty<byte>(),
            });
        }
        return described;
    }

    public void DeleteGroups(RequestContext request, DeleteGroupsRequest delete)
    {
        var reply = new PendingReply(request);
        var response = new DeleteGroupsResponse();
        int waiting = 1; // this method's own hold, released at the end
        void Done()
        {
            if (--waiting == 0) reply.Respond(response);
        }
        foreach (var id in delete.GroupsNames)
        {
            var result = new DeleteGroupsResponse.DeletableGroupResult { GroupId = id };
            response.Results.Add(result);
            var error = CheckCoordinator(id, create: false);
            var group = _groups.GetValueOrDefault(id);
            if (error == ErrorCode.None && (group is null || group.State == GroupState.Dead)) error = ErrorCode.GroupIdNotFound;
            if (error == ErrorCode.None && group!.State != GroupState.Empty) error = ErrorCode.NonEmptyGroup;
            if (error != ErrorCode.None)
            {
                result.ErrorCode = error;
                continue;
            }
            var tombstones = new List<(byte[], byte[]?)>();
            foreach (var tp in group!.Offsets.Keys) tombstones.Add((GroupRecords.OffsetKey(id, tp.Topic, tp.Partition), null));
            tombstones.Add((GroupRecords.GroupKey(id), null));
            AddConsumerTombstone(group, tombstones);
            group.Offsets.Clear();
            group.TransitionTo(GroupState.Dead, WallNow);
            foreach (var timer in group.PendingMembers.Values) timer.Cancel();
            group.PendingMembers.Clear();
            waiting++;
            Write(group, tombstones, writeError =>
            {
                result.ErrorCode = CommitError(writeError);
                if (_groups.TryGetValue(id, out var g) && ReferenceEquals(g, group)) _groups.Remove(id);
                _broker.Log.Info("Deleted group {Group}", id);
                Done();
            });
        }
        Done();
    }

    /// <summary>Why one partition of an OffsetCommit or TxnOffsetCommit cannot be committed (None when it can).</summary>
    private ErrorCode CommitEntryError(string topic, int partition, string? metadata)
    {
        if (_broker.FindLog(topic, partition) is null) return ErrorCode.UnknownTopicOrPartition;
        return metadata is { } md && md.Length > Config.OffsetMetadataMaxBytes ? ErrorCode.OffsetMetadataTooLarge : ErrorCode.None;
    }
}
