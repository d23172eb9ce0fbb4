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
        var b = new ProtocolBenchmarks();
        b.Setup();
        Func<int> op = method switch
        {
            "decode" => b.DecodeProduceRequest,
            "decode-reused" => b.DecodeProduceRequest_Reused,
            "encode-fetch" => b.EncodeFetchResponse,
            _ => throw new ArgumentException($"unknown method {method}: decode, decode-reused or encode-fetch"),
        };
        long sum = 0;
        for (int i = 0; i < n; i++) sum += op();
        b.Cleanup();
        Console.WriteLine($"{method} x{n}: {sum}");
    }
}
