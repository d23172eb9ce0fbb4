using System.Diagnostics;
using System.Globalization;
using System.Text.Json;
using Xunit;
using Xunit.Abstractions;

namespace DetKafka.Chaos;

/// <summary>
/// Idempotent producers of the real clients against the real broker (InitProducerId, producer ids and sequences
/// in every batch): kcat and kafkajs write every record exactly once, and a confluent-kafka idempotent producer
/// keeps streaming across a SIGKILL and restart of the broker (its retries of batches the broker had already
/// written are answered from the producer state rebuilt from the log) with no duplicate and no reordering.
/// </summary>
public sealed class IdempotenceTests(ITestOutputHelper output) : IDisposable
{
    private readonly BrokerProcess _broker = BrokerProcess.Start("idempotence", numPartitions: 3);
    private readonly string _ackFile = Path.Combine(Path.GetTempPath(), $"detkafka-idem-acks-{Guid.NewGuid():N}.jsonl");

    [Fact]
    public void Kcat_with_enable_idempotence_writes_each_record_once()
    {
        const string topic = "idem-kcat";
        const int count = 5_000;
        string input = string.Concat(Enumerable.Range(0, count).Select(i => $"k{i % 7}:kcat-{i}\n"));
        Clients.KcatRun(["-P", "-b", _broker.Bootstrap, "-t", topic, "-K:", "-X", "enable.idempotence=true", "-X", "acks=all"],
            TimeSpan.FromSeconds(120), stdin: input);
        var values = ConsumeValues(topic);
        Assert.Equal(count, values.Count);
        Assert.Equal(count, values.Distinct().Count());
        // kcat really was idempotent: it took a producer id, so a block of ids was committed to the metadata log.
        Assert.True(_broker.WaitForLog("Producer ids below", TimeSpan.FromSeconds(10)), "no producer id was handed out");
    }

    [Fact]
    public void Kafkajs_idempotent_producer_writes_each_record_once()
    {
        const string topic = "idem-kjs";
        const int count = 2_000;
        string script = Path.Combine(RepoPaths.Root, "tests", "chaos", "clients", "node", "kjs_produce.js");
        CommandResult run = Clients.RunChecked("node", [script, _broker.Bootstrap, topic, "2", count.ToString(CultureInfo.InvariantCulture), "idempotent"],
            TimeSpan.FromSeconds(90));
        var acks = run.Stdout.Split('\n', StringSplitOptions.RemoveEmptyEntries).Select(l => JsonDocument.Parse(l).RootElement)
            .Where(l => l.GetProperty("type").GetString() == "ack").ToList();
        Assert.NotEmpty(acks);
        Assert.All(acks, a => Assert.Equal(0, a.GetProperty("errorCode").GetInt32()));
        var values = ConsumeValues(topic);
        Assert.Equal(count, values.Count);
        Assert.Equal(count, values.Distinct().Count());
    }

    [Fact]
    public void A_confluent_kafka_idempotent_stream_survives_kill_9_without_duplicates_or_reordering()
    {
        const string topic = "idem-kill9";
        using (BackgroundCommand producer = Clients.StartBackground(Clients.Python,
                   [RepoPaths.ClientScript("ck_stream_produce.py"), _broker.Bootstrap, topic, _ackFile, "idem", "20", "idempotent"]))
        {
            var sw = Stopwatch.StartNew();
            while (sw.Elapsed < TimeSpan.FromSeconds(15) && ReadAcks().Count < 300)
            {
                Assert.False(producer.HasExited, $"producer stopped early: {producer.Describe()}");
                Thread.Sleep(50);
            }
            Assert.True(ReadAcks().Count >= 300, $"too few acknowledgements before the kill: {producer.Describe()}\n{_broker.LogTail()}");
            _broker.Kill9();
            Thread.Sleep(500);
            _broker.Restart();
            // The producer keeps going across the restart (message.timeout.ms is 60 s), then flushes and exits.
            var wait = Stopwatch.StartNew();
            while (!producer.HasExited && wait.Elapsed < TimeSpan.FromSeconds(60)) Thread.Sleep(100);
            Assert.True(producer.HasExited, $"producer did not finish: {producer.Describe()}");
        }

        var acked = ReadAcks();
        CommandResult consumed = Clients.PythonScript("ck_consume.py", [_broker.Bootstrap, topic], TimeSpan.FromSeconds(120));
        var records = ClientRecord.OfType(consumed, "record");
        var byPartition = LogAssert.ContiguousFromZero(records);
        LogAssert.AcknowledgedArePresent(acked, records);
        Assert.Equal(records.Count, records.Select(r => r.Value).Distinct().Count()); // no value written twice
        foreach (var (partition, list) in byPartition)
        {
            long[] seqs = list.OrderBy(r => r.Offset).Select(r => LogAssert.Sequence(r.Value)).ToArray();
            Assert.True(seqs.Zip(seqs.Skip(1)).All(p => p.First < p.Second),
                $"partition {partition}: records out of send order: {string.Join(',', seqs.Take(60))}");
        }
        output.WriteLine($"{acked.Count} acknowledged, {records.Count} records in the log, none twice; " +
                         $"per partition: {string.Join(", ", byPartition.OrderBy(p => p.Key).Select(p => $"{p.Key}:{p.Value.Count}"))}");
        Assert.True(acked.Count > 300, "nothing was acknowledged after the restart");
        _broker.AssertAlive("after the idempotent stream");
    }

    private List<string> ConsumeValues(string topic)
    {
        CommandResult consumed = Clients.KcatRun(["-C", "-b", _broker.Bootstrap, "-t", topic, "-o", "beginning", "-e", "-q", "-f", "%s\\n"],
            TimeSpan.FromSeconds(60));
        return consumed.Stdout.Split('\n', StringSplitOptions.RemoveEmptyEntries).ToList();
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
