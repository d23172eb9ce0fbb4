using System.Buffers.Binary;
using DetKafka.Core.Abstractions;
using DetKafka.Core.Partitions;
using DetKafka.Core.Protocol;
using DetKafka.Core.Raft;
using DetKafka.Core.Records;
using DetKafka.Core.Storage;
using DetKafka.Sim;
using Xunit;
using Xunit.Abstractions;

namespace DetKafka.Properties.Partitions;

/// <summary>
/// A replicated partition's Kafka rules (REPLICATION.md, "Partitions on Raft"), in process: N <see cref="PartitionReplica"/>s,
/// each over a UnifiedLog on its own <see cref="SimDisk"/>, with their Raft messages shuttled directly between them (no
/// wire), one virtual millisecond at a time. Crashes lose what the disk had not synced.
/// </summary>
public sealed class ReplicatedPartitionTests(ITestOutputHelper output)
{
    private static readonly TopicPartition Tp = new("orders", 0);

    internal sealed class Node
    {
        public int Id;
        public SimDisk Disk = new();
        public PartitionReplica? Replica;
        public long Tokens;
        public long StateTokens;
        public int Starts;
        public bool Up => Replica is not null;
        public Partition Partition => Replica!.Partition;
    }

    internal sealed class Cluster
    {
        public readonly Node[] Nodes;
        public readonly int[] Ids;
        public long Now = 1_000;
        public readonly ReplicationConfig Config;
        private readonly bool[,] _cut;
        private readonly List<RaftMessage> _inFlight = new();
        private readonly List<RaftMessage> _drain = new();

        public Cluster(int n, ReplicationConfig? config = null)
        {
            Config = config ?? new ReplicationConfig
            {
                MinInSyncReplicas = 2,
                ReplicaLagTimeMaxMs = 1_000,
                Raft = new RaftConfig { DataLog = true, ElectionTimeoutMs = 300, FetchTimeoutMs = 600, ElectionBackoffMaxMs = 300, RequestTimeoutMs = 150, FetchMaxWaitMs = 100 },
            };
            Ids = Enumerable.Range(1, n).ToArray();
            Nodes = Ids.Select(id => new Node { Id = id }).Prepend(null!).ToArray();
            _cut = new bool[n + 1, n + 1];
            foreach (int id in Ids) Start(Nodes[id], format: true);
        }

        public void Start(Node node, bool format)
        {
            var log = UnifiedLog.Open(node.Disk, "orders-0", Tp, LogConfig.Default, () => ++node.Tokens, NullBrokerLog.Instance, Now);
            var partition = new Partition(log, node.Id);
            node.Replica = new PartitionReplica(partition, Ids, new SeededRandom((ulong)(node.Id * 1000 + node.Starts++)), Config, Now, format, NullBrokerLog.Instance, () => --node.StateTokens);
        }

        /// <summary>Power loss: the disk keeps what was synced; the node is down until <see cref="Start"/>.</summary>
        public void Crash(Node node)
        {
            node.Disk.Crash();
            node.Replica = null;
            _inFlight.RemoveAll(m => m.Destination == node.Id || m.Source == node.Id);
        }

        public void Isolate(int id, bool cut)
        {
            foreach (int other in Ids)
                if (other != id) _cut[id, other] = _cut[other, id] = cut;
        }

        public void Step()
        {
            Now++;
            var deliver = _inFlight.ToList();
            _inFlight.Clear();
            foreach (var m in deliver)
                if (Nodes[m.Destination].Replica is { } r && !_cut[m.Source, m.Destination]) r.OnMessage(m, Now);
            foreach (int id in Ids)
            {
                var node = Nodes[id];
                if (node.Replica is not { } r) continue;
                foreach (var (token, status) in node.Disk.CompletePendingSyncs()) r.OnSyncCompleted(token, status, Now);
                if (r.NextDeadlineMs <= Now) r.Poll(Now);
                _drain.Clear();
                r.DrainOutbox(_drain);
                _inFlight.AddRange(_drain);
                // The partition's high watermark is never above the Raft commit index.
                Assert.True(r.Partition.HighWatermark <= Math.Max(r.Raft.HighWatermark, r.Partition.LogStartOffset),
                    $"n{id}: high watermark {r.Partition.HighWatermark} above the commit index {r.Raft.HighWatermark}");
            }
        }

        public void RunUntil(Func<bool> done, int maxMs = 20_000)
        {
            for (int i = 0; i < maxMs; i++)
            {
                if (done()) return;
                Step();
            }
            Assert.True(done(), $"not reached within {maxMs} ms: {Describe()}");
        }

        public void Run(int ms)
        {
            for (int i = 0; i < ms; i++) Step();
        }

        public Node? Leader => Nodes.Skip(1).Where(n => n.Up && n.Replica!.Raft.Role == RaftRole.Leader && n.Partition.IsLeader)
            .OrderByDescending(n => n.Partition.LeaderEpoch).FirstOrDefault();

        public Node WaitForLeader(Func<Node, bool>? which = null)
        {
            RunUntil(() => Leader is { } l && (which is null || which(l)));
            return Leader!;
        }

        /// <summary>Produces one record and runs until it may be answered; returns the outcome and where it was written.</summary>
        public (ErrorCode Error, long Offset) Produce(Node at, long value, short acks, int maxMs = 5_000)
        {
            var append = at.Replica!.Produce(Batch(value), acks, Now, Now);
            if (append.Error != ErrorCode.None) return (append.Error, -1);
            ErrorCode? outcome = null;
            RunUntil(() => !at.Up || (outcome = at.Replica!.Completion(append, acks)) is not null, maxMs);
            return (outcome ?? ErrorCode.NotLeaderOrFollower, append.BaseOffset);
        }

        public string Describe() => string.Join("; ", Nodes.Skip(1).Select(n => n.Replica is { } r
            ? $"n{n.Id} {r.Raft.Role} epoch {r.Raft.Epoch} leader {r.Partition.LeaderId} hw {r.Partition.HighWatermark}/{r.Raft.HighWatermark} leo {r.Partition.LogEndOffset}"
            : $"n{n.Id} down"));
    }

    private static byte[] Batch(long value)
    {
        var v = new byte[8];
        BinaryPrimitives.WriteInt64BigEndian(v, value);
        return RecordBatchBuilder.Build([new SimpleRecord(null, v, 1_000)]);
    }

    /// <summary>The data records (control batches skipped) below <paramref name="upTo"/>, as offset -> value.</summary>
    private static Dictionary<long, long> Records(Partition p, long upTo)
    {
        var result = new Dictionary<long, long>();
        long offset = p.LogStartOffset;
        while (offset < upTo)
        {
            var read = p.Log.Read(offset, 1 << 20, upTo);
            if (read.Records.Length == 0) break;
            var span = read.Records.Span;
            int pos = 0;
            while (pos < span.Length && RecordBatchHeader.TryRead(span[pos..], out var h))
            {
                var batch = span.Slice(pos, (int)h.TotalSize);
                if (!h.IsControl)
                {
                    var decoded = new List<DecodedRecord>();
                    Assert.Equal(ErrorCode.None, RecordBatchDecoder.Decode(batch, decoded));
                    foreach (var r in decoded) result[r.Offset] = BinaryPrimitives.ReadInt64BigEndian(r.Value);
                }
                offset = h.LastOffset + 1;
                pos += (int)h.TotalSize;
            }
        }
        return result;
    }

    [Fact]
    public void A_new_leader_writes_a_leader_change_control_batch_in_its_epoch()
    {
        var c = new Cluster(3);
        var leader = c.WaitForLeader();
        c.RunUntil(() => c.Nodes.Skip(1).All(n => n.Partition.HighWatermark >= 1));
        foreach (var n in c.Nodes.Skip(1))
        {
            var read = n.Partition.Log.Read(0, 1 << 20, 1);
            Assert.True(RecordBatchHeader.TryRead(read.Records.Span, out var h));
            Assert.True(h.IsControl && !h.IsTransactional && h.ProducerId == -1);
            Assert.Equal(leader.Partition.LeaderEpoch, h.PartitionLeaderEpoch);
            Assert.Equal(leader.Id, UnifiedRaftLog.ReadLeaderChange(read.Records.Span));
            // Transactions and the last stable offset ignore it; consumers skip it as a control batch.
            Assert.Equal(n.Partition.HighWatermark, n.Partition.Log.LastStableOffset);
            Assert.Empty(Records(n.Partition, n.Partition.HighWatermark));
        }
        // Followers learn the leader, its epoch and the high watermark; the leader reports every replica in sync.
        foreach (var n in c.Nodes.Skip(1).Where(n => n != leader))
        {
            Assert.Equal(leader.Id, n.Partition.LeaderId);
            Assert.Equal(leader.Partition.LeaderEpoch, n.Partition.LeaderEpoch);
        }
        Assert.Equal(c.Ids, leader.Partition.InSyncReplicas.Order());
        Assert.Empty(leader.Partition.OfflineReplicas);
    }

    [Fact]
    public void Every_acks_all_record_survives_the_leader_crash()
    {
        var c = new Cluster(3);
        var acked = new Dictionary<long, long>();
        var first = c.WaitForLeader();
        for (long v = 1; v <= 30; v++)
        {
            var (error, offset) = c.Produce(first, v, acks: -1);
            Assert.Equal(ErrorCode.None, error);
            acked[offset] = v;
        }
        // The leader dies right after answering: whatever it had not synced is gone from its disk.
        int firstEpoch = first.Partition.LeaderEpoch;
        c.Crash(first);
        var second = c.WaitForLeader(l => l != first);
        Assert.True(second.Partition.LeaderEpoch > firstEpoch);
        c.RunUntil(() => second.Partition.HighWatermark > acked.Keys.Max());
        var present = Records(second.Partition, second.Partition.HighWatermark);
        foreach (var (offset, value) in acked) Assert.Equal(value, present[offset]);
        // More writes in the new epoch; the old leader comes back as a follower and ends identical.
        for (long v = 31; v <= 40; v++) Assert.Equal(ErrorCode.None, c.Produce(second, v, acks: -1).Error);
        c.Start(first, format: false);
        c.RunUntil(() => first.Partition.LogEndOffset == second.Partition.LogEndOffset && first.Partition.HighWatermark == second.Partition.HighWatermark);
        Assert.Equal(Records(second.Partition, second.Partition.HighWatermark), Records(first.Partition, first.Partition.HighWatermark));
        Assert.Equal(40, Records(first.Partition, first.Partition.HighWatermark).Count);
    }

    [Fact]
    public void An_acks_1_write_on_a_cut_off_leader_is_truncated_on_rejoin_and_acks_all_writes_never_are()
    {
        var c = new Cluster(3);
        var old = c.WaitForLeader();
        var (errorA, offsetA) = c.Produce(old, 100, acks: -1);
        Assert.Equal(ErrorCode.None, errorA);
        c.Isolate(old.Id, cut: true);
        // acks=1: answered once the cut-off leader's own sync covers it (Kafka allows losing it).
        var (errorB, offsetB) = c.Produce(old, 200, acks: 1);
        Assert.Equal(ErrorCode.None, errorB);
        // acks=all on the cut-off leader never completes: no majority; it ends with NOT_LEADER_OR_FOLLOWER.
        var (errorB2, _) = c.Produce(old, 201, acks: -1);
        Assert.Equal(ErrorCode.NotLeaderOrFollower, errorB2);
        var fresh = c.WaitForLeader(l => l != old);
        var (errorC, offsetC) = c.Produce(fresh, 300, acks: -1);
        Assert.Equal(ErrorCode.None, errorC);
        c.Isolate(old.Id, cut: false);
        c.RunUntil(() => old.Partition.LeaderId == fresh.Id && old.Partition.HighWatermark == fresh.Partition.HighWatermark
                         && old.Partition.LogEndOffset == fresh.Partition.LogEndOffset);
        foreach (var n in c.Nodes.Skip(1))
        {
            var records = Records(n.Partition, n.Partition.HighWatermark);
            Assert.Equal(100, records[offsetA]);
            Assert.Equal(300, records[offsetC]);
            Assert.DoesNotContain(200L, records.Values);
            Assert.DoesNotContain(201L, records.Values);
        }
    }

    [Fact]
    public void Acks_all_below_min_insync_replicas_is_refused_before_any_write()
    {
        var c = new Cluster(3, new ReplicationConfig
        {
            MinInSyncReplicas = 3,
            ReplicaLagTimeMaxMs = 500,
            Raft = new RaftConfig { DataLog = true, ElectionTimeoutMs = 300, FetchTimeoutMs = 600, ElectionBackoffMaxMs = 300, RequestTimeoutMs = 150, FetchMaxWaitMs = 100 },
        });
        var leader = c.WaitForLeader();
        Assert.Equal(ErrorCode.None, c.Produce(leader, 1, acks: -1).Error);
        var follower = c.Nodes.Skip(1).First(n => n != leader);
        c.Crash(follower);
        c.RunUntil(() => leader.Partition.InSyncReplicas.Count == 2);
        Assert.DoesNotContain(follower.Id, leader.Partition.InSyncReplicas);
        Assert.Equal([follower.Id], leader.Partition.OfflineReplicas);
        long end = leader.Partition.LogEndOffset;
        var refused = leader.Replica!.Produce(Batch(2), -1, c.Now, c.Now);
        Assert.Equal(ErrorCode.NotEnoughReplicas, refused.Error);
        Assert.Equal(end, leader.Partition.LogEndOffset);
        // acks=1 does not need the ISR; it is answered after the leader's sync and commits with the majority.
        Assert.Equal(ErrorCode.None, c.Produce(leader, 3, acks: 1).Error);
        // The follower returns, catches up, rejoins the ISR; acks=all is accepted again.
        c.Start(follower, format: false);
        c.RunUntil(() => leader.Partition.InSyncReplicas.Count == 3 && leader.Partition.OfflineReplicas.Count == 0);
        Assert.Equal(ErrorCode.None, c.Produce(leader, 4, acks: -1).Error);
    }

    [Fact]
    public void A_follower_refuses_produce_and_client_fetch_with_NOT_LEADER_OR_FOLLOWER()
    {
        var c = new Cluster(3);
        var leader = c.WaitForLeader();
        c.RunUntil(() => c.Nodes.Skip(1).All(n => n.Partition.LeaderId == leader.Id));
        foreach (var n in c.Nodes.Skip(1).Where(n => n != leader))
        {
            Assert.Equal(ErrorCode.NotLeaderOrFollower, n.Replica!.Produce(Batch(1), -1, c.Now, c.Now).Error);
            Assert.Equal(ErrorCode.NotLeaderOrFollower, n.Partition.CheckLeaderEpoch(-1, requireLeader: true));
            Assert.Equal(ErrorCode.FencedLeaderEpoch, n.Partition.CheckLeaderEpoch(n.Partition.LeaderEpoch - 1, requireLeader: true));
        }
    }

    [Fact]
    public void A_fetch_answer_with_garbage_records_is_dropped_and_the_follower_keeps_going()
    {
        var c = new Cluster(3);
        var leader = c.WaitForLeader();
        c.RunUntil(() => c.Nodes.Skip(1).All(n => n.Partition.LeaderId == leader.Id));
        var follower = c.Nodes.Skip(1).First(n => n != leader);
        var garbage = new FetchResponseMessage<RaftRecords>(ErrorCode.None, leader.Id, leader.Partition.LeaderEpoch, 0, 0, null, null,
            new RaftRecords(new byte[] { 1, 2, 3, 4, 5, 6, 7, 8, 9 })) { Source = leader.Id, Destination = follower.Id, CorrelationId = 1 };
        long end = follower.Partition.LogEndOffset;
        follower.Replica!.OnMessage(garbage, c.Now);
        Assert.Equal(end, follower.Partition.LogEndOffset);
        Assert.Equal(ErrorCode.None, c.Produce(leader, 7, acks: -1).Error);
    }

    [Fact]
    public void A_replica_restarted_with_an_empty_disk_does_not_vote_as_its_old_self()
    {
        var c = new Cluster(3);
        var leader = c.WaitForLeader();
        Assert.Equal(ErrorCode.None, c.Produce(leader, 1, acks: -1).Error);
        var lost = c.Nodes.Skip(1).First(n => n != leader);
        c.Crash(lost);
        lost.Disk = new SimDisk();
        c.Start(lost, format: false);
        Assert.False(lost.Replica!.Raft.IsVoter);
        // It still fetches and catches up as an observer.
        c.RunUntil(() => lost.Partition.LogEndOffset == leader.Partition.LogEndOffset);
    }

    /// <summary>
    /// A seed sweep: 3 or 5 replicas, producers writing acks=all and acks=1 to whoever leads, while nodes crash (losing
    /// their unsynced tail) and restart, and get cut off and healed. After the heal every replica must reach the same
    /// log, identical below the high watermark, holding every acks=all record where it was acknowledged.
    /// </summary>
    [Fact]
    public void A_seed_sweep_with_crashes_and_cut_offs_never_loses_an_acks_all_record()
    {
        int crashes = 0, cuts = 0, ackedAll = 0, ackedOne = 0, lostOne = 0, leaders = 0;
        for (ulong seed = 1; seed <= 40; seed++)
        {
            var rnd = new SeededRandom(seed * 7919);
            int n = rnd.NextBool(0.5) ? 3 : 5;
            var c = new Cluster(n);
            var pending = new List<(Node Node, ReplicatedAppend Append, short Acks, long Value)>();
            var ackedAllRecords = new Dictionary<long, long>();
            var ackedOneRecords = new Dictionary<long, long>();
            var downUntil = new long[n + 1];
            var cutUntil = new long[n + 1];
            var seenLeaders = new HashSet<(int, int)>();
            long value = 0;
            for (int ms = 0; ms < 6_000; ms++)
            {
                c.Step();
                if (c.Leader is { } l && seenLeaders.Add((l.Id, l.Partition.LeaderEpoch))) leaders++;
                // Faults: at most a minority down or cut off at once, so a majority can always make progress.
                int impaired = c.Ids.Count(id => !c.Nodes[id].Up || cutUntil[id] > c.Now);
                if (rnd.NextBool(0.002) && impaired < (n - 1) / 2)
                {
                    var victim = c.Nodes[1 + (int)rnd.NextBelow((ulong)n)];
                    if (victim.Up && cutUntil[victim.Id] <= c.Now)
                    {
                        if (rnd.NextBool(0.5)) { c.Crash(victim); crashes++; downUntil[victim.Id] = c.Now + 50 + (long)rnd.NextBelow(1500); }
                        else { c.Isolate(victim.Id, true); cuts++; cutUntil[victim.Id] = c.Now + 200 + (long)rnd.NextBelow(3000); }
                    }
                }
                foreach (int id in c.Ids)
                {
                    if (!c.Nodes[id].Up && downUntil[id] <= c.Now) c.Start(c.Nodes[id], format: false);
                    if (cutUntil[id] != 0 && cutUntil[id] <= c.Now) { c.Isolate(id, false); cutUntil[id] = 0; }
                }
                if (rnd.NextBool(0.05) && c.Nodes.Skip(1).Where(x => x.Up && x.Replica!.Raft.Role == RaftRole.Leader).ToList() is { Count: > 0 } ls)
                {
                    var at = ls[(int)rnd.NextBelow((ulong)ls.Count)];
                    short acks = rnd.NextBool(0.7) ? (short)-1 : (short)1;
                    var append = at.Replica!.Produce(Batch(++value), acks, c.Now, c.Now);
                    if (append.Error == ErrorCode.None) pending.Add((at, append, acks, value));
                }
                for (int i = pending.Count - 1; i >= 0; i--)
                {
                    var (node, append, acks, v) = pending[i];
                    if (node.Replica is null || node.Replica.Partition.LeaderEpoch < append.LeaderEpoch) { pending.RemoveAt(i); continue; }
                    var outcome = node.Replica.Completion(append, acks);
                    if (outcome is null) continue;
                    pending.RemoveAt(i);
                    if (outcome != ErrorCode.None) continue;
                    if (acks == -1) ackedAllRecords[append.BaseOffset] = v;
                    else ackedOneRecords[append.BaseOffset] = v;
                }
            }
            foreach (int id in c.Ids)
            {
                c.Isolate(id, false);
                if (!c.Nodes[id].Up) c.Start(c.Nodes[id], format: false);
            }
            // A fresh write commits after the heal (liveness), then every replica converges.
            // (A leader that was cut off may still lead an old epoch for a moment: the client retries, as Kafka's do.)
            var fresh = ErrorCode.NotLeaderOrFollower;
            long freshValue = ++value;
            for (int attempt = 0; attempt < 20 && fresh != ErrorCode.None; attempt++) fresh = c.Produce(c.WaitForLeader(), freshValue, acks: -1).Error;
            Assert.Equal(ErrorCode.None, fresh);
            Node leader;
            c.RunUntil(() => c.Leader is { } l && c.Nodes.Skip(1).All(x => x.Partition.LogEndOffset == l.Partition.LogEndOffset
                && x.Partition.HighWatermark == l.Partition.LogEndOffset), 30_000);
            leader = c.Leader!;
            var reference = Records(leader.Partition, leader.Partition.HighWatermark);
            foreach (var node in c.Nodes.Skip(1))
                Assert.Equal(reference, Records(node.Partition, node.Partition.HighWatermark));
            foreach (var (offset, v) in ackedAllRecords)
                Assert.True(reference.TryGetValue(offset, out long got) && got == v, $"seed {seed}: acks=all record {v} at offset {offset} lost");
            ackedAll += ackedAllRecords.Count;
            ackedOne += ackedOneRecords.Count;
            lostOne += ackedOneRecords.Count(kv => !reference.TryGetValue(kv.Key, out long got) || got != kv.Value);
        }
        Assert.True(crashes > 20 && cuts > 20 && leaders > 60 && ackedAll > 2_000, $"{crashes} crashes, {cuts} cuts, {leaders} leaders, {ackedAll} acked");
        output.WriteLine($"replicated partition sweep: 40 seeds, {crashes} crashes, {cuts} cut-offs, {leaders} leaders, {ackedAll} acks=all records kept, {ackedOne} acks=1 acknowledged ({lostOne} lost, allowed)");
    }
}
