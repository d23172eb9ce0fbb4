using DetKafka.Bench.Infrastructure;
using DetKafka.Bench.Micro;

namespace DetKafka.Bench.Profiling;

/// <summary>
/// `codec METHOD N`: runs one of <see cref="ProtocolBenchmarks"/>' methods N times and nothing else, for an
/// instruction count under callgrind (exact and repeatable where wall-clock figures on a shared 2-core machine
/// are not). The per-operation figure is the difference between two runs of different N divided by the
/// difference in N, which cancels start-up and JIT. Run with DOTNET_TieredCompilation=0 so every method is
/// compiled once, fully optimised. See docs/design/PERFORMANCE.md for the command.
/// </summary>
public static class CodecInstructions
{
    public static void Run(string[] args)
    {
        string method = args.Length > 1 ? args[1] : "decode-reused";
        int n = args.Length > 2 ? int.Parse(args[2], System.Globalization.CultureInfo.InvariantCulture) : 1000;
        if (method is "produce" or "fetch")
        {
            Console.WriteLine($"{method} x{n}: {RunBroker(method, n)}");
            return;
        }
        var b = new ProtocolBenchmarks();
        b.Setup();
        Func<int> op = method switch
        {
            "decode" => b.DecodeProduceRequest,
            "decode-reused" => b.DecodeProduceRequest_Reused,
            "encode-fetch" => b.EncodeFetchResponse,
            _ => throw new ArgumentException($"unknown method {method}: decode, decode-reused, encode-fetch, produce or fetch"),
        };
        long sum = 0;
        for (int i = 0; i < n; i++) sum += op();
        b.Cleanup();
        Console.WriteLine($"{method} x{n}: {sum}");
    }

    /// <summary>`produce` / `fetch`: the broker benchmarks' steps on the memory disk (a whole BrokerNode input:
    /// frame, handler, log, purgatory, response). Produce starts a fresh node every
    /// <see cref="BrokerProduceBenchmarks.ProducesPerIteration"/> produces, as the benchmark does, to bound memory.</summary>
    private static long RunBroker(string method, int n)
    {
        long sum = 0;
        if (method == "produce")
        {
            var p = new BrokerProduceBenchmarks { Disk = DiskKind.Memory };
            p.Setup();
            for (int i = 0; i < n; i++)
            {
                if (i % BrokerProduceBenchmarks.ProducesPerIteration == 0)
                {
                    if (i > 0) p.CheckAnswered();
                    p.FreshNode();
                }
                sum += p.ProduceStep() & 1;
            }
            p.CheckAnswered();
            return sum;
        }
        var f = new BrokerFetchBenchmarks { Disk = DiskKind.Memory };
        f.Setup();
        for (int i = 0; i < n; i++) sum += f.FetchStep() & 1;
        return sum;
    }
}
