using System.Text.Json;
using Xunit;

namespace DetKafka.Chaos;

/// <summary>`detkafka serve` as a process: bad settings refused by name, --print-config, JSON logs with the
/// request log, and the data directory lock (a second broker refused; a kill -9 leaves nothing stuck).</summary>
public sealed class ServeConfigTests
{
    private static CommandResult Serve(IEnumerable<string> args, IReadOnlyDictionary<string, string>? env = null) =>
        Clients.Run(BrokerProcess.DotnetHost(), new[] { RepoPaths.BrokerDll, "serve" }.Concat(args), TimeSpan.FromSeconds(30), env: env);

    [Theory]
    [InlineData(new[] { "--num-partitions", "zero" }, null, "--num-partitions: 'zero' is not an integer")]
    [InlineData(new[] { "--message-max-bytes", "-5" }, null, "--message-max-bytes: -5 is out of range")]
    [InlineData(new[] { "--metrics-listener", "127.0.0.1:70000" }, null, "--metrics-listener: bad port '70000'")]
    [InlineData(new[] { "--log-format", "xml" }, null, "--log-format: 'xml' is not text or json")]
    [InlineData(new[] { "--no-such-flag" }, null, "--no-such-flag")]
    [InlineData(new string[0], "DETKAFKA_NUM_PARTITIONS=-1", "environment variable DETKAFKA_NUM_PARTITIONS: -1 is out of range")]
    [InlineData(new string[0], "DETKAFKA_NUM_PARTITION=3", "environment variable DETKAFKA_NUM_PARTITION: unknown broker setting")]
    public void A_bad_setting_is_refused_with_one_line_naming_it(string[] args, string? env, string expected)
    {
        var environment = env is null ? null : new Dictionary<string, string> { [env.Split('=')[0]] = env.Split('=')[1] };
        var dataDir = Directory.CreateTempSubdirectory("detkafka-chaos-config-").FullName;
        try
        {
            CommandResult r = Serve(args.Concat(["--data-dir", dataDir, "--listeners", $"127.0.0.1:{BrokerProcess.FreeLoopbackPort()}"]), environment);
            Assert.Equal(2, r.ExitCode);
            Assert.Contains(expected, r.Stderr);
            Assert.DoesNotContain("   at ", r.Stderr);
            Assert.True(r.Stderr.Trim().Split('\n').Length <= 2, r.Describe());
        }
        finally
        {
            Directory.Delete(dataDir, true);
        }
    }

    [Fact]
    public void An_unknown_key_in_the_config_file_is_refused_with_its_line()
    {
        var file = Path.GetTempFileName();
        try
        {
            File.WriteAllText(file, "num.partitions=2\nlog.retention.hour=5\n");
            CommandResult r = Serve(["--config", file]);
            Assert.Equal(2, r.ExitCode);
            Assert.Equal($"detkafka serve: {file}:2: unknown broker setting 'log.retention.hour'", r.Stderr.Trim());
        }
        finally
        {
            File.Delete(file);
        }
    }

    [Fact]
    public void Print_config_shows_each_value_and_where_it_came_from()
    {
        var file = Path.GetTempFileName();
        try
        {
            File.WriteAllText(file, "log.retention.hours=5\nnode.id=3\n");
            CommandResult r = Serve(["--print-config", "--config", file, "--num-partitions", "6"],
                new Dictionary<string, string> { ["DETKAFKA_LOG_SEGMENT_BYTES"] = "2097152" });
            Assert.Equal(0, r.ExitCode);
            var rows = r.StdoutLines.Select(l => l.Split("  ", StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries))
                .Where(c => c.Length >= 2).ToDictionary(c => c[0], c => c.Skip(1).ToArray());
            Assert.Equal(["6", "--num-partitions"], rows["num.partitions"]);
            Assert.Equal(["2097152", "environment variable DETKAFKA_LOG_SEGMENT_BYTES"], rows["log.segment.bytes"]);
            Assert.Equal(["18000000", $"{file}:1: log.retention.hours"], rows["log.retention.ms"]);
            Assert.Equal(["3", $"{file}:2: node.id"], rows["node.id"]);
            Assert.Equal(["1048588", "default"], rows["message.max.bytes"]);
            Assert.Equal(["127.0.0.1:9644", "default"], rows["metrics.listener"]);
        }
        finally
        {
            File.Delete(file);
        }
    }

    [Fact]
    public void Json_logs_carry_the_request_log_at_debug_level()
    {
        using var broker = BrokerProcess.Start("json-logs", extraArgs: ["--log-format", "json", "--log-level", "debug"]);
        Clients.KcatRun(["-L", "-b", broker.Bootstrap]);
        broker.StopGracefully();
        var lines = File.ReadAllLines(broker.LogPath).Where(l => l.Contains("[out] {", StringComparison.Ordinal))
            .Select(l => JsonDocument.Parse(l[(l.IndexOf("[out] ", StringComparison.Ordinal) + 6)..]).RootElement.Clone()).ToList();
        Assert.Contains(lines, e => e.GetProperty("@mt").GetString()!.StartsWith("DetKafka listening on", StringComparison.Ordinal));
        var requests = lines.Where(e => e.TryGetProperty("ApiKey", out _) && e.TryGetProperty("ElapsedMs", out _)).ToList();
        Assert.Contains(requests, e => e.GetProperty("ApiKey").GetString() == "Metadata" && e.GetProperty("@l").GetString() == "Debug");
        Assert.All(requests, e => Assert.Equal("rdkafka", e.GetProperty("ClientId").GetString()));
    }

    [Fact]
    public void A_second_broker_on_a_data_directory_in_use_refuses_to_start_and_kill_9_leaves_no_stale_lock()
    {
        using var broker = BrokerProcess.Start("locked");
        CommandResult second = Serve(["--data-dir", broker.DataDir, "--listeners", $"127.0.0.1:{BrokerProcess.FreeLoopbackPort()}", "--metrics-listener", "off"]);
        Assert.Equal(1, second.ExitCode);
        Assert.Contains($"data directory {broker.DataDir} is in use by another broker", second.Stdout + second.Stderr);
        Assert.True(File.Exists(Path.Combine(broker.DataDir, ".lock")));
        broker.AssertAlive("after a second broker was refused");

        Clients.KcatRun(["-P", "-b", broker.Bootstrap, "-t", "lock-topic", "-X", "acks=all"], stdin: "one\ntwo\n");
        broker.Kill9();
        // The lock file is still there, but its lock died with the process: a restart takes it.
        Assert.True(File.Exists(Path.Combine(broker.DataDir, ".lock")));
        broker.Restart();
        var values = Clients.KcatRun(["-C", "-b", broker.Bootstrap, "-t", "lock-topic", "-o", "beginning", "-e", "-q"]).StdoutLines;
        Assert.Equal(["one", "two"], values);
    }
}
