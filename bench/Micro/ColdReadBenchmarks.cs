using BenchmarkDotNet.Attributes;
using DetKafka.Bench.Infrastructure;
using DetKafka.Core.Abstractions;
using DetKafka.Core.Protocol;
using DetKafka.Sim;

namespace DetKafka.Bench.Micro;

/// <summary>
/// The fetch of <see cref="BrokerFetchBenchmarks"/> with the cold-read model on (log.cold.read.after.ms = 60 s;
/// STORAGE.md "Cold reads"). <see cref="HotFetchStep"/>: the data was just written, so every fetch is hot and is read
/// and answered within the input, as with the model off (the model's cost is one window check per partition).
/// <see cref="ColdFetchStep"/>: the clock moves past the threshold before each fetch, so the fetch asks the disk to
/// read ahead, waits, and is answered from the read's completion (the driver's second input); the disks here have
/// nothing to wait for, so this is Core's own cost of the cold path.
/// </summary>
[MemoryDiagnoser]
public class ColdReadBenchmarks : BrokerBenchmarkBase
{
    private const long ColdAfterMs = 60_000;
    private byte[] _frame = null!;

    [Params(DiskKind.Sim, DiskKind.Memory)]
    public DiskKind Disk { get; set; }

    [GlobalSetup]
    public void Setup()
    {
        Boot(Disk, ColdAfterMs);
        var batch = Payloads.Batch16K();
        byte[] produce = Payloads.Frame(ApiKey.Produce, Payloads.ProduceVersion, Payloads.Produce(batch));
        for (int i = 0; i < Payloads.FetchResponseBytes / batch.Length; i++)
        {
            Node.OnReceive(Connection, produce);
            CompleteSyncs();
        }
        _frame = Payloads.Frame(ApiKey.Fetch, Payloads.FetchVersion, Payloads.Fetch(0));
    }

    [Benchmark(Baseline = true), Processes(Work.Records1M)]
    public long HotFetchStep()
    {
        long sends = Network.Sends;
        Node.OnReceive(Connection, _frame);
        if (Network.Sends != sends + 1) throw new InvalidOperationException("a hot fetch is answered at once");
        return Node.NextDeadlineMs;
    }

    [Benchmark, Processes(Work.Records1M)]
    public long ColdFetchStep()
    {
        ((ManualClock)Node.Clock).Advance(ColdAfterMs + 1);
        long sends = Network.Sends;
        Node.OnReceive(Connection, _frame);
        if (Network.Sends != sends) throw new InvalidOperationException("a cold fetch waits for its read");
        CompleteReads();
        if (Network.Sends != sends + 1) throw new InvalidOperationException("the read's completion answers the fetch");
        return Node.NextDeadlineMs;
    }

    private void CompleteReads()
    {
        if (Memory is not null)
        {
            while (Memory.TryTakeRead(out long token)) Node.OnSyncCompleted(token, DiskStatus.Ok);
            return;
        }
        foreach (var (token, status) in Sim!.CompletePendingReads()) Node.OnSyncCompleted(token, status);
    }
}
