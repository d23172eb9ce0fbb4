using System.Diagnostics;
using DetKafka.Sim.Raft;
using Xunit;

namespace DetKafka.Properties.Raft;

/// <summary>A Raft simulation seed replays byte-identically in fresh processes: the built <c>detkafka sim raft --seed N
/// --trace -</c> run twice side by side gives the same output (every event as a JSON line, the verdict, the trace hash),
/// and the same hash as a run inside this process.</summary>
public sealed class RaftCrossProcessTests
{
    private static string DetKafkaDll()
    {
#if DEBUG
        const string configuration = "Debug";
#else
        const string configuration = "Release";
#endif
        for (var dir = new DirectoryInfo(AppContext.BaseDirectory); dir != null; dir = dir.Parent)
        {
            if (!File.Exists(Path.Combine(dir.FullName, "DetKafka.sln"))) continue;
            string path = Path.Combine(dir.FullName, "src", "Host", "bin", configuration, "net10.0", "detkafka.dll");
            if (!File.Exists(path)) throw new FileNotFoundException($"{path} is missing: build src/Host ({configuration}) first", path);
            return path;
        }
        throw new DirectoryNotFoundException("no DetKafka.sln above " + AppContext.BaseDirectory);
    }

    private static Process Start(params string[] args)
    {
        var info = new ProcessStartInfo("dotnet") { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
        info.ArgumentList.Add(DetKafkaDll());
        foreach (var a in args) info.ArgumentList.Add(a);
        return Process.Start(info) ?? throw new InvalidOperationException("could not start dotnet");
    }

    private static (int Exit, string Output) Finish(Process p)
    {
        using (p)
        {
            var output = p.StandardOutput.ReadToEndAsync();
            var error = p.StandardError.ReadToEndAsync();
            if (!p.WaitForExit(TimeSpan.FromMinutes(2)))
            {
                p.Kill(entireProcessTree: true);
                Assert.Fail("detkafka sim raft did not finish within 2 minutes");
            }
            p.WaitForExit();
            return (p.ExitCode, output.Result + error.Result);
        }
    }

    [Theory]
    [InlineData(11UL, "3")]
    [InlineData(12UL, "5")]
    public void A_seed_replays_byte_identically_in_two_fresh_processes(ulong seed, string nodes)
    {
        var a = Start("sim", "raft", "--seed", seed.ToString(), "--nodes", nodes, "--trace", "-");
        var b = Start("sim", "raft", "--seed", seed.ToString(), "--nodes", nodes, "--trace", "-");
        var (exitA, outA) = Finish(a);
        var (exitB, outB) = Finish(b);
        Assert.Equal(0, exitA);
        Assert.Equal(outA, outB);
        var local = RaftSimulation.Run(seed, RaftSimOptions.Draw(seed, int.Parse(nodes)));
        Assert.Contains($"trace-hash: 0x{local.TraceHash:x16}", outA);
        Assert.True(outA.Split('\n').Count(l => l.StartsWith("{\"event\":", StringComparison.Ordinal)) > 500, "the trace has every event");
    }

    [Fact]
    public void A_planted_bug_fails_the_command_and_names_the_check()
    {
        var (exit, output) = Finish(Start("sim", "raft", "--seeds", "1..20", "--jobs", "2", "--plant", "no-pre-vote"));
        Assert.Equal(1, exit);
        Assert.Contains("epoch-inflation", output);
        Assert.Contains("replay: detkafka sim raft --seed", output);
    }
}
