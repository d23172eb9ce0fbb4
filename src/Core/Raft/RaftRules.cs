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

/// <summary>The leader's verdict on a fetch position: valid, out of range (start over at the log start), or diverging
/// at <see cref="DivergingEpoch"/>.</summary>
public readonly record struct FetchValidation(FetchValidation.Outcome Kind, OffsetAndEpoch DivergingEpoch)
{
    public enum Outcome { Valid, OutOfRange, Diverging }
    public static readonly FetchValidation Valid = new(Outcome.Valid, default);
    public static readonly FetchValidation OutOfRange = new(Outcome.OutOfRange, default);
    public static FetchValidation Diverge(OffsetAndEpoch at) => new(Outcome.Diverging, at);
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
    /// The leader's check of a follower's fetch position (Kafka's validateOffsetAndEpoch). <paramref name="logStart"/> is
    /// the leader's log start and the epoch of the entry just below it (the snapshot id's epoch).
    /// <list type="bullet">
    /// <item>Below the log start, or at it with another epoch below it than the leader's: out of range (the follower
    /// starts over at the log start: nothing in its log can be matched any more).</item>
    /// <item>An empty follower log (offset 0, or no last epoch: it started over at some leader's log start, which
    /// only ever moves below a commit index, so everything below it is committed and in this leader's log): valid
    /// from anywhere in the leader's log.</item>
    /// <item>The leader no longer has the follower's last epoch (retention took it): diverging at the log start.</item>
    /// <item>Otherwise valid when the follower's last fetched epoch ends, in the leader's log, at or after the fetch
    /// offset; else diverging at that epoch's end.</item>
    /// </list>
    /// The simulator found the case at the log start (seed 4743, committed-entry-changed): skipping the comparison
    /// there let a follower keep a divergent prefix below the leader's log start.
    /// </summary>
    public static FetchValidation ValidateFetch(long fetchOffset, int lastFetchedEpoch, OffsetAndEpoch logStart, long logEndOffset,
        OffsetAndEpoch leaderEndForEpoch)
    {
        if (fetchOffset < logStart.Offset) return FetchValidation.OutOfRange;
        if (fetchOffset == 0 || lastFetchedEpoch < 0) return fetchOffset <= logEndOffset ? FetchValidation.Valid : FetchValidation.OutOfRange;
        if (fetchOffset == logStart.Offset)
            return lastFetchedEpoch == logStart.Epoch ? FetchValidation.Valid : FetchValidation.OutOfRange;
        if (leaderEndForEpoch.Epoch < 0) return FetchValidation.Diverge(logStart);
        if (leaderEndForEpoch.Epoch == lastFetchedEpoch && fetchOffset <= leaderEndForEpoch.Offset) return FetchValidation.Valid;
        return FetchValidation.Diverge(leaderEndForEpoch);
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
