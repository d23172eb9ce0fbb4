using DetKafka.Core.Abstractions;
using DetKafka.Core.Broker;
using DetKafka.Core.Protocol;
using DetKafka.Core.Storage;
using DetKafka.Properties.Broker;
using DetKafka.Sim;
using Xunit;

namespace DetKafka.Properties.Perf;

/// <summary>
/// The goal of the hot-path work: once warm, a produce (acks=all, answered after its sync) and a fetch
/// allocate nothing in Core. Driven as the host's driver does, on a disk and a network that allocate nothing
/// themselves. The offset index is kept from growing (index.interval.bytes at its maximum) because its entries
/// are retained state that grows with the log, not per-request garbage; PERFORMANCE.md accounts for them.
/// </summary>
public class ZeroAllocationTests
{
    private const int WarmUpSteps = 300;
    private const int MeasuredSteps = 200;

    /// <param name="withMetrics">With the host's observer feeding the Prometheus metrics (request counts and
    /// latency histograms per API, bytes in/out per topic, errors by code) and its request log below its level.</param>
    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public void A_warm_broker_allocates_nothing_per_produce_or_fetch(bool withMetrics)
    {
        var disk = new MemoryDisk();
        disk.Reserve(64 * 1024 * 1024);
        var network = new CountingNetwork();
        var node = new BrokerNode(new BrokerConfig { NodeId = 1, DataDirectory = "data" }, new ManualClock(), disk, network,
            new SeededRandom(1), NullBrokerLog.Instance);
        var metrics = withMetrics ? new DetKafka.Host.Runtime.BrokerMetrics() : null;
        if (withMetrics) node.Observer = new DetKafka.Host.Runtime.HostObserver(metrics, new Serilog.LoggerConfiguration().CreateLogger());
        node.Start();
        var configs = new List<KeyValuePair<string, string?>> { new(LogConfig.IndexIntervalBytesName, int.MaxValue.ToString()) };
        Assert.Equal(ErrorCode.None, node.CreateTopic("t", 1, configs, validateOnly: false, out _).Error);
        var connection = new ConnectionId(1);
        node.OnConnectionOpened(connection);

        var batch = BrokerTests.Batch(1_000, Enumerable.Range(0, 50).Select(i => new string('v', 100)).ToArray());
        byte[] produce = ClientCodec.EncodeRequest(ApiKey.Produce, 9, 7, "client", BrokerTests.Produce("t", 0, batch));
        // Larger than the connection's own 64 KiB buffer: gathered in a pooled one.
        var largeBatch = BrokerTests.Batch(2_000, Enumerable.Range(0, 64).Select(i => new string('w', 4096)).ToArray());
        byte[] largeProduce = ClientCodec.EncodeRequest(ApiKey.Produce, 9, 9, "client", BrokerTests.Produce("t", 0, largeBatch));
        Assert.True(largeProduce.Length > 128 * 1024);
        var fetchRequest = BrokerTests.Fetch("t", 0, 0, maxWaitMs: 500);
        fetchRequest.Topics[0].Partitions[0].PartitionMaxBytes = 64 * 1024;
        byte[] fetch = ClientCodec.EncodeRequest(ApiKey.Fetch, 12, 8, "client", fetchRequest);

        void Produce(byte[] frame)
        {
            node.OnReceive(connection, frame);
            while (disk.TryTakeSync(out long token)) node.OnSyncCompleted(token, DiskStatus.Ok);
            _ = node.NextDeadlineMs;
        }

        void ProduceStep() => Produce(produce);

        void LargeProduceStep()
        {
            // As a socket delivers it: in reads of at most 64 KiB.
            for (int at = 0; at < largeProduce.Length; at += 64 * 1024)
                node.OnReceive(connection, largeProduce.AsSpan(at, Math.Min(64 * 1024, largeProduce.Length - at)));
            while (disk.TryTakeSync(out long token)) node.OnSyncCompleted(token, DiskStatus.Ok);
            _ = node.NextDeadlineMs;
        }

        void FetchStep()
        {
            node.OnReceive(connection, fetch);
            _ = node.NextDeadlineMs;
        }

        for (int i = 0; i < WarmUpSteps; i++)
        {
            ProduceStep();
            FetchStep();
            if (i % 10 == 0) LargeProduceStep();
        }
        long sends = network.Sends;
        long producedBytes = Measure(ProduceStep, MeasuredSteps);
        long fetchedBytes = Measure(FetchStep, MeasuredSteps);
        long largeProducedBytes = Measure(LargeProduceStep, MeasuredSteps / 10);
        Assert.Equal(sends + 3 * (2 * MeasuredSteps + MeasuredSteps / 10), network.Sends); // every request was answered
        Assert.Equal(0, producedBytes);
        Assert.Equal(0, fetchedBytes);
        Assert.Equal(0, largeProducedBytes);
        if (metrics is not null)
        {
            // The observer did see the traffic.
            string text = Scrape(metrics);
            Assert.Contains($"kafka_network_requestmetrics_requests_total{{request=\"Produce\"}} {WarmUpSteps + WarmUpSteps / 10 + 3 * MeasuredSteps + 3 * (MeasuredSteps / 10)}", text);
            Assert.Contains("kafka_server_brokertopicmetrics_bytesout_total{topic=\"t\"}", text);
        }
    }

    private static string Scrape(DetKafka.Host.Runtime.BrokerMetrics metrics)
    {
        using var scrape = new MemoryStream();
        metrics.Registry.CollectAndExportAsTextAsync(scrape).GetAwaiter().GetResult();
        return System.Text.Encoding.UTF8.GetString(scrape.ToArray());
    }

    /// <summary>The least any of three rounds allocated. A per-request allocation shows in every round; the
    /// runtime's own occasional work on this thread (ArrayPool.Shared rebuilding its per-thread buckets after a
    /// gen2 GC trimmed them, which a busy full-suite run triggers) shows in one, and is not Core's.</summary>
    private static long Measure(Action step, int steps)
    {
        long least = long.MaxValue;
        for (int round = 0; round < 3; round++)
        {
            long before = GC.GetAllocatedBytesForCurrentThread();
            for (int i = 0; i < steps; i++) step();
            least = Math.Min(least, GC.GetAllocatedBytesForCurrentThread() - before);
        }
        return least;
    }
}
