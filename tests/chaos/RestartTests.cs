using System.Globalization;
using Xunit;

namespace DetKafka.Chaos;

/// <summary>SIGTERM stops the broker cleanly (exit code 0) and a restart on the same data directory serves
/// everything that was acknowledged, appending after it.</summary>
public sealed class RestartTests : IDisposable
{
    private readonly BrokerProcess _broker = BrokerProcess.Start("restart", numPartitions: 2);

    [Fact]
    public void Graceful_stop_and_restart_keeps_every_acknowledged_record()
    {
        const string topic = "restart-graceful";
        CommandResult first = Clients.PythonScript("ck_produce.py", [_broker.Bootstrap, topic, "1000", "first"]);
        var firstAcks = ClientRecord.OfType(first, "ack");
        Assert.Equal(1000, firstAcks.Count);

        Assert.Equal(0, _broker.StopGracefully());
        _broker.Restart();

        CommandResult second = Clients.PythonScript("ck_produce.py", [_broker.Bootstrap, topic, "500", "second"]);
        var secondAcks = ClientRecord.OfType(second, "ack");
        Assert.Equal(500, secondAcks.Count);

        CommandResult consumed = Clients.PythonScript("ck_consume.py", [_broker.Bootstrap, topic]);
        var records = ClientRecord.OfType(consumed, "record");
        Assert.Equal(1500, records.Count);
        LogAssert.ContiguousFromZero(records);
        LogAssert.AcknowledgedArePresent(firstAcks, records);
        LogAssert.AcknowledgedArePresent(secondAcks, records);
        foreach (var partition in records.GroupBy(r => r.Partition))
        {
            long lastFirst = partition.Where(r => r.Value!.StartsWith("first-", StringComparison.Ordinal)).Select(r => r.Offset).DefaultIfEmpty(-1).Max();
            long firstSecond = partition.Where(r => r.Value!.StartsWith("second-", StringComparison.Ordinal)).Select(r => r.Offset).DefaultIfEmpty(long.MaxValue).Min();
            Assert.True(firstSecond > lastFirst,
                string.Create(CultureInfo.InvariantCulture, $"partition {partition.Key}: post-restart offset {firstSecond} <= pre-stop offset {lastFirst}"));
        }
    }

    public void Dispose() => _broker.Dispose();
}
