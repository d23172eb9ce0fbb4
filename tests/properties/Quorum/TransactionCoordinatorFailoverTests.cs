using System.Text;
using DetKafka.Core.Broker;
using DetKafka.Core.Protocol;
using DetKafka.Core.Protocol.Messages;
using DetKafka.Core.Raft;
using DetKafka.Core.Records;
using DetKafka.Core.Transactions;
using Xunit;

namespace DetKafka.Properties.Quorum;

/// <summary>
/// The transaction coordinator follows the leadership of its replicated <c>__transaction_state</c> partition (issue 10
/// item 2, issue 7; TRANSACTIONS.md "In a cluster"), on three BrokerNodes over the wire protocol, with a transactional
/// producer's requests (FindCoordinator key type 1, InitProducerId, AddPartitionsToTxn, Produce to each partition's
/// leader, EndTxn) sent raw as CoordinatorFailoverTests does. The data topic has three partitions replicated three
/// ways, so markers go to leaders on other nodes (WriteTxnMarkers over the peer client). The producer commits
/// transactions; its last EndTxn is sent while the coordinator is cut off from the others (it must not be acknowledged:
/// no majority can hold the prepare record), or on a healthy coordinator that crashes as soon as it answered (its
/// markers may still be on their way). The coordinator crashes; the producer finds the new coordinator at a survivor and
/// retries an EndTxn that was not answered. Every acknowledged transaction must then be visible to read_committed on
/// every partition exactly once, an unacknowledged one either committed or aborted as a whole, no open transaction may
/// be left (the last stable offset reaches the high watermark), and the producer commits another transaction at the
/// new coordinator. The restarted old coordinator answers NOT_COORDINATOR and names the new one. An invariant checked
/// every millisecond: a loaded __transaction_state partition is led there with its epoch's first entry below the high
/// watermark. Planted bugs: EndTxn answered before its prepare record is replicated; a load above the high watermark.
/// </summary>
public class TransactionCoordinatorFailoverTests(Xunit.Abstractions.ITestOutputHelper output)
{
    private const string TxnId = "tx";
    private const string Topic = "t";
    private const int Partitions = 3;

    private static QuorumCluster Cluster(int seed, TransactionFaults faults)
    {
        var c = new QuorumCluster(3, seed, (_, config) => new BrokerConfig
        {
            NodeId = config.NodeId, AdvertisedHost = config.AdvertisedHost, AdvertisedPort = config.AdvertisedPort, DataDirectory = config.DataDirectory,
            ControllerQuorumVoters = config.ControllerQuorumVoters, AutoCreateTopicsEnable = config.AutoCreateTopicsEnable,
            OffsetsTopicNumPartitions = 3, TransactionStateLogNumPartitions = 3, TransactionAbortTimedOutTransactionCleanupIntervalMs = 500,
        });
        foreach (var n in c.Nodes) n!.Transactions.Faults = faults;
        return c;
    }

    /// <summary>Asks <paramref name="node"/> for the transactional id's coordinator until one is named (index).</summary>
    private static int FindCoordinator(QuorumCluster c, int node, int not = -1)
    {
        for (int attempt = 0; attempt < 300; attempt++)
        {
            var r = c.Ask<FindCoordinatorResponse>(node, ApiKey.FindCoordinator, 3,
                new FindCoordinatorRequest { Key = TxnId, KeyType = FindCoordinatorRequest.KeyTypeTransaction });
            if (r is { ErrorCode: ErrorCode.None } && r.NodeId - 1 != not) return r.NodeId - 1;
            c.RunFor(100);
        }
        return -1;
    }

    private static bool Retriable(ErrorCode e) => e is ErrorCode.CoordinatorLoadInProgress or ErrorCode.ConcurrentTransactions
        or ErrorCode.CoordinatorNotAvailable or ErrorCode.RequestTimedOut;

    private static ErrorCode AddPartitions(QuorumCluster c, int coordinator, long pid, short epoch)
    {
        for (int attempt = 0; ; attempt++)
        {
            var r = c.Ask<AddPartitionsToTxnResponse>(coordinator, ApiKey.AddPartitionsToTxn, 3, new AddPartitionsToTxnRequest
            {
                TransactionalId = TxnId, ProducerId = pid, ProducerEpoch = epoch,
                Topics = [new() { Name = Topic, Partitions = Enumerable.Range(0, Partitions).ToList() }],
            });
            var error = r is null ? ErrorCode.RequestTimedOut : r.Results.SelectMany(t => t.Results).Select(x => x.ErrorCode).FirstOrDefault(e => e != ErrorCode.None);
            if (!Retriable(error) || attempt >= 50) return error;
            c.RunFor(50);
        }
    }

    private static ErrorCode EndTxn(QuorumCluster c, int coordinator, long pid, short epoch, int maxMs = 30_000)
    {
        for (int attempt = 0; ; attempt++)
        {
            var r = c.Ask<EndTxnResponse>(coordinator, ApiKey.EndTxn, 4, new EndTxnRequest { TransactionalId = TxnId, ProducerId = pid, ProducerEpoch = epoch, Committed = true }, maxMs);
            var error = r?.ErrorCode ?? ErrorCode.RequestTimedOut;
            if (!Retriable(error) || attempt >= 50 || r is null) return error;
            c.RunFor(50);
        }
    }

    /// <summary>One transactional batch to partition <paramref name="p"/>'s leader, acks=all, retried on a moved leader.</summary>
    private static ErrorCode Produce(QuorumCluster c, int p, long pid, short epoch, int sequence, string value)
    {
        var error = ErrorCode.RequestTimedOut;
        for (int attempt = 0; attempt < 50; attempt++)
        {
            int leader = c.PartitionLeader(Topic, p);
            if (leader < 0) { c.RunFor(100); continue; }
            var batch = RecordBatchBuilder.Build([new SimpleRecord(null, Encoding.UTF8.GetBytes(value), c.Clock.WallClockMs)],
                producerId: pid, producerEpoch: epoch, baseSequence: sequence, isTransactional: true);
            var r = c.Ask<ProduceResponse>(leader, ApiKey.Produce, 8, new ProduceRequest
            {
                TransactionalId = TxnId, Acks = -1, TimeoutMs = 10_000,
                TopicData = [new() { Name = Topic, PartitionData = [new() { Index = p, Records = batch }] }],
            });
            error = r?.Responses.Single().PartitionResponses.Single().ErrorCode ?? ErrorCode.RequestTimedOut;
            if (error is ErrorCode.None or ErrorCode.DuplicateSequenceNumber) return ErrorCode.None;
            if (error is not (ErrorCode.NotLeaderOrFollower or ErrorCode.RequestTimedOut or ErrorCode.NotEnoughReplicas)) return error;
            c.RunFor(100);
        }
        return error;
    }

    /// <summary>What a read_committed consumer reads from partition <paramref name="p"/> at its leader, and whether
    /// the partition has no open transaction (last stable offset = high watermark). Null when no leader answers.</summary>
    private static (List<string> Values, bool Settled)? ReadCommitted(QuorumCluster c, int p)
        => FetchAll(c, p) is { } data ? (Visible(data), data.LastStableOffset == data.HighWatermark) : null;

    /// <summary>A read_committed fetch of partition <paramref name="p"/> from offset 0 up to its last stable offset at
    /// its leader, fetched in rounds (one answer may hold one batch) and joined into one answer. Null when no leader answers.</summary>
    private static FetchResponse.PartitionData? FetchAll(QuorumCluster c, int p)
    {
        int leader = c.PartitionLeader(Topic, p);
        if (leader < 0) return null;
        var bytes = new List<byte>();
        var aborted = new List<FetchResponse.AbortedTransaction>();
        long offset = 0;
        for (int round = 0; round < 200; round++)
        {
            var r = c.Ask<FetchResponse>(leader, ApiKey.Fetch, 11, new FetchRequest
            {
                ReplicaId = -1, MaxWaitMs = 0, MinBytes = 0, MaxBytes = 1 << 20, IsolationLevel = 1,
                Topics = [new() { Topic = Topic, Partitions = [new() { Partition = p, FetchOffset = offset, PartitionMaxBytes = 1 << 20, CurrentLeaderEpoch = -1, LastFetchedEpoch = -1 }] }],
            });
            var data = r?.Responses.Single().Partitions.Single();
            if (data is null || data.ErrorCode != ErrorCode.None) return null;
            foreach (var a in data.AbortedTransactions ?? []) if (!aborted.Any(x => x.ProducerId == a.ProducerId && x.FirstOffset == a.FirstOffset)) aborted.Add(a);
            var chunk = data.Records?.ToArray() ?? [];
            int pos = 0;
            long next = offset;
            while (pos < chunk.Length && RecordBatchHeader.TryRead(chunk.AsSpan(pos), out var h) && pos + h.TotalSize <= chunk.Length)
            {
                if (h.BaseOffset >= offset) bytes.AddRange(chunk.AsSpan(pos, (int)h.TotalSize).ToArray());
                next = Math.Max(next, h.LastOffset + 1);
                pos += (int)h.TotalSize;
            }
            if (next >= data.LastStableOffset || next == offset)
            {
                data.Records = bytes.ToArray();
                data.AbortedTransactions = aborted;
                return data;
            }
            offset = next;
        }
        return null;
    }

    /// <summary>What a read_committed consumer makes of a fetch (TransactionCoordinatorTests.Visible, plus the Raft
    /// LEADER_CHANGE control batches a replicated partition holds, which are not markers and carry no data).</summary>
    private static List<string> Visible(FetchResponse.PartitionData p)
    {
        var result = new List<string>();
        var aborted = (p.AbortedTransactions ?? []).ToList();
        var abortedOpen = new HashSet<long>();
        var bytes = p.Records?.ToArray() ?? [];
        int pos = 0;
        while (pos < bytes.Length)
        {
            if (!RecordBatchHeader.TryRead(bytes.AsSpan(pos), out var header)) throw new InvalidOperationException($"an unreadable batch at byte {pos}");
            var batch = bytes.AsSpan(pos, (int)header.TotalSize);
            foreach (var a in aborted.Where(a => a.FirstOffset <= header.BaseOffset).ToList())
            {
                abortedOpen.Add(a.ProducerId);
                aborted.Remove(a);
            }
            if (header.IsControl)
            {
                if (ControlRecord.TryReadMarker(batch, out bool commit, out _) && !commit) abortedOpen.Remove(header.ProducerId);
            }
            else if (!(header.IsTransactional && abortedOpen.Contains(header.ProducerId)))
            {
                var decoded = new List<DecodedRecord>();
                if (RecordBatchDecoder.Decode(batch, decoded) != ErrorCode.None) throw new InvalidOperationException("an undecodable batch");
                result.AddRange(decoded.Select(d => Encoding.UTF8.GetString(d.Value!)));
            }
            pos += (int)header.TotalSize;
        }
        return result;
    }

    /// <summary>Every loaded __transaction_state partition is led there with its epoch's first entry below the high
    /// watermark (so nothing above it was loaded). Null when it holds.</summary>
    private static string? CheckLoadedBelowHighWatermark(QuorumCluster c)
    {
        foreach (var n in c.Nodes)
        {
            if (n is null) continue;
            foreach (int p in n.Transactions.LoadedPartitions)
            {
                var partition = n.Replicas.GetPartition(TransactionRecords.StateTopic, p);
                if (partition?.Replica is not { } r) continue;
                if (r.Raft.Role != RaftRole.Leader || partition.HighWatermark <= r.Raft.EpochStartOffset)
                    return $"node {n.Config.NodeId} serves {TransactionRecords.StateTopic}-{p} loaded at high watermark {partition.HighWatermark}, its epoch starting at {r.Raft.EpochStartOffset}";
            }
        }
        return null;
    }

    /// <summary>The scenario; null when every acknowledged transaction stays committed and the producer continues.</summary>
    public static string? RunFailover(int seed, TransactionFaults faults, bool cutBeforeLastEnd, Action<string>? trace, out int acknowledged)
        => RunFailover(seed, faults, cutBeforeLastEnd, trace, out acknowledged, out _);

    public static string? RunFailover(int seed, TransactionFaults faults, bool cutBeforeLastEnd, Action<string>? trace, out int acknowledged,
        out int finishedOnLoad)
    {
        acknowledged = 0;
        finishedOnLoad = 0;
        var c = Cluster(seed, faults);
        string? invariant = null;
        c.AfterStep = () => invariant ??= CheckLoadedBelowHighWatermark(c);
        if (!c.Run(() => c.Controller() >= 0)) return "no controller";
        if (c.CreateTopic(c.Controller(), Topic, Partitions, 3)?.ErrorCode != ErrorCode.None) return "the data topic was not created";
        int coordinator = FindCoordinator(c, seed % 3);
        if (coordinator < 0) return "no coordinator named: " + c.Describe();
        var state = c.Nodes[coordinator]!.FindTopic(TransactionRecords.StateTopic)!;
        if (state.Replicas.Any(r => r.Length != 3)) return "__transaction_state is not replicated 3 ways";
        if (!c.Run(() => Enumerable.Range(0, Partitions).All(p => c.PartitionLeader(Topic, p) >= 0))) return "data partitions have no leaders";
        if (Enumerable.Range(0, Partitions).All(p => c.PartitionLeader(Topic, p) == coordinator)) trace?.Invoke("every data partition is led by the coordinator");

        InitProducerIdResponse? init = null;
        for (int attempt = 0; attempt < 100 && init is not { ErrorCode: ErrorCode.None }; attempt++)
        {
            init = c.Ask<InitProducerIdResponse>(coordinator, ApiKey.InitProducerId, 4,
                new InitProducerIdRequest { TransactionalId = TxnId, TransactionTimeoutMs = 10_000, ProducerId = -1, ProducerEpoch = -1 });
            if (init is not { ErrorCode: ErrorCode.None }) c.RunFor(100);
        }
        if (init is not { ErrorCode: ErrorCode.None }) return $"InitProducerId: {init?.ErrorCode}";
        long pid = init.ProducerId;
        short epoch = init.ProducerEpoch;
        var sequence = new int[Partitions];
        var committed = new List<string>();     // values of acknowledged transactions
        var undecided = new List<string>();     // values of a transaction whose EndTxn got no final answer

        const int Transactions = 4;
        for (int k = 1; k <= Transactions; k++)
        {
            var add = AddPartitions(c, coordinator, pid, epoch);
            if (add != ErrorCode.None) return $"AddPartitionsToTxn of transaction {k}: {add}";
            var values = new List<string>();
            for (int p = 0; p < Partitions; p++)
            {
                string value = $"k{k}-p{p}";
                var produced = Produce(c, p, pid, epoch, sequence[p]++, value);
                if (produced != ErrorCode.None) return $"produce {value}: {produced}";
                values.Add(value);
            }
            bool last = k == Transactions;
            if (last && cutBeforeLastEnd)
                for (int o = 0; o < 3; o++) if (o != coordinator) c.Cut(coordinator, o);
            var end = EndTxn(c, coordinator, pid, epoch, maxMs: last && cutBeforeLastEnd ? 8_000 : 30_000);
            trace?.Invoke($"t={c.Clock.MonotonicMs} EndTxn of transaction {k} at node {coordinator + 1}: {end}");
            if (end == ErrorCode.None) { committed.AddRange(values); acknowledged++; }
            else if (last) undecided.AddRange(values);
            else return $"EndTxn of transaction {k} at a healthy coordinator: {end}";
        }

        // The coordinator dies at once (markers of an acknowledged commit may be on their way).
        c.Crash(coordinator);
        c.Heal();
        int survivor = (coordinator + 1) % 3;
        int fresh = FindCoordinator(c, survivor, not: coordinator);
        if (fresh < 0) return "no new coordinator: " + c.Describe();
        trace?.Invoke($"t={c.Clock.MonotonicMs} new coordinator node {fresh + 1}");
        if (invariant is not null) return invariant;

        // An EndTxn that got no answer is retried at the new coordinator, as a client does after NOT_COORDINATOR.
        if (undecided.Count > 0)
        {
            var retried = EndTxn(c, fresh, pid, epoch);
            trace?.Invoke($"t={c.Clock.MonotonicMs} EndTxn retried at node {fresh + 1}: {retried}");
            if (retried == ErrorCode.None) { committed.AddRange(undecided); undecided.Clear(); acknowledged++; }
            else if (retried is not (ErrorCode.InvalidProducerEpoch or ErrorCode.ProducerFenced or ErrorCode.InvalidTxnState))
                return $"EndTxn retried at the new coordinator: {retried}";
        }

        // Every partition settles (no open transaction) and shows exactly the acknowledged values.
        var seen = new List<string>();
        bool settled = false;
        for (int round = 0; round < 300 && !settled; round++)
        {
            if (invariant is not null) return invariant;
            seen.Clear();
            settled = true;
            for (int p = 0; p < Partitions && settled; p++)
            {
                var read = ReadCommitted(c, p);
                if (read is not { Settled: true } r) { settled = false; break; }
                seen.AddRange(r.Values);
            }
            if (!settled) c.RunFor(100);
        }
        if (!settled) return "an open transaction is left after the failover: " + c.Describe();
        foreach (var v in committed)
            if (!seen.Contains(v)) return $"acknowledged value {v} is not visible to read_committed (seen: {string.Join(",", seen)})";
        if (seen.Count != seen.Distinct().Count()) return $"a value is visible twice: {string.Join(",", seen)}";
        var stray = seen.Except(committed).Except(undecided).ToList();
        if (stray.Count > 0) return $"values never produced in a transaction are visible: {string.Join(",", stray)}";
        if (undecided.Count > 0 && seen.Intersect(undecided).Any() && !undecided.All(seen.Contains))
            return $"part of an undecided transaction is visible: {string.Join(",", seen.Intersect(undecided))}";
        trace?.Invoke($"t={c.Clock.MonotonicMs} read_committed sees {seen.Count} values, {committed.Count} acknowledged");
        finishedOnLoad = c.Nodes[fresh]!.Transactions.PreparedFinishedOnLoad;

        // The producer continues at the new coordinator (a fenced producer starts over with InitProducerId).
        var again = c.Ask<InitProducerIdResponse>(fresh, ApiKey.InitProducerId, 4,
            new InitProducerIdRequest { TransactionalId = TxnId, TransactionTimeoutMs = 10_000, ProducerId = -1, ProducerEpoch = -1 });
        for (int attempt = 0; attempt < 100 && again is not { ErrorCode: ErrorCode.None }; attempt++)
        {
            c.RunFor(100);
            again = c.Ask<InitProducerIdResponse>(fresh, ApiKey.InitProducerId, 4,
                new InitProducerIdRequest { TransactionalId = TxnId, TransactionTimeoutMs = 10_000, ProducerId = -1, ProducerEpoch = -1 });
        }
        if (again is not { ErrorCode: ErrorCode.None }) return $"InitProducerId at the new coordinator: {again?.ErrorCode}";
        if (again.ProducerId == pid && again.ProducerEpoch <= epoch) return "InitProducerId at the new coordinator did not fence the old epoch";
        pid = again.ProducerId;
        epoch = again.ProducerEpoch;
        if (AddPartitions(c, fresh, pid, epoch) is var added && added != ErrorCode.None) return $"AddPartitionsToTxn at the new coordinator: {added}";
        sequence = new int[Partitions];
        for (int p = 0; p < Partitions; p++)
            if (Produce(c, p, pid, epoch, sequence[p]++, $"after-p{p}") is var e && e != ErrorCode.None) return $"produce after the failover: {e}";
        if (EndTxn(c, fresh, pid, epoch) is var ended && ended != ErrorCode.None) return $"EndTxn at the new coordinator: {ended}";
        acknowledged++;
        for (int round = 0; ; round++)
        {
            var all = Enumerable.Range(0, Partitions).Select(p => ReadCommitted(c, p)).ToList();
            if (all.All(a => a is { Settled: true }) && Enumerable.Range(0, Partitions).All(p => all[p]!.Value.Values.Contains($"after-p{p}"))) break;
            if (round >= 100) return "the transaction committed at the new coordinator is not visible";
            c.RunFor(100);
        }

        // The old coordinator restarts as a follower: NOT_COORDINATOR there, and it names the new one.
        c.Start(coordinator);
        int statePartition = c.Nodes[fresh]!.Transactions.PartitionFor(TxnId);
        if (!c.Run(() => c.Nodes[coordinator]!.Replicas.GetPartition(TransactionRecords.StateTopic, statePartition) is { Replica: not null } sp
                && sp.LeaderId == fresh + 1, 30_000)) return "the old coordinator does not rejoin: " + c.Describe();
        var stale = c.Ask<EndTxnResponse>(coordinator, ApiKey.EndTxn, 4, new EndTxnRequest { TransactionalId = TxnId, ProducerId = pid, ProducerEpoch = epoch, Committed = true });
        if (stale?.ErrorCode != ErrorCode.NotCoordinator) return $"EndTxn at the old coordinator: {stale?.ErrorCode}";
        if (FindCoordinator(c, coordinator) != fresh) return "the old coordinator does not name the new one";
        return invariant;
    }

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public void Acknowledged_transactions_stay_committed_across_a_coordinator_crash(bool cutBeforeLastEnd)
    {
        int total = 0, finished = 0;
        for (int seed = 1; seed <= 4; seed++)
        {
            var log = new List<string>();
            string? failure = RunFailover(seed, TransactionFaults.None, cutBeforeLastEnd, log.Add, out int acked, out int onLoad);
            Assert.True(failure is null, $"seed {seed}: {failure}\n{string.Join("\n", log.TakeLast(30))}");
            total += acked;
            finished += onLoad;
        }
        output.WriteLine($"4 seeds (cut before the last EndTxn: {cutBeforeLastEnd}), {total} transactions acknowledged, every one visible to " +
            $"read_committed after the failover; {finished} found prepared and finished by the new coordinator");
        // A crash right after EndTxn answered leaves the markers to the new coordinator in some seed: the load path runs.
        if (!cutBeforeLastEnd) Assert.True(finished > 0, "no seed left a prepared transaction to the new coordinator");
    }

    [Fact]
    public void EndTxn_answered_before_its_prepare_record_is_replicated_is_caught()
    {
        string? first = null;
        for (int seed = 1; seed <= 4 && first is null; seed++) first = RunFailover(seed, TransactionFaults.AnswerBeforeReplicated, true, null, out _);
        output.WriteLine($"planted answer-before-replicated: {first}");
        Assert.NotNull(first);
        Assert.Contains("is not visible to read_committed", first);
    }

    [Fact]
    public void A_coordinator_loading_above_its_high_watermark_is_caught()
    {
        string? first = null;
        for (int seed = 1; seed <= 4 && first is null; seed++) first = RunFailover(seed, TransactionFaults.LoadAboveHighWatermark, true, null, out _);
        output.WriteLine($"planted load-above-high-watermark: {first}");
        Assert.NotNull(first);
        Assert.Contains("loaded at high watermark", first);
    }
}
