using BenchmarkDotNet.Configs;
using BenchmarkDotNet.Running;
using DetKafka.Bench.Infrastructure;
using DetKafka.Bench.Profiling;

// BenchmarkDotNet's own command line: --filter '*', --job short (3 warm-ups, 3 iterations), --list flat,
// --inProcess, --memory. `simalloc`, `simhash` and `allocstacks` profile the simulator (PERFORMANCE.md).
// `alloc [steps]` instead runs the allocation profile of the broker's produce and fetch
// steps; `sim [runs]` measures the simulator's speed; `sizes` prints the compression benchmarks' batch size per
// codec; `codec METHOD N` runs one codec benchmark N times for an instruction count under callgrind; `cleaner [runs]`
// the log cleaner's throughput and its cost to produce latency. See docs/design/PERFORMANCE.md for the commands
// behind the recorded figures.
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
if (args.Length > 0 && args[0] == "simalloc")
{
    SimulatorAllocations.Run(args);
    return;
}
if (args.Length > 0 && args[0] == "allocstacks")
{
    AllocationStacks.Run(args);
    return;
}
if (args.Length > 0 && args[0] == "simhash")
{
    SimulatorAllocations.Hashes(args);
    return;
}
if (args.Length > 0 && args[0] == "sizes")
{
    // `sizes`: the compression benchmarks' batch in each codec: bytes, and the ratio to the uncompressed batch.
    foreach (var kind in Enum.GetValues<PayloadKind>())
    {
        int plain = Payloads.TextBatch16K(DetKafka.Core.Records.CompressionCodec.None, kind).Length;
        foreach (var codec in Enum.GetValues<DetKafka.Core.Records.CompressionCodec>())
        {
            int size = Payloads.TextBatch16K(codec, kind).Length;
            Console.WriteLine(FormattableString.Invariant($"{kind,-8} {codec,-7} {size,7} bytes  {(double)plain / size:F2}x"));
        }
    }
    return;
}
if (args.Length > 0 && args[0] == "confluent")
{
    // `confluent --bootstrap-server H:P --topic T [--record-size B --batch-size B --linger-ms MS --partitions N
    // --duration-ms MS --throughput R]`: produce with Confluent.Kafka (acks=all), beside `detkafka perf produce`.
    Environment.Exit(ConfluentProduce.Run(args));
}
if (args.Length > 0 && args[0] == "codec")
{
    CodecInstructions.Run(args);
    return;
}
var config = DefaultConfig.Instance.AddColumn(new ThroughputColumn());
BenchmarkSwitcher.FromAssembly(typeof(ThroughputColumn).Assembly).Run(args, config);
