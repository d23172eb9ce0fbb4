using DetKafka.Core.Abstractions;
using DetKafka.Core.Raft;
using DetKafka.Sim.Raft;
using Xunit;

namespace DetKafka.Properties.Raft;

/// <summary>
/// Hand-driven scenarios on three real <see cref="RaftReplica{TRecords}"/>s: the exact interleavings behind two of the
/// planted bugs, where the swarm needs luck (two candidates in one epoch and a crash of the voter in between). Each
/// runs with the bug (two leaders in one epoch) and without it (the second candidate is refused).
/// </summary>
public sealed class RaftReplicaScenarioTests
{
    private static readonly RaftConfig Config = new() { ElectionTimeoutMs = 300, FetchTimeoutMs = 600, RequestTimeoutMs = 150, FetchMaxWaitMs = 100 };

    private sealed class Harness
    {
        public readonly MemoryRaftLog[] Logs = new MemoryRaftLog[4];
        public readonly MemoryQuorumStore[] Stores = new MemoryQuorumStore[4];
        public readonly RaftReplica<SimBatch>[] R = new RaftReplica<SimBatch>[4];
        public readonly VoterSet Voters;
        public readonly List<RaftMessage> InFlight = new();
        private readonly RaftPlantedBugs _bugs;
        private int _starts;
        public long Now = 1;

        public Harness(RaftPlantedBugs bugs)
        {
            _bugs = bugs;
            var keys = new List<ReplicaKey>();
            for (int i = 1; i <= 3; i++)
            {
                Logs[i] = new MemoryRaftLog();
                Stores[i] = new MemoryQuorumStore();
                var dir = new Guid($"00000000-0000-4000-8000-00000000000{i}");
                Stores[i].Format(dir);
                keys.Add(new ReplicaKey(i, dir));
            }
            Voters = new VoterSet(keys);
            for (int i = 1; i <= 3; i++) Start(i);
        }

        public void Start(int i)
        {
            R[i] = new RaftReplica<SimBatch>(i, Voters, Logs[i], Stores[i], new SeededRandom((ulong)(100 + _starts++)), Config, Now, _bugs);
            SyncState(i);
        }

        public void Drain(int i) => R[i].DrainOutbox(InFlight);

        public void SyncState(int i)
        {
            while (Stores[i].PendingSyncs > 0)
            {
                Stores[i].CompleteSync();
                R[i].OnQuorumStateSynced(Now);
            }
            Drain(i);
        }

        public void Poll(int i) { R[i].Poll(Now); Drain(i); }

        public void Deliver(int from, int to, Func<RaftMessage, bool> what)
        {
            var m = InFlight.First(x => x.Source == from && x.Destination == to && what(x));
            InFlight.Remove(m);
            R[to].OnMessage(m, Now);
            Drain(to);
        }

        /// <summary>Node i runs a pre-vote granted by node 3, becomes a candidate and sends its votes (once durable).</summary>
        public void CandidateThroughPreVoteOf3(int i)
        {
            Poll(i);
            Assert.Equal(RaftRole.Prospective, R[i].Role);
            Deliver(i, 3, m => m is VoteRequestMessage { PreVote: true });
            Deliver(3, i, m => m is VoteResponseMessage { VoteGranted: true });
            Assert.Equal(RaftRole.Candidate, R[i].Role);
            SyncState(i);
        }

        public void CrashAndRestart(int i, bool wipe)
        {
            if (wipe)
            {
                Logs[i] = new MemoryRaftLog();
                Stores[i] = new MemoryQuorumStore();
            }
            else
            {
                Logs[i].Crash();
                Stores[i].Crash();
            }
            InFlight.RemoveAll(m => m.Source == i);
            Start(i);
        }
    }

    private static (RaftRole, RaftRole, int, int) TwoCandidatesAndAVoterThatRestarts(RaftPlantedBugs bug, bool wipe)
    {
        var h = new Harness(bug);
        h.Now = 10_000; // every election timer has expired
        h.CandidateThroughPreVoteOf3(1);
        h.CandidateThroughPreVoteOf3(2);
        Assert.Equal((1, 1), (h.R[1].Epoch, h.R[2].Epoch));
        h.Deliver(1, 3, m => m is VoteRequestMessage { PreVote: false });
        h.SyncState(3); // whatever node 3 wrote is durable
        h.Deliver(3, 1, m => m is VoteResponseMessage { VoteGranted: true });
        Assert.Equal(RaftRole.Leader, h.R[1].Role);
        h.CrashAndRestart(3, wipe);
        h.Now += 1;
        h.Deliver(2, 3, m => m is VoteRequestMessage { PreVote: false });
        h.SyncState(3);
        var answer = h.InFlight.Single(m => m.Source == 3 && m.Destination == 2 && m is VoteResponseMessage);
        h.Deliver(3, 2, m => m == answer);
        return (h.R[1].Role, h.R[2].Role, h.R[1].Epoch, h.R[2].Epoch);
    }

    [Fact]
    public void A_vote_that_is_not_persisted_gives_two_leaders_in_one_epoch()
    {
        Assert.Equal((RaftRole.Leader, RaftRole.Leader, 1, 1), TwoCandidatesAndAVoterThatRestarts(RaftPlantedBugs.VoteNotPersisted, wipe: false));
    }

    [Fact]
    public void A_persisted_vote_survives_the_restart_and_refuses_the_second_candidate()
    {
        var (r1, r2, e1, e2) = TwoCandidatesAndAVoterThatRestarts(RaftPlantedBugs.None, wipe: false);
        Assert.Equal((RaftRole.Leader, 1), (r1, e1));
        Assert.NotEqual(RaftRole.Leader, r2);
    }

    [Fact]
    public void An_empty_disk_node_voting_as_its_old_self_gives_two_leaders_in_one_epoch()
    {
        Assert.Equal((RaftRole.Leader, RaftRole.Leader, 1, 1), TwoCandidatesAndAVoterThatRestarts(RaftPlantedBugs.EmptyDiskVotesAsOldSelf, wipe: true));
    }

    [Fact]
    public void An_empty_disk_node_is_a_new_replica_and_cannot_vote()
    {
        var (r1, r2, _, _) = TwoCandidatesAndAVoterThatRestarts(RaftPlantedBugs.None, wipe: true);
        Assert.Equal(RaftRole.Leader, r1);
        Assert.NotEqual(RaftRole.Leader, r2);
    }

    [Fact]
    public void The_leader_describes_its_quorum_and_the_answer_round_trips()
    {
        var h = new Harness(RaftPlantedBugs.None);
        h.Now = 10_000;
        h.CandidateThroughPreVoteOf3(1);
        Assert.Null(h.R[1].Describe()); // only a leader describes the quorum
        h.Deliver(1, 3, m => m is VoteRequestMessage { PreVote: false });
        h.SyncState(3);
        h.Deliver(3, 1, m => m is VoteResponseMessage { VoteGranted: true });
        h.SyncState(1);
        var d = h.R[1].Describe()!;
        Assert.Equal((1, 1, 3), (d.LeaderId, d.LeaderEpoch, d.Voters.Count));
        Assert.Equal(1, d.Voters.Single(v => v.Key.Id == 1).LogEndOffset); // the leader-change entry
        Assert.All(d.Voters.Where(v => v.Key.Id != 1), v => Assert.Equal(-1, v.LogEndOffset)); // nobody fetched yet
        foreach (short version in DetKafka.Properties.Protocol.RoundTrip.Versions(DetKafka.Core.Protocol.ApiKey.DescribeQuorum))
        {
            var wire = RaftWire.ToWire(d, RaftWire.MetadataTopic, 0, ms => 1_700_000_000_000 + ms);
            var back = (DetKafka.Core.Protocol.Messages.DescribeQuorumResponse)DetKafka.Properties.Protocol.RoundTrip.Decode(
                DetKafka.Core.Protocol.ApiKey.DescribeQuorum, version, DetKafka.Properties.Protocol.RoundTrip.Encode(wire, version), isRequest: false);
            var p = back.Topics.Single().Partitions.Single();
            Assert.Equal((1, 1), (p.LeaderId, p.LeaderEpoch));
            Assert.Equal(d.Voters.Select(v => (v.Key.Id, v.LogEndOffset)), p.CurrentVoters.Select(v => (v.ReplicaId, v.LogEndOffset)));
            if (version >= 2) Assert.Equal(d.Voters.Select(v => v.Key.DirectoryId), p.CurrentVoters.Select(v => v.ReplicaDirectoryId));
        }
    }

    [Fact]
    public void A_single_voter_elects_itself_and_commits_what_it_synced()
    {
        var log = new MemoryRaftLog();
        var store = new MemoryQuorumStore();
        var dir = new Guid("00000000-0000-4000-8000-000000000009");
        store.Format(dir);
        var r = new RaftReplica<SimBatch>(1, new VoterSet([new ReplicaKey(1, dir)]), log, store, new SeededRandom(1), Config, 0);
        r.Poll(10_000);
        Assert.Equal(RaftRole.Leader, r.Role);
        long offset = r.Propose(new SimBatch(-1, [new SimEntry(0, 42, false)]), 10_001);
        Assert.Equal(1, offset); // after the leader-change entry at 0
        Assert.Equal(0, r.HighWatermark);
        while (store.PendingSyncs > 0) { store.CompleteSync(); r.OnQuorumStateSynced(10_002); }
        log.CompleteSync(); // the sync the election asked for covers the leader-change entry only
        r.OnLogSynced(10_003);
        Assert.Equal(1, r.HighWatermark);
        Assert.True(log.SyncInFlight, "the proposal's sync follows (one sync in flight, group commit)");
        log.CompleteSync();
        r.OnLogSynced(10_004);
        Assert.Equal(2, r.HighWatermark);
    }
}
