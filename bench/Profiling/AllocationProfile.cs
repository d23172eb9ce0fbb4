using System.Diagnostics.Tracing;
using DetKafka.Bench.Infrastructure;
using DetKafka.Bench.Micro;

namespace DetKafka.Bench.Profiling;

/// <summary>
/// `dotnet run -c Release --project bench -- alloc [steps]`: drives the produce and fetch steps of
/// <see cref="BrokerProduceBenchmarks"/> and <see cref="BrokerFetchBenchmarks"/> on the memory disk and reports
/// (1) the exact bytes the driving thread allocates per step in steady state
/// (<see cref="GC.GetAllocatedBytesForCurrentThread"/>) and (2) which types they are, from the runtime's
/// AllocationTick events (one sample per ~100 KB allocated, so types are shares, not exact counts).
/// </summary>
public static class AllocationProfile
{
    public static void Run(string[] args)
    {
        int steps = args.Length > 1 && int.TryParse(args[1], out int n) ? n : 20_000;
        Profile("produce (Produce v9, acks=all, 16 KiB, memory disk)", steps, () =>
        {
            var b = new BrokerProduceBenchmarks { Disk = DiskKind.Memory };
            b.Setup();
            b.FreshNode();
            return (() => b.ProduceStep(), BrokerProduceBenchmarks.ProducesPerIteration, b.FreshNode);
        });
        Profile("fetch (Fetch v12, ~1 MiB, memory disk)", Math.Max(1, steps / 20), () =>
        {
            var b = new BrokerFetchBenchmarks { Disk = DiskKind.Memory };
            b.Setup();
            return (() => b.FetchStep(), int.MaxValue, () => { });
        });
    }

    private static void Profile(string name, int steps, Func<(Func<long> Step, int StepsPerNode, Action Reset)> create)
    {
        var (step, stepsPerNode, reset) = create();
        // Warm up over one whole node's life: JIT tiers, pools, and the memory disk's spare buffers at full size.
        for (int i = 0; i < Math.Min(2048, stepsPerNode); i++) step();
        reset();
        for (int i = 0; i < 10; i++) step();

        // Exact bytes first, with no listener attached (its events allocate on the allocating thread).
        long allocated = 0;
        int sinceReset = 10;
        for (int i = 0; i < steps; i++, sinceReset++)
        {
            if (sinceReset >= stepsPerNode)
            {
                reset(); // outside the measurement, as in the benchmark's IterationSetup
                sinceReset = 0;
            }
            long before = GC.GetAllocatedBytesForCurrentThread();
            step();
            allocated += GC.GetAllocatedBytesForCurrentThread() - before;
        }
        Console.WriteLine($"{name}: {(double)allocated / steps:F1} bytes allocated per step over {steps} steps");

        // Then which types, sampled by the runtime about once per 100 KB.
        using var listener = new AllocationListener();
        for (int i = 0; i < steps; i++, sinceReset++)
        {
            if (sinceReset >= stepsPerNode)
            {
                reset();
                sinceReset = 0;
            }
            step();
        }
        Thread.Sleep(500); // events arrive asynchronously
        foreach (var (type, bytes) in listener.Snapshot())
            Console.WriteLine($"    {bytes * 100.0 / Math.Max(1, listener.Total):F1}%  {type}");
    }

    internal sealed class AllocationListener : EventListener
    {
        private const EventKeywords GcKeyword = (EventKeywords)0x1;
        private readonly Dictionary<string, long> _byType = new();
        private readonly object _gate = new();
        public long Total { get; private set; }

        protected override void OnEventSourceCreated(EventSource source)
        {
            if (source.Name == "Microsoft-Windows-DotNETRuntime") EnableEvents(source, EventLevel.Verbose, GcKeyword);
        }

        protected override void OnEventWritten(EventWrittenEventArgs e)
        {
            if (e.EventName is null || !e.EventName.StartsWith("GCAllocationTick", StringComparison.Ordinal) || e.Payload is null) return;
            int typeAt = e.PayloadNames!.IndexOf("TypeName");
            int amountAt = e.PayloadNames.IndexOf("AllocationAmount64");
            if (typeAt < 0) return;
            string type = e.Payload[typeAt]?.ToString() ?? "?";
            long amount = amountAt >= 0 ? Convert.ToInt64(e.Payload[amountAt]) : 100_000;
            lock (_gate)
            {
                _byType[type] = _byType.GetValueOrDefault(type) + amount;
                Total += amount;
            }
        }

        public List<(string Type, long Bytes)> Snapshot()
        {
            lock (_gate) return _byType.OrderByDescending(kv => kv.Value).Take(25).Select(kv => (kv.Key, kv.Value)).ToList();
        }
    }
}
