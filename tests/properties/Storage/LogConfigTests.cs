using DetKafka.Core.Records;
using DetKafka.Core.Storage;
using Xunit;

namespace DetKafka.Properties.Storage;

public class LogConfigTests
{
    private static KeyValuePair<string, string?> KV(string k, string? v) => new(k, v);

    [Fact]
    public void Defaults_are_kafkas_except_durability()
    {
        var d = LogConfig.Default;
        Assert.Equal((1 << 30, 604_800_000L, 10 << 20, 4096), (d.SegmentBytes, d.SegmentMs, d.SegmentIndexBytes, d.IndexIntervalBytes));
        Assert.Equal((1048588, 604_800_000L, -1L, "delete"), (d.MaxMessageBytes, d.RetentionMs, d.RetentionBytes, d.CleanupPolicy));
        Assert.Equal((1L, long.MaxValue), (d.FlushMessages, d.FlushMs));
        Assert.False(d.IsRelaxedDurability);
        Assert.All(LogConfig.Names, n => Assert.True(d.IsDefault(n)));
        Assert.Equal(LogConfig.Names.Order(StringComparer.Ordinal), LogConfig.Names);
    }

    [Fact]
    public void Valid_values_parse_and_report_back()
    {
        Assert.True(LogConfig.TryParse(
        [
            KV("segment.bytes", " 1024 "), KV("segment.ms", "60000"), KV("message.timestamp.type", "LogAppendTime"),
            KV("flush.messages", "10"), KV("cleanup.policy", "compact, delete"), KV("retention.bytes", "-1"),
            KV("min.insync.replicas", "2"), KV("index.interval.bytes", "0"),
        ], out var c, out var error), error);
        Assert.Equal(1024, c.SegmentBytes);
        Assert.Equal(TimestampType.LogAppendTime, c.MessageTimestampType);
        Assert.True(c.IsRelaxedDurability);
        Assert.Equal("compact,delete", c.ValueOf("cleanup.policy"));
        Assert.Equal("2", c.ValueOf("min.insync.replicas"));
        Assert.False(c.IsDefault("segment.bytes"));
        Assert.True(c.IsDefault("retention.bytes"));
        // A null value is AlterConfigs' delete: back to the default.
        Assert.True(c.TryWith([KV("segment.bytes", null), KV("min.insync.replicas", null)], out var reset, out _));
        Assert.Equal(LogConfig.Default.SegmentBytes, reset.SegmentBytes);
        Assert.True(reset.IsDefault("min.insync.replicas"));
        Assert.True((LogConfig.Default with { FlushMs = 1000 }).IsRelaxedDurability);
    }

    [Theory]
    [InlineData("segment.bytes", "13")]
    [InlineData("segment.bytes", "1e9")]
    [InlineData("segment.bytes", "4294967296")]
    [InlineData("segment.ms", "0")]
    [InlineData("flush.messages", "0")]
    [InlineData("flush.ms", "-1")]
    [InlineData("retention.ms", "-2")]
    [InlineData("max.message.bytes", "")]
    [InlineData("message.timestamp.type", "createtime")]
    [InlineData("cleanup.policy", "delete,purge")]
    [InlineData("cleanup.policy", "")]
    [InlineData("no.such.config", "1")]
    [InlineData("min.cleanable.dirty.ratio", "1.5")]
    [InlineData("min.cleanable.dirty.ratio", "-0.1")]
    [InlineData("min.cleanable.dirty.ratio", "half")]
    [InlineData("min.cleanable.dirty.ratio", "NaN")]
    [InlineData("delete.retention.ms", "-1")]
    [InlineData("min.compaction.lag.ms", "-1")]
    [InlineData("max.compaction.lag.ms", "0")]
    public void Bad_values_are_refused_and_change_nothing(string name, string value)
    {
        var start = LogConfig.Default with { SegmentBytes = 5000 };
        Assert.False(start.TryWith([KV("segment.ms", "5"), KV(name, value)], out var c, out var error));
        Assert.Same(start, c);
        Assert.Contains(name, error);
    }

    [Fact]
    public void Compaction_configs_parse_report_back_and_cross_check()
    {
        Assert.True(LogConfig.TryParse(
        [
            KV("cleanup.policy", "compact"), KV("min.cleanable.dirty.ratio", "0.01"), KV("delete.retention.ms", "1000"),
            KV("min.compaction.lag.ms", "5"), KV("max.compaction.lag.ms", "60000"),
        ], out var c, out var error), error);
        Assert.True(c.Compacts);
        Assert.False(c.DeletesByRetention);
        Assert.Equal(0.01, c.MinCleanableDirtyRatio);
        Assert.Equal("0.01", c.ValueOf("min.cleanable.dirty.ratio"));
        Assert.Equal("1000", c.ValueOf("delete.retention.ms"));
        Assert.Equal("5", c.ValueOf("min.compaction.lag.ms"));
        Assert.Equal("60000", c.ValueOf("max.compaction.lag.ms"));
        Assert.Equal("0.5", LogConfig.Default.ValueOf("min.cleanable.dirty.ratio"));
        Assert.True((LogConfig.Default with { CleanupPolicy = "compact,delete" }).Compacts);
        // Kafka's cross-check: min.compaction.lag.ms above max.compaction.lag.ms names the config.
        Assert.False(LogConfig.TryParse([KV("min.compaction.lag.ms", "10"), KV("max.compaction.lag.ms", "5")], out _, out error));
        Assert.Contains("max.compaction.lag.ms", error);
        // Every topic config has a broker synonym.
        Assert.All(LogConfig.Names, n => Assert.True(LogConfig.BrokerSynonyms.ContainsKey(n), n));
    }
}
