using System.Globalization;
using System.Text;

namespace DetKafka.Sim.Reach;

/// <summary>
/// What the admin process's topics may look like: exists or not, partition count, and the topic config overrides
/// the process manages (canonical "k=v;k=v" text so states compare by value).
/// </summary>
public sealed record TopicState(bool Exists, int Partitions, string Configs)
{
    public static TopicState Absent { get; } = new(false, 0, "");

    public SortedDictionary<string, string> ConfigMap()
    {
        var map = new SortedDictionary<string, string>(StringComparer.Ordinal);
        if (Configs.Length == 0) return map;
        foreach (var pair in Configs.Split(';'))
        {
            int eq = pair.IndexOf('=', StringComparison.Ordinal);
            map[pair[..eq]] = pair[(eq + 1)..];
        }
        return map;
    }

    public static string Canonical(IEnumerable<KeyValuePair<string, string>> configs)
        => string.Join(";", configs.OrderBy(kv => kv.Key, StringComparer.Ordinal).Select(kv => kv.Key + "=" + kv.Value));

    public override string ToString()
        => Exists ? string.Create(CultureInfo.InvariantCulture, $"exists({Partitions} partitions{(Configs.Length > 0 ? ", " + Configs : "")})") : "absent";
}

/// <summary>One record the admin process sent: its unique id (the record value), timestamp and what became of it.</summary>
public sealed class SentRecord(long id, int partition, long timestamp)
{
    public long Id { get; } = id;
    public int Partition { get; } = partition;
    public long Timestamp { get; } = timestamp;

    /// <summary>The offset the broker acknowledged for it; null while unknown (in flight, or lost in an ambiguity).</summary>
    public long? Offset { get; set; }
}

/// <summary>
/// The model of one partition of an admin topic in one incarnation: bounds the broker's answers must fall in.
/// The admin process is the partition's only writer, so every record in the log is one it sent.
/// <list type="bullet">
/// <item>High watermark: at least the end of every acknowledged produce (acks=all, synced before the answer,
/// so it survives a crash) and at most the number of records ever sent (any of them may have been written).</item>
/// <item>Log start offset: at least the largest acknowledged DeleteRecords low watermark (checkpointed durably
/// before the answer) and at most the largest offset any DeleteRecords asked for.</item>
/// </list>
/// </summary>
public sealed class PartitionModel(int index)
{
    public int Index { get; } = index;
    public List<SentRecord> Records { get; } = new();
    public SortedDictionary<long, SentRecord> ByOffset { get; } = new();
    public Dictionary<long, SentRecord> ById { get; } = new();

    /// <summary>Records sent and not definitely refused: an upper bound on the log end offset.</summary>
    public long MaybeWritten { get; set; }

    public long HwLow { get; set; }
    public long LsoLow { get; set; }
    public long LsoHigh { get; set; }

    /// <summary>A produce ended ambiguously: its records may land later (a request still on the wire when the client
    /// gave up arrives after the FIN is sent), so offsets no longer follow send order and timestamp lookups are
    /// judged only loosely.</summary>
    public bool OrderUncertain { get; set; }

    public long LastTimestamp { get; set; } = -1;
}

/// <summary>An admin topic: the states it may be in now, and (when it certainly exists) its partitions' data.</summary>
public sealed class TopicModel(string name)
{
    public string Name { get; } = name;

    /// <summary>Every state the topic may be in now. One state: known. More: a change ended ambiguously.</summary>
    public List<TopicState> Candidates { get; } = [TopicState.Absent];

    /// <summary>A change ended ambiguously: the name is retired (never changed again; reads still checked).</summary>
    public bool Tainted { get; set; }

    /// <summary>A Produce or DeleteRecords ended without an answer: it may still be applied, however late, so the topic
    /// is never deleted (a later incarnation would receive it).</summary>
    public bool LateData { get; set; }

    public int MutationsInFlight { get; set; }
    public int DataOpsInFlight { get; set; }
    public int Incarnation { get; set; }
    public List<PartitionModel> Partitions { get; } = new();

    /// <summary>Reads in flight that accumulate every state the topic passes through until they are answered.</summary>
    public List<HashSet<TopicState>> Watchers { get; } = new();

    public bool Known => Candidates.Count == 1 && !Tainted;
    public TopicState? State => Known ? Candidates[0] : null;

    public bool UsableForData => Known && Candidates[0].Exists && MutationsInFlight == 0;
    public bool Mutable => Known && MutationsInFlight == 0 && DataOpsInFlight == 0;

    public void SetCandidates(IEnumerable<TopicState> states)
    {
        var list = states.Distinct().ToList();
        Candidates.Clear();
        Candidates.AddRange(list);
        foreach (var w in Watchers) w.UnionWith(list);
    }

    public HashSet<TopicState> Watch()
    {
        var set = new HashSet<TopicState>(Candidates);
        Watchers.Add(set);
        return set;
    }

    public void Unwatch(HashSet<TopicState> set) => Watchers.Remove(set);
}

/// <summary>
/// The reference model of the admin workload (SIMULATION.md, "The reference model"): predicts the acceptable
/// answers of every response the admin process gets and records each wrong one as a named violation. Sound under
/// every fault of the swarm: an answer that may or may not reflect a change (the change's request is in flight, or
/// ended without a response) is accepted either way; only answers no interleaving could give are violations.
/// </summary>
public sealed class ReferenceModel
{
    /// <summary>Bound on violations kept (the run stops at the first one anyway).</summary>
    public const int MaxViolations = 100;

    private readonly List<(string Name, string Message)> _violations = new();
    private readonly SortedDictionary<string, TopicModel> _topics = new(StringComparer.Ordinal);
    private readonly HashSet<long> _producerIds = new();
    private string? _clusterId;

    public IReadOnlyList<(string Name, string Message)> Violations => _violations;

    public IEnumerable<TopicModel> Topics => _topics.Values;

    /// <summary>Responses checked against the model, by API name (what the coverage of the model looks like).</summary>
    public SortedDictionary<string, long> Checked { get; } = new(StringComparer.Ordinal);

    public void Count(string what)
    {
        Checked[what] = Checked.GetValueOrDefault(what) + 1;
        OnChecked?.Invoke(what);
    }

    /// <summary>Called for every response checked (the world counts them as "model.checked.API").</summary>
    public Action<string>? OnChecked { get; set; }

    public void Violation(string name, string message)
    {
        if (_violations.Count < MaxViolations) _violations.Add((name, message));
    }

    public TopicModel Topic(string name)
    {
        if (!_topics.TryGetValue(name, out var t)) _topics[name] = t = new TopicModel(name);
        return t;
    }

    // ---- cluster-wide answers -----------------------------------------------------------------------------

    /// <summary>The cluster id never changes (it is stored on the node's disk at first boot).</summary>
    public void CheckClusterId(string api, string? clusterId)
    {
        if (clusterId is null) return;
        _clusterId ??= clusterId;
        if (clusterId != _clusterId) Violation("model-cluster-id", $"{api} answered cluster id {clusterId}, earlier {_clusterId}");
    }

    /// <summary>InitProducerId never hands out a producer id twice (ids come from durable blocks).</summary>
    public void CheckProducerId(long producerId, short epoch)
    {
        if (epoch != 0) Violation("model-init-producer-id", $"a new producer id {producerId} came with epoch {epoch}, not 0");
        if (producerId < 0) Violation("model-init-producer-id", $"InitProducerId answered None with producer id {producerId}");
        else if (!_producerIds.Add(producerId)) Violation("model-producer-id-reused", $"producer id {producerId} was handed out twice");
    }

    // ---- topic changes ------------------------------------------------------------------------------------

    /// <summary>A change to a topic was sent: until it is answered the topic may be in the old or the new state.</summary>
    public void MutationSent(TopicModel t, Func<TopicState, TopicState> apply)
    {
        t.MutationsInFlight++;
        t.SetCandidates(t.Candidates.Concat(t.Candidates.Select(apply)));
    }

    /// <summary>The change was answered with success: the new state, durably.</summary>
    public void MutationApplied(TopicModel t, TopicState before, TopicState after)
    {
        t.MutationsInFlight--;
        if (t.Tainted) return;
        bool recreate = after.Exists && !before.Exists;
        t.SetCandidates([after]);
        if (recreate || !after.Exists)
        {
            t.Incarnation++;
            t.Partitions.Clear();
        }
        while (after.Exists && t.Partitions.Count < after.Partitions) t.Partitions.Add(new PartitionModel(t.Partitions.Count));
    }

    /// <summary>The change was refused: the old state.</summary>
    public void MutationRefused(TopicModel t, TopicState before)
    {
        t.MutationsInFlight--;
        if (!t.Tainted) t.SetCandidates([before]);
    }

    /// <summary>No answer (connection lost, timed out, a storage error): either state, and possibly later. The
    /// name is retired.</summary>
    public void MutationAmbiguous(TopicModel t)
    {
        t.MutationsInFlight--;
        t.Tainted = true;
    }

    /// <summary>A read's answer about a topic must match some state the topic was in while the read was in flight.</summary>
    public bool Acceptable(HashSet<TopicState> seen, Func<TopicState, bool> matches) => seen.Any(matches);

    public static string Describe(HashSet<TopicState> seen)
    {
        var b = new StringBuilder();
        foreach (var s in seen.Select(s => s.ToString()).OrderBy(s => s, StringComparer.Ordinal))
        {
            if (b.Length > 0) b.Append(" or ");
            b.Append(s);
        }
        return b.ToString();
    }
}
