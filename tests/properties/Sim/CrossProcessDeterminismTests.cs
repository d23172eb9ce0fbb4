using System.Diagnostics;
using System.Text.Json;
using DetKafka.Host;
using DetKafka.Host.Simulator;
using DetKafka.Sim;
using Xunit;

namespace DetKafka.Properties.Sim;

/// <summary>
/// Determinism across processes, for real: the built <c>detkafka</c> binary replays seeds in two fresh processes,
/// and the trace hashes, the JSON lines traces and the HTML timelines must agree byte for byte (and with a run in
/// this process). A hash-ordered collection, a static left over from an earlier run, the wall clock or an
/// unseeded random anywhere on the path would show up here and not in a same-process comparison.
/// </summary>
public class CrossProcessDeterminismTests
{
    private static readonly TimeSpan ProcessTimeout = TimeSpan.FromMinutes(2);

    /// <summary>The repository root: the first directory above the test binaries holding the solution.</summary>
    private static string RepoRoot()
    {
        for (var dir = new DirectoryInfo(AppContext.BaseDirectory); dir != null; dir = dir.Parent)
            if (File.Exists(Path.Combine(dir.FullName, "DetKafka.sln")) || File.Exists(Path.Combine(dir.FullName, "DetKafka.slnx")))
                return dir.FullName;
        throw new DirectoryNotFoundException($"No DetKafka.sln(x) above {AppContext.BaseDirectory}");
    }

    /// <summary>The detkafka binary built in this test assembly's configuration (building the tests builds it).</summary>
    private static string DetKafkaDll()
    {
#if DEBUG
        const string configuration = "Debug";
#else
        const string configuration = "Release";
#endif
        string path = Path.Combine(RepoRoot(), "src", "Host", "bin", configuration, "net10.0", "detkafka.dll");
        if (!File.Exists(path))
            throw new FileNotFoundException($"{path} is missing: build src/Host ({configuration}) first; building the tests does it.", path);
        return path;
    }

    private sealed record Outcome(int Exit, string Output, string Error);

    private static Process StartDetKafka(params string[] args)
    {
        var info = new ProcessStartInfo("dotnet")
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            RedirectStandardInput = true,
            UseShellExecute = false,
        };
        info.ArgumentList.Add(DetKafkaDll());
        foreach (var a in args) info.ArgumentList.Add(a);
        // A fresh runtime each time: no tiered-compilation or hashing state carries over between the two.
        info.Environment["DOTNET_CLI_TELEMETRY_OPTOUT"] = "1";
        return Process.Start(info) ?? throw new InvalidOperationException("could not start dotnet");
    }

    private static Outcome Finish(Process p)
    {
        using (p)
        {
            p.StandardInput.Close();
            var output = p.StandardOutput.ReadToEndAsync();
            var error = p.StandardError.ReadToEndAsync();
            if (!p.WaitForExit(ProcessTimeout))
            {
                p.Kill(entireProcessTree: true);
                Assert.Fail($"detkafka did not finish within {ProcessTimeout}");
            }
            p.WaitForExit();
            return new Outcome(p.ExitCode, output.Result, error.Result);
        }
    }

    private static string HashLine(string output)
        => output.Split('\n').Select(l => l.TrimEnd('\r')).Single(l => l.StartsWith("trace-hash: 0x", StringComparison.Ordinal));

    [Fact]
    public void Two_fresh_processes_replay_seeds_to_identical_hashes_traces_and_timelines()
    {
        var dir = Directory.CreateTempSubdirectory("detkafka-xproc-");
        try
        {
            // Two swarm seeds that pass (12 runs a consumer group too), and a lying-disk seed that fails (a different path through the run and the page).
            var cases = new (ulong Seed, string[] Flags, int Exit)[]
            {
                (3, [], 0),
                (12, [], 0),
                (5, ["--lying-disk", "--fault", "crash", "--no-invariants"], 1),
                // A replicated 3-node cluster: the quorum, the peer transport and the replicas' fetches in the trace.
                (5, ["--cluster", "3"], 0),
            };
            foreach (var (seed, flags, exit) in cases)
            {
                string[] Args(string side) =>
                [
                    "sim", "replay", "--seed", seed.ToString(System.Globalization.CultureInfo.InvariantCulture), .. flags,
                    "--trace", Path.Combine(dir.FullName, $"{side}-{seed}.jsonl"), "--html", Path.Combine(dir.FullName, $"{side}-{seed}.html"),
                ];
                // Side by side: they must not depend on running alone either.
                var a = StartDetKafka(Args("a"));
                var b = StartDetKafka(Args("b"));
                var first = Finish(a);
                var second = Finish(b);
                Assert.True(first.Exit == exit, $"seed {seed}: exit {first.Exit}, expected {exit}\n{first.Output}\n{first.Error}");
                Assert.Equal(first.Exit, second.Exit);
                Assert.Equal(HashLine(first.Output), HashLine(second.Output));

                var inProcess = Simulation.Run(seed, OptionsFor(seed, flags));
                Assert.Equal($"trace-hash: 0x{inProcess.TraceHash:x16}", HashLine(first.Output));

                byte[] traceA = File.ReadAllBytes(Path.Combine(dir.FullName, $"a-{seed}.jsonl"));
                byte[] traceB = File.ReadAllBytes(Path.Combine(dir.FullName, $"b-{seed}.jsonl"));
                Assert.True(traceA.Length > 10_000, $"seed {seed}: a trace of {traceA.Length} bytes is too small to mean anything");
                Assert.True(traceA.AsSpan().SequenceEqual(traceB), $"seed {seed}: the JSON lines traces differ");
                Assert.Equal(inProcess.Events, File.ReadLines(Path.Combine(dir.FullName, $"a-{seed}.jsonl"))
                    .Select(l => JsonDocument.Parse(l).RootElement.GetProperty("event").GetInt64()).Max());

                byte[] htmlA = File.ReadAllBytes(Path.Combine(dir.FullName, $"a-{seed}.html"));
                byte[] htmlB = File.ReadAllBytes(Path.Combine(dir.FullName, $"b-{seed}.html"));
                Assert.True(htmlA.AsSpan().SequenceEqual(htmlB), $"seed {seed}: the HTML timelines differ");
            }

            // `sim hash` prints the same line as a replay of the same seed.
            var hash = Finish(StartDetKafka("sim", "hash", "--seed", "12"));
            Assert.Equal(0, hash.Exit);
            Assert.Equal($"trace-hash: 0x{Simulation.Run(12).TraceHash:x16}", hash.Output.Trim());
        }
        finally
        {
            dir.Delete(recursive: true);
        }
    }

    [Fact]
    public void The_compaction_workload_gives_the_same_trace_hash_in_two_fresh_processes_and_in_this_one()
    {
        var a = StartDetKafka("sim", "compaction", "--seed", "7");
        var b = StartDetKafka("sim", "compaction", "--seed", "7");
        var first = Finish(a);
        var second = Finish(b);
        Assert.True(first.Exit == 0, first.Output + first.Error);
        Assert.Equal(first.Output, second.Output);
        var inProcess = DetKafka.Sim.Compaction.CompactionSimulation.Run(7);
        Assert.Contains($"trace-hash: 0x{inProcess.TraceHash:x16}", first.Output);
    }

    private static SimulationOptions OptionsFor(ulong seed, string[] flags) => flags switch
    {
        [] => SimulationOptions.Draw(seed),
        ["--cluster", var n] => SimulationOptions.DrawCluster(seed, int.Parse(n, System.Globalization.CultureInfo.InvariantCulture)),
        _ => LyingDisk.OptionsFor(seed),
    };

    private static readonly SimSettings LyingDisk = new() { Forced = [FaultKind.Crash], LyingDisk = true, NoInvariants = true };

    // ---- the HTML timeline of a failing seed ---------------------------------------------------------------------

    private static (int Exit, string Output, JsonElement Data, string Html) ReplayInProcess(ulong seed, string dir, params string[] flags)
    {
        string trace = Path.Combine(dir, $"seed-{seed}.jsonl"), html = Path.Combine(dir, $"seed-{seed}.html");
        var output = new StringWriter();
        var error = new StringWriter();
        int exit = Cli.Run(["sim", "replay", "--seed", seed.ToString(System.Globalization.CultureInfo.InvariantCulture), .. flags,
            "--trace", trace, "--html", html], output, error, new Dictionary<string, string>());
        Assert.True(error.ToString().Length == 0, error.ToString());
        string page = File.ReadAllText(html);
        const string open = "<script type=\"application/json\" id=\"data\">";
        int start = page.IndexOf(open, StringComparison.Ordinal) + open.Length;
        int end = page.IndexOf("</script>", start, StringComparison.Ordinal);
        return (exit, output.ToString(), JsonDocument.Parse(page[start..end]).RootElement.Clone(), page);
    }

    [Fact]
    public void The_timeline_of_a_lying_disk_seed_has_the_lanes_the_messages_the_crash_and_the_violation()
    {
        var dir = Directory.CreateTempSubdirectory("detkafka-html-");
        try
        {
            // The end-of-run history check: a lost write, with the operations it implicates marked on their lanes.
            var (exit, output, data, page) = ReplayInProcess(5, dir.FullName, "--lying-disk", "--fault", "crash", "--no-invariants");
            Assert.Equal(1, exit);
            Assert.Contains("verdict: SafetyViolation", output);
            var options = SimulationOptions.Draw(5);
            var lanes = data.GetProperty("lanes").EnumerateArray().Select(l => l[0].GetString()).ToList();
            Assert.Equal("n1", lanes[0]);
            int clients = options.Workload.Producers.Count + options.Workload.Consumers.Count;
            for (int i = 1; i <= clients; i++) Assert.Contains("c" + i, lanes);
            Assert.Contains("nemesis", lanes);

            var violation = data.GetProperty("violation");
            Assert.Equal("history", violation.GetProperty("checker").GetString());
            Assert.Contains("lost-write", violation.GetProperty("message").GetString());
            Assert.True(data.GetProperty("marks").GetArrayLength() > 0, "the operations behind the anomalies are marked");
            Assert.Contains(data.GetProperty("bands").EnumerateArray(), b => b[3].GetString() == "crash" && b[1].GetInt64() > b[0].GetInt64());

            // Messages go from the sender's lane to the receiver's: a request from a client to n1, answered back.
            var messages = data.GetProperty("messages").EnumerateArray().ToList();
            Assert.Contains(messages, m => m[3].GetString()!.Contains("Produce v", StringComparison.Ordinal) && m[1].GetInt32() > 0
                && m[6].EnumerateArray().Any(d => d[1].GetInt32() == 0 && d[0].GetInt64() > m[0].GetInt64()));
            Assert.Contains(messages, m => m[1].GetInt32() == 0 && m[6].EnumerateArray().Any(d => d[1].GetInt32() > 0));

            // Self-contained: nothing is fetched from anywhere.
            Assert.DoesNotContain("http://", page);
            Assert.DoesNotContain("https://", page);
            Assert.DoesNotContain(" src=", page);
            Assert.Contains("<canvas", page);

            // With the node invariants on, the same seed stops at the restart that lost the high watermark.
            (exit, output, data, _) = ReplayInProcess(5, dir.FullName, "--lying-disk", "--fault", "crash");
            Assert.Equal(1, exit);
            Assert.Equal("high-watermark-monotonic", data.GetProperty("violation").GetProperty("checker").GetString());
            Assert.Contains("first violation: event", output);
        }
        finally
        {
            dir.Delete(recursive: true);
        }
    }

    [Fact]
    public void A_bounded_timeline_says_what_it_left_out_and_keeps_what_is_near_the_violation()
    {
        var dir = Directory.CreateTempSubdirectory("detkafka-html-");
        try
        {
            var (exit, output, data, _) = ReplayInProcess(5, dir.FullName, "--lying-disk", "--fault", "crash", "--no-invariants", "--html-max-items", "300");
            Assert.Equal(1, exit);
            Assert.Contains("left out (--html-max-items 300)", output);
            var stats = data.GetProperty("stats");
            Assert.Equal(300, stats.GetProperty("drawn").GetInt32());
            Assert.True(stats.GetProperty("evicted").GetInt64() > 0);
            int drawn = data.GetProperty("events").GetArrayLength() + data.GetProperty("messages").GetArrayLength() + data.GetProperty("bands").GetArrayLength();
            Assert.Equal(300, drawn);
            // Fault episodes are kept first; the messages kept are the ones around the marked operations.
            Assert.Contains(data.GetProperty("bands").EnumerateArray(), b => b[3].GetString() == "crash");
            var marks = data.GetProperty("marks").EnumerateArray().Select(m => m[0].GetInt64()).ToList();
            var sent = data.GetProperty("messages").EnumerateArray().Select(m => m[0].GetInt64()).ToList();
            Assert.NotEmpty(sent);
            long violationUs = data.GetProperty("violation").GetProperty("t").GetInt64();
            long Nearest(long t) => marks.Append(violationUs).Min(f => Math.Abs(f - t));
            long run = data.GetProperty("endUs").GetInt64();
            Assert.True(sent.Average(t => (double)Nearest(t)) < run / 20.0, "kept messages lie near the focus");
        }
        finally
        {
            dir.Delete(recursive: true);
        }
    }
}
