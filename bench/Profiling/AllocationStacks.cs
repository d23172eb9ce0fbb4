using System.Globalization;
using Microsoft.Diagnostics.Tracing;
using Microsoft.Diagnostics.Tracing.Etlx;
using Microsoft.Diagnostics.Tracing.Parsers.Clr;

namespace DetKafka.Bench.Profiling;

/// <summary>
/// `dotnet run -c Release --project bench -- allocstacks FILE.nettrace [frames]`: groups the AllocationTick
/// samples of a `dotnet-trace collect --providers Microsoft-Windows-DotNETRuntime:0x1:5` trace by type and by the
/// first managed frames outside the runtime and the BCL's collections, so the share of each allocation site shows
/// (one sample per ~100 KB allocated: shares, not counts).
/// </summary>
public static class AllocationStacks
{
    public static void Run(string[] args)
    {
        string file = args[1];
        int frames = args.Length > 2 ? int.Parse(args[2], CultureInfo.InvariantCulture) : 3;
        string etlx = TraceLog.CreateFromEventPipeDataFile(file);
        using var log = new TraceLog(etlx);
        var bySite = new Dictionary<string, long>();
        var byType = new Dictionary<string, long>();
        long total = 0;
        foreach (var e in log.Events)
        {
            if (e is not GCAllocationTickTraceData tick) continue;
            long amount = tick.AllocationAmount64;
            total += amount;
            byType[tick.TypeName] = byType.GetValueOrDefault(tick.TypeName) + amount;
            var names = new List<string>();
            for (var s = e.CallStack(); s is not null && names.Count < frames; s = s.Caller)
            {
                string name = s.CodeAddress.FullMethodName;
                if (string.IsNullOrEmpty(name) || name.StartsWith("System.", StringComparison.Ordinal)) continue;
                names.Add(name.Length > 110 ? name[..110] : name);
            }
            string site = tick.TypeName + "  <-  " + string.Join("  <-  ", names);
            bySite[site] = bySite.GetValueOrDefault(site) + amount;
        }
        Console.WriteLine($"total sampled: {total:N0} bytes");
        foreach (var (site, bytes) in bySite.OrderByDescending(kv => kv.Value).Take(60))
            Console.WriteLine(string.Create(CultureInfo.InvariantCulture, $"{bytes * 100.0 / total,5:F1}%  {site}"));
    }
}
