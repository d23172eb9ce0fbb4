using System.Globalization;
using System.Text;
using DetKafka.Sim;

namespace DetKafka.Host.Simulator;

/// <summary>
/// What the command line changes about the options a seed draws: faults forced on (with the intensity the
/// seed would draw for them) or off, the lying disk, the node invariants. A seed plus these settings is a
/// complete test case; <see cref="Flags"/> spells them back so a replay command reproduces the run.
/// </summary>
public sealed record SimSettings
{
    public IReadOnlyList<FaultKind> Forced { get; init; } = [];
    public IReadOnlyList<FaultKind> Disabled { get; init; } = [];
    public bool LyingDisk { get; init; }
    public bool NoInvariants { get; init; }

    /// <summary>Test-only broker bugs to plant (--plant); a planted run always has the admin workload.</summary>
    public Sim.Reach.PlantedBugs Planted { get; init; }

    /// <summary>Reductions a shrink found (--producers, --consumers, --no-group, --safety-ms); null: as drawn.</summary>
    public int? Producers { get; init; }
    public int? Consumers { get; init; }
    public bool NoGroup { get; init; }
    public long? SafetyPhaseMs { get; init; }

    /// <summary>A replicated cluster of this many nodes (--cluster n; SimulationOptions.DrawCluster); null: one node.</summary>
    public int? Cluster { get; init; }

    /// <summary>Test-only cluster bugs to plant (--plant with a cluster bug's name).</summary>
    public ClusterBugs ClusterPlanted { get; init; }

    public static SimSettings Default { get; } = new();

    /// <summary>The seed's drawn options with these settings applied: faults off first, then faults forced on.</summary>
    public SimulationOptions OptionsFor(ulong seed)
    {
        var options = Cluster is { } nodes ? SimulationOptions.DrawCluster(seed, nodes) : SimulationOptions.Draw(seed);
        if (ClusterPlanted != ClusterBugs.None) options = options with { ClusterBugs = ClusterPlanted };
        foreach (var kind in Disabled) options = options.Disable(kind);
        foreach (var kind in Forced) options = options.Force(kind, seed);
        if (LyingDisk) options = options with { LyingDisk = true };
        if (NoInvariants) options = options with { CheckNodeInvariants = false };
        if (Planted != Sim.Reach.PlantedBugs.None)
            options = options with { PlantedBugs = Planted, Admin = options.Admin ?? Sim.Reach.AdminWorkloadOptions.Default };
        var w = options.Workload;
        if (Producers is { } p) w = w with { Producers = w.Producers.Take(Math.Max(1, p)).ToList() };
        if (Consumers is { } c) w = w with { Consumers = w.Consumers.Take(Math.Max(1, c)).ToList() };
        if (NoGroup) w = w with { Group = null };
        options = options with { Workload = w };
        if (SafetyPhaseMs is { } ms) options = options with { SafetyPhaseMs = ms };
        return options;
    }

    /// <summary>The flags that give these settings, each with a leading space ("" for the defaults).</summary>
    public string Flags
    {
        get
        {
            var b = new StringBuilder();
            if (Cluster is { } nodes) b.Append(" --cluster ").Append(nodes.ToString(CultureInfo.InvariantCulture));
            foreach (var bug in Enum.GetValues<ClusterBugs>())
                if (bug != ClusterBugs.None && ClusterPlanted.HasFlag(bug)) b.Append(" --plant ").Append(ClusterBugNames.Kebab(bug));
            foreach (var kind in Disabled) b.Append(" --no-fault ").Append(FaultNames.Name(kind));
            foreach (var kind in Forced) b.Append(" --fault ").Append(FaultNames.Name(kind));
            if (LyingDisk) b.Append(" --lying-disk");
            if (NoInvariants) b.Append(" --no-invariants");
            foreach (var bug in Enum.GetValues<Sim.Reach.PlantedBugs>())
                if (bug != Sim.Reach.PlantedBugs.None && Planted.HasFlag(bug)) b.Append(" --plant ").Append(Sim.Reach.PlantedBugNames.Kebab(bug));
            if (Producers is { } p) b.Append(" --producers ").Append(p.ToString(CultureInfo.InvariantCulture));
            if (Consumers is { } c) b.Append(" --consumers ").Append(c.ToString(CultureInfo.InvariantCulture));
            if (NoGroup) b.Append(" --no-group");
            if (SafetyPhaseMs is { } ms) b.Append(" --safety-ms ").Append(ms.ToString(CultureInfo.InvariantCulture));
            return b.ToString();
        }
    }

    /// <summary>The command that replays <paramref name="seed"/> with the full trace and the HTML timeline.</summary>
    public string ReplayCommand(ulong seed)
    {
        string s = seed.ToString(CultureInfo.InvariantCulture);
        return $"detkafka sim replay --seed {s}{Flags} --trace seed-{s}.jsonl --html seed-{s}.html";
    }

    /// <summary>Parses fault names (kebab case, or "all"). Throws <see cref="ArgumentException"/> with a message
    /// for the user on an unknown name or a fault both forced and disabled.</summary>
    public static SimSettings Parse(IEnumerable<string>? forced, IEnumerable<string>? disabled, bool lyingDisk, bool noInvariants)
    {
        var on = Kinds(forced, "--fault");
        var off = Kinds(disabled, "--no-fault");
        var both = on.Intersect(off).ToList();
        if (both.Count > 0)
            throw new ArgumentException($"--fault and --no-fault both name {string.Join(", ", both.Select(FaultNames.Name))}");
        return new SimSettings { Forced = on, Disabled = off, LyingDisk = lyingDisk, NoInvariants = noInvariants };
    }

    private static List<FaultKind> Kinds(IEnumerable<string>? names, string flag)
    {
        var kinds = new SortedSet<FaultKind>();
        foreach (var raw in names ?? [])
        {
            foreach (var name in raw.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries))
            {
                if (name == "all") kinds.UnionWith(FaultNames.All);
                else if (FaultNames.TryParse(name, out var kind)) kinds.Add(kind);
                else
                    throw new ArgumentException($"{flag}: unknown fault '{name}'; known: all, {string.Join(", ", FaultNames.All.Select(FaultNames.Name))}");
            }
        }
        return kinds.ToList();
    }
}

/// <summary>An inclusive range of seeds, written "A..B" (or one seed, "N").</summary>
public readonly record struct SeedRange(ulong First, ulong Last)
{
    /// <summary>Seeds a sweep may cover at most: outcomes are kept in memory, one small record per seed.</summary>
    public const ulong CountMax = 10_000_000;

    public ulong Count => Last - First + 1;

    public override string ToString() => string.Create(CultureInfo.InvariantCulture, $"{First}..{Last}");

    public static SeedRange Parse(string text)
    {
        string s = text.Trim();
        int dots = s.IndexOf("..", StringComparison.Ordinal);
        ulong first, last;
        if (dots < 0)
        {
            first = last = ParseSeed(s, text);
        }
        else
        {
            first = ParseSeed(s[..dots], text);
            last = ParseSeed(s[(dots + 2)..], text);
        }
        if (last < first) throw new ArgumentException($"--seeds '{text}': the range is empty (the last seed is below the first)");
        if (last - first >= CountMax) throw new ArgumentException($"--seeds '{text}': at most {CountMax} seeds per sweep");
        return new SeedRange(first, last);
    }

    private static ulong ParseSeed(string s, string text)
        => ulong.TryParse(s.Trim(), NumberStyles.None, CultureInfo.InvariantCulture, out ulong v)
            ? v
            : throw new ArgumentException($"--seeds '{text}': expected A..B or N with non-negative integers");
}
