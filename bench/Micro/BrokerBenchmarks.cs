using BenchmarkDotNet.Attributes;
using DetKafka.Bench.Infrastructure;
using DetKafka.Core.Abstractions;
using DetKafka.Core.Broker;
using DetKafka.Core.Protocol;
using DetKafka.Sim;

namespace DetKafka.Bench.Micro;

/// <summary>
/// A whole BrokerNode driven in-process as the host's driver does, with no sockets: the node gets a pre-built
/// request frame through <see cref="BrokerNode.OnReceive"/> and sends its response to a network that only
/// counts. ManualClock, SeededRandom, NullBrokerLog.
/// </summary>
public abstract class BrokerBenchmarkBase
{
    protected static readonly ConnectionId Connection = new(1);

    protected CountingNetwork Network { get; private set; } = null!;
    protected BrokerNode Node { get; private set; } = null!;
    protected SimDisk? Sim { get; private set; }
    protected MemoryDisk? Memory { get; private set; }

    /// <summary>A node on a fresh simulated disk, or on the memory disk emptied (which keeps its buffers for
    /// reuse, so the disk allocates nothing), with topic <see cref="Payloads.Topic"/> and one connection.</summary>
    protected void Boot(DiskKind kind, long coldReadAfterMs = 0)
    {
        IDisk disk = kind switch
        {
            DiskKind.Sim => Sim = new SimDisk(),
            DiskKind.Memory => Memory ??= new MemoryDisk(),
            _ => throw new NotSupportedException("the broker benchmarks run on the simulated or the memory disk"),
        };
        if (disk.DirectoryExists("data")) disk.DeleteDirectory("data");
        Network = new CountingNetwork();
        Node = new BrokerNode(new BrokerConfig { NodeId = 1, DataDirectory = "data", ColdReadAfterMs = coldReadAfterMs }, new ManualClock(Payloads.BaseTimestampMs),
            disk, Network, new SeededRandom(42), NullBrokerLog.Instance);
        Node.Start();
        var (error, message) = Node.CreateTopic(Payloads.Topic, 1, [], validateOnly: false, out _);
        if (error != ErrorCode.None) throw new InvalidOperationException($"{error} {message}");
        Node.OnConnectionOpened(Connection);
    }

    /// <summary>The driver's side of a sync: deliver every completed one to the node.</summary>
    protected void CompleteSyncs()
    {
        if (Memory is not null)
        {
            while (Memory.TryTakeSync(out long token)) Node.OnSyncCompleted(token, DiskStatus.Ok);
            return;
        }
        foreach (var (token, status) in Sim!.CompletePendingSyncs()) Node.OnSyncCompleted(token, status);
    }
}

/// <summary>
/// One produce as Core sees it: a Produce v9 frame (acks=all, one partition, a 16 KiB batch) arrives, the
/// batch is validated and appended, a sync is requested, the request waits in the purgatory; the sync
/// completes and the response is encoded and sent. A fresh node per iteration of
/// <see cref="ProducesPerIteration"/> produces keeps memory bounded (32 MiB, no segment roll).
/// </summary>
[MemoryDiagnoser]
[InvocationCount(ProducesPerIteration)]
// Iterations of a fixed 2,048 operations are short: warm up long enough for tiered compilation to reach
// its final code even on a loaded machine, whatever the job says (--job short included).
[WarmupCount(WarmUpIterations)]
public class BrokerProduceBenchmarks : BrokerBenchmarkBase
{
    public const int ProducesPerIteration = 2048;
    public const int WarmUpIterations = 25;

    private byte[] _frame = null!;
    private long _expectedSends;

    [Params(DiskKind.Sim, DiskKind.Memory)]
    public DiskKind Disk { get; set; }

    [GlobalSetup]
    public void Setup() => _frame = Payloads.Frame(ApiKey.Produce, Payloads.ProduceVersion, Payloads.Produce(Payloads.Batch16K()));

    [IterationSetup]
    public void FreshNode()
    {
        Boot(Disk);
        _expectedSends = 0;
    }

    [IterationCleanup]
    public void CheckAnswered()
    {
        if (Network.Sends != _expectedSends) throw new InvalidOperationException($"{Network.Sends} responses for {_expectedSends} produces");
    }

    [Benchmark, Processes(Work.Batch16K)]
    public long ProduceStep()
    {
        Node.OnReceive(Connection, _frame);
        CompleteSyncs();
        _expectedSends++;
        return Node.NextDeadlineMs;
    }
}

/// <summary>
/// One fetch as Core sees it: a Fetch v12 frame (read_committed, max_wait 500 ms, min_bytes 1) for ~1 MiB
/// from offset 0 of a partition holding 64 synced 16 KiB batches; the data is there, so the node reads it and
/// sends the response within the same input.
/// </summary>
[MemoryDiagnoser]
public class BrokerFetchBenchmarks : BrokerBenchmarkBase
{
    private byte[] _frame = null!;
    private long _responseBytes;

    [Params(DiskKind.Sim, DiskKind.Memory)]
    public DiskKind Disk { get; set; }

    [GlobalSetup]
    public void Setup()
    {
        Boot(Disk);
        var batch = Payloads.Batch16K();
        byte[] produce = Payloads.Frame(ApiKey.Produce, Payloads.ProduceVersion, Payloads.Produce(batch));
        for (int i = 0; i < Payloads.FetchResponseBytes / batch.Length; i++)
        {
            Node.OnReceive(Connection, produce);
            CompleteSyncs();
        }
        _frame = Payloads.Frame(ApiKey.Fetch, Payloads.FetchVersion, Payloads.Fetch(0));
        long before = Network.BytesSent;
        FetchStep();
        _responseBytes = Network.BytesSent - before;
        if (_responseBytes < Payloads.FetchResponseBytes * 9L / 10)
            throw new InvalidOperationException($"the fetch returned only {_responseBytes} bytes");
    }

    [Benchmark, Processes(Work.Records1M)]
    public long FetchStep()
    {
        long sends = Network.Sends;
        Node.OnReceive(Connection, _frame);
        if (Network.Sends != sends + 1) throw new InvalidOperationException("the fetch was not answered at once");
        return Node.NextDeadlineMs;
    }
}
