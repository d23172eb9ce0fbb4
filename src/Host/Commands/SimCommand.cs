using System.CommandLine;
using System.Diagnostics;
using System.Globalization;
using System.Text;
using DetKafka.Host.Simulator;
using DetKafka.Sim;
using DetKafka.Sim.Trace;
using Spectre.Console;

namespace DetKafka.Host.Commands;

/// <summary>
/// <c>detkafka sim</c>: the deterministic simulator (docs/design/SIMULATION.md). <c>run</c> one seed,
/// <c>sweep</c> a range of seeds on several threads, <c>replay</c> a seed with its full trace and an HTML
/// timeline, <c>hash</c> a seed's trace hash. Exit codes: 0 every run passed, 1 a run failed (or did not
/// reproduce), 2 usage errors.
/// </summary>
public static class SimCommand
{
    public const int ExitPass = 0;
    public const int ExitFailed = 1;
    public const int ExitUsage = 2;

    public static Command Create()
    {
        var sim = new Command("sim",
            "Deterministic simulation: the real broker and clients in a simulated world with faults. A seed (plus the "
            + "fault flags) is a complete test case: the same seed gives the same run, in any process.");
        sim.Subcommands.Add(RunCommand());
        sim.Subcommands.Add(SweepCommand());
        sim.Subcommands.Add(ReplayCommand());
        sim.Subcommands.Add(HashCommand());
        sim.Subcommands.Add(CompactionCommand());
        sim.Subcommands.Add(ShrinkCommand());
        sim.Subcommands.Add(SimRaftCommand.Create());
        return sim;
    }

    // ---- options shared by the subcommands ------------------------------------------------------------------

    private sealed class Common
    {
        public readonly Option<string[]> Fault = new("--fault")
        {
            Description = "Force a fault on (repeatable, or comma-separated; 'all' for every one), with the intensity the seed "
                + "draws for it. Names: " + string.Join(", ", FaultNames.All.Select(FaultNames.Name)),
            HelpName = "name",
        };

        public readonly Option<string[]> NoFault = new("--no-fault")
        {
            Description = "Turn a fault off (repeatable, or comma-separated; 'all' for every one)",
            HelpName = "name",
        };

        public readonly Option<bool> LyingDisk = new("--lying-disk")
        {
            Description = "Every node's disk acknowledges syncs and persists nothing (the checks must then catch lost writes; add --fault crash)",
        };

        public readonly Option<bool> NoInvariants = new("--no-invariants")
        {
            Description = "Do not run the node-state invariants after every event (only the end-of-run history check)",
        };

        public readonly Option<string[]> Plant = new("--plant")
        {
            Description = "Test only: plant a broker bug the checks must catch (repeatable): " + string.Join(", ", DetKafka.Sim.Reach.PlantedBugNames.All.Concat(ClusterBugNames.All)),
            HelpName = "bug",
        };

        public readonly Option<int?> Producers = new("--producers") { Description = "Keep only the first n producer hosts of the draw (shrinking)", HelpName = "n" };
        public readonly Option<int?> Consumers = new("--consumers") { Description = "Keep only the first n consumer hosts of the draw (shrinking)", HelpName = "n" };
        public readonly Option<bool> NoGroup = new("--no-group") { Description = "Drop the consumer group workload (shrinking)" };
        public readonly Option<long?> SafetyMs = new("--safety-ms") { Description = "Length of the safety phase in virtual ms (shrinking)", HelpName = "ms" };
        public readonly Option<int?> Cluster = new("--cluster")
        {
            Description = "Run a replicated cluster of n nodes (a controller quorum, the workload topic at replication factor 3 and min.insync.replicas 2; 3 is the usual size)",
            HelpName = "n",
        };

        public void AddTo(Command command)
        {
            command.Options.Add(Cluster);
            command.Options.Add(Fault);
            command.Options.Add(NoFault);
            command.Options.Add(LyingDisk);
            command.Options.Add(NoInvariants);
            command.Options.Add(Plant);
            command.Options.Add(Producers);
            command.Options.Add(Consumers);
            command.Options.Add(NoGroup);
            command.Options.Add(SafetyMs);
        }

        public SimSettings Settings(ParseResult parse)
        {
            var settings = SimSettings.Parse(parse.GetValue(Fault), parse.GetValue(NoFault), parse.GetValue(LyingDisk), parse.GetValue(NoInvariants));
            var planted = DetKafka.Sim.Reach.PlantedBugs.None;
            var clusterPlanted = ClusterBugs.None;
            foreach (var raw in parse.GetValue(Plant) ?? [])
                foreach (var name in raw.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries))
                {
                    if (ClusterBugNames.TryParse(name, out var clusterBug)) clusterPlanted |= clusterBug;
                    else planted |= DetKafka.Sim.Reach.PlantedBugNames.TryParse(name, out var bug)
                        ? bug : throw new ArgumentException($"--plant: unknown bug '{name}'; known: {string.Join(", ", DetKafka.Sim.Reach.PlantedBugNames.All.Concat(ClusterBugNames.All))}");
                }
            int? cluster = parse.GetValue(Cluster);
            if (cluster is { } n && (n < 2 || n > 9)) throw new ArgumentException("--cluster: 2 to 9 nodes");
            if (clusterPlanted != ClusterBugs.None && cluster is null) throw new ArgumentException("--plant: cluster bugs need --cluster n");
            return settings with
            {
                Planted = planted,
                Cluster = cluster,
                ClusterPlanted = clusterPlanted,
                Producers = parse.GetValue(Producers),
                Consumers = parse.GetValue(Consumers),
                NoGroup = parse.GetValue(NoGroup),
                SafetyPhaseMs = parse.GetValue(SafetyMs),
            };
        }
    }

    private static Option<ulong> SeedOption() => new("--seed")
    {
        Description = "The seed: every random choice of the run (faults, workload, timing) derives from it",
        HelpName = "n",
        Required = true,
    };

    /// <summary>Runs <paramref name="body"/>, turning a bad flag value into exit code 2 with a message.</summary>
    private static int Guard(ParseResult parse, string name, Func<TextWriter, int> body)
    {
        try
        {
            return body(parse.InvocationConfiguration.Output);
        }
        catch (ArgumentException e)
        {
            parse.InvocationConfiguration.Error.WriteLine($"detkafka sim {name}: {e.Message}");
            return ExitUsage;
        }
    }

    // ---- run --------------------------------------------------------------------------------------------------

    private static Command RunCommand()
    {
        var seed = SeedOption();
        var common = new Common();
        var command = new Command("run",
            "Run one seed: print the options it drew, the verdict (with the first violation and the history problems) and "
            + "the trace hash. Exit 0 on a pass, 1 otherwise.");
        command.Options.Add(seed);
        common.AddTo(command);
        command.SetAction(parse => Guard(parse, "run", output =>
        {
            var settings = common.Settings(parse);
            ulong s = parse.GetValue(seed);
            var options = settings.OptionsFor(s);
            var wall = Stopwatch.StartNew();
            var result = Simulation.Run(s, options);
            PrintRun(output, result, settings, wall.Elapsed);
            return result.Passed ? ExitPass : ExitFailed;
        }));
        return command;
    }

    /// <summary>The options, the verdict and its evidence, the figures and the trace hash.</summary>
    internal static void PrintRun(TextWriter output, SimulationResult result, SimSettings settings, TimeSpan wall)
    {
        output.WriteLine($"options drawn by seed {result.Seed}{(settings.Flags.Length > 0 ? ", adjusted by" + settings.Flags : "")}:");
        foreach (var line in result.Options.Describe().Split('\n', StringSplitOptions.RemoveEmptyEntries)) output.WriteLine("  " + line);
        output.WriteLine($"verdict: {result.Verdict}");
        if (result.FirstViolation is { } v) output.WriteLine($"first violation: {v}");
        if (result.HistoryProblems.Count > 0)
        {
            output.WriteLine($"history problems ({result.HistoryProblems.Count}):");
            foreach (var p in result.HistoryProblems) output.WriteLine("  " + p);
        }
        if (result.Exception is { } e)
        {
            output.WriteLine("exception:");
            foreach (var line in e.ToString().Split('\n')) output.WriteLine("  " + line.TrimEnd('\r'));
        }
        double seconds = Math.Max(wall.TotalSeconds, 1e-6);
        output.WriteLine(string.Create(CultureInfo.InvariantCulture,
            $"events: {result.Events}, virtual time: {result.VirtualTimeMs} ms, wall time: {wall.TotalMilliseconds:F0} ms ({result.VirtualTimeMs / 1000.0 / seconds:F0}x real time, {result.Events / seconds:F0} events/s)"));
        if (!result.Passed) output.WriteLine("replay: " + settings.ReplayCommand(result.Seed));
        output.WriteLine(HashLine(result.TraceHash));
    }

    internal static string HashLine(ulong hash) => string.Create(CultureInfo.InvariantCulture, $"trace-hash: 0x{hash:x16}");

    // ---- hash -------------------------------------------------------------------------------------------------

    private static Command HashCommand()
    {
        var seed = SeedOption();
        var common = new Common();
        var command = new Command("hash",
            "Run one seed and print only its trace hash (`trace-hash: 0x...`), whatever the verdict: compare it across "
            + "processes, machines and builds.");
        command.Options.Add(seed);
        common.AddTo(command);
        command.SetAction(parse => Guard(parse, "hash", output =>
        {
            ulong s = parse.GetValue(seed);
            var result = Simulation.Run(s, common.Settings(parse).OptionsFor(s));
            output.WriteLine(HashLine(result.TraceHash));
            return ExitPass;
        }));
        return command;
    }

    // ---- compaction -------------------------------------------------------------------------------------------

    private static Command CompactionCommand()
    {
        var seed = SeedOption();
        var command = new Command("compaction",
            "Run the log compaction workload (one compacted partition, skewed keys, tombstones, the cleaner, crashes "
            + "and disk faults; see docs/design/STORAGE.md) for one seed: its verdict, counters and trace hash.");
        command.Options.Add(seed);
        command.SetAction(parse => Guard(parse, "compaction", output =>
        {
            ulong s = parse.GetValue(seed);
            var result = DetKafka.Sim.Compaction.CompactionSimulation.Run(s);
            string counters = string.Join(", ", result.Counters.Select(kv => kv.Key + " " + kv.Value.ToString(CultureInfo.InvariantCulture)));
            output.WriteLine("seed " + s.ToString(CultureInfo.InvariantCulture) + ": "
                + (result.Passed ? "Pass" : "Fail - " + result.Violation) + "; " + counters);
            output.WriteLine(HashLine(result.TraceHash));
            return result.Passed ? ExitPass : ExitFailed;
        }));
        return command;
    }

    // ---- replay -----------------------------------------------------------------------------------------------

    private static Command ReplayCommand()
    {
        var seed = SeedOption();
        var common = new Common();
        var trace = new Option<string>("--trace")
        {
            Description = "Write the full event trace here, one JSON object per line (event, time_us, actor, kind, details, msg)",
            HelpName = "file",
            Required = true,
        };
        var html = new Option<string>("--html")
        {
            Description = "Also write an HTML timeline here: one self-contained page, machines as lanes, messages as arrows, "
                + "faults and the first violation marked; open it in a browser",
            HelpName = "file",
        };
        var maxItems = new Option<int>("--html-max-items")
        {
            Description = $"Items the timeline draws at most (default {HtmlTimeline.DefaultMaxItems}); beyond that it keeps "
                + "faults and history operations first, then what lies nearest the violation, and says how much it left out",
            HelpName = "n",
            DefaultValueFactory = _ => HtmlTimeline.DefaultMaxItems,
        };
        var command = new Command("replay",
            "Replay one seed with its full trace as JSON lines and, with --html, an HTML timeline. Prints what `run` prints. "
            + "Exit 0 on a pass, 1 otherwise.");
        command.Options.Add(seed);
        common.AddTo(command);
        command.Options.Add(trace);
        command.Options.Add(html);
        command.Options.Add(maxItems);
        command.SetAction(parse => Guard(parse, "replay", output =>
        {
            var settings = common.Settings(parse);
            ulong s = parse.GetValue(seed);
            string tracePath = parse.GetValue(trace)!;
            string? htmlPath = parse.GetValue(html);
            int max = parse.GetValue(maxItems);
            if (max < 1) throw new ArgumentException("--html-max-items must be at least 1");
            return Replay(output, parse.InvocationConfiguration.Error, s, settings, tracePath, htmlPath, max);
        }));
        return command;
    }

    private static int Replay(TextWriter output, TextWriter error, ulong seed, SimSettings settings, string tracePath, string? htmlPath, int maxItems)
    {
        var options = settings.OptionsFor(seed);
        HtmlTimeline? timeline = null;
        SimulationResult? scout = null;
        if (htmlPath is not null)
        {
            // The timeline keeps what lies nearest the violation, so it must know where that is before the
            // replay streams past it: run once to find out. Same seed, same run: the hashes must agree.
            scout = Simulation.Run(seed, options);
            timeline = new HtmlTimeline(HtmlTimeline.FocusOf(scout), maxItems);
        }

        var wall = Stopwatch.StartNew();
        SimulationResult result;
        var counter = new CountingSink();
        try
        {
            using var writer = new StreamWriter(tracePath, append: false, new UTF8Encoding(false), 1 << 16);
            var json = new JsonLinesTraceSink(writer);
            ITraceSink sink = timeline is null ? new TeeTraceSink(json, counter) : new TeeTraceSink(json, counter, timeline);
            result = Simulation.Run(seed, options, sink);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            error.WriteLine($"detkafka sim replay: cannot write '{tracePath}': {e.Message}");
            return ExitFailed;
        }
        var elapsed = wall.Elapsed;

        PrintRun(output, result, settings, elapsed);
        output.WriteLine($"trace: {tracePath} ({counter.Records} records)");
        if (scout is not null && scout.TraceHash != result.TraceHash)
        {
            output.WriteLine($"NOT DETERMINISTIC: the first run of seed {seed} hashed to 0x{scout.TraceHash:x16}, the replay to 0x{result.TraceHash:x16}");
            return ExitFailed;
        }
        if (timeline is not null && htmlPath is not null)
        {
            try
            {
                using var writer = new StreamWriter(htmlPath, append: false, new UTF8Encoding(false), 1 << 16);
                timeline.Render(writer, result);
            }
            catch (Exception e) when (e is IOException or UnauthorizedAccessException)
            {
                error.WriteLine($"detkafka sim replay: cannot write '{htmlPath}': {e.Message}");
                return ExitFailed;
            }
            output.WriteLine($"html: {htmlPath} ({timeline.ItemsKept} items drawn"
                + (timeline.ItemsLeftOut > 0 ? $", {timeline.ItemsLeftOut} left out (--html-max-items {maxItems})" : "") + ")");
        }
        return result.Passed ? ExitPass : ExitFailed;
    }

    private sealed class CountingSink : ITraceSink
    {
        public long Records { get; private set; }
        public void Write(in TraceRecord record) => Records++;
    }

    // ---- sweep ------------------------------------------------------------------------------------------------

    private static Command SweepCommand()
    {
        var seeds = new Option<string>("--seeds")
        {
            Description = "Seeds to run, inclusive: A..B (e.g. 1..1000) or one seed",
            HelpName = "A..B",
            Required = true,
        };
        var jobs = new Option<int>("--jobs")
        {
            Description = $"Worker threads, each running whole seeds (default: the processor count, {Environment.ProcessorCount})",
            HelpName = "n",
            DefaultValueFactory = _ => Environment.ProcessorCount,
        };
        var common = new Common();
        var command = new Command("sweep",
            "Run many seeds in parallel, then print the verdicts by fault class and, for each failing seed, the command that "
            + "replays it; each failing seed is run again to confirm it reproduces. Exit 0 if every seed passed, 1 otherwise.");
        command.Options.Add(seeds);
        command.Options.Add(jobs);
        common.AddTo(command);
        command.SetAction(parse => Guard(parse, "sweep", output =>
        {
            var settings = common.Settings(parse);
            var range = SeedRange.Parse(parse.GetValue(seeds)!);
            int j = parse.GetValue(jobs);
            if (j < 1 || j > 1024) throw new ArgumentException("--jobs must be between 1 and 1024");
            return Sweep(output, range, j, settings);
        }));
        return command;
    }

    /// <summary>Failing seeds re-run to confirm they reproduce, at most.</summary>
    internal const int ReproduceMax = 20;

    /// <summary>Failing seeds listed in detail, at most.</summary>
    internal const int FailuresListedMax = 50;

    private static int Sweep(TextWriter output, SeedRange range, int jobs, SimSettings settings)
    {
        bool interactive = ReferenceEquals(output, Console.Out) && !Console.IsOutputRedirected && AnsiConsole.Profile.Capabilities.Interactive;
        var console = interactive ? AnsiConsole.Console : AnsiConsole.Create(new AnsiConsoleSettings
        {
            Ansi = AnsiSupport.No,
            ColorSystem = ColorSystemSupport.NoColors,
            Interactive = InteractionSupport.No,
            Out = new AnsiConsoleOutput(output),
        });
        if (!interactive) console.Profile.Width = 120;

        output.WriteLine($"sweep: seeds {range} ({range.Count} seeds), {jobs} jobs, options drawn per seed"
            + (settings.Flags.Length > 0 ? ", adjusted by" + settings.Flags : ""));
        var sweep = new SeedSweep(range, jobs, settings.OptionsFor);
        sweep.Start();
        if (interactive) WatchWithProgressBar(console, sweep);
        else WatchWithLines(output, sweep);
        var result = sweep.Result;

        int failed = result.Failures.Count;
        output.WriteLine(string.Create(CultureInfo.InvariantCulture,
            $"{result.Outcomes.Count} seeds in {result.WallSeconds:F1} s ({result.WallSeconds / result.Outcomes.Count * 1000:F1} ms of wall time per seed with {result.Jobs} jobs; "
            + $"{result.Outcomes.Sum(o => o.WallSeconds) / result.Outcomes.Count * 1000:F1} ms per run): {result.Outcomes.Count - failed} passed, {failed} failed"));
        output.WriteLine("verdicts: " + string.Join(", ", result.ByVerdict().Select(x => $"{x.Verdict} {x.Seeds}")));

        var table = new Table().Border(interactive ? TableBorder.Rounded : TableBorder.Ascii);
        table.AddColumn(new TableColumn("fault class"));
        table.AddColumn(new TableColumn("seeds with it on").RightAligned());
        table.AddColumn(new TableColumn("passed").RightAligned());
        table.AddColumn(new TableColumn("failed").RightAligned());
        foreach (var row in result.ByFault())
            table.AddRow(Markup.Escape(row.Name), N(row.Enabled), N(row.Passed), row.Failed > 0 && interactive ? $"[red]{row.Failed}[/]" : N(row.Failed));
        table.AddRow("(all seeds)", N(result.Outcomes.Count), N(result.Outcomes.Count - failed), N(failed));
        console.Write(table);

        if (failed == 0) return ExitPass;
        bool allReproduce = true;
        output.WriteLine($"failing seeds ({failed}{(failed > FailuresListedMax ? $", first {FailuresListedMax} listed" : "")}):");
        int rerun = 0;
        foreach (var outcome in result.Failures.Take(FailuresListedMax))
        {
            output.WriteLine($"  seed {outcome.Seed}: {outcome.Verdict}{(outcome.FirstViolation is { } v ? " - " + v : "")}");
            foreach (var p in outcome.Problems.Skip(1).Take(3)) output.WriteLine("      " + p);
            output.WriteLine("    replay: " + settings.ReplayCommand(outcome.Seed));
            if (rerun++ >= ReproduceMax) continue;
            var again = SeedSweep.RunOne(outcome.Seed, settings.OptionsFor);
            if (again.TraceHash == outcome.TraceHash && again.Verdict == outcome.Verdict)
            {
                output.WriteLine($"    reproduces: a second run in this process gave the same verdict and trace hash 0x{outcome.TraceHash:x16}");
            }
            else
            {
                allReproduce = false;
                output.WriteLine($"    DOES NOT REPRODUCE: first {outcome.Verdict} 0x{outcome.TraceHash:x16}, again {again.Verdict} 0x{again.TraceHash:x16} (a determinism bug)");
            }
        }
        if (failed > ReproduceMax) output.WriteLine($"(re-ran the first {ReproduceMax} failing seeds to confirm they reproduce)");
        if (!allReproduce) output.WriteLine("some failing seeds did not reproduce: the simulation is not deterministic");
        return ExitFailed;
    }

    private static string N(int n) => n.ToString(CultureInfo.InvariantCulture);

    private static void WatchWithProgressBar(IAnsiConsole console, SeedSweep sweep)
    {
        console.Progress()
            .AutoClear(false)
            .Columns(new TaskDescriptionColumn(), new ProgressBarColumn(), new PercentageColumn(), new ElapsedTimeColumn(), new RemainingTimeColumn())
            .Start(ctx =>
            {
                var task = ctx.AddTask("seeds", maxValue: sweep.Total);
                while (true)
                {
                    bool done = sweep.Wait(TimeSpan.FromMilliseconds(100));
                    task.Value = sweep.Done;
                    int failed = sweep.Failed;
                    task.Description = failed == 0 ? $"{sweep.Done}/{sweep.Total} seeds" : $"{sweep.Done}/{sweep.Total} seeds, [red]{failed} failed[/]";
                    if (done) break;
                }
            });
    }

    /// <summary>Not a terminal (CI, a pipe): one line per tenth of the sweep.</summary>
    private static void WatchWithLines(TextWriter output, SeedSweep sweep)
    {
        int reported = 0;
        while (true)
        {
            bool done = sweep.Wait(TimeSpan.FromMilliseconds(250));
            int tenth = (int)((long)sweep.Done * 10 / sweep.Total);
            if (tenth > reported || done)
            {
                reported = tenth;
                output.WriteLine(string.Create(CultureInfo.InvariantCulture,
                    $"  {sweep.Done}/{sweep.Total} seeds done, {sweep.Failed} failed, {sweep.Elapsed.TotalSeconds:F1} s"));
                output.Flush();
            }
            if (done) return;
        }
    }

    // ---- shrink -----------------------------------------------------------------------------------------------

    private static Command ShrinkCommand()
    {
        var seed = SeedOption();
        var common = new Common();
        var command = new Command("shrink",
            "Reduce a failing seed's run (fewer faults, fewer clients, no group, a shorter safety phase) while the same "
            + "violation (the same checker) still appears; print each step, the smallest reproduction and its replay "
            + "command. Exit 0 when a reproduction was found, 1 when the seed passes as given.");
        command.Options.Add(seed);
        common.AddTo(command);
        command.SetAction(parse => Guard(parse, "shrink", output =>
        {
            var result = Shrinker.Shrink(parse.GetValue(seed), common.Settings(parse), output.WriteLine);
            return result is null ? ExitFailed : ExitPass;
        }));
        return command;
    }
}
