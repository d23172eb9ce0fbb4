using DetKafka.Core.Abstractions;
using DetKafka.Core.Protocol;
using DetKafka.Core.Protocol.Messages;
using DetKafka.Sim;
using Xunit;

namespace DetKafka.Properties.Broker;

/// <summary>A log taken offline by a failed roll sync says so once, with the failing status; the completions of its
/// other files' syncs, which succeeded, used to log "failed a sync (Ok)" each (issue 16).</summary>
public class SyncFailureLogTests
{
    [Fact]
    public void A_failed_roll_sync_is_logged_once_and_the_good_syncs_after_it_are_not()
    {
        var h = new BrokerHarness();
        var (error, _) = h.Node.CreateTopic("t", 1, [new("segment.bytes", "300")], validateOnly: false, out _);
        Assert.Equal(ErrorCode.None, error);
        h.CompleteSyncs();
        var c = h.Connect();
        h.Send(c, ApiKey.Produce, 9, BrokerTests.Produce("t", 0, BrokerTests.Batch(1, new string('a', 150))));
        h.CompleteSyncs();
        // The next produce rolls the first segment: its three files' syncs are requested; the .log's fails.
        h.Disk.FaultHook = (op, path) => op == SimDiskOperation.SyncCompletion && path.EndsWith("t-0/00000000000000000000.log", StringComparison.Ordinal)
            ? DiskStatus.IoError : DiskStatus.Ok;
        h.Send(c, ApiKey.Produce, 9, BrokerTests.Produce("t", 0, BrokerTests.Batch(2, new string('b', 150))));
        h.CompleteSyncs();
        h.Disk.FaultHook = null;
        var failures = h.Logs.Where(l => l.Contains("failed a sync", StringComparison.Ordinal)).ToList();
        Assert.Single(failures);
        Assert.Contains("IoError", failures[0], StringComparison.Ordinal);
        Assert.Equal(ErrorCode.KafkaStorageError, h.Node.Replicas.GetPartition("t", 0)!.Log.Failure);
    }
}
