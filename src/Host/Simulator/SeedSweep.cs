using System.Diagnostics;
using DetKafka.Sim;

namespace DetKafka.Host.Simulator;

/// <summary>What one seed of a sweep came to (the run's history is not kept: a sweep covers many seeds).</summary>
public sealed record SeedOutcome(
    ulong Seed,
    Verdict Verdict,
    IReadOnlyList<FaultKind> Faults,
    Violation? FirstViolation,
    IReadOnlyList<string> Problems,
    string? Exception,
    ulong TraceHash,
    long Events,
    long VirtualTimeMs,
    double WallSeconds)
{
    public bool Passed => Verdict == Verdict.Pass;

    public string Summary(SimSettings settings)
        => Seed + ": " + Verdict + (FirstViolation is { } v ? " - " + v : "") + "\n    replay: " + settings.ReplayCommand(Seed);
}

/// <summary>A fault class's share of a sweep: seeds that had it on, and how they ended.</summary>
public sealed record FaultRow(string Name, int Enabled, int Passed, int Failed);

/// <summary>
/// Runs a range of seeds on <c>jobs</c> worker threads. Each <see cref="Simulation.Run"/> is a pure function of
/// its seed and options and shares nothing with the others, so running them side by side changes no outcome:
/// the threads live here in the host, never inside a run. Workers take the next seed from a shared counter;
/// outcomes are kept in seed order.
/// </summary>
public sealed class SeedSweep
{
    private readonly SeedRange _seeds;
    private readonly int _jobs;
    private readonly Func<ulong, SimulationOptions> _options;
    private readonly SeedOutcome?[] _outcomes;
    private readonly CountdownEvent _finished;
    private readonly Stopwatch _wall = new();
    private long _next;
    private int _done;
    private int _failed;

    public SeedSweep(SeedRange seeds, int jobs, Func<ulong, SimulationOptions> options)
    {
        if (jobs < 1) throw new ArgumentOutOfRangeException(nameof(jobs), "at least one job");
        if (seeds.Count > SeedRange.CountMax) throw new ArgumentOutOfRangeException(nameof(seeds));
        _seeds = seeds;
        _options = options;
        _outcomes = new SeedOutcome?[(int)seeds.Count];
        _jobs = (int)Math.Min((ulong)jobs, seeds.Count);
        _finished = new CountdownEvent(_jobs);
    }

    public int Total => _outcomes.Length;
    public int Done => Volatile.Read(ref _done);
    public int Failed => Volatile.Read(ref _failed);
    public TimeSpan Elapsed => _wall.Elapsed;

    /// <summary>Runs every seed and waits (the test suite's sweep; the CLI starts and watches instead).</summary>
    public static SweepResult Run(SeedRange seeds, int jobs, Func<ulong, SimulationOptions> options)
    {
        var sweep = new SeedSweep(seeds, jobs, options);
        sweep.Start();
        sweep.Wait(Timeout.InfiniteTimeSpan);
        return sweep.Result;
    }

    public void Start()
    {
        _wall.Start();
        for (int i = 0; i < _jobs; i++)
        {
            // Big stacks: a run is deep (broker, client, codec) and a stack overflow cannot be caught.
            var thread = new Thread(Work, 16 * 1024 * 1024) { IsBackground = true, Name = "sim-sweep-" + i };
            thread.Start();
        }
    }

    /// <summary>True once every seed has run.</summary>
    public bool Wait(TimeSpan timeout)
    {
        bool done = _finished.Wait(timeout);
        if (done) _wall.Stop();
        return done;
    }

    public SweepResult Result
    {
        get
        {
            if (!_finished.IsSet) throw new InvalidOperationException("the sweep is still running");
            return new SweepResult(_seeds, _outcomes.Select(o => o!).ToList(), _wall.Elapsed.TotalSeconds, _jobs);
        }
    }

    private void Work()
    {
        try
        {
            while (true)
            {
                long i = Interlocked.Increment(ref _next) - 1;
                if (i >= _outcomes.Length) return;
                var outcome = RunOne(_seeds.First + (ulong)i, _options);
                _outcomes[i] = outcome;
                if (!outcome.Passed) Interlocked.Increment(ref _failed);
                Interlocked.Increment(ref _done);
            }
        }
        finally
        {
            _finished.Signal();
        }
    }

    /// <summary>One seed, with anything that escapes the run itself (drawing options, building the world)
    /// reported as a Crash instead of killing the sweep.</summary>
    public static SeedOutcome RunOne(ulong seed, Func<ulong, SimulationOptions> optionsFor)
    {
        var wall = Stopwatch.StartNew();
        SimulationOptions? options = null;
        try
        {
            options = optionsFor(seed);
            var r = Simulation.Run(seed, options);
            return new SeedOutcome(seed, r.Verdict, options.EnabledFaults, r.FirstViolation, r.HistoryProblems.Take(5).ToList(),
                r.Exception?.ToString(), r.TraceHash, r.Events, r.VirtualTimeMs, wall.Elapsed.TotalSeconds);
        }
        catch (Exception e)
        {
            return new SeedOutcome(seed, Verdict.Crash, options?.EnabledFaults ?? [], new Violation(0, 0, "exception", e.GetType().Name + ": " + e.Message),
                [], e.ToString(), 0, 0, 0, wall.Elapsed.TotalSeconds);
        }
    }
}

/// <summary>A finished sweep: every seed's outcome in seed order.</summary>
public sealed record SweepResult(SeedRange Seeds, IReadOnlyList<SeedOutcome> Outcomes, double WallSeconds, int Jobs)
{
    public IReadOnlyList<SeedOutcome> Failures => Outcomes.Where(o => !o.Passed).ToList();

    public bool AllPassed => Outcomes.All(o => o.Passed);

    /// <summary>For each fault class: seeds that had it on, passed, failed.</summary>
    public IReadOnlyList<FaultRow> ByFault()
    {
        var rows = new List<FaultRow>();
        foreach (var kind in FaultNames.All)
        {
            var with = Outcomes.Where(o => o.Faults.Contains(kind)).ToList();
            int passed = with.Count(o => o.Passed);
            rows.Add(new FaultRow(FaultNames.Name(kind), with.Count, passed, with.Count - passed));
        }
        return rows;
    }

    /// <summary>Seeds per verdict, in the enum's order, verdicts that occurred only.</summary>
    public IReadOnlyList<(Verdict Verdict, int Seeds)> ByVerdict()
        => Enum.GetValues<Verdict>().Select(v => (v, Outcomes.Count(o => o.Verdict == v))).Where(x => x.Item2 > 0).ToList();
}
