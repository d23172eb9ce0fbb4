using BenchmarkDotNet.Attributes;
using DetKafka.Bench.Profiling;
using DetKafka.Sim;

namespace DetKafka.Bench.Micro;

/// <summary>
/// The simulator's busy single-node workload (<see cref="SimulatorSpeed.Busy"/>: nine producer workers, two consumers,
/// four partitions, no faults) run whole for one seed: boot, 10 s of virtual safety phase, heal, liveness phase and the
/// history check. The seed fixes the run, so every operation is the same 85,000-odd events (`bench -- simhash` prints
/// the count per seed): bytes per event = Allocated / that count. <see cref="Invariants"/> false leaves out the
/// per-event node invariants.
/// </summary>
[MemoryDiagnoser]
[InvocationCount(1)]
public class SimulatorBenchmarks
{
    private SimulationOptions _options = null!;

    [Params(1UL)]
    public ulong Seed { get; set; }

    [Params(true, false)]
    public bool Invariants { get; set; }

    [GlobalSetup]
    public void Setup() => _options = SimulatorSpeed.Busy(Seed) with { CheckNodeInvariants = Invariants };

    [Benchmark]
    public long BusySeed()
    {
        var result = Simulation.Run(Seed, _options);
        if (!result.Passed) throw new InvalidOperationException(result.Summary());
        return result.Events;
    }
}
