using DetKafka.Host;
using Xunit;

namespace DetKafka.Properties.Host;

public class CliTests
{
    private static (int Exit, string Out, string Err) Run(string[] args, Dictionary<string, string>? env = null)
    {
        var output = new StringWriter();
        var error = new StringWriter();
        int exit = Cli.Run(args, output, error, env ?? new Dictionary<string, string>());
        return (exit, output.ToString(), error.ToString());
    }

    [Fact]
    public void Serve_help_lists_every_flag()
    {
        var (exit, output, _) = Run(["serve", "--help"]);
        Assert.Equal(0, exit);
        foreach (var flag in new[] { "--listeners", "--advertised-listeners", "--node-id", "--data-dir", "--num-partitions",
                     "--auto-create-topics", "--log-segment-bytes", "--message-max-bytes", "--config", "--log-file", "--log-level" })
            Assert.Contains(flag, output);
    }

    [Fact]
    public void No_command_shows_the_commands_as_a_usage_error()
    {
        var (exit, output, _) = Run([]);
        Assert.Equal(2, exit);
        Assert.Contains("serve", output);
    }

    [Theory]
    [InlineData(new[] { "serve", "--num-partitions", "abc" }, "--num-partitions: 'abc' is not an integer")]
    [InlineData(new[] { "serve", "--listeners", "PLAINTEXT://nowhere" }, "--listeners")]
    [InlineData(new[] { "serve", "--config", "/nonexistent/server.properties" }, "cannot read '/nonexistent/server.properties'")]
    [InlineData(new[] { "serve", "--bogus" }, "--bogus")]
    public void Bad_configuration_exits_2_with_a_message_and_no_stack_trace(string[] args, string expected)
    {
        var (exit, _, error) = Run(args);
        Assert.Equal(2, exit);
        Assert.Contains(expected, error);
        Assert.DoesNotContain("   at ", error);
    }

    [Fact]
    public void Bad_environment_and_unknown_file_keys_exit_2()
    {
        var (exit, _, error) = Run(["serve"], new() { ["DETKAFKA_NODE_ID"] = "-1" });
        Assert.Equal(2, exit);
        Assert.Contains("DETKAFKA_NODE_ID", error);

        var file = Path.GetTempFileName();
        try
        {
            File.WriteAllText(file, "num.partitions=2\nnot.a.kafka.setting=1\n");
            (exit, _, error) = Run(["serve", "--config", file]);
            Assert.Equal(2, exit);
            Assert.Contains(":2: unknown broker setting 'not.a.kafka.setting'", error);
        }
        finally
        {
            File.Delete(file);
        }
    }
}
