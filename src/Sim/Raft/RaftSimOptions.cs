using DetKafka.Core.Abstractions;
using DetKafka.Core.Raft;

namespace DetKafka.Sim.Raft;

/// <summary>The faults of the Raft simulation (REPLICATION.md, "The Raft simulation"). Each seed turns each on with
/// probability 1/2 (swarm testing).</summary>
[Flags]
public enum RaftFault
{
    None = 0,
    Drop = 1 << 0,          // a link (or all) loses messages for a while
    Duplicate = 1 << 1,     // static: a message is delivered twice
    Delay = 1 << 2,         // static: a tail of slow messages (reordering)
    Partition = 1 << 3,     // two groups, cut both ways
    Asymmetric = 1 << 4,    // two groups, cut one way
    Flapping = 1 << 5,      // one link goes down and up every 20-300 ms
    Isolate = 1 << 6,       // one node cut off for seconds (a flapping node's long version)
    Pause = 1 << 7,         // a node stops (GC, SIGSTOP): its inputs wait, its clock runs
    ClockDrift = 1 << 8,    // static: each node's clock runs 5% fast or slow at most
    ClockJump = 1 << 9,     // a node's monotonic clock leaps forward (a VM suspended): its timers fire at once
    Crash = 1 << 10,        // power loss: unsynced writes lost; restart after a while
    EmptyDisk = 1 << 11,    // a crash that loses the disk: restart with an empty one (a new directory id)
    FsyncError = 1 << 12,   // syncs on one node fail with EIO: the process stops and restarts from what the disk kept
    Retention = 1 << 13,    // a replica deletes its log below its high watermark (far-behind followers start over)
    All = (1 << 14) - 1,
}

/// <summary>What each replica's log is: the simulator's in-memory log, or the broker's <c>UnifiedLog</c> on a
/// simulated disk behind <c>UnifiedRaftLog</c> (the adapter a replicated partition uses).</summary>
public enum RaftSimStorage { Memory, UnifiedLog }

public sealed record RaftSimOptions
{
    public RaftSimStorage Storage { get; init; } = RaftSimStorage.Memory;
    /// <summary>Test-only bugs planted in the UnifiedLog adapter (Storage = UnifiedLog).</summary>
    public DetKafka.Core.Storage.RaftLogPlantedBugs LogPlantedBugs { get; init; } = DetKafka.Core.Storage.RaftLogPlantedBugs.None;
    public int Nodes { get; init; } = 3;
    public RaftFault Faults { get; init; } = RaftFault.None;
    public long SafetyPhaseMs { get; init; } = 8000;
    public long LivenessBoundMs { get; init; } = 30_000;
    /// <summary>Proposals that must commit after the heal.</summary>
    public int LivenessProposals { get; init; } = 5;
    /// <summary>Mean time between proposals during the safety phase.</summary>
    public int ProposalIntervalMs { get; init; } = 40;
    /// <summary>Fault episodes per second, per enabled episodic fault.</summary>
    public double FaultRatePerSecond { get; init; } = 0.5;
    /// <summary>How far a node's epoch may run ahead of the highest epoch that had a leader (epoch-inflation).</summary>
    public int EpochInflationBound { get; init; } = 10;
    public RaftPlantedBugs PlantedBugs { get; init; } = RaftPlantedBugs.None;
    /// <summary>The checks that look at a replica's durable state directly (quorum-state-durable, and epoch-monotonic
    /// across a restart). Tests turn them off to show that a planted bug also breaks what clients see.</summary>
    public bool DurableStateChecks { get; init; } = true;
    public RaftConfig Config { get; init; } = new()
    {
        ElectionTimeoutMs = 300, FetchTimeoutMs = 600, ElectionBackoffMaxMs = 300, RequestTimeoutMs = 150, FetchMaxWaitMs = 100,
        MaxFetchEntries = 32,
    };
    public long MaxEvents { get; init; } = 2_000_000;

    /// <summary>The options a seed draws: 3 or 5 nodes unless given, each fault on with probability 1/2, a safety phase
    /// of 3-12 s.</summary>
    public static RaftSimOptions Draw(ulong seed, int? nodes = null)
    {
        var r = new SeededRandom(seed ^ 0x5241465453494DUL);
        var faults = RaftFault.None;
        for (int bit = 0; (1 << bit) < (int)RaftFault.All; bit++)
            if (r.NextBool(0.5)) faults |= (RaftFault)(1 << bit);
        int n = nodes ?? (r.NextBool(0.5) ? 3 : 5);
        var o = new RaftSimOptions
        {
            Nodes = n, Faults = faults, SafetyPhaseMs = 3000 + (long)r.NextBelow(9000),
            ProposalIntervalMs = 10 + (int)r.NextBelow(90), FaultRatePerSecond = 0.3 + r.NextDouble(),
        };
        // Half the seeds run the log as the metadata log: a follower below the leader's log start loads a snapshot
        // (the SnapshotId answer and the snapshot hook) instead of starting an empty data log there.
        return r.NextBool(0.5) ? o with { Config = o.Config with { DataLog = false } } : o;
    }

    public static string Names(RaftFault faults)
        => faults == RaftFault.None ? "none" : string.Join(",", Enum.GetValues<RaftFault>()
            .Where(f => f != RaftFault.None && f != RaftFault.All && faults.HasFlag(f)).Select(f => Kebab(f.ToString())));

    public static string Kebab(string s)
    {
        var b = new System.Text.StringBuilder();
        for (int i = 0; i < s.Length; i++)
        {
            if (char.IsUpper(s[i]) && i > 0) b.Append('-');
            b.Append(char.ToLowerInvariant(s[i]));
        }
        return b.ToString();
    }

    public static bool TryParseBug(string name, out RaftPlantedBugs bug)
    {
        foreach (var b in Enum.GetValues<RaftPlantedBugs>())
        {
            if (b != RaftPlantedBugs.None && Kebab(b.ToString()) == name) { bug = b; return true; }
        }
        bug = RaftPlantedBugs.None;
        return false;
    }
}

/// <summary>What one seed did.</summary>
public sealed class RaftSimResult
{
    public ulong Seed { get; init; }
    public RaftSimOptions Options { get; init; } = null!;
    public bool Passed => Violation is null;
    /// <summary>The name of the first violated check (one-leader-per-epoch, committed-entry-changed, ...), or null.</summary>
    public string? Violation { get; set; }
    public string? Message { get; set; }
    public long Events { get; set; }
    public long VirtualMs { get; set; }
    public ulong TraceHash { get; set; }
    public int Elections { get; set; }
    public int MaxEpoch { get; set; }
    public long Committed { get; set; }
    public int Acknowledged { get; set; }
    public int Crashes { get; set; }
    public int EmptyDisks { get; set; }
    public int MessagesSent { get; set; }
    public int MessagesDropped { get; set; }
    public int SnapshotsLoaded { get; set; }
    /// <summary>UnifiedLogs opened on simulated disks (Storage = UnifiedLog): one per node and per lost disk.</summary>
    public int DiskLogs { get; set; }
    /// <summary>Divergent suffixes a follower's UnifiedLog cut (Storage = UnifiedLog).</summary>
    public int Truncations { get; set; }

    public string Summary() => Passed
        ? $"pass: {Events} events, {VirtualMs} ms, {Elections} leaders elected, max epoch {MaxEpoch}, commit index {Committed}, {Acknowledged} proposals acknowledged, {Crashes} crashes, {EmptyDisks} empty disks, {SnapshotsLoaded} snapshots loaded, {MessagesSent} messages ({MessagesDropped} dropped)"
        : $"{Violation}: {Message}";
}
