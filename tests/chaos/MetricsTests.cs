using System.Globalization;
using System.Net.Http;
using System.Text.RegularExpressions;
using Xunit;

namespace DetKafka.Chaos;

/// <summary>The broker's Prometheus endpoint, scraped while real clients (kcat, kafka-python) work against it.</summary>
public sealed partial class MetricsTests : IDisposable
{
    private readonly int _metricsPort = BrokerProcess.FreeLoopbackPort();
    private readonly BrokerProcess _broker;
    private readonly HttpClient _http = new() { Timeout = TimeSpan.FromSeconds(10) };

    public MetricsTests()
    {
        _broker = BrokerProcess.Start("metrics", extraArgs: ["--metrics-listener", $"127.0.0.1:{_metricsPort}"]);
        // The Kafka port accepts (into its backlog) as soon as it is bound; the endpoint comes up a moment later.
        var deadline = DateTime.UtcNow.AddSeconds(30);
        while (true)
        {
            try
            {
                using var response = _http.GetAsync($"http://127.0.0.1:{_metricsPort}/metrics").GetAwaiter().GetResult();
                if (response.IsSuccessStatusCode) break;
            }
            catch (HttpRequestException) when (DateTime.UtcNow < deadline)
            {
            }
            Assert.True(DateTime.UtcNow < deadline, $"the metrics endpoint did not answer within 30 s:\n{_broker.LogTail()}");
            Thread.Sleep(100);
        }
    }

    public void Dispose()
    {
        _http.Dispose();
        _broker.Dispose();
    }

    private string Scrape(int? port = null)
    {
        using var response = _http.GetAsync($"http://127.0.0.1:{port ?? _metricsPort}/metrics").GetAwaiter().GetResult();
        Assert.True(response.IsSuccessStatusCode, $"scrape answered {(int)response.StatusCode}");
        return response.Content.ReadAsStringAsync().GetAwaiter().GetResult();
    }

    /// <summary>The first successful scrape within 30 s: the hammer's connections can fill the listener's backlog
    /// for a moment, and a scrape refused then says nothing about the broker's health.</summary>
    private string ScrapeWhenUp(int port, BrokerProcess broker)
    {
        var deadline = DateTime.UtcNow + TimeSpan.FromSeconds(30);
        while (true)
        {
            try
            {
                return Scrape(port);
            }
            catch (HttpRequestException) when (DateTime.UtcNow < deadline)
            {
                broker.AssertAlive("while its metrics port was hammered");
                Thread.Sleep(100);
            }
        }
    }

    [GeneratedRegex(@"^(?<name>[a-z_]+)(\{(?<labels>[^}]*)\})? (?<value>\S+)$", RegexOptions.Multiline)]
    private static partial Regex Sample();

    /// <summary>Samples by "name{labels}" (labels as printed).</summary>
    private static Dictionary<string, double> Parse(string text)
    {
        var result = new Dictionary<string, double>();
        foreach (Match m in Sample().Matches(text))
        {
            string key = m.Groups["name"].Value + (m.Groups["labels"].Success ? "{" + m.Groups["labels"].Value + "}" : "");
            result[key] = double.Parse(m.Groups["value"].Value, CultureInfo.InvariantCulture);
        }
        return result;
    }

    private static double Get(Dictionary<string, double> samples, string key) => samples.TryGetValue(key, out var v) ? v : 0;

    [Fact]
    public void Counters_move_while_kcat_and_kafka_python_produce_and_consume()
    {
        const string topic = "metrics-topic";
        var before = Parse(Scrape());
        Assert.Equal(0, Get(before, $"kafka_server_brokertopicmetrics_messagesin_total{{topic=\"{topic}\"}}"));

        string input = string.Concat(Enumerable.Range(0, 500).Select(i => $"key{i % 7}:value-{i}\n"));
        Clients.KcatRun(["-P", "-b", _broker.Bootstrap, "-t", topic, "-K:", "-X", "acks=all"], stdin: input);
        // In the middle of the run: the produce side has moved.
        var mid = Parse(Scrape());
        Assert.Equal(500, Get(mid, $"kafka_server_brokertopicmetrics_messagesin_total{{topic=\"{topic}\"}}"));
        Assert.True(Get(mid, $"kafka_server_brokertopicmetrics_bytesin_total{{topic=\"{topic}\"}}") > 500 * 10);
        Assert.True(Get(mid, "kafka_network_requestmetrics_requests_total{request=\"Produce\"}") >= 1);
        Assert.True(Get(mid, "kafka_network_requestmetrics_totaltime_seconds_count{request=\"Produce\"}") >= 1);
        Assert.Equal(500, Get(mid, $"kafka_log_log_logendoffset{{topic=\"{topic}\",partition=\"0\"}}"));
        Assert.True(Get(mid, $"kafka_log_log_size{{topic=\"{topic}\",partition=\"0\"}}") > 500 * 10);
        Assert.True(Get(mid, "kafka_log_logflushstats_logflushrateandtime_seconds_count") >= 1, "acks=all produce syncs the log");
        Assert.True(Get(mid, "kafka_server_socketservermetrics_connection_creation_total") > Get(before, "kafka_server_socketservermetrics_connection_creation_total"));

        CommandResult consumed = Clients.PythonScript("kp_consume.py", [_broker.Bootstrap, topic]);
        Assert.Equal(500, consumed.JsonLines().Count(l => l.GetProperty("type").GetString() == "record"));
        var after = Parse(Scrape());
        Assert.True(Get(after, $"kafka_server_brokertopicmetrics_bytesout_total{{topic=\"{topic}\"}}")
            >= Get(mid, $"kafka_server_brokertopicmetrics_bytesin_total{{topic=\"{topic}\"}}"), "every byte written was fetched");
        Assert.True(Get(after, "kafka_network_requestmetrics_requests_total{request=\"Fetch\"}") >= 1);
        Assert.True(Get(after, "kafka_network_requestmetrics_requests_total{request=\"ListOffsets\"}") >= 1);

        // An error returned to a client is counted by API and Kafka's error name.
        CommandResult missing = Clients.PythonScript("kp_admin.py", [_broker.Bootstrap, "describe", "metrics-no-such-topic"]);
        Assert.Equal(3, missing.JsonLines().Single().GetProperty("error_code").GetInt32());
        Assert.Equal(1, Get(Parse(Scrape()), "kafka_network_requestmetrics_errors_total{request=\"DescribeConfigs\",error=\"UNKNOWN_TOPIC_OR_PARTITION\"}"));

        // The histogram exposes buckets per API.
        Assert.Contains("kafka_network_requestmetrics_totaltime_seconds_bucket{request=\"Produce\",le=", Scrape());
    }

    [GeneratedRegex(@"kafka_[a-z_]+")]
    private static partial Regex MetricName();

    [Fact]
    public void Consumer_lag_per_group_and_partition_follows_the_commits_of_a_kcat_group_consumer()
    {
        const string topic = "metrics-lag", group = "metrics-lag-g";
        Clients.KcatRun(["-P", "-b", _broker.Bootstrap, "-t", topic, "-X", "acks=all"], stdin: string.Concat(Enumerable.Range(0, 20).Select(i => $"v{i}\n")));
        Clients.KcatRun(["-b", _broker.Bootstrap, "-G", group, "-X", "auto.offset.reset=earliest", "-e", "-q", topic], TimeSpan.FromSeconds(60));
        string series = $"{{consumergroup=\"{group}\",topic=\"{topic}\",partition=\"0\"}}";
        var caughtUp = Parse(Scrape());
        Assert.Equal(20, Get(caughtUp, "kafka_consumergroup_current_offset" + series));
        Assert.Equal(0, Get(caughtUp, "kafka_consumergroup_lag" + series));
        Clients.KcatRun(["-P", "-b", _broker.Bootstrap, "-t", topic, "-X", "acks=all"], stdin: "w1\nw2\nw3\nw4\nw5\n");
        Assert.Equal(5, Get(Parse(Scrape()), "kafka_consumergroup_lag" + series));
    }

    [Fact]
    public void The_grafana_dashboard_queries_only_metrics_the_endpoint_serves()
    {
        Clients.KcatRun(["-P", "-b", _broker.Bootstrap, "-t", "metrics-dashboard", "-X", "acks=all"], stdin: "a\n");
        Clients.KcatRun(["-C", "-b", _broker.Bootstrap, "-t", "metrics-dashboard", "-o", "beginning", "-e", "-q"]);
        // A group commits, so the consumer-lag series exist too.
        Clients.KcatRun(["-b", _broker.Bootstrap, "-G", "metrics-dashboard-g", "-X", "auto.offset.reset=earliest", "-e", "-q", "metrics-dashboard"],
            TimeSpan.FromSeconds(60));
        string scrape = Scrape();
        var served = scrape.Split('\n').Where(l => l.StartsWith("# TYPE ", StringComparison.Ordinal)).Select(l => l.Split(' ')[2]).ToHashSet();
        string dashboard = File.ReadAllText(Path.Combine(RepoPaths.Root, "docs", "grafana", "detkafka.json"));
        using var doc = System.Text.Json.JsonDocument.Parse(dashboard);
        var used = MetricName().Matches(dashboard).Select(m => m.Value).ToHashSet();
        Assert.True(used.Count >= 10, "the dashboard shows the broker's metrics");
        // A histogram's series are its name plus _bucket, _count and _sum.
        Assert.All(used, u => Assert.True(served.Contains(u) || served.Contains(Regex.Replace(u, "_(bucket|count|sum)$", "")),
            $"{u} is not served"));
    }

    [Fact]
    public void A_scraper_hammering_the_port_while_a_broker_starts_does_not_stop_it()
    {
        // .NET's managed HttpListener throws from Start() when a connection arrives at that moment (a scraper
        // polling a restarting broker; dotnet/corefx#35191), which took a broker down once in a full suite run. The
        // broker now serves metrics on its own socket. The race window is narrow, so this does not reproduce it
        // every time with HttpListener; it checks that start-up under a scraper's connections stays healthy.
        int port = BrokerProcess.FreeLoopbackPort();
        using var stop = new CancellationTokenSource(TimeSpan.FromSeconds(20));
        var hammer = new Thread(() =>
        {
            while (!stop.IsCancellationRequested)
            {
                try
                {
                    using var c = new System.Net.Sockets.TcpClient();
                    c.Connect("127.0.0.1", port);
                }
                catch (System.Net.Sockets.SocketException)
                {
                }
            }
        }) { IsBackground = true };
        hammer.Start();
        try
        {
            for (int i = 0; i < 3; i++)
            {
                using var broker = BrokerProcess.Start("metrics-hammered", extraArgs: ["--metrics-listener", $"127.0.0.1:{port}"]);
                Thread.Sleep(500);
                broker.AssertAlive("while its metrics port was hammered");
                Assert.Contains("kafka_network_requestmetrics_requests_total", ScrapeWhenUp(port, broker));
                Assert.Equal(0, broker.StopGracefully());
            }
        }
        finally
        {
            stop.Cancel();
            hammer.Join();
        }
    }

    [Fact]
    public void Deleted_topics_leave_the_partition_gauges()
    {
        Clients.KcatRun(["-P", "-b", _broker.Bootstrap, "-t", "metrics-gone"], stdin: "a\nb\n");
        Assert.Equal(2, Get(Parse(Scrape()), "kafka_log_log_logendoffset{topic=\"metrics-gone\",partition=\"0\"}"));
        Clients.PythonScript("kp_admin.py", [_broker.Bootstrap, "delete", "metrics-gone"]);
        Assert.DoesNotContain("kafka_log_log_logendoffset{topic=\"metrics-gone\"", Scrape());
    }
}
