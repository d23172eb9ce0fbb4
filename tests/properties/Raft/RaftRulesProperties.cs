using DetKafka.Core.Raft;
using DetKafka.Sim.Raft;
using FsCheck;
using FsCheck.Fluent;
using Xunit;
using static DetKafka.Properties.Protocol.RoundTrip;

namespace DetKafka.Properties.Raft;

/// <summary>The pieces of the Raft core as pure functions: vote granting, fetch validation with truncation (log
/// matching), and the high watermark, each against a model or an invariant over random inputs.</summary>
public sealed class RaftRulesProperties
{
    private static readonly Guid[] Dirs = [new("00000000-0000-4000-8000-000000000001"), new("00000000-0000-4000-8000-000000000002"),
        new("00000000-0000-4000-8000-000000000003"), new("00000000-0000-4000-8000-000000000004")];
    private static readonly VoterSet Voters = new([new ReplicaKey(1, Dirs[0]), new ReplicaKey(2, Dirs[1]), new ReplicaKey(3, Dirs[2])]);

    private static Gen<VoterView> Views =>
        from epoch in Gen.Choose(0, 5)
        from role in Gen.Elements(Enum.GetValues<RaftRole>())
        from self in Gen.Choose(1, 3)
        from strangeDir in Gen.Elements(false, false, false, true)
        from voted in Gen.Choose(-1, 3)
        from leader in Gen.Choose(-1, 3)
        from heard in Gen.Elements(false, true)
        from lastEpoch in Gen.Choose(0, 5)
        from end in Gen.Choose(0, 20)
        select new VoterView(epoch, role, new ReplicaKey(self, strangeDir ? Dirs[3] : Dirs[self - 1]), !strangeDir,
            voted == 0 ? -1 : voted, voted > 0 ? Dirs[voted - 1] : Guid.Empty, leader == 0 ? -1 : leader, heard,
            new OffsetAndEpoch(end, Math.Min(lastEpoch, epoch)));

    private static Gen<VoteRequestMessage> Requests =>
        from epoch in Gen.Choose(0, 7)
        from candidate in Gen.Choose(1, 4)
        from voterDir in Gen.Choose(0, 4)
        from lastEpoch in Gen.Choose(0, 6)
        from end in Gen.Choose(0, 20)
        from pre in Gen.Elements(false, true)
        select new VoteRequestMessage(epoch, new ReplicaKey(candidate, Dirs[Math.Min(candidate, 4) - 1]),
            voterDir == 0 ? Guid.Empty : Dirs[voterDir - 1], Math.Min(lastEpoch, epoch), end, pre);

    [Fact]
    public void A_vote_is_granted_only_when_every_rule_allows_it()
    {
        ForAll(Views.SelectMany(v => Requests.Select(r => (v, r))), t =>
        {
            var (me, req) = t;
            var d = RaftRules.DecideVote(me, req, Voters);
            if (d != VoteDecision.Granted) return;
            Assert.True(me.SelfIsVoter, "an observer never votes");
            Assert.True(req.VoterDirectoryId == Guid.Empty || req.VoterDirectoryId == me.Self.DirectoryId, "a vote addressed to another directory id is refused");
            Assert.True(Voters.IsVoter(req.Candidate), "only voters are voted for");
            Assert.True(req.ReplicaEpoch >= me.Epoch, "never for an older epoch");
            Assert.True(new OffsetAndEpoch(req.LastOffset, req.LastOffsetEpoch).CompareTo(me.LogEnd) >= 0, "never for a less up-to-date log");
            Assert.False(me.Role == RaftRole.Follower && me.HeardFromLeaderRecently, "stickiness: a follower that hears its leader refuses");
            if (req.PreVote) Assert.NotEqual(RaftRole.Leader, me.Role);
            if (!req.PreVote && req.ReplicaEpoch == me.Epoch)
            {
                Assert.True(me.LeaderId < 0, "no vote once a leader is known in the epoch");
                Assert.True(me.VotedId < 0 || me.VotedId == req.Candidate.Id, "one vote per epoch");
            }
        }, maxTest: 3000);
    }

    [Fact]
    public void Without_pre_vote_there_is_no_stickiness()
    {
        ForAll(Views.SelectMany(v => Requests.Select(r => (v, r))), t =>
        {
            var (me, req) = t;
            Assert.NotEqual(VoteDecision.Sticky, RaftRules.DecideVote(me, req, Voters, preVoteEnabled: false));
        }, maxTest: 500);
    }

    [Fact]
    public void A_voter_that_voted_grants_no_other_candidate_in_the_epoch()
    {
        // Sequences of requests at one voter, applying the vote it grants as the replica does: at most one candidate per epoch.
        ForAll(Requests.ListOf(), reqs =>
        {
            var me = new VoterView(0, RaftRole.Unattached, new ReplicaKey(1, Dirs[0]), true, -1, Guid.Empty, -1, false, new OffsetAndEpoch(3, 0));
            var votedIn = new Dictionary<int, int>();
            foreach (var req in reqs.Where(r => !r.PreVote))
            {
                if (req.ReplicaEpoch > me.Epoch) me = me with { Epoch = req.ReplicaEpoch, VotedId = -1, VotedDirectoryId = Guid.Empty, LeaderId = -1 };
                if (RaftRules.DecideVote(me, req, Voters) != VoteDecision.Granted) continue;
                if (votedIn.TryGetValue(req.ReplicaEpoch, out int before)) Assert.Equal(before, req.Candidate.Id);
                votedIn[req.ReplicaEpoch] = req.Candidate.Id;
                me = me with { VotedId = req.Candidate.Id, VotedDirectoryId = req.Candidate.DirectoryId };
            }
        }, maxTest: 500);
    }

    /// <summary>Epoch runs: a log is described by (epoch, count) runs with increasing epochs.</summary>
    private static Gen<List<(int Epoch, int Count)>> Runs(int firstEpoch) =>
        Gen.Choose(1, 4).SelectMany(step => Gen.Choose(1, 5).Select(count => (step, count))).ListOf()
            .Select(steps =>
            {
                var runs = new List<(int, int)>();
                int e = firstEpoch;
                foreach (var (step, count) in steps.Take(6)) { e += step; runs.Add((e, count)); }
                return runs;
            });

    private static MemoryRaftLog Build(IEnumerable<SimEntry> entries)
    {
        var log = new MemoryRaftLog();
        var list = entries.ToArray();
        if (list.Length > 0) log.AppendAsFollower(new SimBatch(0, list));
        return log;
    }

    [Fact]
    public void Fetch_validation_and_truncation_converge_on_the_leaders_log_without_cutting_what_matches()
    {
        // A leader log and a follower log that share a prefix, then diverge: the follower's tail is written by leaders
        // of epochs the leader's log does not have at those offsets (odd epochs for the follower, even for the leader,
        // so an (offset, epoch) pair never names two different entries: Raft's log matching).
        var gen = from shared in Runs(0)
                  from leaderTail in Runs(0)
                  from followerTail in Runs(0)
                  from retention in Gen.Choose(0, 10)
                  select (shared, leaderTail, followerTail, retention);
        ForAll(gen, t =>
        {
            var common = new List<SimEntry>();
            long value = 1;
            foreach (var (e, c) in t.shared) for (int i = 0; i < c; i++) common.Add(new SimEntry(e * 2, value++, false));
            int lastCommon = common.Count > 0 ? common[^1].Epoch : 0;
            var leader = new List<SimEntry>(common);
            foreach (var (e, c) in t.leaderTail) for (int i = 0; i < c; i++) leader.Add(new SimEntry(lastCommon + e * 2, value++, false));
            var follower = new List<SimEntry>(common);
            foreach (var (e, c) in t.followerTail) for (int i = 0; i < c; i++) follower.Add(new SimEntry(lastCommon + e * 2 - 1, value++, false));
            var l = Build(leader);
            var f = Build(follower);
            // Retention on the leader, at most to the shared prefix (the committed part).
            long start = Math.Min(t.retention, common.Count);
            l.DeleteBelow(start);
            for (int round = 0; ; round++)
            {
                Assert.True(round <= follower.Count + 3, "converges in a bounded number of rounds");
                var end = f.EndOffsetAndEpoch;
                var verdict = RaftRules.ValidateFetch(end.Offset, end.Epoch, l.LogStartOffsetAndEpoch, l.LogEndOffset, l.EndOffsetForEpoch(end.Epoch));
                if (verdict.Kind == FetchValidation.Outcome.Valid) break;
                if (verdict.Kind == FetchValidation.Outcome.OutOfRange)
                {
                    f.TruncateFullyAndStartAt(l.LogStartOffset, -1);
                    continue;
                }
                long to = RaftRules.TruncationOffset(verdict.DivergingEpoch, f.EndOffsetForEpoch(verdict.DivergingEpoch.Epoch), f.LogStartOffset);
                Assert.True(to >= common.Count || to >= l.LogStartOffset && verdict.DivergingEpoch == l.LogStartOffsetAndEpoch,
                    $"truncated to {to}, into the shared prefix of {common.Count}");
                Assert.True(to < f.LogEndOffset, "a diverging answer always cuts something");
                f.TruncateTo(to);
            }
            // Valid: every entry the follower kept is the leader's at that offset.
            for (long off = Math.Max(f.LogStartOffset, l.LogStartOffset); off < f.LogEndOffset; off++)
                Assert.Equal(l.EntryAt(off), f.EntryAt(off));
            Assert.True(f.LogEndOffset >= Math.Min(common.Count, l.LogEndOffset) || f.LogStartOffset == l.LogStartOffset, "the shared prefix survives (or the follower restarted at the leader's log start)");
        }, maxTest: 1500);
    }

    [Fact]
    public void The_high_watermark_is_the_largest_offset_a_majority_synced_from_the_leaders_epoch()
    {
        var gen = from n in Gen.Elements(1, 3, 5)
                  from ends in Gen.Choose(-1, 30).ArrayOf(n)
                  from epochStart in Gen.Choose(0, 25)
                  from current in Gen.Choose(0, 20)
                  select (ends, epochStart, current);
        ForAll(gen, t =>
        {
            var (ends, epochStart, current) = t;
            int majority = ends.Length / 2 + 1;
            long hw = RaftRules.HighWatermark(ends.Select(e => (long)e).ToArray(), majority, epochStart, current);
            // Model: the largest x that a majority has reached.
            long model = Enumerable.Range(-1, 40).Where(x => ends.Count(e => e >= x) >= majority).Max();
            Assert.True(hw >= current, "never goes back");
            if (hw != current)
            {
                Assert.Equal(model, hw);
                Assert.True(hw > epochStart, "only once an entry of the leader's own epoch is committed");
            }
            else Assert.True(model <= current || model <= epochStart, "moves whenever the model allows it");
        }, maxTest: 2000);
    }
}
