using System.Text;
using DetKafka.Core.Client;
using DetKafka.Core.Protocol;
using DetKafka.Core.Records;
using DetKafka.Host;
using DetKafka.Host.Commands;
using DetKafka.Host.Tools;
using Xunit;

namespace DetKafka.Properties.Host;

/// <summary>The client verbs' parsing and formatting, without a broker (the chaos suite runs them against one).</summary>
public class CliVerbUnitTests
{
    private static (int Exit, string Out, string Err) Run(params string[] args)
    {
        var output = new StringWriter();
        var error = new StringWriter();
        int exit = Cli.Run(args, output, error, new Dictionary<string, string>());
        return (exit, output.ToString(), error.ToString());
    }

    [Fact]
    public void The_print_format_follows_kcat()
    {
        var record = new ConsumedRecord(new TopicPartition("t", 2), 41, 1700000000000, Encoding.UTF8.GetBytes("k"), Encoding.UTF8.GetBytes("v v"),
            [new RecordHeader("a", Encoding.UTF8.GetBytes("1")), new RecordHeader("b", null)]);
        var sb = new StringBuilder();
        PrintFormat.Parse(@"%t|%p|%o|%T|%k|%s|%K|%S|%h|100%%\t\n").Append(sb, record);
        Assert.Equal("t|2|41|1700000000000|k|v v|1|3|a=1,b=|100%\t\n", sb.ToString());

        sb.Clear();
        PrintFormat.Parse("%k|%K").Append(sb, record with { Key = null });
        Assert.Equal("|-1", sb.ToString());
        Assert.Throws<CliException>(() => PrintFormat.Parse("%x"));
    }

    [Theory]
    [InlineData(ErrorCode.UnknownTopicOrPartition, "UNKNOWN_TOPIC_OR_PARTITION")]
    [InlineData(ErrorCode.TopicAlreadyExists, "TOPIC_ALREADY_EXISTS")]
    [InlineData(ErrorCode.KafkaStorageError, "KAFKA_STORAGE_ERROR")]
    [InlineData(ErrorCode.InvalidConfig, "INVALID_CONFIG")]
    public void Error_names_are_kafkas(ErrorCode code, string name) => Assert.Equal(name, CliSession.ErrorName(code));

    [Fact]
    public void Broker_lists_parse_and_bad_ones_name_the_flag()
    {
        Assert.Equal([new BrokerAddress("a", 1), new BrokerAddress("::1", 9092)], CliSession.ParseBrokers("a:1, [::1]:9092"));
        Assert.Contains("--brokers", Assert.Throws<CliException>(() => CliSession.ParseBrokers("nohost")).Message);
        Assert.Contains("--brokers", Assert.Throws<CliException>(() => CliSession.ParseBrokers("h:0")).Message);
    }

    [Fact]
    public void A_key_separator_attached_to_K_survives_the_parser()
    {
        Assert.Equal(["produce", "t", "-K", ":", "-H", "a=b"], Cli.SplitAttachedKeySeparator(["produce", "t", "-K:", "-H", "a=b"]));
        Assert.Equal(["-K", "="], Cli.SplitAttachedKeySeparator(["-K="]));
        Assert.Equal(["-K", "|"], Cli.SplitAttachedKeySeparator(["-K", "|"]));
    }

    [Fact]
    public void Help_lists_the_client_verbs_and_their_flags()
    {
        var (exit, output, _) = Run("--help");
        Assert.Equal(0, exit);
        foreach (var verb in new[] { "topic", "produce", "consume", "cluster", "records", "completion" }) Assert.Contains(verb, output);
        (_, output, _) = Run("topic", "--help");
        foreach (var verb in new[] { "create", "list", "describe", "delete", "alter-config", "add-partitions" }) Assert.Contains(verb, output);
        (_, output, _) = Run("consume", "--help");
        foreach (var flag in new[] { "--offset", "--count", "--print-format", "--brokers", "--format", "--exit" }) Assert.Contains(flag, output);
    }

    [Theory]
    [InlineData(new[] { "consume", "t", "-o", "yesterday" }, "--offset: 'yesterday'")]
    [InlineData(new[] { "produce", "t", "--acks", "2" }, "--acks: '2'")]
    [InlineData(new[] { "produce", "t", "-z", "lzma" }, "--compression: 'lzma'")]
    [InlineData(new[] { "topic", "alter-config", "t" }, "alter-config: give --set key=value or --delete key")]
    [InlineData(new[] { "topic", "create", "t", "-c", "novalue" }, "--config: 'novalue' is not key=value")]
    [InlineData(new[] { "topic", "list", "--brokers", "x" }, "--brokers: 'x' is not host:port")]
    public void Bad_arguments_fail_with_one_line_before_connecting(string[] args, string expected)
    {
        var (exit, _, error) = Run(args);
        Assert.Equal(1, exit);
        Assert.Equal("detkafka: " + expected, error.Trim()[..("detkafka: " + expected).Length]);
        Assert.Single(error.Trim().Split('\n'));
    }

    [Fact]
    public void Completion_answers_from_the_command_tree()
    {
        var (exit, output, _) = Run("[suggest:17]", "detkafka topic de");
        Assert.Equal(0, exit);
        Assert.Equal(["delete", "describe"], output.Split('\n', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries));
        Assert.Contains("complete -o default -F _detkafka_complete detkafka", Run("completion", "bash").Out);
    }
}

public class KeyPartitionerTests
{
    // Kafka's own test vectors (UtilsTest.testMurmur2).
    [Theory]
    [InlineData("21", -973932308)]
    [InlineData("foobar", -790332482)]
    [InlineData("a-little-bit-long-string", -985981536)]
    [InlineData("a-little-bit-longer-string", -1486304829)]
    [InlineData("lkjh234lh9fiuh90y23oiuhsafujhadof229phr9h19h89h8", -58897971)]
    [InlineData("abc", 479470107)]
    public void Murmur2_matches_kafka(string key, int expected)
        => Assert.Equal(expected, DetKafka.Host.Tools.KeyPartitioner.Murmur2(System.Text.Encoding.UTF8.GetBytes(key)));
}
