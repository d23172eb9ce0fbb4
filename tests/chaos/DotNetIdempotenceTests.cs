using System.Collections.Concurrent;
using System.Diagnostics;
using System.Globalization;
using Confluent.Kafka;
using Xunit;
using Xunit.Abstractions;

namespace DetKafka.Chaos;

/// <summary>
/// Confluent.Kafka (.NET) with idempotence on, producing through a SIGKILL and restart of the broker: its retries of
/// batches the broker had already written before the kill must be answered from the producer state rebuilt from the
/// log (DUPLICATE_SEQUENCE_NUMBER as success), so every acknowledged record is in the log exactly once, in send order
/// per partition.
/// </summary>
public sealed class DotNetIdempotenceTests(ITestOutputHelper output) : IDisposable
{
    private const int Partitions = 3;
    private readonly BrokerProcess _broker = BrokerProcess.Start("dotnet-idempotence", numPartitions: Partitions);

    [Fact]
    public void An_idempotent_producer_survives_kill_9_without_duplicates_or_reordering()
    {
        const string topic = "dotnet-idem-kill9";
        const int count = 6_000;
        var acked = new ConcurrentQueue<(int Seq, int Partition, long Offset)>();
        var errors = new ConcurrentQueue<string>();
        var config = new ProducerConfig
        {
            BootstrapServers = _broker.Bootstrap,
            ClientId = "chaos-dotnet-idempotent",
            EnableIdempotence = true, // acks=all, in-flight <= 5, retries: the client's own settings for it
            LingerMs = 2,
            MessageTimeoutMs = 90_000,
            ReconnectBackoffMs = 50,
            ReconnectBackoffMaxMs = 500,
        };
        using (var producer = new ProducerBuilder<string, string>(config).Build())
        {
            bool killed = false;
            var sw = Stopwatch.StartNew();
            for (int i = 0; i < count; i++)
            {
                int seq = i;
                var message = new Message<string, string>
                {
                    Key = "k" + (i % 17).ToString(CultureInfo.InvariantCulture),
                    Value = "dn-" + i.ToString(CultureInfo.InvariantCulture),
                };
                producer.Produce(topic, message, report =>
                {
                    if (report.Error.IsError) errors.Enqueue($"{seq}: {report.Error.Code} {report.Error.Reason}");
                    else acked.Enqueue((seq, report.Partition.Value, report.Offset.Value));
                });
                // Pace the stream so the kill lands in the middle of it, with batches in flight.
                if (i % 100 == 99) Thread.Sleep(20);
                if (!killed && acked.Count >= 1_000)
                {
                    _broker.Kill9();
                    Thread.Sleep(500);
                    _broker.Restart();
                    killed = true;
                }
            }
            int left = producer.Flush(TimeSpan.FromSeconds(120));
            Assert.Equal(0, left);
            Assert.True(killed, $"the broker was never killed: {acked.Count} acknowledged in {sw.Elapsed}");
        }

        Assert.True(errors.IsEmpty, "delivery errors: " + string.Join("; ", errors.Take(10)));
        Assert.Equal(count, acked.Count);

        CommandResult consumed = Clients.KcatRun(["-C", "-b", _broker.Bootstrap, "-t", topic, "-o", "beginning", "-e", "-q",
            "-f", "%p %o %s\\n"], TimeSpan.FromSeconds(90));
        var records = consumed.Stdout.Split('\n', StringSplitOptions.RemoveEmptyEntries)
            .Select(l => l.Split(' '))
            .Select(f => (Partition: int.Parse(f[0], CultureInfo.InvariantCulture), Offset: long.Parse(f[1], CultureInfo.InvariantCulture),
                Seq: int.Parse(f[2]["dn-".Length..], CultureInfo.InvariantCulture)))
            .ToList();
        // Exactly once: every send in the log once, nothing else.
        Assert.Equal(count, records.Count);
        Assert.Equal(Enumerable.Range(0, count), records.Select(r => r.Seq).Order());
        // Each acknowledgement names the record's real place in the log.
        var place = records.ToDictionary(r => r.Seq, r => (r.Partition, r.Offset));
        foreach (var a in acked) Assert.Equal(place[a.Seq], (a.Partition, a.Offset));
        // Per partition, the log holds the sends in the order they were made.
        foreach (var g in records.GroupBy(r => r.Partition))
        {
            int[] seqs = g.OrderBy(r => r.Offset).Select(r => r.Seq).ToArray();
            Assert.True(seqs.Zip(seqs.Skip(1)).All(p => p.First < p.Second),
                $"partition {g.Key}: records out of send order: {string.Join(',', seqs.Take(60))}");
        }
        output.WriteLine($"{acked.Count} acknowledged across a kill -9, {records.Count} in the log, none twice; per partition: " +
                         string.Join(", ", records.GroupBy(r => r.Partition).OrderBy(g => g.Key).Select(g => $"{g.Key}:{g.Count()}")));
        _broker.AssertAlive("after the idempotent stream");
    }

    public void Dispose() => _broker.Dispose();
}
