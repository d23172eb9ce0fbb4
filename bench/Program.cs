using BenchmarkDotNet.Configs;
using BenchmarkDotNet.Running;
using DetKafka.Bench.Infrastructure;
using DetKafka.Bench.Profiling;

// BenchmarkDotNet's own command line: --filter '*', --job short (3 warm-ups, 3 iterations), --list flat,
// --inProcess, --memory. `alloc [steps]` instead runs the allocation profile of the broker's produce and fetch
// steps; `sim [runs]` measures the simulator's speed; `cleaner [runs]` the log cleaner's throughput and its cost to produce latency. See docs/design/PERFORMANCE.md for the commands behind the recorded figures.
if (args.Length > 0 && args[0] == "alloc")
{
    AllocationProfile.Run(args);
    return;
}
if (args.Length > 0 && args[0] == "cleaner")
{
    CleanerSpeed.Run(args);
    return;
}
if (args.Length > 0 && args[0] == "sim")
{
    SimulatorSpeed.Run(args);
    return;
}
var config = DefaultConfig.Instance.AddColumn(new ThroughputColumn());
BenchmarkSwitcher.FromAssembly(typeof(ThroughputColumn).Assembly).Run(args, config);
