using DetKafka.Core.Abstractions;
using DetKafka.Host.Configuration;
using FsCheck;
using FsCheck.Fluent;
using Xunit;

namespace DetKafka.Properties.Host;

public class ServerOptionsTests
{
    private static readonly IReadOnlyDictionary<string, string> NoEnvironment = new Dictionary<string, string>();

    private static ServerSettings Resolve(ServeArguments? flags = null, Dictionary<string, string>? env = null, string? file = null)
        => ServerOptions.Resolve(flags ?? new ServeArguments(), env ?? new Dictionary<string, string>(), file, "server.properties", "myhost");

    private static string ErrorOf(ServeArguments? flags = null, Dictionary<string, string>? env = null, string? file = null)
        => Assert.Throws<ConfigException>(() => Resolve(flags, env, file)).Message;

    [Fact]
    public void Defaults_match_a_single_local_broker()
    {
        var s = Resolve();
        Assert.Equal(new ListenerAddress("PLAINTEXT", "127.0.0.1", 9092), s.Listener);
        Assert.Equal(s.Listener, s.Advertised);
        Assert.Equal("./data", s.DataDirectory);
        Assert.Equal(1, s.NodeId);
        Assert.Equal(1, s.NumPartitions);
        Assert.True(s.AutoCreateTopicsEnable);
        Assert.Equal(LogLevel.Information, s.LogLevel);
        Assert.Null(s.LogFile);
        Assert.Empty(s.TopicConfigDefaults);
        Assert.Empty(s.Warnings);

        var config = s.ToBrokerConfig(9092);
        Assert.Equal(1, config.NodeId);
        Assert.Equal("127.0.0.1", config.AdvertisedHost);
        Assert.Equal(9092, config.AdvertisedPort);
        Assert.Equal("", config.DataDirectory);
        Assert.Equal(1_048_588, config.MessageMaxBytes);
    }

    [Fact]
    public void Flags_beat_environment_beat_file_beat_defaults()
    {
        var layer = Gen.Choose(1, 1000).Select(v => (int?)v).Or(Gen.Constant((int?)null));
        var arb = Gen.Zip(layer, Gen.Zip(layer, layer)).Select(t => (Flag: t.Item1, Env: t.Item2.Item1, File: t.Item2.Item2)).ToArbitrary();
        Prop.ForAll(arb, t =>
        {
            var flags = new ServeArguments { NumPartitions = t.Flag?.ToString(), NodeId = t.Flag?.ToString() };
            var env = new Dictionary<string, string>();
            if (t.Env is { } e)
            {
                env["DETKAFKA_NUM_PARTITIONS"] = e.ToString();
                env["DETKAFKA_NODE_ID"] = e.ToString();
            }
            // The file names the node by its older name: precedence holds across aliases.
            var file = t.File is { } f ? $"num.partitions={f}\nbroker.id={f}\n" : null;
            var s = Resolve(flags, env, file);
            int expected = t.Flag ?? t.Env ?? t.File ?? 1;
            return s.NumPartitions == expected && s.NodeId == expected;
        }).QuickCheckThrowOnFailure();
    }

    [Fact]
    public void Every_flag_is_wired_to_its_setting()
    {
        var s = Resolve(new ServeArguments
        {
            Listeners = "PLAINTEXT://0.0.0.0:19092",
            AdvertisedListeners = "PLAINTEXT://broker.example:29092",
            NodeId = "7",
            DataDir = "/var/lib/detkafka",
            NumPartitions = "6",
            AutoCreateTopics = "false",
            LogSegmentBytes = "1048576",
            MessageMaxBytes = "2000000",
            LogFile = "/tmp/detkafka.log",
            LogLevel = "warn",
        });
        Assert.Equal(new ListenerAddress("PLAINTEXT", "0.0.0.0", 19092), s.Listener);
        Assert.Equal(new ListenerAddress("PLAINTEXT", "broker.example", 29092), s.Advertised);
        Assert.Equal(7, s.NodeId);
        Assert.Equal("/var/lib/detkafka", s.DataDirectory);
        Assert.Equal(6, s.NumPartitions);
        Assert.False(s.AutoCreateTopicsEnable);
        Assert.Equal("1048576", s.TopicConfigDefaults["segment.bytes"]);
        Assert.Equal(2_000_000, s.MessageMaxBytes);
        Assert.Equal("2000000", s.TopicConfigDefaults["max.message.bytes"]);
        Assert.Equal("/tmp/detkafka.log", s.LogFile);
        Assert.Equal(LogLevel.Warning, s.LogLevel);
    }

    [Fact]
    public void The_controller_quorum_takes_kafkas_voter_syntax()
    {
        var s = Resolve(new ServeArguments
        {
            NodeId = "2", Listeners = "PLAINTEXT://127.0.0.1:19092", ControllerQuorum = "1@127.0.0.1:19091,2@127.0.0.1:19092,3@127.0.0.1:19093",
        });
        Assert.Equal([1, 2, 3], s.ControllerQuorumVoters.Select(v => v.NodeId));
        Assert.Equal(3, s.ToBrokerConfig(19092).ControllerQuorumVoters.Count);
        Assert.Contains(s.Effective, e => e.Key == "controller.quorum.voters" && e.Source == "--controller-quorum");
        // A quorum of this node alone is the single-node mode; a quorum without this node, or a bad list, is refused.
        Assert.Empty(Resolve(new ServeArguments { ControllerQuorum = "1@localhost:9093" }).ControllerQuorumVoters);
        Assert.Contains("not one of the voters", ErrorOf(new ServeArguments { NodeId = "4", ControllerQuorum = "1@a:1,2@b:2" }));
        Assert.Contains("id@host:port", ErrorOf(new ServeArguments { ControllerQuorum = "1@a" }));
        Assert.Empty(Resolve().ControllerQuorumVoters);
    }

    [Fact]
    public void Broker_log_settings_become_topic_config_defaults()
    {
        var file = string.Join('\n',
            "# broker-wide topic defaults",
            "log.segment.bytes=524288",
            "log.flush.interval.messages=1000",
            "log.flush.interval.ms=250",
            "log.roll.hours=2",
            "log.retention.minutes=90",
            "log.retention.bytes=-1",
            "message.max.bytes=4096",
            "log.message.timestamp.type=logappendtime",
            "compression.type=zstd",
            "socket.request.max.bytes=1000000",
            "max.connections=50");
        var s = Resolve(file: file);
        var expected = new SortedDictionary<string, string>(StringComparer.Ordinal)
        {
            ["segment.bytes"] = "524288",
            ["flush.messages"] = "1000",
            ["flush.ms"] = "250",
            ["segment.ms"] = "7200000",
            ["retention.ms"] = "5400000",
            ["retention.bytes"] = "-1",
            ["max.message.bytes"] = "4096",
            ["message.timestamp.type"] = "LogAppendTime",
            ["compression.type"] = "zstd",
        };
        Assert.Equal(expected, s.TopicConfigDefaults);
        var config = s.ToBrokerConfig(9092);
        Assert.Equal(expected, config.TopicConfigDefaults);
        Assert.Equal(4096, config.MessageMaxBytes);
        Assert.Equal(1_000_000, config.SocketRequestMaxBytes);
        Assert.Equal(50, config.MaxConnections);
    }

    [Fact]
    public void Retention_prefers_ms_within_a_source_but_a_higher_source_wins_whatever_its_unit()
    {
        Assert.Equal("1000", Resolve(file: "log.retention.hours=1\nlog.retention.ms=1000")!.TopicConfigDefaults["retention.ms"]);
        Assert.Equal("-1", Resolve(file: "log.retention.hours=-1").TopicConfigDefaults["retention.ms"]);
        var s = Resolve(env: new() { ["DETKAFKA_LOG_RETENTION_HOURS"] = "3" }, file: "log.retention.ms=1000");
        Assert.Equal("10800000", s.TopicConfigDefaults["retention.ms"]);
    }

    [Fact]
    public void Group_coordinator_settings_come_from_their_Kafka_names()
    {
        var defaults = Resolve().ToBrokerConfig(9092);
        Assert.Equal((50, 10_080L, 3_000, 6_000, 1_800_000), (defaults.OffsetsTopicNumPartitions, defaults.OffsetsRetentionMinutes,
            defaults.GroupInitialRebalanceDelayMs, defaults.GroupMinSessionTimeoutMs, defaults.GroupMaxSessionTimeoutMs));
        var set = Resolve(env: new() { ["DETKAFKA_GROUP_INITIAL_REBALANCE_DELAY_MS"] = "0" },
            file: "offsets.topic.num.partitions=7\noffsets.retention.minutes=2\noffsets.retention.check.interval.ms=1000\ngroup.min.session.timeout.ms=100\ngroup.max.session.timeout.ms=9000\n")
            .ToBrokerConfig(9092);
        Assert.Equal((7, 2L, 1_000L, 0, 100, 9_000), (set.OffsetsTopicNumPartitions, set.OffsetsRetentionMinutes, set.OffsetsRetentionCheckIntervalMs,
            set.GroupInitialRebalanceDelayMs, set.GroupMinSessionTimeoutMs, set.GroupMaxSessionTimeoutMs));
    }

    [Fact]
    public void Listener_forms()
    {
        Assert.Equal(new ListenerAddress("PLAINTEXT", "localhost", 9093), Resolve(new ServeArguments { Listeners = "localhost:9093" }).Listener);
        Assert.Equal(new ListenerAddress("PLAINTEXT", "::1", 9092), Resolve(new ServeArguments { Listeners = "PLAINTEXT://[::1]:9092" }).Listener);
        Assert.Equal(0, Resolve(new ServeArguments { Listeners = "127.0.0.1:0" }).Listener.Port);

        // A wildcard listener advertises the machine's name, as Kafka does.
        var wildcard = Resolve(new ServeArguments { Listeners = "PLAINTEXT://:9092" });
        Assert.Equal("", wildcard.Listener.Host);
        Assert.Equal(new ListenerAddress("PLAINTEXT", "myhost", 9092), wildcard.Advertised);

        // Port 0 advertises the port actually bound.
        Assert.Equal(40123, Resolve(new ServeArguments { Listeners = "127.0.0.1:0" }).ToBrokerConfig(40123).AdvertisedPort);
    }

    [Fact]
    public void Stock_kraft_server_properties_is_accepted_with_warnings_for_what_a_single_node_ignores()
    {
        var file = """
            ############################# Server Basics #############################
            process.roles=broker,controller
            node.id=1
            controller.quorum.bootstrap.servers=localhost:9093
            listeners=PLAINTEXT://:9092,CONTROLLER://:9093
            inter.broker.listener.name=PLAINTEXT
            advertised.listeners=PLAINTEXT://localhost:9092,CONTROLLER://localhost:9093
            controller.listener.names=CONTROLLER
            listener.security.protocol.map=CONTROLLER:PLAINTEXT,PLAINTEXT:PLAINTEXT,SSL:SSL,SASL_PLAINTEXT:SASL_PLAINTEXT,SASL_SSL:SASL_SSL
            num.network.threads=3
            num.io.threads=8
            socket.send.buffer.bytes=102400
            socket.receive.buffer.bytes=102400
            socket.request.max.bytes=104857600
            log.dirs=/tmp/kraft-combined-logs
            num.partitions=1
            num.recovery.threads.per.data.dir=1
            offsets.topic.replication.factor=1
            transaction.state.log.replication.factor=1
            transaction.state.log.min.isr=1
            log.retention.hours=168
            log.segment.bytes=1073741824
            log.retention.check.interval.ms=300000
            """;
        var s = Resolve(file: file);
        Assert.Equal(new ListenerAddress("PLAINTEXT", "", 9092), s.Listener);
        Assert.Equal(new ListenerAddress("PLAINTEXT", "localhost", 9092), s.Advertised);
        Assert.Equal("/tmp/kraft-combined-logs", s.DataDirectory);
        Assert.Equal("604800000", s.TopicConfigDefaults["retention.ms"]);
        Assert.Contains(s.Warnings, w => w.Contains("CONTROLLER://:9093"));
        Assert.Contains(s.Warnings, w => w.Contains("num.io.threads") && w.Contains("ignored"));
    }

    [Fact]
    public void Properties_syntax_comments_colons_and_continuations()
    {
        var entries = ServerOptions.ParseProperties("# c\n! c\n\n  a = 1\nb: two\nc=x,\\\n   y\nd=\na=3\r\n", "f");
        Assert.Equal("3", entries["a"].Value);
        Assert.Equal(9, entries["a"].Line);
        Assert.Equal("two", entries["b"].Value);
        Assert.Equal("x,y", entries["c"].Value);
        Assert.Equal("", entries["d"].Value);
        Assert.Equal(4, entries.Count);
    }

    [Fact]
    public void Environment_names_are_kafka_names_upper_cased_with_underscores()
    {
        Assert.Equal("DETKAFKA_NUM_PARTITIONS", ServerOptions.EnvironmentName("num.partitions"));
        var s = Resolve(env: new()
        {
            ["DETKAFKA_LISTENERS"] = "PLAINTEXT://127.0.0.1:9999",
            ["DETKAFKA_AUTO_CREATE_TOPICS_ENABLE"] = "FALSE",
            ["DETKAFKA_LOG_FLUSH_INTERVAL_MS"] = "5",
            ["PATH"] = "/bin",
        });
        Assert.Equal(9999, s.Listener.Port);
        Assert.False(s.AutoCreateTopicsEnable);
        Assert.Equal("5", s.TopicConfigDefaults["flush.ms"]);
        Assert.Empty(s.Warnings);
    }

    [Fact]
    public void An_unknown_DETKAFKA_environment_variable_is_refused_by_name()
    {
        var message = ErrorOf(env: new() { ["DETKAFKA_NOT_A_SETTING"] = "1" });
        Assert.Contains("DETKAFKA_NOT_A_SETTING", message);
        Assert.Contains("unknown broker setting", message);
    }

    [Theory]
    [InlineData("127.0.0.1:9999", "127.0.0.1:9999")]
    [InlineData("off", null)]
    [InlineData("none", null)]
    public void The_metrics_listener_is_on_by_default_and_can_be_moved_or_turned_off(string value, string? expected)
    {
        Assert.Equal(ServerOptions.DefaultMetricsListener, Resolve().MetricsListener!.HostPort);
        Assert.Equal(expected, Resolve(new ServeArguments { MetricsListener = value }).MetricsListener?.HostPort);
        Assert.Equal(expected, Resolve(env: new() { ["DETKAFKA_METRICS_LISTENER"] = value }).MetricsListener?.HostPort);
    }

    [Theory]
    [InlineData("threads")]
    [InlineData("loop")]
    [InlineData("LOOP-write-behind")]
    public void The_io_model_is_threads_by_default_and_can_be_chosen(string value)
    {
        Assert.Equal("threads", Resolve().IoModel);
        Assert.Equal(value.ToLowerInvariant(), Resolve(env: new() { ["DETKAFKA_IO_MODEL"] = value }).IoModel);
        Assert.Equal(value.ToLowerInvariant(), Resolve(file: "io.model=" + value + "\n").IoModel);
        var message = Assert.Throws<ConfigException>(() => Resolve(env: new() { ["DETKAFKA_IO_MODEL"] = "epoll" })).Message;
        Assert.Contains("DETKAFKA_IO_MODEL", message);
        Assert.Contains("not loop, loop-write-behind or threads", message);
    }

    [Fact]
    public void The_effective_configuration_names_each_value_s_source()
    {
        var s = Resolve(new ServeArguments { NumPartitions = "4", LogFormat = "json" },
            env: new() { ["DETKAFKA_LOG_RETENTION_HOURS"] = "2" }, file: "node.id=7\nlog.segment.bytes=1048576\n");
        var byKey = s.Effective.ToDictionary(e => e.Key);
        Assert.Equal(("4", "--num-partitions"), (byKey["num.partitions"].Value, byKey["num.partitions"].Source));
        Assert.Equal(("7200000", "environment variable DETKAFKA_LOG_RETENTION_HOURS"), (byKey["log.retention.ms"].Value, byKey["log.retention.ms"].Source));
        Assert.Equal(("7", "server.properties:1: node.id"), (byKey["node.id"].Value, byKey["node.id"].Source));
        Assert.Equal(("1048576", "server.properties:2: log.segment.bytes"), (byKey["log.segment.bytes"].Value, byKey["log.segment.bytes"].Source));
        Assert.Equal(("1048588", "default"), (byKey["message.max.bytes"].Value, byKey["message.max.bytes"].Source));
        Assert.Equal(("json", "--log-format"), (byKey["log.format"].Value, byKey["log.format"].Source));
        Assert.Equal((ServerOptions.DefaultMetricsListener, "default"), (byKey["metrics.listener"].Value, byKey["metrics.listener"].Source));
    }

    [Theory]
    [InlineData("flag", "--num-partitions", "not an integer")]
    [InlineData("env", "DETKAFKA_NUM_PARTITIONS", "out of range")]
    [InlineData("file-unknown", "server.properties:2", "unknown broker setting 'log.segment.byte'")]
    [InlineData("file-syntax", "server.properties:1", "expected key=value")]
    [InlineData("no-port", "--listeners", "no port")]
    [InlineData("bad-port", "--listeners", "bad port")]
    [InlineData("ssl", "--listeners", "only PLAINTEXT")]
    [InlineData("two", "--listeners", "exactly one client listener")]
    [InlineData("bool", "--auto-create-topics", "not true or false")]
    [InlineData("level", "--log-level", "not one of")]
    [InlineData("dirs", "log.dirs", "only one data directory")]
    [InlineData("ids", "broker.id", "disagree")]
    [InlineData("adv-wildcard", "--advertised-listeners", "not an address clients can connect to")]
    [InlineData("segment-small", "log.segment.bytes", "out of range")]
    [InlineData("overflow", "--message-max-bytes", "out of range")]
    [InlineData("metrics-port", "--metrics-listener", "bad port")]
    [InlineData("metrics-zero", "--metrics-listener", "needs a fixed port")]
    [InlineData("log-format", "--log-format", "not text or json")]
    public void Bad_values_are_rejected_naming_their_source(string scenario, string where, string what)
    {
        string message = scenario switch
        {
            "flag" => ErrorOf(new ServeArguments { NumPartitions = "abc" }),
            "env" => ErrorOf(env: new() { ["DETKAFKA_NUM_PARTITIONS"] = "0" }),
            "file-unknown" => ErrorOf(file: "num.partitions=1\nlog.segment.byte=10\n"),
            "file-syntax" => ErrorOf(file: "just-a-word\n"),
            "no-port" => ErrorOf(new ServeArguments { Listeners = "PLAINTEXT://localhost" }),
            "bad-port" => ErrorOf(new ServeArguments { Listeners = "localhost:70000" }),
            "ssl" => ErrorOf(new ServeArguments { Listeners = "SSL://:9093" }),
            "two" => ErrorOf(new ServeArguments { Listeners = "PLAINTEXT://:9092,OTHER://:9093" }),
            "bool" => ErrorOf(new ServeArguments { AutoCreateTopics = "yes" }),
            "level" => ErrorOf(new ServeArguments { LogLevel = "loud" }),
            "dirs" => ErrorOf(file: "log.dirs=/a,/b"),
            "ids" => ErrorOf(file: "node.id=1\nbroker.id=2"),
            "adv-wildcard" => ErrorOf(new ServeArguments { AdvertisedListeners = "PLAINTEXT://0.0.0.0:9092" }),
            "segment-small" => ErrorOf(file: "log.segment.bytes=3"),
            "overflow" => ErrorOf(new ServeArguments { MessageMaxBytes = "99999999999" }),
            "metrics-port" => ErrorOf(new ServeArguments { MetricsListener = "127.0.0.1:99999" }),
            "metrics-zero" => ErrorOf(new ServeArguments { MetricsListener = "127.0.0.1:0" }),
            "log-format" => ErrorOf(new ServeArguments { LogFormat = "xml" }),
            _ => throw new ArgumentException(scenario),
        };
        Assert.Contains(where, message);
        Assert.Contains(what, message);
    }

    [Fact]
    public void Only_the_winning_value_is_parsed_but_unknown_file_keys_always_fail()
    {
        // Only the winning value is parsed: a flag hides a bad file value for the same setting...
        Assert.Equal(3, Resolve(new ServeArguments { NumPartitions = "3" }, file: "num.partitions=abc").NumPartitions);
        // ...but unknown keys in the file are always errors.
        Assert.Throws<ConfigException>(() => Resolve(new ServeArguments { NumPartitions = "3" }, file: "num.partitionz=3"));
    }
}
