using System.Diagnostics;
using System.Globalization;
using System.Text.Json;
using Xunit;
using Xunit.Abstractions;

namespace DetKafka.Chaos;

/// <summary>
/// Durability across SIGKILL: an acks=all producer streams records and logs every acknowledgement; the broker is
/// killed mid-stream and restarted on the same data directory. Every acknowledged record must be where the
/// acknowledgement said, and the log must continue without gaps or reused offsets.
/// </summary>
public sealed class KillNineTests(ITestOutputHelper output) : IDisposable
{
    private readonly BrokerProcess _broker = BrokerProcess.Start("kill9", numPartitions: 3);
    private readonly string _ackFile = Path.Combine(Path.GetTempPath(), $"detkafka-kill9-acks-{Guid.NewGuid():N}.jsonl");

    [Fact]
    public void Acknowledged_records_survive_kill_9_and_offsets_continue_after_restart()
    {
        const string topic = "kill9-stream";
        List<ClientRecord> before;
        using (BackgroundCommand producer = Clients.StartBackground(Clients.Python,
                   [RepoPaths.ClientScript("ck_stream_produce.py"), _broker.Bootstrap, topic, _ackFile, "before", "90"]))
        {
            // Let acknowledgements flow for a while, then pull the plug mid-stream.
            var sw = Stopwatch.StartNew();
            TimeSpan? firstAck = null;
            while (sw.Elapsed < TimeSpan.FromSeconds(45))
            {
                int n = ReadAcks().Count;
                if (n > 0 && firstAck == null) firstAck = sw.Elapsed;
                if (firstAck != null && n >= 200 && sw.Elapsed - firstAck > TimeSpan.FromSeconds(1.5)) break;
                Assert.False(producer.HasExited, $"producer stopped early: {producer.Describe()}");
                Thread.Sleep(50);
            }
            Assert.True(ReadAcks().Count >= 200,
                $"too few acknowledgements before the kill ({ReadAcks().Count}): {producer.Describe()}\n{_broker.LogTail()}");
            _broker.Kill9();
            // Nothing can be acknowledged by a dead broker; stop the client so it cannot write to the file any more.
            Thread.Sleep(200);
            producer.Kill();
            before = ReadAcks();
        }

        _broker.Restart();

        CommandResult after = Clients.PythonScript("ck_produce.py", [_broker.Bootstrap, topic, "300", "after"]);
        var afterAcks = ClientRecord.OfType(after, "ack");
        Assert.Equal(300, afterAcks.Count);

        CommandResult consumed = Clients.PythonScript("ck_consume.py", [_broker.Bootstrap, topic], TimeSpan.FromSeconds(120));
        var records = ClientRecord.OfType(consumed, "record");
        var byPartition = LogAssert.ContiguousFromZero(records);
        LogAssert.AcknowledgedArePresent(before, records);
        LogAssert.AcknowledgedArePresent(afterAcks, records);

        foreach (var (partition, list) in byPartition)
        {
            // The pre-crash stream's records (acknowledged or merely synced) keep their send order.
            long[] seqs = list.Where(r => r.Value!.StartsWith("before-", StringComparison.Ordinal))
                .Select(r => LogAssert.Sequence(r.Value)).ToArray();
            Assert.True(seqs.Zip(seqs.Skip(1)).All(p => p.First < p.Second),
                $"partition {partition}: pre-crash records out of order: {string.Join(',', seqs.Take(50))}");

            // New records come after everything that survived the crash: no reused offsets.
            long lastBefore = list.Where(r => r.Value!.StartsWith("before-", StringComparison.Ordinal))
                .Select(r => r.Offset).DefaultIfEmpty(-1).Max();
            long firstAfter = list.Where(r => r.Value!.StartsWith("after-", StringComparison.Ordinal))
                .Select(r => r.Offset).DefaultIfEmpty(long.MaxValue).Min();
            Assert.True(firstAfter > lastBefore,
                $"partition {partition}: a post-restart record at offset {firstAfter} precedes a pre-crash one at {lastBefore}");
        }
        // Each post-restart record is there exactly once.
        Assert.Equal(300, records.Count(r => r.Value!.StartsWith("after-", StringComparison.Ordinal)));
        _broker.AssertAlive("after restart");
        output.WriteLine($"{before.Count} acknowledged before SIGKILL; {records.Count} records after restart " +
                         $"({records.Count(r => r.Value!.StartsWith("before-", StringComparison.Ordinal))} from before the crash); " +
                         $"per partition: {string.Join(", ", byPartition.OrderBy(p => p.Key).Select(p => $"{p.Key}:{p.Value.Count}"))}");
    }

    private List<ClientRecord> ReadAcks() => ClientRecord.ReadAckFile(_ackFile);

    public void Dispose()
    {
        _broker.Dispose();
        try
        {
            File.Delete(_ackFile);
        }
        catch (IOException)
        {
        }
    }
}
