namespace DetKafka.Core.Raft;

/// <summary>Why a vote was granted or refused (RaftRules.DecideVote).</summary>
public enum VoteDecision
{
    Granted,
    /// <summary>The request's epoch is older than the voter's.</summary>
    StaleEpoch,
    /// <summary>This replica is not a voter (an observer, or a replica whose directory id the voter set does not know).</summary>
    NotAVoter,
    /// <summary>The candidate addressed another directory id: this replica restarted with an empty disk (KIP-853).</summary>
    WrongVoterKey,
    /// <summary>The candidate is not in the voter set.</summary>
    CandidateNotAVoter,
    /// <summary>Leader stickiness: this replica leads, or follows a leader it heard from within the fetch timeout.</summary>
    Sticky,
    /// <summary>A leader is already known in this epoch.</summary>
    LeaderKnown,
    /// <summary>The vote of this epoch went to another candidate.</summary>
    AlreadyVoted,
    /// <summary>The candidate's log is less up to date (last epoch, then end offset).</summary>
    LogBehind,
}

/// <summary>What a voter knows when a vote request arrives.</summary>
public readonly record struct VoterView(int Epoch, RaftRole Role, ReplicaKey Self, bool SelfIsVoter, int VotedId,
    Guid VotedDirectoryId, int LeaderId, bool HeardFromLeaderRecently, OffsetAndEpoch LogEnd);

/// <summary>The rules of KRaft as pure functions, so property tests can pin them down apart from the state machine.</summary>
public static class RaftRules
{
    /// <summary>
    /// Whether a voter grants a vote (or pre-vote). A real vote for a higher epoch is judged as if the voter had
    /// already moved to that epoch (no vote, no leader), which is what it does unless stickiness refuses first.
    /// With <paramref name="preVoteEnabled"/> off (a planted bug) there is no stickiness at all.
    /// </summary>
    public static VoteDecision DecideVote(in VoterView me, VoteRequestMessage request, VoterSet voters, bool preVoteEnabled = true)
    {
        if (!me.SelfIsVoter) return VoteDecision.NotAVoter;
        if (request.VoterDirectoryId != Guid.Empty && request.VoterDirectoryId != me.Self.DirectoryId) return VoteDecision.WrongVoterKey;
        if (!voters.IsVoter(request.Candidate)) return VoteDecision.CandidateNotAVoter;
        if (request.ReplicaEpoch < me.Epoch) return VoteDecision.StaleEpoch;
        bool followingLiveLeader = me.Role == RaftRole.Follower && me.HeardFromLeaderRecently;
        if (request.PreVote)
        {
            // A pre-vote moves nothing; refuse it while a leader is alive (this one, or the one we follow).
            if (preVoteEnabled && (me.Role == RaftRole.Leader || followingLiveLeader)) return VoteDecision.Sticky;
            return IsUpToDate(request, me.LogEnd) ? VoteDecision.Granted : VoteDecision.LogBehind;
        }
        // Raft thesis 9.6: a follower that hears its leader neither grants nor moves its epoch. A leader is not
        // sticky: a candidate got past a pre-vote majority, so a majority no longer hears this leader.
        if (preVoteEnabled && followingLiveLeader) return VoteDecision.Sticky;
        if (request.ReplicaEpoch == me.Epoch)
        {
            if (me.LeaderId >= 0 && me.LeaderId != request.Candidate.Id) return VoteDecision.LeaderKnown;
            if (me.LeaderId == request.Candidate.Id) return VoteDecision.LeaderKnown; // it won already: nothing to grant
            if (me.VotedId >= 0 && (me.VotedId != request.Candidate.Id || me.VotedDirectoryId != request.Candidate.DirectoryId))
                return VoteDecision.AlreadyVoted;
        }
        return IsUpToDate(request, me.LogEnd) ? VoteDecision.Granted : VoteDecision.LogBehind;
    }

    /// <summary>Raft's election restriction: the candidate's last epoch is higher, or equal with an end offset at least ours.</summary>
    public static bool IsUpToDate(VoteRequestMessage request, OffsetAndEpoch mine)
        => new OffsetAndEpoch(request.LastOffset, request.LastOffsetEpoch).CompareTo(mine) >= 0;

    /// <summary>
    /// The leader's check of a follower's fetch position (Kafka's validateOffsetAndEpoch): valid when the follower's
    /// last fetched epoch ends, in the leader's log, at or after the fetch offset. Otherwise the diverging epoch and
    /// end offset the follower must truncate to. At the log start there is nothing to compare.
    /// </summary>
    public static OffsetAndEpoch? Divergence(long fetchOffset, int lastFetchedEpoch, long logStartOffset, OffsetAndEpoch leaderEndForEpoch)
    {
        if (fetchOffset == logStartOffset) return null;
        if (leaderEndForEpoch.Epoch == lastFetchedEpoch && fetchOffset <= leaderEndForEpoch.Offset) return null;
        return leaderEndForEpoch;
    }

    /// <summary>
    /// Where a follower truncates on a diverging epoch (E, end) from its leader: the smaller of the leader's end for
    /// E and the follower's own end for E (its largest epoch &lt;= E). Every entry at or above it is from an epoch the
    /// leader does not have at that offset, so nothing that matches the leader, and nothing committed, is removed.
    /// A follower with no epoch that old truncates to its log start.
    /// </summary>
    public static long TruncationOffset(OffsetAndEpoch diverging, OffsetAndEpoch localEndForEpoch, long logStartOffset)
    {
        if (diverging.Epoch < 0 || localEndForEpoch.Epoch < 0) return logStartOffset;
        return Math.Max(logStartOffset, Math.Min(diverging.Offset, localEndForEpoch.Offset));
    }

    /// <summary>
    /// The leader's high watermark: the largest end offset a majority of voters has synced (one entry per voter, -1
    /// for unknown), but only once it covers an entry of the leader's own epoch (the leader-change entry at
    /// <paramref name="epochStartOffset"/>), and never below <paramref name="current"/>.
    /// </summary>
    public static long HighWatermark(ReadOnlySpan<long> voterSyncedEnds, int majority, long epochStartOffset, long current)
    {
        if (majority < 1 || voterSyncedEnds.Length < majority) return current;
        Span<long> sorted = stackalloc long[voterSyncedEnds.Length];
        voterSyncedEnds.CopyTo(sorted);
        sorted.Sort();
        long candidate = sorted[sorted.Length - majority]; // the majority-th largest
        return candidate > epochStartOffset && candidate > current ? candidate : current;
    }
}
