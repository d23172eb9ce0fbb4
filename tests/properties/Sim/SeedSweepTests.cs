using System.Globalization;
using DetKafka.Host;
using DetKafka.Host.Simulator;
using DetKafka.Sim;
using Xunit;
using Xunit.Abstractions;

namespace DetKafka.Properties.Sim;

/// <summary>The sweep the test command runs on every build, and the <c>detkafka sim</c> commands' contracts.</summary>
public class SeedSweepTests(ITestOutputHelper log)
{
    /// <summary>
    /// Seeds the test suite sweeps on every run, swarm-drawn (every fault class on in about half of them). On the
    /// 2-core development machine, shared with other work, 1,000 took 12 s with 2 jobs in Release (16 s in Debug,
    /// 17 s through the CLI at load average 9); the whole ./test.sh takes about 5 minutes. A fixed range, so a
    /// failure here is a seed anyone can replay.
    /// </summary>
    public const ulong SweepFirst = 10_001;
    public const int SweepSeeds = 1_000;

    [Fact]
    public void A_thousand_swarm_seeds_pass()
    {
        var range = new SeedRange(SweepFirst, SweepFirst + SweepSeeds - 1);
        var result = SeedSweep.Run(range, jobs: 2, SimSettings.Default.OptionsFor);
        log.WriteLine(string.Create(CultureInfo.InvariantCulture,
            $"{SweepSeeds} seeds in {result.WallSeconds:F1} s with 2 jobs ({result.WallSeconds / SweepSeeds * 1000:F1} ms per seed; "
            + $"{result.Outcomes.Sum(o => o.WallSeconds) / SweepSeeds * 1000:F1} ms per run; {result.Outcomes.Sum(o => o.Events)} events, "
            + $"{result.Outcomes.Sum(o => o.VirtualTimeMs) / 1000} s of virtual time)"));

        var failures = result.Failures;
        Assert.True(failures.Count == 0,
            $"{failures.Count} of {SweepSeeds} seeds failed:\n" + string.Join("\n", failures.Take(20).Select(f => "  seed " + f.Summary(SimSettings.Default))));
        Assert.Equal(SweepSeeds, result.Outcomes.Count);
        Assert.Equal(range.First, result.Outcomes[0].Seed);
        Assert.Equal(range.Last, result.Outcomes[^1].Seed);
        // Every fault class was on in a good share of the seeds (each is drawn with probability 1/2).
        foreach (var row in result.ByFault())
            Assert.True(row.Enabled > SweepSeeds / 3, $"{row.Name} was on in only {row.Enabled} of {SweepSeeds} seeds");
    }

    [Fact]
    public void A_sweep_runs_each_seed_exactly_as_a_single_run_does()
    {
        var result = SeedSweep.Run(new SeedRange(40, 45), jobs: 3, SimSettings.Default.OptionsFor);
        foreach (var outcome in result.Outcomes)
        {
            var alone = Simulation.Run(outcome.Seed);
            Assert.Equal(alone.TraceHash, outcome.TraceHash);
            Assert.Equal(alone.Verdict, outcome.Verdict);
            Assert.Equal(alone.Events, outcome.Events);
        }
    }

    private static (int Exit, string Out, string Err) Cli(params string[] args)
    {
        var output = new StringWriter();
        var error = new StringWriter();
        int exit = DetKafka.Host.Cli.Run(args, output, error, new Dictionary<string, string>());
        return (exit, output.ToString(), error.ToString());
    }

    [Fact]
    public void A_failing_sweep_tables_the_fault_classes_gives_replay_commands_and_confirms_they_reproduce()
    {
        var (exit, output, error) = Cli("sim", "sweep", "--seeds", "1..6", "--jobs", "2", "--lying-disk", "--fault", "crash");
        Assert.Equal(1, exit);
        Assert.Equal("", error);
        Assert.Contains("sweep: seeds 1..6 (6 seeds), 2 jobs", output);
        foreach (var kind in FaultNames.All) Assert.Contains("| " + FaultNames.Name(kind) + " ", output);
        // crash is forced on: every seed has it, and the failures are counted against it.
        var crashRow = output.Split('\n').Single(l => l.StartsWith("| crash ", StringComparison.Ordinal));
        Assert.Matches(@"\|\s+6 \|\s+\d \|\s+[1-6] \|", crashRow);
        Assert.Contains("failing seeds (", output);
        Assert.Matches(@"replay: detkafka sim replay --seed \d+ --fault crash --lying-disk --trace seed-\d+\.jsonl --html seed-\d+\.html", output);
        Assert.Contains("reproduces: a second run in this process gave the same verdict and trace hash 0x", output);
        Assert.DoesNotContain("DOES NOT REPRODUCE", output);
    }

    [Fact]
    public void Run_prints_the_options_the_verdict_and_the_hash_and_exits_by_verdict()
    {
        var (exit, output, _) = Cli("sim", "run", "--seed", "3");
        Assert.Equal(0, exit);
        Assert.Contains("options drawn by seed 3:", output);
        Assert.Contains("  fault.crash = ", output);
        Assert.Contains("verdict: Pass", output);
        Assert.Contains($"trace-hash: 0x{Simulation.Run(3).TraceHash:x16}", output);

        (exit, output, _) = Cli("sim", "run", "--seed", "5", "--lying-disk", "--fault", "crash");
        Assert.Equal(1, exit);
        Assert.Contains("options drawn by seed 5, adjusted by --fault crash --lying-disk:", output);
        Assert.Contains("  lying-disk = True", output);
        Assert.Contains("verdict: InvariantViolation", output);
        Assert.Contains("first violation: event ", output);
        Assert.Contains("replay: detkafka sim replay --seed 5 --fault crash --lying-disk --trace seed-5.jsonl --html seed-5.html", output);

        (exit, output, _) = Cli("sim", "hash", "--seed", "5", "--lying-disk", "--fault", "crash");
        Assert.Equal(0, exit);
        Assert.Matches(@"^trace-hash: 0x[0-9a-f]{16}\n$", output);
    }

    [Theory]
    [InlineData(new[] { "sim", "run", "--seed", "3", "--fault", "bogus" }, "unknown fault 'bogus'")]
    [InlineData(new[] { "sim", "run", "--seed", "3", "--fault", "crash", "--no-fault", "crash" }, "--fault and --no-fault both name crash")]
    [InlineData(new[] { "sim", "run" }, "--seed")]
    [InlineData(new[] { "sim", "sweep", "--seeds", "9..1" }, "the range is empty")]
    [InlineData(new[] { "sim", "sweep", "--seeds", "a..b" }, "expected A..B or N")]
    [InlineData(new[] { "sim", "sweep", "--seeds", "1..2", "--jobs", "0" }, "--jobs must be between 1 and 1024")]
    [InlineData(new[] { "sim", "replay", "--seed", "3" }, "--trace")]
    public void Usage_errors_exit_2_with_a_message(string[] args, string expected)
    {
        var (exit, _, error) = Cli(args);
        Assert.Equal(2, exit);
        Assert.Contains(expected, error);
        Assert.DoesNotContain("   at ", error);
    }

    [Fact]
    public void Fault_flags_adjust_the_drawn_options_and_spell_themselves_back()
    {
        var none = SimSettings.Parse(null, ["all"], lyingDisk: false, noInvariants: false);
        Assert.Empty(none.OptionsFor(7).EnabledFaults);
        var every = SimSettings.Parse(["all"], null, lyingDisk: false, noInvariants: true);
        Assert.Equal(FaultNames.All, every.OptionsFor(7).EnabledFaults);
        Assert.False(every.OptionsFor(7).CheckNodeInvariants);

        var some = SimSettings.Parse(["crash,clock-jump", "pause"], ["loss"], lyingDisk: true, noInvariants: false);
        var options = some.OptionsFor(7);
        Assert.True(options.IsOn(FaultKind.Crash) && options.IsOn(FaultKind.ClockJump) && options.IsOn(FaultKind.Pause));
        Assert.False(options.IsOn(FaultKind.Loss));
        Assert.True(options.LyingDisk);
        Assert.Equal(" --no-fault loss --fault crash --fault pause --fault clock-jump --lying-disk", some.Flags);
        // What the flags say is what the options were: parsing them back gives the same run.
        var tokens = some.Flags.Split(' ', StringSplitOptions.RemoveEmptyEntries);
        var again = SimSettings.Parse(Values(tokens, "--fault"), Values(tokens, "--no-fault"), tokens.Contains("--lying-disk"), tokens.Contains("--no-invariants"));
        Assert.Equal(options.Describe(), again.OptionsFor(7).Describe());
        // Forcing a fault the seed drew anyway changes nothing.
        var drawn = SimulationOptions.Draw(7);
        var already = drawn.EnabledFaults[0];
        Assert.Equal(drawn.Describe(), SimSettings.Parse([FaultNames.Name(already)], null, false, false).OptionsFor(7).Describe());
    }

    private static string[] Values(string[] tokens, string flag)
        => tokens.Select((t, i) => (t, i)).Where(x => x.t == flag).Select(x => tokens[x.i + 1]).ToArray();
}
