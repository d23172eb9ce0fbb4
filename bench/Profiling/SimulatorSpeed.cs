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
/// producer workers with short think times: far more traffic per virtual second than any swarm seed), the same
/// with the node-state invariants off (their cost), and the swarm as `detkafka sim sweep` runs it (each seed
/// draws its own workload and faults), with its busiest run; then a busy replicated 3-node cluster and the cluster swarm (`--cluster 3`).
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

        Console.WriteLine($"{"scenario",-44} {"runs",5} {"events",10} {"ev/virt s",9} {"virtual s",10} {"wall s",7} {"events/s",10} {"speed",7} {"median",7} {"slowest",7} {"ev/cpu s",10} {"B/ev",6}");
        Measure("busy: 1 node, 9 producer workers, no faults", runs, seed => Busy(seed));
        Measure("  the same, node invariants off", runs, seed => Busy(seed) with { CheckNodeInvariants = false });
        Measure("swarm: drawn workload and faults", runs * 5, SimulationOptions.Draw, showBusiest: true);
        for (ulong seed = 1; seed <= 5; seed++) Simulation.Run(seed, BusyCluster(seed));
        Measure("busy cluster: 3 nodes, RF 3, 9 workers", runs, BusyCluster);
        Measure("cluster swarm: --cluster 3", runs * 5, seed => SimulationOptions.DrawCluster(seed), showBusiest: true);
        Console.WriteLine("speed = virtual time / wall time over all runs; median and slowest: per run. One thread.");
        Console.WriteLine("ev/cpu s = events per second of the process's CPU time (GC threads included); B/ev = bytes allocated per event.");
    }

    /// <summary><see cref="Busy"/> on a replicated cluster: three nodes with a controller quorum, the topic at replication
    /// factor 3 and min.insync.replicas 2, every producer at acks=all, no faults.</summary>
    public static SimulationOptions BusyCluster(ulong seed)
    {
        var cluster = SimulationOptions.DrawCluster(seed).WithoutFaults();
        var busy = Busy(seed);
        return cluster with
        {
            SafetyPhaseMs = busy.SafetyPhaseMs,
            Workload = busy.Workload with { TopicConfigs = cluster.Workload.TopicConfigs, Group = null },
        };
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

    private static void Measure(string name, int runs, Func<ulong, SimulationOptions> options, bool showBusiest = false)
    {
        long events = 0, virtualMs = 0;
        var speeds = new List<double>();
        (ulong Seed, double Density, double Speed) busiest = default;
        long allocatedBefore = GC.GetTotalAllocatedBytes(precise: true);
        var cpuBefore = Process.GetCurrentProcess().TotalProcessorTime;
        var wall = Stopwatch.StartNew();
        for (ulong seed = 1; seed <= (ulong)runs; seed++)
        {
            var one = Stopwatch.StartNew();
            var result = Simulation.Run(seed, options(seed));
            double speed = result.VirtualTimeMs / 1000.0 / one.Elapsed.TotalSeconds;
            speeds.Add(speed);
            double density = result.Events * 1000.0 / Math.Max(1, result.VirtualTimeMs);
            if (density > busiest.Density) busiest = (seed, density, speed);
            if (!result.Passed) Console.WriteLine("  (not a pass) " + result.Summary());
            events += result.Events;
            virtualMs += result.VirtualTimeMs;
        }
        double seconds = wall.Elapsed.TotalSeconds;
        double cpuSeconds = (Process.GetCurrentProcess().TotalProcessorTime - cpuBefore).TotalSeconds;
        long allocated = GC.GetTotalAllocatedBytes(precise: true) - allocatedBefore;
        speeds.Sort();
        Console.WriteLine(string.Create(CultureInfo.InvariantCulture,
            $"{name,-44} {runs,5} {events,10} {events * 1000.0 / virtualMs,9:N0} {virtualMs / 1000.0,10:F1} {seconds,7:F2} {events / seconds,10:N0} {virtualMs / 1000.0 / seconds,6:N0}x {speeds[speeds.Count / 2],6:N0}x {speeds[0],6:N0}x {events / cpuSeconds,10:N0} {allocated / Math.Max(1, events),6:N0}"));
        if (!showBusiest) return;
        Console.WriteLine(string.Create(CultureInfo.InvariantCulture,
            $"  its busiest run: seed {busiest.Seed}, {busiest.Density:N0} events per virtual second, {busiest.Speed:N0}x"));
    }
}
