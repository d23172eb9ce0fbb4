using System.Buffers.Binary;
using System.Globalization;
using System.Text;
using DetKafka.Core.Abstractions;
using DetKafka.Core.Protocol;
using DetKafka.Core.Protocol.Messages;
using DetKafka.Core.Records;

namespace DetKafka.Sim.Reach;

/// <summary>
/// The admin process's hand-framed requests (SIMULATION.md, "Raw requests and malformed input"), over
/// <see cref="RawConnections"/>: ApiVersions at every version (and above the served range), a classic group member's
/// life (JoinGroup, SyncGroup, Heartbeat, LeaveGroup, then DescribeGroups), a KIP-848 member's life
/// (ConsumerGroupHeartbeat join, heartbeat, ConsumerGroupDescribe, leave, describe), a transaction (InitProducerId
/// with a transactional id, AddPartitionsToTxn, a transactional Produce, AddOffsetsToTxn, TxnOffsetCommit, EndTxn,
/// DescribeTransactions, ListTransactions) and malformed input. Every version is drawn from the broker's advertised
/// range; every answer is judged.
/// </summary>
public sealed partial class AdminWorkload
{
    /// <summary>How long a raw connection may wait for its oldest answer before the admin process gives up on it
    /// (a JoinGroup waits out group.initial.rebalance.delay.ms).</summary>
    private const long RawTimeoutMs = 20_000;

    private const string TxnTopic = "adm-txn";

    private bool _classicBusy, _consumerBusy, _txnBusy;
    private int _nextRawName;
    private List<(ApiKey Key, short Min, short Max)>? _advertised;

    private RawConnections? Raw => _host?.Raw;

    private string RawName(string prefix) => prefix + (_nextRawName++).ToString(CultureInfo.InvariantCulture);

    private short? DrawVersion(int node, ApiKey key)
    {
        if (_host?.Client?.BrokerApiVersions(node) is not { } broker || !broker.TryGetValue(key, out var range)) return null;
        return (short)_random.NextInt(range.Min, range.Max + 1);
    }

    private string? RawOperation(int node)
    {
        if (Raw is not { } raw) return null;
        raw.Expire(RawTimeoutMs);
        double r = _random.NextDouble();
        if (r < 0.12) return RawApiVersions(raw);
        if (r < 0.24 && !_classicBusy) return ClassicMember(raw, node);
        if (r < 0.36 && !_consumerBusy) return ConsumerGroupMember(raw, node);
        if (r < 0.52 && !_txnBusy) return Transaction(raw, node);
        if (r < 0.68) return RawVersions(raw, node);
        if (r < 0.80) return Refusal(raw, node);
        return Malformed(raw, node);
    }

    /// <summary>Judges the framing of every raw answer: an undecodable answer or one under another correlation id
    /// is always wrong. Returns the body when answered.</summary>
    private IKafkaMessage? Judge(RawOutcome o, string what)
    {
        if (o.Status is RawStatus.Undecodable or RawStatus.WrongCorrelation)
            Model.Violation("model-raw-framing", $"{what}: {o.Status} ({o.Detail})");
        return o.Status == RawStatus.Answered ? o.Body : null;
    }

    // ---- ApiVersions at every version -----------------------------------------------------------------------

    private string? RawApiVersions(RawConnections raw)
    {
        if (raw.Open() is not { } id) return null;
        // One version above the served range now and then: the broker answers UNSUPPORTED_VERSION at v0 with its
        // table, so the client can fall back (KIP-511).
        short version = (short)_random.NextInt(0, 6);
        bool supported = version <= 3;
        var request = new ApiVersionsRequest { ClientSoftwareName = "detkafka-sim", ClientSoftwareVersion = "1" };
        // An unsupported version's body cannot be encoded at that version: send v3's body under the higher header.
        byte[] frame = ClientCodec.EncodeRequest(ApiKey.ApiVersions, supported ? version : (short)3, 0, "adm-raw", request);
        int correlation = raw.NextCorrelationId();
        BinaryPrimitives.WriteInt16BigEndian(frame.AsSpan(6), version);
        BinaryPrimitives.WriteInt32BigEndian(frame.AsSpan(8), correlation);
        raw.SendBytes(id, frame, correlation, ApiKey.ApiVersions, supported ? version : (short)0, o =>
        {
            raw.Close(id);
            if (Judge(o, $"ApiVersions v{version}") is not ApiVersionsResponse body) return;
            Model.Count("ApiVersions");
            var expected = supported ? ErrorCode.None : ErrorCode.UnsupportedVersion;
            var table = body.ApiKeys.Select(k => (k.ApiKey, k.MinVersion, k.MaxVersion)).ToList();
            string? wrong = null;
            if (body.ErrorCode != expected) wrong = $"error {body.ErrorCode}, expected {expected}";
            else if (!table.Any(k => k.ApiKey == ApiKey.ApiVersions && k.MinVersion == 0 && k.MaxVersion == 3)) wrong = "no ApiVersions 0-3 entry";
            else if (table.Any(k => k.MinVersion > k.MaxVersion)) wrong = "an entry with min above max";
            else if (table.Select(k => k.ApiKey).Distinct().Count() != table.Count) wrong = "an API listed twice";
            else if (_advertised is not null && !table.SequenceEqual(_advertised)) wrong = "a table other than the one it advertised before";
            if (wrong is not null) Model.Violation("model-api-versions", $"ApiVersions v{version} answered {wrong}");
            _advertised ??= table;
        });
        return $"raw api-versions v{version}";
    }

    // ---- a classic group member ------------------------------------------------------------------------------

    private static bool IsGroupTransient(ErrorCode e)
        => IsCoordinatorError(e) || IsAmbiguousError(e) || e is ErrorCode.RebalanceInProgress or ErrorCode.UnknownMemberId or ErrorCode.IllegalGeneration;

    /// <summary>Joins a group of its own (one member), syncs, heartbeats, leaves, then describes the group: after a
    /// successful LeaveGroup the member must be gone (model-leave-group).</summary>
    private string? ClassicMember(RawConnections raw, int node)
    {
        if (raw.Open(_ => _classicBusy = false) is not { } id) return null;
        _classicBusy = true;
        string group = RawName("adm-cls-");
        short joinV = DrawVersion(node, ApiKey.JoinGroup) ?? 0;
        void Fail(string violation, string why) { Model.Violation(violation, why); raw.Close(id); }
        void Join(string memberId)
        {
            var join = new JoinGroupRequest
            {
                GroupId = group, SessionTimeoutMs = 30_000, RebalanceTimeoutMs = 5_000, MemberId = memberId, ProtocolType = "consumer",
                Protocols = [new JoinGroupRequest.JoinGroupRequestProtocol { Name = "range", Metadata = new byte[] { 0, 0, 0, 0, 0, 0 } }],
            };
            raw.Request(id, ApiKey.JoinGroup, joinV, join, o =>
            {
                if (Judge(o, $"JoinGroup v{joinV}") is not JoinGroupResponse r) return;
                Model.Count("JoinGroup");
                if (r.ErrorCode == ErrorCode.MemberIdRequired && memberId.Length == 0 && joinV >= 4 && r.MemberId.Length > 0) { Join(r.MemberId); return; }
                if (IsGroupTransient(r.ErrorCode)) { raw.Close(id); return; }
                if (r.ErrorCode != ErrorCode.None || r.GenerationId < 1 || r.MemberId.Length == 0 || r.Leader != r.MemberId)
                {
                    Fail("model-join-group", $"JoinGroup v{joinV} of {group} (the only member) answered {r.ErrorCode} generation {r.GenerationId} leader '{r.Leader}' member '{r.MemberId}'");
                    return;
                }
                Sync(r.MemberId, r.GenerationId);
            });
        }
        void Sync(string memberId, int generation)
        {
            short v = DrawVersion(node, ApiKey.SyncGroup) ?? 0;
            var sync = new SyncGroupRequest
            {
                GroupId = group, GenerationId = generation, MemberId = memberId, ProtocolType = "consumer", ProtocolName = "range",
                Assignments = [new SyncGroupRequest.SyncGroupRequestAssignment { MemberId = memberId, Assignment = new byte[] { 0, 1, 2 } }],
            };
            raw.Request(id, ApiKey.SyncGroup, v, sync, o =>
            {
                if (Judge(o, $"SyncGroup v{v}") is not SyncGroupResponse r) return;
                Model.Count("SyncGroup");
                if (IsGroupTransient(r.ErrorCode)) { raw.Close(id); return; }
                if (r.ErrorCode != ErrorCode.None || !r.Assignment.Span.SequenceEqual(new byte[] { 0, 1, 2 }))
                {
                    Fail("model-sync-group", $"SyncGroup v{v} of {group} answered {r.ErrorCode} with a {r.Assignment.Length}-byte assignment; the leader assigned 3 bytes");
                    return;
                }
                Heartbeat(memberId, generation, _random.NextInt(0, 3));
            });
        }
        void Heartbeat(string memberId, int generation, int left)
        {
            if (left == 0) { Leave(memberId); return; }
            short v = DrawVersion(node, ApiKey.Heartbeat) ?? 0;
            raw.Request(id, ApiKey.Heartbeat, v, new HeartbeatRequest { GroupId = group, GenerationId = generation, MemberId = memberId }, o =>
            {
                if (Judge(o, $"Heartbeat v{v}") is not HeartbeatResponse r) return;
                Model.Count("Heartbeat");
                if (IsGroupTransient(r.ErrorCode)) { raw.Close(id); return; }
                if (r.ErrorCode != ErrorCode.None) { Fail("model-heartbeat", $"Heartbeat v{v} of {group} answered {r.ErrorCode} to its stable member"); return; }
                Heartbeat(memberId, generation, left - 1);
            });
        }
        void Leave(string memberId)
        {
            short v = DrawVersion(node, ApiKey.LeaveGroup) ?? 0;
            var leave = new LeaveGroupRequest { GroupId = group, MemberId = memberId };
            if (v >= 3) leave.Members = [new LeaveGroupRequest.MemberIdentity { MemberId = memberId, Reason = "sim" }];
            raw.Request(id, ApiKey.LeaveGroup, v, leave, o =>
            {
                if (Judge(o, $"LeaveGroup v{v}") is not LeaveGroupResponse r) return;
                Model.Count("LeaveGroup");
                var error = r.ErrorCode != ErrorCode.None ? r.ErrorCode : v >= 3 ? r.Members.FirstOrDefault()?.ErrorCode ?? ErrorCode.UnknownServerError : ErrorCode.None;
                if (IsGroupTransient(error)) { raw.Close(id); return; }
                if (error != ErrorCode.None || v >= 3 && r.Members.FirstOrDefault()?.MemberId != memberId)
                {
                    Fail("model-leave-group", $"LeaveGroup v{v} of {group} answered {error} for its only member");
                    return;
                }
                DescribeAfterLeave(memberId);
            });
        }
        void DescribeAfterLeave(string memberId)
        {
            short v = DrawVersion(node, ApiKey.DescribeGroups) ?? 0;
            raw.Request(id, ApiKey.DescribeGroups, v, new DescribeGroupsRequest { Groups = [group] }, o =>
            {
                raw.Close(id);
                if (Judge(o, $"DescribeGroups v{v}") is not DescribeGroupsResponse r) return;
                var d = r.Groups.FirstOrDefault();
                if (d is not null && (IsCoordinatorError(d.ErrorCode) || IsAmbiguousError(d.ErrorCode))) return;
                Model.Count("DescribeGroups");
                if (d is null || d.ErrorCode != ErrorCode.None || d.Members.Any(m => m.MemberId == memberId) || d.GroupState is not ("Empty" or "Dead"))
                    Model.Violation("model-leave-group", $"DescribeGroups v{v} of {group} after its only member left answered {d?.ErrorCode} state {d?.GroupState} members [{string.Join(",", d?.Members.Select(m => m.MemberId) ?? [])}]");
            });
        }
        Join("");
        return "raw classic-member " + group;
    }

    // ---- a KIP-848 consumer group member --------------------------------------------------------------------------

    /// <summary>Joins a consumer group of its own over the queue topic, heartbeats, describes the group (the member
    /// must be listed at its epoch), leaves (epoch -1) and describes again (the member must be gone).</summary>
    private string? ConsumerGroupMember(RawConnections raw, int node)
    {
        if (DrawVersion(node, ApiKey.ConsumerGroupHeartbeat) is null || raw.Open(_ => _consumerBusy = false) is not { } id) return null;
        _consumerBusy = true;
        string group = RawName("adm-cg-");
        string topic = _world.Options.Workload.Topic;
        void Fail(string violation, string why) { Model.Violation(violation, why); raw.Close(id); }
        bool Transient(ErrorCode e) => IsCoordinatorError(e) || IsAmbiguousError(e) || e is ErrorCode.UnknownMemberId or ErrorCode.FencedMemberEpoch;
        void Heartbeat(string memberId, int epoch, int left)
        {
            short v = DrawVersion(node, ApiKey.ConsumerGroupHeartbeat) ?? 0;
            var hb = new ConsumerGroupHeartbeatRequest { GroupId = group, MemberId = memberId, MemberEpoch = epoch };
            if (epoch == 0)
            {
                hb.RebalanceTimeoutMs = 5_000;
                hb.SubscribedTopicNames = [topic];
                hb.TopicPartitions = [];
            }
            raw.Request(id, ApiKey.ConsumerGroupHeartbeat, v, hb, o =>
            {
                if (Judge(o, $"ConsumerGroupHeartbeat v{v}") is not ConsumerGroupHeartbeatResponse r) return;
                Model.Count("ConsumerGroupHeartbeat");
                if (Transient(r.ErrorCode)) { raw.Close(id); return; }
                if (epoch == -1)
                {
                    if (r.ErrorCode != ErrorCode.None || r.MemberEpoch != -1)
                        Fail("model-consumer-group-heartbeat", $"ConsumerGroupHeartbeat v{v} leave of {group} answered {r.ErrorCode} epoch {r.MemberEpoch}");
                    else Describe(memberId, null);
                    return;
                }
                string member = r.MemberId ?? memberId;
                if (r.ErrorCode != ErrorCode.None || member.Length == 0 || r.MemberEpoch < Math.Max(1, epoch) || memberId.Length > 0 && member != memberId)
                {
                    Fail("model-consumer-group-heartbeat", $"ConsumerGroupHeartbeat v{v} of {group} at epoch {epoch} answered {r.ErrorCode} member '{member}' epoch {r.MemberEpoch}");
                    return;
                }
                if (left > 0) Heartbeat(member, r.MemberEpoch, left - 1);
                else Describe(member, r.MemberEpoch);
            });
        }
        void Describe(string memberId, int? epoch)
        {
            short v = DrawVersion(node, ApiKey.ConsumerGroupDescribe) ?? 0;
            raw.Request(id, ApiKey.ConsumerGroupDescribe, v, new ConsumerGroupDescribeRequest { GroupIds = [group] }, o =>
            {
                if (Judge(o, $"ConsumerGroupDescribe v{v}") is not ConsumerGroupDescribeResponse r) return;
                var d = r.Groups.FirstOrDefault();
                if (d is not null && (IsCoordinatorError(d.ErrorCode) || IsAmbiguousError(d.ErrorCode))) { raw.Close(id); return; }
                Model.Count("ConsumerGroupDescribe");
                var listed = d?.Members.FirstOrDefault(m => m.MemberId == memberId);
                if (epoch is { } e)
                {
                    // Joined and not left: listed, at an epoch no older than the last one answered.
                    if (d is null || d.ErrorCode != ErrorCode.None || listed is null || listed.MemberEpoch < e)
                    {
                        Fail("model-consumer-group-describe", $"ConsumerGroupDescribe v{v} of {group} answered {d?.ErrorCode} without member {memberId} at epoch {e} or later");
                        return;
                    }
                    Heartbeat(memberId, -1, 0);
                    return;
                }
                raw.Close(id);
                if (d is null || d.ErrorCode is not (ErrorCode.None or ErrorCode.GroupIdNotFound) || listed is not null)
                    Model.Violation("model-consumer-group-leave", $"ConsumerGroupDescribe v{v} of {group} after its member left answered {d?.ErrorCode} state {d?.GroupState} with member {memberId} {(listed is null ? "gone" : "still listed")}");
            });
        }
        Heartbeat("", 0, _random.NextInt(0, 3));
        return "raw consumer-group-member " + group;
    }

    // ---- a transaction ---------------------------------------------------------------------------------------

    private bool IsTxnTransient(ErrorCode e)
        => IsCoordinatorError(e) || IsAmbiguousError(e) || e is ErrorCode.ConcurrentTransactions or ErrorCode.ProducerFenced
            or ErrorCode.InvalidProducerEpoch or ErrorCode.NotLeaderOrFollower or ErrorCode.UnknownTopicOrPartition;

    /// <summary>One transaction of a transactional id of its own on the admin transaction topic, committed or aborted,
    /// then described and listed: DescribeTransactions must show the decision (model-describe-transactions) and
    /// ListTransactions the id (model-list-transactions). Any step's unexpected error is model-transaction.</summary>
    private string? Transaction(RawConnections raw, int node)
    {
        if (DrawVersion(node, ApiKey.EndTxn) is null || raw.Open(_ => _txnBusy = false) is not { } id) return null;
        _txnBusy = true;
        string txnId = RawName("adm-tx-");
        string group = "adm-txg";
        bool commit = _random.NextBool(0.6);
        void Fail(string violation, string why) { Model.Violation(violation, why); raw.Close(id); }
        bool Step(RawOutcome o, string api, short v, out IKafkaMessage? body)
        {
            body = Judge(o, $"{api} v{v} of {txnId}");
            if (body is not null) Model.Count(api);
            return body is not null;
        }
        // The topic: created once; TOPIC_ALREADY_EXISTS afterwards.
        short createV = DrawVersion(node, ApiKey.CreateTopics) ?? 0;
        var create = new CreateTopicsRequest { TimeoutMs = 5_000 };
        create.Topics.Add(new CreateTopicsRequest.CreatableTopic { Name = TxnTopic, NumPartitions = 1, ReplicationFactor = -1 });
        raw.Request(id, ApiKey.CreateTopics, createV, create, o =>
        {
            if (!Step(o, "CreateTopics", createV, out var b)) return;
            var e = ((CreateTopicsResponse)b!).Topics.FirstOrDefault()?.ErrorCode ?? ErrorCode.UnknownServerError;
            if (e is ErrorCode.None or ErrorCode.TopicAlreadyExists) Init();
            else if (IsAmbiguousError(e)) raw.Close(id);
            else Fail("model-create-topics", $"CreateTopics v{createV} of {TxnTopic} answered {e}");
        });
        void Init()
        {
            short v = DrawVersion(node, ApiKey.InitProducerId) ?? 0;
            raw.Request(id, ApiKey.InitProducerId, v, new InitProducerIdRequest { TransactionalId = txnId, TransactionTimeoutMs = 60_000 }, o =>
            {
                if (!Step(o, "InitProducerId", v, out var b)) return;
                var r = (InitProducerIdResponse)b!;
                if (IsTxnTransient(r.ErrorCode)) { raw.Close(id); return; }
                if (r.ErrorCode != ErrorCode.None || r.ProducerId < 0 || r.ProducerEpoch != 0)
                {
                    Fail("model-transaction", $"InitProducerId v{v} of the new transactional id {txnId} answered {r.ErrorCode} producer {r.ProducerId} epoch {r.ProducerEpoch}");
                    return;
                }
                Model.CheckProducerId(r.ProducerId, r.ProducerEpoch);
                AddPartitions(r.ProducerId, r.ProducerEpoch);
            });
        }
        void AddPartitions(long pid, short epoch)
        {
            short v = DrawVersion(node, ApiKey.AddPartitionsToTxn) ?? 0;
            var add = new AddPartitionsToTxnRequest { TransactionalId = txnId, ProducerId = pid, ProducerEpoch = epoch, Topics = [new AddPartitionsToTxnRequest.AddPartitionsToTxnTopic { Name = TxnTopic, Partitions = [0] }] };
            raw.Request(id, ApiKey.AddPartitionsToTxn, v, add, o =>
            {
                if (!Step(o, "AddPartitionsToTxn", v, out var b)) return;
                var e = ((AddPartitionsToTxnResponse)b!).Results.FirstOrDefault()?.Results.FirstOrDefault()?.ErrorCode ?? ErrorCode.UnknownServerError;
                if (IsTxnTransient(e)) { raw.Close(id); return; }
                if (e != ErrorCode.None) { Fail("model-transaction", $"AddPartitionsToTxn v{v} of {txnId} answered {e}"); return; }
                Produce(pid, epoch);
            });
        }
        void Produce(long pid, short epoch)
        {
            short v = DrawVersion(node, ApiKey.Produce) ?? 3;
            long ts = _host!.Clock.WallClockMs;
            var batch = RecordBatchBuilder.Build([new SimpleRecord(Encoding.UTF8.GetBytes(txnId), Encoding.UTF8.GetBytes(commit ? "commit" : "abort"), ts)],
                producerId: pid, producerEpoch: epoch, baseSequence: 0, isTransactional: true);
            var produce = new ProduceRequest { Acks = -1, TimeoutMs = 5_000, TransactionalId = txnId };
            produce.TopicData.Add(new ProduceRequest.TopicProduceData { Name = TxnTopic });
            produce.TopicData[0].PartitionData.Add(new ProduceRequest.PartitionProduceData { Index = 0, Records = batch });
            raw.Request(id, ApiKey.Produce, Math.Max(v, (short)3), produce, o =>
            {
                if (!Step(o, "Produce", v, out var b)) return;
                var e = ((ProduceResponse)b!).Responses.FirstOrDefault()?.PartitionResponses.FirstOrDefault()?.ErrorCode ?? ErrorCode.UnknownServerError;
                if (IsTxnTransient(e)) { raw.Close(id); return; }
                if (e != ErrorCode.None) { Fail("model-transaction", $"a transactional Produce v{v} of {txnId} answered {e}"); return; }
                AddOffsets(pid, epoch);
            });
        }
        void AddOffsets(long pid, short epoch)
        {
            short v = DrawVersion(node, ApiKey.AddOffsetsToTxn) ?? 0;
            raw.Request(id, ApiKey.AddOffsetsToTxn, v, new AddOffsetsToTxnRequest { TransactionalId = txnId, ProducerId = pid, ProducerEpoch = epoch, GroupId = group }, o =>
            {
                if (!Step(o, "AddOffsetsToTxn", v, out var b)) return;
                var e = ((AddOffsetsToTxnResponse)b!).ErrorCode;
                if (IsTxnTransient(e)) { raw.Close(id); return; }
                if (e != ErrorCode.None) { Fail("model-transaction", $"AddOffsetsToTxn v{v} of {txnId} answered {e}"); return; }
                CommitOffsets(pid, epoch);
            });
        }
        void CommitOffsets(long pid, short epoch)
        {
            short v = DrawVersion(node, ApiKey.TxnOffsetCommit) ?? 0;
            var commitOffsets = new TxnOffsetCommitRequest
            {
                TransactionalId = txnId, GroupId = group, ProducerId = pid, ProducerEpoch = epoch,
                Topics = [new TxnOffsetCommitRequest.TxnOffsetCommitRequestTopic { Name = TxnTopic, Partitions = [new TxnOffsetCommitRequest.TxnOffsetCommitRequestPartition { PartitionIndex = 0, CommittedOffset = _random.NextInt(0, 1000) }] }],
            };
            raw.Request(id, ApiKey.TxnOffsetCommit, v, commitOffsets, o =>
            {
                if (!Step(o, "TxnOffsetCommit", v, out var b)) return;
                var e = ((TxnOffsetCommitResponse)b!).Topics.FirstOrDefault()?.Partitions.FirstOrDefault()?.ErrorCode ?? ErrorCode.UnknownServerError;
                if (IsTxnTransient(e) || e is ErrorCode.UnknownMemberId or ErrorCode.IllegalGeneration) { raw.Close(id); return; }
                if (e != ErrorCode.None) { Fail("model-transaction", $"TxnOffsetCommit v{v} of {txnId} answered {e}"); return; }
                End(pid, epoch);
            });
        }
        void End(long pid, short epoch)
        {
            short v = DrawVersion(node, ApiKey.EndTxn) ?? 0;
            raw.Request(id, ApiKey.EndTxn, v, new EndTxnRequest { TransactionalId = txnId, ProducerId = pid, ProducerEpoch = epoch, Committed = commit }, o =>
            {
                if (!Step(o, "EndTxn", v, out var b)) return;
                var e = ((EndTxnResponse)b!).ErrorCode;
                if (IsTxnTransient(e)) { raw.Close(id); return; }
                if (e != ErrorCode.None) { Fail("model-transaction", $"EndTxn v{v} ({(commit ? "commit" : "abort")}) of {txnId} answered {e}"); return; }
                Describe(pid);
            });
        }
        void Describe(long pid)
        {
            short v = DrawVersion(node, ApiKey.DescribeTransactions) ?? 0;
            raw.Request(id, ApiKey.DescribeTransactions, v, new DescribeTransactionsRequest { TransactionalIds = [txnId] }, o =>
            {
                if (!Step(o, "DescribeTransactions", v, out var b)) return;
                var s = ((DescribeTransactionsResponse)b!).TransactionStates.FirstOrDefault();
                if (s is not null && IsTxnTransient(s.ErrorCode)) { raw.Close(id); return; }
                string[] decided = commit ? ["PrepareCommit", "CompleteCommit"] : ["PrepareAbort", "CompleteAbort"];
                if (s is null || s.ErrorCode != ErrorCode.None || s.ProducerId != pid || !decided.Contains(s.State))
                {
                    Fail("model-describe-transactions", $"DescribeTransactions v{v} of {txnId} after EndTxn ({(commit ? "commit" : "abort")}) answered {s?.ErrorCode} state {s?.State} producer {s?.ProducerId} (ours {pid})");
                    return;
                }
                List(pid);
            });
        }
        void List(long pid)
        {
            short v = DrawVersion(node, ApiKey.ListTransactions) ?? 0;
            var list = new ListTransactionsRequest { ProducerIdFilters = _random.NextBool(0.5) ? [pid] : [] };
            raw.Request(id, ApiKey.ListTransactions, v, list, o =>
            {
                if (!Step(o, "ListTransactions", v, out var b)) return;
                Markers(pid);
                var r = (ListTransactionsResponse)b!;
                if (IsCoordinatorError(r.ErrorCode) || IsAmbiguousError(r.ErrorCode)) return;
                var listed = r.TransactionStates.FirstOrDefault(x => x.TransactionalId == txnId);
                if (r.ErrorCode != ErrorCode.None || listed is null || listed.ProducerId != pid
                    || list.ProducerIdFilters.Count > 0 && r.TransactionStates.Any(x => x.ProducerId != pid))
                    Model.Violation("model-list-transactions", $"ListTransactions v{v} (producer filter [{string.Join(",", list.ProducerIdFilters)}]) answered {r.ErrorCode} and {(listed is null ? "did not list" : "listed")} {txnId} (producer {listed?.ProducerId}, ours {pid})");
            });
        }
        // The coordinator's marker request, re-sent for the ended transaction as a coordinator retrying after a lost
        // answer would (inter-broker in Kafka; one node writes its markers locally, so only this reaches the handler).
        // The answer must name our producer and partition; its error is not judged beyond that.
        void Markers(long pid)
        {
            if (DrawVersion(node, ApiKey.WriteTxnMarkers) is not { } v) { raw.Close(id); return; }
            var markers = new WriteTxnMarkersRequest
            {
                Markers =
                [
                    new WriteTxnMarkersRequest.WritableTxnMarker
                    {
                        ProducerId = pid, ProducerEpoch = 0, TransactionResult = commit, CoordinatorEpoch = 0,
                        Topics = [new WriteTxnMarkersRequest.WritableTxnMarkerTopic { Name = TxnTopic, PartitionIndexes = [0] }],
                    },
                ],
            };
            raw.Request(id, ApiKey.WriteTxnMarkers, v, markers, o =>
            {
                raw.Close(id);
                if (!Step(o, "WriteTxnMarkers", v, out var b)) return;
                var m = ((WriteTxnMarkersResponse)b!).Markers.FirstOrDefault();
                var e = m?.Topics.FirstOrDefault(x => x.Name == TxnTopic)?.Partitions.FirstOrDefault(x => x.PartitionIndex == 0)?.ErrorCode;
                if (m is null || m.ProducerId != pid || e is null || e == ErrorCode.UnknownServerError)
                    Model.Violation("model-write-txn-markers", $"WriteTxnMarkers v{v} for producer {pid} on {TxnTopic}-0 answered producer {m?.ProducerId} error {e?.ToString() ?? "no partition"}");
            });
        }
        return $"raw transaction {txnId} ({(commit ? "commit" : "abort")})";
    }
}
