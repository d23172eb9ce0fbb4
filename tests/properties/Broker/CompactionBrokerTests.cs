using DetKafka.Core.Broker;
using DetKafka.Core.Protocol;
using DetKafka.Core.Protocol.Messages;
using DetKafka.Core.Records;
using DetKafka.Core.Storage;
using Xunit;

namespace DetKafka.Properties.Broker;

/// <summary>Retention and compaction configs through the wire, and the cleaner driven by the node's clock.</summary>
public class CompactionBrokerTests
{
    private static KeyValuePair<string, string?> KV(string k, string? v) => new(k, v);

    [Fact]
    public void DescribeConfigs_reports_source_and_synonyms_and_alters_are_validated_and_durable()
    {
        var h = new BrokerHarness(new BrokerConfig
        {
            NodeId = 1,
            DataDirectory = "data",
            TopicConfigDefaults = new Dictionary<string, string> { ["delete.retention.ms"] = "5000" },
        });
        Assert.Equal(ErrorCode.None, h.Node.CreateTopic("c", 1, [KV("cleanup.policy", "compact"), KV("min.cleanable.dirty.ratio", "0.1")], false, out _).Error);
        var connection = h.Connect();

        Dictionary<string, DescribeConfigsResponse.DescribeConfigsResourceResult> Describe()
        {
            var request = new DescribeConfigsRequest { IncludeSynonyms = true };
            request.Resources.Add(new DescribeConfigsRequest.DescribeConfigsResource { ResourceType = ConfigResourceType.Topic, ResourceName = "c" });
            var response = h.Call<DescribeConfigsResponse>(connection, ApiKey.DescribeConfigs, 4, request);
            return response.Results[0].Configs.ToDictionary(c => c.Name);
        }

        var configs = Describe();
        var ratio = configs["min.cleanable.dirty.ratio"];
        Assert.Equal("0.1", ratio.Value);
        Assert.Equal(ConfigSource.TopicConfig, ratio.ConfigSource);
        Assert.Equal(ConfigType.Double, ratio.ConfigType);
        Assert.Equal([("min.cleanable.dirty.ratio", ConfigSource.TopicConfig), ("log.cleaner.min.cleanable.ratio", ConfigSource.DefaultConfig)],
            ratio.Synonyms.Select(s => (s.Name, s.Source)));
        var deleteRetention = configs["delete.retention.ms"];
        Assert.Equal("5000", deleteRetention.Value);
        Assert.Equal(ConfigSource.StaticBrokerConfig, deleteRetention.ConfigSource);
        Assert.Equal([("log.cleaner.delete.retention.ms", "5000", ConfigSource.StaticBrokerConfig), ("log.cleaner.delete.retention.ms", "86400000", ConfigSource.DefaultConfig)],
            deleteRetention.Synonyms.Select(s => (s.Name, s.Value, s.Source)));
        Assert.Equal(ConfigSource.DefaultConfig, configs["max.compaction.lag.ms"].ConfigSource);

        // An invalid value: INVALID_CONFIG naming the config, nothing changes.
        IncrementalAlterConfigsRequest Alter(string name, string? value)
        {
            var request = new IncrementalAlterConfigsRequest();
            var resource = new IncrementalAlterConfigsRequest.AlterConfigsResource { ResourceType = ConfigResourceType.Topic, ResourceName = "c" };
            resource.Configs.Add(new IncrementalAlterConfigsRequest.AlterableConfig { Name = name, ConfigOperation = AlterConfigOpType.Set, Value = value });
            request.Resources.Add(resource);
            return request;
        }
        var bad = h.Call<IncrementalAlterConfigsResponse>(connection, ApiKey.IncrementalAlterConfigs, 1, Alter("min.compaction.lag.ms", "-5"));
        Assert.Equal(ErrorCode.InvalidConfig, bad.Responses[0].ErrorCode);
        Assert.Contains("min.compaction.lag.ms", bad.Responses[0].ErrorMessage);
        var good = h.Call<IncrementalAlterConfigsResponse>(connection, ApiKey.IncrementalAlterConfigs, 1, Alter("max.compaction.lag.ms", "60000"));
        Assert.Equal(ErrorCode.None, good.Responses[0].ErrorCode);
        Assert.Equal(60000, h.Node.FindLog("c", 0)!.Config.MaxCompactionLagMs);

        // Durable: a crash and restart keep it.
        h.CrashAndRestart();
        Assert.Equal(60000, h.Node.FindLog("c", 0)!.Config.MaxCompactionLagMs);
        Assert.Equal(0.1, h.Node.FindLog("c", 0)!.Config.MinCleanableDirtyRatio);
    }

    [Fact]
    public void The_node_cleans_a_compacted_topic_and_enforces_retention_on_its_clock()
    {
        var h = new BrokerHarness(new BrokerConfig
        {
            NodeId = 1,
            DataDirectory = "data",
            LogRetentionCheckIntervalMs = 100,
            LogCleaner = LogCleanerConfig.Default with { BackoffMs = 100 },
        });
        Assert.Equal(ErrorCode.None, h.Node.CreateTopic("c", 1,
            [KV("cleanup.policy", "compact"), KV("segment.ms", "50"), KV("min.cleanable.dirty.ratio", "0")], false, out _).Error);
        Assert.Equal(ErrorCode.None, h.Node.CreateTopic("r", 1, [KV("retention.ms", "1000"), KV("segment.ms", "50")], false, out _).Error);
        var connection = h.Connect();
        long now = h.Clock.WallClockMs;
        for (int v = 0; v < 5; v++)
        {
            var batch = RecordBatchBuilder.Build(Enumerable.Range(0, 10)
                .Select(k => new SimpleRecord(System.Text.Encoding.UTF8.GetBytes("k" + k), System.Text.Encoding.UTF8.GetBytes("v" + v), now)).ToList());
            var produced = h.Call<ProduceResponse>(connection, ApiKey.Produce, 9, BrokerTests.Produce("c", 0, batch));
            Assert.Equal(ErrorCode.None, produced.Responses[0].PartitionResponses[0].ErrorCode);
            h.Call<ProduceResponse>(connection, ApiKey.Produce, 9, BrokerTests.Produce("r", 0, BrokerTests.Batch(now, "x" + v)));
        }
        // A keyless record to the compacted topic: INVALID_RECORD (87).
        var keyless = h.Call<ProduceResponse>(connection, ApiKey.Produce, 9, BrokerTests.Produce("c", 0,
            RecordBatchBuilder.Build(now, CompressionCodec.None, "nokey"u8.ToArray())));
        Assert.Equal(ErrorCode.InvalidRecord, keyless.Responses[0].PartitionResponses[0].ErrorCode);

        for (int i = 0; i < 40; i++)
        {
            h.AdvanceTime(100);
            // A segment.ms roll requests its segment's syncs (STORAGE.md "Segment roll"); the cleaner waits for them.
            h.CompleteSyncs();
        }
        var log = h.Node.FindLog("c", 0)!;
        Assert.True(h.Node.Cleaner.Stats.Swaps > 0, "the node's clock drove the cleaner");
        Assert.True(log.CleanerCheckpoint >= 40);
        var retained = h.Node.FindLog("r", 0)!;
        Assert.Equal(5, retained.LogStartOffset);
        var fetch = h.Call<FetchResponse>(connection, ApiKey.Fetch, 12, BrokerTests.Fetch("r", 0, 0));
        Assert.Equal(ErrorCode.OffsetOutOfRange, fetch.Responses[0].Partitions[0].ErrorCode);
    }
}
