using BenchmarkDotNet.Attributes;
using DetKafka.Bench.Infrastructure;
using DetKafka.Core.Protocol;
using DetKafka.Core.Protocol.Messages;

namespace DetKafka.Bench.Micro;

/// <summary>
/// One topic config change as Core sees it: an IncrementalAlterConfigs v1 frame (SET retention.ms on one topic)
/// arrives, is validated, made durable and answered; then the driver delivers the sync completions. With
/// <see cref="Topics"/> topics on the node, this shows what a change costs as the cluster grows: the old topics
/// file was rewritten whole on every change, the metadata log appends one record (plus a snapshot every 1,000
/// changes). The simulated disk copies every byte written; the memory disk is the cheaper bound. A fresh node
/// per iteration keeps the files bounded.
/// </summary>
[MemoryDiagnoser]
[InvocationCount(ChangesPerIteration)]
[WarmupCount(10)]
public class MetadataChangeBenchmarks : BrokerBenchmarkBase
{
    public const int ChangesPerIteration = 512;

    private byte[][] _frames = null!;
    private int _next;

    [Params(DiskKind.Sim, DiskKind.Memory)]
    public DiskKind Disk { get; set; }

    [Params(10, 1000)]
    public int Topics { get; set; }

    [GlobalSetup]
    public void Setup()
    {
        // Two alternating values, so every change really changes the stored config.
        _frames = new byte[2][];
        for (int i = 0; i < 2; i++)
        {
            var request = new IncrementalAlterConfigsRequest
            {
                Resources =
                {
                    new IncrementalAlterConfigsRequest.AlterConfigsResource
                    {
                        ResourceType = ConfigResourceType.Topic, ResourceName = Payloads.Topic,
                        Configs = { new IncrementalAlterConfigsRequest.AlterableConfig { Name = "retention.ms", ConfigOperation = AlterConfigOpType.Set, Value = (100_000 + i).ToString(System.Globalization.CultureInfo.InvariantCulture) } },
                    },
                },
            };
            _frames[i] = Payloads.Frame(ApiKey.IncrementalAlterConfigs, 1, request);
        }
    }

    [IterationSetup]
    public void IterationSetup()
    {
        Boot(Disk);
        for (int t = 1; t < Topics; t++)
        {
            var (error, message) = Node.CreateTopic("topic-" + t.ToString("D5", System.Globalization.CultureInfo.InvariantCulture), 1, [], validateOnly: false, out _);
            if (error != ErrorCode.None) throw new InvalidOperationException($"{error} {message}");
        }
        CompleteSyncs();
        _next = 0;
    }

    [Benchmark]
    public void AlterConfigStep()
    {
        Node.OnReceive(Connection, _frames[_next++ & 1]);
        CompleteSyncs();
    }

    [IterationCleanup]
    public void IterationCleanup()
    {
        if (Network.Sends < _next) throw new InvalidOperationException($"only {Network.Sends} of {_next} changes were answered");
    }
}
