using System.Diagnostics;
using Xunit;

namespace DetKafka.Chaos;

/// <summary>The machinery itself: a client that hangs or fails must fail the test quickly and say why.</summary>
public sealed class HarnessTests
{
    [Fact]
    public void A_command_that_outlives_its_timeout_is_killed_and_fails_the_test()
    {
        var sw = Stopwatch.StartNew();
        var e = Assert.ThrowsAny<Exception>(() =>
            Clients.Run(Clients.Python, ["-c", "import time; print('started', flush=True); time.sleep(60)"],
                TimeSpan.FromSeconds(1)));
        Assert.True(sw.Elapsed < TimeSpan.FromSeconds(15), $"the timeout took {sw.Elapsed}");
        Assert.Contains("timed out", e.Message);
        Assert.Contains("started", e.Message);
    }

    [Fact]
    public void A_failing_command_fails_the_test_with_its_stderr()
    {
        var e = Assert.ThrowsAny<Exception>(() =>
            Clients.RunChecked(Clients.Python, ["-c", "import sys; sys.stderr.write('boom-on-stderr'); sys.exit(3)"]));
        Assert.Contains("boom-on-stderr", e.Message);
        Assert.Contains("exited 3", e.Message);
    }

    [Fact]
    public void Stdin_reaches_the_command_and_json_lines_are_parsed()
    {
        CommandResult r = Clients.RunChecked(Clients.Python,
            ["-c", "import sys, json; [print(json.dumps({'n': len(l.strip())})) for l in sys.stdin]; print('not json')"],
            stdin: "a\nbcd\n");
        Assert.Equal([1, 3], r.JsonLines().Select(j => j.GetProperty("n").GetInt32()).ToArray());
    }

    [Fact]
    public void The_real_clients_are_installed()
    {
        Assert.Contains("kcat", Clients.RunChecked(Clients.Kcat, ["-V"]).Stdout);
        CommandResult py = Clients.RunChecked(Clients.Python,
            ["-c", "import kafka, confluent_kafka; print(kafka.__version__, confluent_kafka.version()[0])"]);
        Assert.Matches(@"^\d+\.\d+\.\d+ \d+\.\d+\.\d+", py.Stdout.Trim());
    }
}
