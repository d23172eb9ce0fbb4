using System.Globalization;
using DetKafka.Core.Abstractions;
using DetKafka.Sim.Reach;
using DetKafka.Sim.Trace;

namespace DetKafka.Sim.World;

/// <summary>The faults added with the simulator's reach (SIMULATION.md): client pauses and fsync errors.</summary>
public sealed partial class SimWorld
{
    /// <summary>A client process stops (GC, SIGSTOP): its network inputs and poll timers wait in order; its clock
    /// runs on, so requests may time out the moment it resumes.</summary>
    public string PauseClient(ClientHost host, long durationMs)
    {
        if (!host.IsUp || host.Paused) return host.Name + " not pausable now";
        host.Paused = true;
        int incarnation = host.Incarnation;
        Count("client.pauses");
        Schedule(NowUs + durationMs * 1000, host.Name, "resume", () => host.Incarnation == incarnation ? ResumeClient(host) : null);
        return string.Create(CultureInfo.InvariantCulture, $"{host.Name} paused for {durationMs} ms");
    }

    /// <summary>A timer of a client process (a worker's think time, a poll, the admin tick): while the process is
    /// paused it does not fire but waits, in order with the process's other inputs, until it resumes, as a stopped
    /// process's timers do.</summary>
    internal void ScheduleClientTimer(ClientHost host, long atUs, string kind, Func<TraceDetails> action)
    {
        Schedule(atUs, host.Name, kind, () =>
        {
            if (!host.Paused) return action();
            int incarnation = host.Incarnation;
            host.Defer(() =>
            {
                if (host.Incarnation == incarnation) action();
            });
            Count("client.timers-deferred");
            return "deferred (paused)";
        });
    }

    public string? ResumeClient(ClientHost host)
    {
        if (!host.Paused) return null;
        host.Paused = false;
        var backlog = host.TakeBacklog();
        foreach (var input in backlog)
        {
            if (host.Paused || !host.IsUp) break;
            input();
        }
        if (host.Client is not null) ClientInput(host, _ => { });
        return string.Create(CultureInfo.InvariantCulture, $"{host.Name} resumed with {backlog.Count} deferred inputs");
    }

    /// <summary>For the duration, each fsync completing on the node fails with EIO with the given probability. The
    /// simulated disk then forgets the writes that sync covered (Linux marks the pages clean after a failed
    /// writeback: a later fsync returns success without them), so a broker that ignored the error would acknowledge
    /// data a crash loses. DetKafka takes the failed partition's log offline (KAFKA_STORAGE_ERROR) until the
    /// process restarts, as Kafka takes a log directory offline; the simulator restarts such a node at the heal
    /// (the operator's restart), since an offline log never comes back by itself.</summary>
    public void SetFsyncErrors(SimNode node, long durationMs, double probability)
    {
        node.FsyncErrorUntilUs = NowUs + durationMs * 1000;
        node.FsyncErrorProbability = probability;
    }

    /// <summary>The fault hook's answer for a sync completion on a node (called from the disk's FaultHook).</summary>
    internal DiskStatus FsyncFault(SimNode node)
    {
        if (NowUs >= node.FsyncErrorUntilUs || !FsyncErrorRandom.NextBool(node.FsyncErrorProbability)) return DiskStatus.Ok;
        Count("disk.fsync-eio");
        node.SawFsyncError = true;
        return DiskStatus.IoError;
    }

    private SeededRandom? _fsyncErrorRandom;

    private SeededRandom FsyncErrorRandom => _fsyncErrorRandom ??= new SeededRandom(SimulationOptions.SubSeed(Seed, 73));

    /// <summary>At the heal: a node that had an fsync fail is restarted (crash and start), as an operator restarts a
    /// broker whose log directory went offline.</summary>
    internal int RestartNodesAfterFsyncErrors()
    {
        int restarted = 0;
        foreach (var node in Nodes)
        {
            if (!node.SawFsyncError) continue;
            node.SawFsyncError = false;
            if (!node.IsUp) continue;
            CrashNode(node, null);
            StartNode(node);
            Count("node.restarts-after-eio");
            restarted++;
        }
        return restarted;
    }
}

public sealed partial class Nemesis
{
    private string InjectReach(FaultKind kind, FaultSpec spec, long now)
    {
        switch (kind)
        {
            case FaultKind.ClientPause:
            {
                var up = world.Clients.Where(c => c.IsUp && !c.Paused).ToList();
                if (up.Count == 0) return "no client to pause";
                var host = Pick(up);
                long ms = DurationMs(spec);
                Hit(host, now + ms * 1000);
                return world.PauseClient(host, ms);
            }
            case FaultKind.FsyncError:
            {
                var node = Pick(world.Nodes);
                long ms = DurationMs(spec);
                Hit(node, now + ms * 1000);
                world.SetFsyncErrors(node, ms, spec.Intensity);
                return string.Create(CultureInfo.InvariantCulture, $"{node} fsync fails with EIO (p={spec.Intensity:0.###}) for {ms} ms");
            }
            default:
                throw new InvalidOperationException($"{kind} is not a reach fault");
        }
    }
}
