using System.CommandLine;
using System.Diagnostics;
using System.Globalization;
using DetKafka.Core.Raft;
using DetKafka.Host.Simulator;
using DetKafka.Sim.Raft;

namespace DetKafka.Host.Commands;

/// <summary>
/// <c>detkafka sim raft</c>: the Raft core's own simulation (docs/design/REPLICATION.md, "The Raft simulation").
/// <c>--seeds A..B</c> sweeps (on <c>--jobs</c> threads, each running whole seeds), <c>--seed N</c> runs one and prints
/// its options, verdict and trace hash, with <c>--trace FILE</c> every event as a JSON line. Exit 0 all passed, 1 a
/// seed failed, 2 usage.
/// </summary>
public static class SimRaftCommand
{
    public static Command Create()
    {
        var seeds = new Option<string>("--seeds") { Description = "Seeds to sweep, inclusive: A..B", HelpName = "A..B" };
        var seed = new Option<ulong?>("--seed") { Description = "Run one seed", HelpName = "n" };
        var nodes = new Option<int?>("--nodes") { Description = "3 or 5 replicas (default: drawn per seed)", HelpName = "3|5" };
        var trace = new Option<string>("--trace") { Description = "With --seed: write every event as a JSON line here ('-' for stdout)", HelpName = "file" };
        var jobs = new Option<int>("--jobs") { Description = "Worker threads for a sweep", HelpName = "n", DefaultValueFactory = _ => Environment.ProcessorCount };
        var plant = new Option<string[]>("--plant")
        {
            Description = "Plant a bug (test-only): " + string.Join(", ", Enum.GetValues<RaftPlantedBugs>().Where(b => b != RaftPlantedBugs.None)
                .Select(b => RaftSimOptions.Kebab(b.ToString()))),
            HelpName = "name",
        };
        var noDurable = new Option<bool>("--no-durable-state-checks")
        {
            Description = "Turn off quorum-state-durable and the restart epoch check (to see what a planted bug does to the rest)",
        };
        var command = new Command("raft",
            "Simulate the Raft core alone: 3 or 5 replicas of one log under message loss, duplicates, delays, partitions (both "
            + "ways, one way, flapping), pauses, clock drift and jumps, crashes, empty disks and fsync errors, with every "
            + "check after every event and a liveness phase after the heal.");
        command.Options.Add(seeds);
        command.Options.Add(seed);
        command.Options.Add(nodes);
        command.Options.Add(trace);
        command.Options.Add(jobs);
        command.Options.Add(plant);
        command.Options.Add(noDurable);
        command.SetAction(parse =>
        {
            var output = parse.InvocationConfiguration.Output;
            try
            {
                var bugs = RaftPlantedBugs.None;
                foreach (var name in (parse.GetValue(plant) ?? []).SelectMany(p => p.Split(',', StringSplitOptions.RemoveEmptyEntries)))
                {
                    if (!RaftSimOptions.TryParseBug(name, out var b)) throw new ArgumentException($"unknown planted bug '{name}'");
                    bugs |= b;
                }
                int? n = parse.GetValue(nodes);
                if (n is not (null or 3 or 5)) throw new ArgumentException("--nodes must be 3 or 5");
                RaftSimOptions OptionsFor(ulong s) => RaftSimOptions.Draw(s, n) with { PlantedBugs = bugs, DurableStateChecks = !parse.GetValue(noDurable) };
                if (parse.GetValue(seed) is { } one)
                {
                    string? tracePath = parse.GetValue(trace);
                    TextWriter? traceWriter = tracePath is null ? null : tracePath == "-" ? output : new StreamWriter(tracePath);
                    var options = OptionsFor(one);
                    var result = RaftSimulation.Run(one, options, traceWriter is null ? null : traceWriter.WriteLine);
                    if (traceWriter is not null && traceWriter != output) traceWriter.Dispose();
                    output.WriteLine($"seed {one}: {options.Nodes} nodes, faults {RaftSimOptions.Names(options.Faults)}, safety phase {options.SafetyPhaseMs} ms"
                        + (bugs == RaftPlantedBugs.None ? "" : $", planted {bugs}"));
                    output.WriteLine(result.Summary());
                    output.WriteLine(SimCommand.HashLine(result.TraceHash));
                    return result.Passed ? SimCommand.ExitPass : SimCommand.ExitFailed;
                }
                if (parse.GetValue(seeds) is not { } text) throw new ArgumentException("give --seeds A..B or --seed N");
                var range = SeedRange.Parse(text);
                int j = parse.GetValue(jobs);
                if (j < 1 || j > 1024) throw new ArgumentException("--jobs must be between 1 and 1024");
                return Sweep(output, range, j, OptionsFor);
            }
            catch (ArgumentException e)
            {
                parse.InvocationConfiguration.Error.WriteLine("detkafka sim raft: " + e.Message);
                return SimCommand.ExitUsage;
            }
        });
        return command;
    }

    private static int Sweep(TextWriter output, SeedRange range, int jobs, Func<ulong, RaftSimOptions> optionsFor)
    {
        ulong count = range.Last - range.First + 1;
        var results = new RaftSimResult[count];
        long next = -1;
        var sw = Stopwatch.StartNew();
        var threads = Enumerable.Range(0, jobs).Select(_ => new Thread(() =>
        {
            while (true)
            {
                long i = Interlocked.Increment(ref next);
                if ((ulong)i >= count) return;
                ulong s = range.First + (ulong)i;
                results[i] = RaftSimulation.Run(s, optionsFor(s));
            }
        })).ToList();
        threads.ForEach(t => t.Start());
        threads.ForEach(t => t.Join());
        sw.Stop();
        var failed = results.Where(r => !r.Passed).ToList();
        long events = results.Sum(r => r.Events);
        output.WriteLine(string.Create(CultureInfo.InvariantCulture,
            $"raft sweep: seeds {range.First}..{range.Last} ({count} seeds) on {jobs} jobs in {sw.Elapsed.TotalSeconds:F1} s ({count / sw.Elapsed.TotalSeconds:F1} seeds/s, {events} events, {events / sw.Elapsed.TotalSeconds:F0} events/s)"));
        output.WriteLine($"  3 nodes: {results.Count(r => r.Options.Nodes == 3)}, 5 nodes: {results.Count(r => r.Options.Nodes == 5)}; leaders elected {results.Sum(r => r.Elections)}, crashes {results.Sum(r => r.Crashes)}, empty disks {results.Sum(r => r.EmptyDisks)}, snapshots loaded {results.Sum(r => r.SnapshotsLoaded)} (metadata-log seeds {results.Count(r => !r.Options.Config.DataLog)}), proposals acknowledged {results.Sum(r => r.Acknowledged)}");
        output.WriteLine($"{count - (ulong)failed.Count} passed, {failed.Count} failed");
        foreach (var r in failed.Take(50))
            output.WriteLine($"  seed {r.Seed} ({r.Options.Nodes} nodes, {RaftSimOptions.Names(r.Options.Faults)}): {r.Summary()}\n    replay: detkafka sim raft --seed {r.Seed} --nodes {r.Options.Nodes} --trace seed-{r.Seed}.jsonl");
        return failed.Count == 0 ? SimCommand.ExitPass : SimCommand.ExitFailed;
    }
}
