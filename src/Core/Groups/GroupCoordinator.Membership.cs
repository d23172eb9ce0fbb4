using DetKafka.Core.Abstractions;
using DetKafka.Core.Broker;
using DetKafka.Core.Protocol;
using DetKafka.Core.Protocol.Messages;
using DetKafka.Core.Util;

namespace DetKafka.Core.Groups;

// JoinGroup, SyncGroup, Heartbeat, LeaveGroup and the rebalance they drive (Kafka's classic protocol).
public sealed partial class GroupCoordinator
{
    // ---- JoinGroup ----------------------------------------------------------------------------------------

    public void Join(RequestContext request, JoinGroupRequest join)
    {
        var reply = new PendingReply(request);
        var error = CheckCoordinator(join.GroupId);
        if (error == ErrorCode.None && (join.SessionTimeoutMs < Config.GroupMinSessionTimeoutMs || join.SessionTimeoutMs > Config.GroupMaxSessionTimeoutMs))
            error = ErrorCode.InvalidSessionTimeout;
        if (error != ErrorCode.None)
        {
            reply.Respond(JoinError(request.Version, join.MemberId, error));
            return;
        }
        var protocols = new List<(string Name, byte[] Metadata)>(join.Protocols.Count);
        foreach (var p in join.Protocols) protocols.Add((p.Name, p.Metadata.ToArray())); // no slice of the request survives
        int rebalanceTimeout = request.Version == 0 || join.RebalanceTimeoutMs < 0 ? join.SessionTimeoutMs : join.RebalanceTimeoutMs;
        bool unknown = join.MemberId.Length == 0;

        if (!_groups.TryGetValue(join.GroupId, out var group))
        {
            if (!unknown || _groups.Count >= GroupsMax)
            {
                reply.Respond(JoinError(request.Version, join.MemberId, unknown ? ErrorCode.CoordinatorNotAvailable : ErrorCode.UnknownMemberId));
                return;
            }
            group = GetOrCreate(join.GroupId);
        }
        if (group.State == GroupState.Dead)
        {
            // Being deleted: Kafka answers with a retriable error and the client looks the coordinator up again.
            reply.Respond(JoinError(request.Version, join.MemberId, ErrorCode.CoordinatorNotAvailable));
            return;
        }
        if (ClassicJoinOnConsumerGroup(group) is var mixed && mixed != ErrorCode.None)
        {
            reply.Respond(JoinError(request.Version, join.MemberId, mixed));
            return;
        }
        string? replacing = unknown ? (join.GroupInstanceId is { } i ? group.StaticMembers.GetValueOrDefault(i) : null) : join.MemberId;
        if (!group.SupportsProtocols(join.ProtocolType, protocols, replacing))
        {
            reply.Respond(JoinError(request.Version, join.MemberId, ErrorCode.InconsistentGroupProtocol));
            return;
        }
        var member = new JoinArgs(reply, request.Header.ClientId ?? "", request.Connection.ToString(), join.SessionTimeoutMs,
            rebalanceTimeout, join.ProtocolType, protocols, join.GroupInstanceId);
        if (unknown) JoinUnknownMember(group, member);
        else JoinKnownMember(group, join.MemberId, member);
    }

    private sealed record JoinArgs(PendingReply Reply, string ClientId, string ClientHost, int SessionTimeoutMs, int RebalanceTimeoutMs,
        string ProtocolType, List<(string Name, byte[] Metadata)> Protocols, string? GroupInstanceId)
    {
        public short Version => Reply.Version;
    }

    private void JoinUnknownMember(Group group, JoinArgs args)
    {
        if (group.Members.Count + group.PendingMembers.Count >= Config.GroupMaxSize)
        {
            args.Reply.Respond(JoinError(args.Version, "", ErrorCode.GroupMaxSizeReached));
            return;
        }
        // Kafka's member ids: the client id, a dash and a random UUID (seeded here, so runs repeat).
        string memberId = args.ClientId + "-" + _broker.Random.NextUuid().ToString("D");
        if (args.GroupInstanceId is { } instance)
        {
            if (group.StaticMembers.TryGetValue(instance, out var oldId) && group.Find(oldId) is { } old)
            {
                ReplaceStaticMember(group, old, memberId, args);
                return;
            }
            AddMemberAndRebalance(group, memberId, args);
            return;
        }
        if (args.Version >= 4)
        {
            // KIP-394: hand out the id first; the member joins with it, so a lost response leaves no ghost member.
            var timer = _broker.Timers.Schedule(Now + args.SessionTimeoutMs, () => ExpirePendingMember(group, memberId));
            group.PendingMembers[memberId] = timer;
            args.Reply.Respond(JoinError(args.Version, memberId, ErrorCode.MemberIdRequired));
            return;
        }
        AddMemberAndRebalance(group, memberId, args);
    }

    private void JoinKnownMember(Group group, string memberId, JoinArgs args)
    {
        if (group.PendingMembers.Remove(memberId, out var pendingTimer))
        {
            pendingTimer.Cancel();
            AddMemberAndRebalance(group, memberId, args);
            return;
        }
        if (args.GroupInstanceId is { } instance && group.StaticMembers.TryGetValue(instance, out var current) && current != memberId)
        {
            args.Reply.Respond(JoinError(args.Version, memberId, ErrorCode.FencedInstanceId));
            return;
        }
        var member = group.Find(memberId);
        if (member is null)
        {
            args.Reply.Respond(JoinError(args.Version, memberId, ErrorCode.UnknownMemberId));
            return;
        }
        switch (group.State)
        {
            case GroupState.PreparingRebalance:
                UpdateMemberAndRebalance(group, member, args);
                break;
            case GroupState.CompletingRebalance:
                if (member.SameProtocols(args.Protocols))
                {
                    // A retry of a join whose response was lost: answer with the current generation.
                    args.Reply.Respond(JoinResponse(group, member, args.Version));
                }
                else UpdateMemberAndRebalance(group, member, args);
                break;
            case GroupState.Stable:
                if (group.IsLeader(memberId) || !member.SameProtocols(args.Protocols)) UpdateMemberAndRebalance(group, member, args);
                else args.Reply.Respond(JoinResponse(group, member, args.Version));
                break;
            default: // Empty or Dead with a member: cannot happen, members are removed before either
                args.Reply.Respond(JoinError(args.Version, memberId, ErrorCode.UnknownMemberId));
                break;
        }
    }

    private void AddMemberAndRebalance(Group group, string memberId, JoinArgs args)
    {
        var member = new GroupMember
        {
            MemberId = memberId,
            GroupInstanceId = args.GroupInstanceId,
            ClientId = args.ClientId,
            ClientHost = args.ClientHost,
            SessionTimeoutMs = args.SessionTimeoutMs,
            RebalanceTimeoutMs = args.RebalanceTimeoutMs,
            ProtocolType = args.ProtocolType,
            IsNew = true,
            AwaitingJoin = args.Reply,
        };
        member.Protocols.AddRange(args.Protocols);
        group.Members.Add(member);
        if (args.GroupInstanceId is { } instance) group.StaticMembers[instance] = memberId;
        group.ProtocolType ??= args.ProtocolType;
        group.LeaderId ??= memberId;
        group.NewMemberDuringDelay = true;
        ScheduleSession(group, member);
        MaybePrepareRebalance(group);
    }

    private void UpdateMemberAndRebalance(Group group, GroupMember member, JoinArgs args)
    {
        if (member.AwaitingJoin is { } previous) previous.Respond(JoinError(previous.Version, member.MemberId, ErrorCode.RebalanceInProgress));
        member.Protocols.Clear();
        member.Protocols.AddRange(args.Protocols);
        member.SessionTimeoutMs = args.SessionTimeoutMs;
        member.RebalanceTimeoutMs = args.RebalanceTimeoutMs;
        member.AwaitingJoin = args.Reply;
        ScheduleSession(group, member);
        MaybePrepareRebalance(group);
    }

    /// <summary>A static member came back with a new id (a restart within its session timeout): it takes the
    /// old member's place; a Stable group keeps its generation and assignment (KIP-345), so no rebalance.</summary>
    private void ReplaceStaticMember(Group group, GroupMember old, string newId, JoinArgs args)
    {
        if (old.AwaitingJoin is { } j) j.Respond(JoinError(j.Version, old.MemberId, ErrorCode.FencedInstanceId));
        if (old.AwaitingSync is { } s) s.Respond(SyncError(s.Version, ErrorCode.FencedInstanceId));
        old.AwaitingJoin = null;
        old.AwaitingSync = null;
        string oldId = old.MemberId;
        old.MemberId = newId;
        old.ClientId = args.ClientId;
        old.ClientHost = args.ClientHost;
        group.StaticMembers[args.GroupInstanceId!] = newId;
        if (group.LeaderId == oldId) group.LeaderId = newId;
        _broker.Log.Info("Group {Group}: static member {Instance} rejoined as {Member} (was {Old})", group.Id, args.GroupInstanceId, newId, oldId);
        if (group.State == GroupState.Stable && old.SameProtocols(args.Protocols))
        {
            old.SessionTimeoutMs = args.SessionTimeoutMs;
            old.RebalanceTimeoutMs = args.RebalanceTimeoutMs;
            ScheduleSession(group, old);
            // Kafka (updateStaticMemberAndRebalance) persists the group with the new member id before answering.
            // That write lands in __consumer_offsets after every commit the old instance had in flight, so once
            // the new instance is answered those commits are durable and applied. Answered at once, the new
            // instance could fetch the offset from before the old instance's last commit, start there, and its
            // own commit would take the group's offset backwards when it landed after the old one (sim seed 10969:
            // 97 -> 0, the old commit held behind a rolled segment's slow fsyncs).
            WriteGroupMetadata(group, error => AnswerStaticRejoin(group, old, oldId, newId, args, error));
            return;
        }
        UpdateMemberAndRebalance(group, old, args);
    }

    /// <summary>The end of a static member's rejoin into a Stable group: once the group with its new id is
    /// durable, the join is answered with the current generation and assignment; if the write failed, the old id
    /// is restored (Kafka reverts the replacement) and the error answered; if the instance was replaced again
    /// meanwhile, this join is fenced, and if the member was removed (session or rebalance timeout), unknown.</summary>
    private void AnswerStaticRejoin(Group group, GroupMember member, string oldId, string newId, JoinArgs args, ErrorCode error)
    {
        if (group.StaticMembers.GetValueOrDefault(args.GroupInstanceId!) != newId)
        {
            args.Reply.Respond(JoinError(args.Version, newId, ErrorCode.FencedInstanceId));
            return;
        }
        if (member.MemberId != newId || !ReferenceEquals(group.Find(newId), member))
        {
            args.Reply.Respond(JoinError(args.Version, newId, ErrorCode.UnknownMemberId));
            return;
        }
        error = StoreGroupError(error);
        if (error != ErrorCode.None)
        {
            _broker.Log.Warn("Group {Group}: persisting static member {Instance} as {Member} failed with {Error}; {Old} restored",
                group.Id, args.GroupInstanceId, newId, error, oldId);
            member.MemberId = oldId;
            group.StaticMembers[args.GroupInstanceId!] = oldId;
            if (group.LeaderId == newId) group.LeaderId = oldId;
            args.Reply.Respond(JoinError(args.Version, newId, error));
            return;
        }
        args.Reply.Respond(JoinResponse(group, member, args.Version));
    }

    private void ExpirePendingMember(Group group, string memberId)
    {
        if (!group.PendingMembers.Remove(memberId)) return;
        if (group.State == GroupState.PreparingRebalance) TryCompleteJoin(group);
    }

    // ---- the rebalance ---------------------------------------------------------------------------------------

    private void MaybePrepareRebalance(Group group)
    {
        if (group.State is GroupState.Stable or GroupState.CompletingRebalance or GroupState.Empty) PrepareRebalance(group);
        else if (group.State == GroupState.PreparingRebalance) TryCompleteJoin(group);
    }

    private void PrepareRebalance(Group group)
    {
        if (group.State == GroupState.CompletingRebalance) ResetAndPropagateAssignmentError(group, ErrorCode.RebalanceInProgress);
        bool initial = group.State == GroupState.Empty;
        group.TransitionTo(GroupState.PreparingRebalance, WallNow);
        int rebalanceTimeout = 0;
        foreach (var m in group.Members) rebalanceTimeout = Math.Max(rebalanceTimeout, m.RebalanceTimeoutMs);
        group.JoinTimer?.Cancel();
        if (initial && Config.GroupInitialRebalanceDelayMs > 0)
        {
            // group.initial.rebalance.delay.ms: wait for more members before the first generation, extended
            // while members keep arriving, never past the rebalance timeout.
            group.InitialDelayActive = true;
            group.NewMemberDuringDelay = false;
            group.JoinOverdue = false;
            group.JoinDeadlineMs = Now + Math.Max(rebalanceTimeout, Config.GroupInitialRebalanceDelayMs);
            group.JoinTimer = _broker.Timers.Schedule(Now + Math.Min(Config.GroupInitialRebalanceDelayMs, group.JoinDeadlineMs - Now), () => OnJoinTimer(group));
            return;
        }
        group.InitialDelayActive = false;
        group.JoinOverdue = false;
        group.JoinDeadlineMs = Now + rebalanceTimeout;
        group.JoinTimer = _broker.Timers.Schedule(group.JoinDeadlineMs, () => OnJoinTimer(group));
        _broker.Log.Debug("Group {Group}: preparing rebalance (generation {Generation})", group.Id, group.GenerationId);
        TryCompleteJoin(group);
    }

    private void OnJoinTimer(Group group)
    {
        group.JoinTimer = null;
        if (group.State != GroupState.PreparingRebalance) return;
        if (group.InitialDelayActive && group.NewMemberDuringDelay && Now < group.JoinDeadlineMs)
        {
            group.NewMemberDuringDelay = false;
            group.JoinTimer = _broker.Timers.Schedule(Math.Min(Now + Config.GroupInitialRebalanceDelayMs, group.JoinDeadlineMs), () => OnJoinTimer(group));
            return;
        }
        group.InitialDelayActive = false;
        group.JoinOverdue = true;
        TryCompleteJoin(group);
    }

    internal void TryCompleteJoin(Group group)
    {
        if (group.State != GroupState.PreparingRebalance || group.InitialDelayActive) return;
        if ((Faults & GroupFaults.NeverCompleteRebalance) != 0 && group.GenerationId > 0) return;
        if (group.CommitsInFlight > 0) return; // completed when they land (Commit calls back here)
        if (!group.JoinOverdue)
        {
            if (group.PendingMembers.Count > 0) return;
            foreach (var m in group.Members) if (m.AwaitingJoin is null) return;
        }
        CompleteJoin(group);
    }

    /// <summary>The join phase ends: members that did not rejoin leave, the generation moves on, the protocol
    /// is chosen, and every waiting member gets its JoinGroup answer (the leader with all members' metadata).</summary>
    private void CompleteJoin(Group group)
    {
        group.JoinTimer?.Cancel();
        group.JoinTimer = null;
        group.JoinOverdue = false;
        foreach (var m in group.Members.ToList())
        {
            if (m.AwaitingJoin is not null) continue;
            _broker.Log.Info("Group {Group}: member {Member} did not rejoin in time and is removed", group.Id, m.MemberId);
            RemoveMember(group, m);
        }
        if (group.Members.Count == 0)
        {
            group.GenerationId++;
            group.ProtocolName = null;
            group.LeaderId = null;
            group.TransitionTo(GroupState.Empty, WallNow);
            _broker.Log.Info("Group {Group}: generation {Generation} is empty", group.Id, group.GenerationId);
            WriteGroupMetadata(group, _ => { });
            return;
        }
        if ((Faults & GroupFaults.SkipGenerationBump) == 0 || group.GenerationId == 0) group.GenerationId++;
        group.ProtocolName = group.SelectProtocol();
        if (group.LeaderId is null || !group.Has(group.LeaderId)) group.LeaderId = group.Members[0].MemberId;
        group.TransitionTo(GroupState.CompletingRebalance, WallNow);
        _broker.Log.Info("Group {Group}: generation {Generation} with {Members} members, protocol {Protocol}, leader {Leader}",
            group.Id, group.GenerationId, group.Members.Count, group.ProtocolName, group.LeaderId);
        foreach (var m in group.Members)
        {
            var reply = m.AwaitingJoin!.Value;
            m.AwaitingJoin = null;
            m.IsNew = false;
            m.Assignment = [];
            ScheduleSession(group, m);
            reply.Respond(JoinResponse(group, m, reply.Version));
        }
    }

    private static JoinGroupResponse JoinResponse(Group group, GroupMember member, short version)
    {
        var response = new JoinGroupResponse
        {
            ErrorCode = ErrorCode.None,
            GenerationId = group.GenerationId,
            ProtocolType = group.ProtocolType,
            ProtocolName = group.ProtocolName,
            Leader = group.LeaderId ?? "",
            MemberId = member.MemberId,
        };
        if (group.IsLeader(member.MemberId))
        {
            foreach (var m in group.Members)
                response.Members.Add(new JoinGroupResponse.JoinGroupResponseMember
                {
                    MemberId = m.MemberId,
                    GroupInstanceId = m.GroupInstanceId,
                    Metadata = m.MetadataFor(group.ProtocolName!),
                });
        }
        return response;
    }

    private static JoinGroupResponse JoinError(short version, string memberId, ErrorCode error) => new()
    {
        ErrorCode = error,
        GenerationId = -1,
        ProtocolName = version >= 7 ? null : "",
        Leader = "",
        MemberId = memberId,
    };

    // ---- SyncGroup -------------------------------------------------------------------------------------------

    public void Sync(RequestContext request, SyncGroupRequest sync)
    {
        var reply = new PendingReply(request);
        var error = CheckCoordinator(sync.GroupId);
        if (error != ErrorCode.None)
        {
            reply.Respond(SyncError(request.Version, error));
            return;
        }
        if (!_groups.TryGetValue(sync.GroupId, out var group))
        {
            reply.Respond(SyncError(request.Version, ErrorCode.UnknownMemberId));
            return;
        }
        if (group.State == GroupState.Dead)
        {
            reply.Respond(SyncError(request.Version, ErrorCode.CoordinatorNotAvailable));
            return;
        }
        error = ValidateMember(group, sync.MemberId, sync.GroupInstanceId, sync.GenerationId, out var member);
        if (error == ErrorCode.None && request.Version >= 5 &&
            ((sync.ProtocolType is { } t && t != group.ProtocolType) || (sync.ProtocolName is { } n && n != group.ProtocolName)))
            error = ErrorCode.InconsistentGroupProtocol;
        if (error != ErrorCode.None)
        {
            reply.Respond(SyncError(request.Version, error));
            return;
        }
        switch (group.State)
        {
            case GroupState.PreparingRebalance:
                reply.Respond(SyncError(request.Version, ErrorCode.RebalanceInProgress));
                return;
            case GroupState.Stable:
                ScheduleSession(group, member!);
                reply.Respond(SyncResponse(group, member!, request.Version));
                return;
            case GroupState.CompletingRebalance:
                if (member!.AwaitingSync is { } previous) previous.Respond(SyncError(previous.Version, ErrorCode.RebalanceInProgress));
                member.AwaitingSync = reply;
                ScheduleSession(group, member);
                if (group.IsLeader(member.MemberId) && !group.SyncWritePending) StoreAssignment(group, sync);
                return;
            default:
                reply.Respond(SyncError(request.Version, ErrorCode.UnknownMemberId));
                return;
        }
    }

    /// <summary>The leader's assignment: written with the generation's metadata; the members waiting in
    /// SyncGroup get theirs once it is durable (or the error, and the group rebalances).</summary>
    private void StoreAssignment(Group group, SyncGroupRequest sync)
    {
        foreach (var m in group.Members) m.Assignment = [];
        foreach (var a in sync.Assignments)
            if (group.Find(a.MemberId) is { } target) target.Assignment = a.Assignment.ToArray();
        int generation = group.GenerationId;
        group.SyncWritePending = true;
        WriteGroupMetadata(group, error =>
        {
            group.SyncWritePending = false;
            if (group.State != GroupState.CompletingRebalance || group.GenerationId != generation) return;
            error = StoreGroupError(error);
            if (error != ErrorCode.None)
            {
                _broker.Log.Warn("Group {Group}: storing generation {Generation} failed with {Error}", group.Id, generation, error);
                ResetAndPropagateAssignmentError(group, error);
                PrepareRebalance(group);
                return;
            }
            group.TransitionTo(GroupState.Stable, WallNow);
            foreach (var m in group.Members)
            {
                if (m.AwaitingSync is not { } waiting) continue;
                m.AwaitingSync = null;
                ScheduleSession(group, m);
                waiting.Respond(SyncResponse(group, m, waiting.Version));
            }
        });
    }

    private static void ResetAndPropagateAssignmentError(Group group, ErrorCode error)
    {
        foreach (var m in group.Members)
        {
            m.Assignment = [];
            if (m.AwaitingSync is not { } waiting) continue;
            m.AwaitingSync = null;
            waiting.Respond(SyncError(waiting.Version, error));
        }
    }

    private static SyncGroupResponse SyncResponse(Group group, GroupMember member, short version) => new()
    {
        ErrorCode = ErrorCode.None,
        ProtocolType = group.ProtocolType,
        ProtocolName = group.ProtocolName,
        Assignment = member.Assignment,
    };

    private static SyncGroupResponse SyncError(short version, ErrorCode error) => new() { ErrorCode = error, Assignment = Array.Empty<byte>() };

    /// <summary>The checks every in-group request makes (Kafka's validateCurrentMember).</summary>
    private static ErrorCode ValidateMember(Group group, string memberId, string? instanceId, int generation, out GroupMember? member)
    {
        member = null;
        if (instanceId is not null && group.StaticMembers.TryGetValue(instanceId, out var current) && current != memberId)
            return ErrorCode.FencedInstanceId;
        member = group.Find(memberId);
        if (member is null) return ErrorCode.UnknownMemberId;
        if (generation != group.GenerationId) return ErrorCode.IllegalGeneration;
        return ErrorCode.None;
    }

    // ---- Heartbeat ---------------------------------------------------------------------------------------

    public ErrorCode Heartbeat(HeartbeatRequest heartbeat)
    {
        var error = CheckCoordinator(heartbeat.GroupId, create: false);
        if (error != ErrorCode.None) return error;
        if (!_groups.TryGetValue(heartbeat.GroupId, out var group)) return ErrorCode.UnknownMemberId;
        if (group.State == GroupState.Dead) return ErrorCode.CoordinatorNotAvailable;
        error = ValidateMember(group, heartbeat.MemberId, heartbeat.GroupInstanceId, heartbeat.GenerationId, out var member);
        if (error != ErrorCode.None) return error;
        switch (group.State)
        {
            case GroupState.Empty:
                return ErrorCode.UnknownMemberId;
            case GroupState.PreparingRebalance:
                ScheduleSession(group, member!);
                return ErrorCode.RebalanceInProgress;
            default:
                ScheduleSession(group, member!);
                return ErrorCode.None;
        }
    }

    // ---- LeaveGroup ---------------------------------------------------------------------------------------

    public LeaveGroupResponse Leave(short version, LeaveGroupRequest leave)
    {
        var response = new LeaveGroupResponse();
        var leaving = version >= 3
            ? leave.Members.Select(m => (m.MemberId, m.GroupInstanceId)).ToList()
            : [(leave.MemberId, (string?)null)];
        var error = CheckCoordinator(leave.GroupId, create: false);
        if (error == ErrorCode.None && !_groups.ContainsKey(leave.GroupId)) error = version >= 3 ? ErrorCode.None : ErrorCode.UnknownMemberId;
        if (error == ErrorCode.None && _groups.TryGetValue(leave.GroupId, out var g) && g.State == GroupState.Dead) error = ErrorCode.CoordinatorNotAvailable;
        if (error != ErrorCode.None)
        {
            response.ErrorCode = error;
            return response;
        }
        var group = _groups.GetValueOrDefault(leave.GroupId);
        foreach (var (memberId, instanceId) in leaving)
        {
            var memberError = group is null ? ErrorCode.UnknownMemberId : LeaveOne(group, memberId, instanceId);
            if (version >= 3)
                response.Members.Add(new LeaveGroupResponse.MemberResponse { MemberId = memberId, GroupInstanceId = instanceId, ErrorCode = memberError });
            else response.ErrorCode = memberError;
        }
        return response;
    }

    private ErrorCode LeaveOne(Group group, string memberId, string? instanceId)
    {
        if (instanceId is not null)
        {
            if (!group.StaticMembers.TryGetValue(instanceId, out var current)) return ErrorCode.UnknownMemberId;
            if (memberId.Length > 0 && memberId != current) return ErrorCode.FencedInstanceId;
            memberId = current;
        }
        if (group.PendingMembers.Remove(memberId, out var timer))
        {
            timer.Cancel();
            if (group.State == GroupState.PreparingRebalance) TryCompleteJoin(group);
            return ErrorCode.None;
        }
        var member = group.Find(memberId);
        if (member is null) return ErrorCode.UnknownMemberId;
        _broker.Log.Info("Group {Group}: member {Member} left", group.Id, memberId);
        RemoveMemberAndUpdateGroup(group, member);
        return ErrorCode.None;
    }

    // ---- sessions --------------------------------------------------------------------------------------------

    /// <summary>(Re)arms the member's session: it is removed if nothing is heard from it for session.timeout.ms,
    /// unless it is waiting in a JoinGroup or SyncGroup (Kafka's shouldKeepAlive).</summary>
    private void ScheduleSession(Group group, GroupMember member)
    {
        member.SessionTimer?.Cancel();
        member.SessionTimer = _broker.Timers.Schedule(Now + member.SessionTimeoutMs, () => OnSessionExpired(group, member));
    }

    private void OnSessionExpired(Group group, GroupMember member)
    {
        member.SessionTimer = null;
        if (!ReferenceEquals(group.Find(member.MemberId), member)) return;
        if (member.AwaitingJoin is not null || member.AwaitingSync is not null)
        {
            ScheduleSession(group, member);
            return;
        }
        _broker.Log.Info("Group {Group}: member {Member} timed out after {Session} ms", group.Id, member.MemberId, member.SessionTimeoutMs);
        RemoveMemberAndUpdateGroup(group, member);
    }

    private void RemoveMember(Group group, GroupMember member)
    {
        if (member.AwaitingJoin is { } j) j.Respond(JoinError(j.Version, member.MemberId, ErrorCode.UnknownMemberId));
        if (member.AwaitingSync is { } s) s.Respond(SyncError(s.Version, ErrorCode.UnknownMemberId));
        member.AwaitingJoin = null;
        member.AwaitingSync = null;
        member.SessionTimer?.Cancel();
        member.SessionTimer = null;
        group.Members.Remove(member);
        if (member.GroupInstanceId is { } instance && group.StaticMembers.GetValueOrDefault(instance) == member.MemberId)
            group.StaticMembers.Remove(instance);
        if (group.LeaderId == member.MemberId) group.LeaderId = group.Members.Count > 0 ? group.Members[0].MemberId : null;
    }

    private void RemoveMemberAndUpdateGroup(Group group, GroupMember member)
    {
        RemoveMember(group, member);
        switch (group.State)
        {
            case GroupState.Stable or GroupState.CompletingRebalance:
                PrepareRebalance(group);
                break;
            case GroupState.PreparingRebalance:
                TryCompleteJoin(group);
                break;
        }
    }
}
