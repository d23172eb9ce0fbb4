using System.Globalization;
using DetKafka.Sim;
using DetKafka.Sim.History;
using DetKafka.Sim.Invariants;
using DetKafka.Sim.World;

namespace DetKafka.Bench.Profiling;

/// <summary>
/// `dotnet run -c Release --project bench -- simalloc [runs]`: where the simulator's busy workload
/// (<see cref="SimulatorSpeed.Busy"/>) allocates. Drives the world as <see cref="Simulation.Run"/> does and
/// reports the exact bytes the thread allocates (<see cref="GC.GetAllocatedBytesForCurrentThread"/>) per event,
/// split by event kind, in the node invariants, and in the final history check; then which types, sampled from the
/// runtime's AllocationTick events (shares, not counts). `simhash [runs]` prints each busy and swarm seed's
/// verdict, event count and trace hash, to compare a change's runs with the previous ones.
/// </summary>
public static class SimulatorAllocations
{
    public static void Run(string[] args)
    {
        int runs = args.Length > 1 && int.TryParse(args[1], out int n) ? n : 5;
        for (ulong seed = 1; seed <= 3; seed++) Drive(seed, null); // warm-up
        var byKind = new SortedDictionary<string, (long Events, long Bytes)>(StringComparer.Ordinal);
        long events = 0, stepBytes = 0, invariantBytes = 0, historyBytes = 0;
        for (ulong seed = 1; seed <= (ulong)runs; seed++)
        {
            var r = Drive(seed, byKind);
            events += r.Events;
            stepBytes += r.Step;
            invariantBytes += r.Invariants;
            historyBytes += r.History;
        }
        Console.WriteLine(string.Create(CultureInfo.InvariantCulture,
            $"busy, seeds 1..{runs}: {events} events; per event: steps {(double)stepBytes / events:F1} B, invariants {(double)invariantBytes / events:F1} B, history check {(double)historyBytes / events:F1} B"));
        foreach (var (kind, (count, bytes)) in byKind.OrderByDescending(kv => kv.Value.Bytes))
            Console.WriteLine(string.Create(CultureInfo.InvariantCulture,
                $"    {kind,-20} {count,10} events {(double)bytes / count,9:F1} B/event  {bytes * 100.0 / stepBytes,5:F1}% of step bytes"));

        using var listener = new AllocationProfile.AllocationListener();
        for (ulong seed = 1; seed <= (ulong)runs; seed++) Drive(seed, null, history: false);
        Thread.Sleep(500);
        Console.WriteLine("types allocated in steps and invariants (AllocationTick samples):");
        foreach (var (type, bytes) in listener.Snapshot())
            Console.WriteLine($"    {bytes * 100.0 / Math.Max(1, listener.Total):F1}%  {type}");
    }

    public static void Hashes(string[] args)
    {
        int runs = args.Length > 1 && int.TryParse(args[1], out int n) ? n : 10;
        for (ulong seed = 1; seed <= (ulong)runs; seed++)
            Console.WriteLine("busy  " + Simulation.Run(seed, SimulatorSpeed.Busy(seed)).Summary());
        for (ulong seed = 1; seed <= (ulong)runs * 5; seed++)
            Console.WriteLine("swarm " + Simulation.Run(seed).Summary());
    }

    private static (long Events, long Step, long Invariants, long History) Drive(ulong seed,
        SortedDictionary<string, (long Events, long Bytes)>? byKind, bool history = true)
    {
        var options = SimulatorSpeed.Busy(seed);
        var world = new SimWorld(seed, options);
        var context = new InvariantContext(world);
        var invariants = InvariantCheckers.Default();
        long step = 0, inv = 0;
        world.Boot();
        while (!(world.InLivenessPhase && world.Workload.LivenessGoalMet()))
        {
            long before = GC.GetAllocatedBytesForCurrentThread();
            if (!world.Step()) break;
            long after = GC.GetAllocatedBytesForCurrentThread();
            step += after - before;
            if (byKind is not null)
            {
                var k = world.LastEventKind ?? "?";
                var (c, b) = byKind.GetValueOrDefault(k);
                byKind[k] = (c + 1, b + after - before);
            }
            for (int i = 0; i < invariants.Count; i++) invariants[i].Check(context);
            inv += GC.GetAllocatedBytesForCurrentThread() - after;
        }
        long h = 0;
        if (history)
        {
            long before = GC.GetAllocatedBytesForCurrentThread();
            HistoryVerdict.Default(world.History, options);
            h = GC.GetAllocatedBytesForCurrentThread() - before;
        }
        return (world.EventIndex, step, inv, h);
    }
}
