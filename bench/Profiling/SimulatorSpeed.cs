using System.Diagnostics;
using System.Globalization;
using DetKafka.Core.Protocol;
using DetKafka.Core.Records;
using DetKafka.Sim;

namespace DetKafka.Bench.Profiling;

/// <summary>
/// `dotnet run -c Release --project bench -- sim [runs]`: how fast the simulator runs. For each scenario it
/// runs seeds one after another on one thread and prints simulated time per wall-clock second ("speed", the
/// factor over real time) and events per second. Scenarios: a busy single-node world with no faults (many
/// producer workers with short think times: the most traffic per virtual second the workload makes), the same
/// with the node-state invariants off (their cost), and the swarm as `detkafka sim sweep` runs it (each seed
/// draws its own workload and faults). Three-node figures come once replication exists.
/// </summary>
public static class SimulatorSpeed
{
    public static void Run(string[] args)
    {
        int runs = args.Length > 1 && int.TryParse(args[1], out int n) ? n : 20;
        // Warm-up: tiered JIT reaches its final code on the broker's, the clients' and the world's paths.
        for (ulong seed = 1; seed <= 5; seed++)
        {
            Simulation.Run(seed, Busy(seed));
            Simulation.Run(seed);
        }

        Console.WriteLine($"{"scenario",-34} {"runs",5} {"events",10} {"virtual s",10} {"wall s",8} {"events/s",10} {"speed",8}");
        Measure("busy, 1 node, no faults", runs, seed => Busy(seed));
        Measure("busy, 1 node, no faults, no invariants", runs, seed => Busy(seed) with { CheckNodeInvariants = false });
        Measure("swarm (drawn workload and faults)", runs, SimulationOptions.Draw);
        Console.WriteLine("speed = virtual time / wall time; one thread. Three-node figures come once replication exists.");
    }

    /// <summary>Three producer hosts of three workers each (acks=all, linger 1 ms, think time 2 ms), two consumers,
    /// four partitions, a 10 s safety phase: the heaviest traffic the workload generates, on one node.</summary>
    public static SimulationOptions Busy(ulong seed)
    {
        var drawn = SimulationOptions.Draw(seed).WithoutFaults();
        var noCaps = new Dictionary<ApiKey, short>();
        ProducerSpec Producer() => new(Acks: -1, Retries: int.MaxValue, Workers: 3, MaxInFlight: 5, LingerMs: 1, BatchRecordsMax: 10,
            CompressionCodec.None, RequestTimeoutMs: 3_000, DeliveryTimeoutMs: 12_000, noCaps);
        ConsumerSpec Consumer() => new(FetchMaxWaitMs: 100, MaxPartitionFetchBytes: 65_536, IsolationLevel: 0, ResumeAfterCrash: true,
            RequestTimeoutMs: 3_000, noCaps);
        return drawn with
        {
            SafetyPhaseMs = 10_000,
            Workload = drawn.Workload with
            {
                Partitions = 4,
                Producers = [Producer(), Producer(), Producer()],
                Consumers = [Consumer(), Consumer()],
                ThinkTimeMeanMs = 2,
                PollWindowMs = 50,
                BrokerMaxInFlightPerConnection = 256,
            },
        };
    }

    private static void Measure(string name, int runs, Func<ulong, SimulationOptions> options)
    {
        long events = 0, virtualMs = 0;
        var wall = Stopwatch.StartNew();
        for (ulong seed = 1; seed <= (ulong)runs; seed++)
        {
            var result = Simulation.Run(seed, options(seed));
            if (!result.Passed) Console.WriteLine("  (not a pass) " + result.Summary());
            events += result.Events;
            virtualMs += result.VirtualTimeMs;
        }
        double seconds = wall.Elapsed.TotalSeconds;
        Console.WriteLine(string.Create(CultureInfo.InvariantCulture,
            $"{name,-34} {runs,5} {events,10} {virtualMs / 1000.0,10:F1} {seconds,8:F2} {events / seconds,10:N0} {virtualMs / 1000.0 / seconds,7:N0}x"));
    }
}
