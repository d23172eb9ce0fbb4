using System.Globalization;
using DetKafka.Sim.Trace;
using DetKafka.Core.Abstractions;

namespace DetKafka.Sim.World;

/// <summary>
/// Injects the episodic faults during the safety phase: each enabled fault is its own Poisson process in
/// virtual time (rate from its <see cref="FaultSpec"/>), each episode picks its victims with the nemesis's own
/// random stream and lasts a drawn duration. Static faults (delay tails, torn writes on crash, clock skew and
/// drift) are applied by the world itself. Everything stops at the heal.
/// </summary>
public sealed partial class Nemesis(SimWorld world, IRandom random)
{
    private static readonly FaultKind[] Episodic =
    [
        FaultKind.Loss, FaultKind.Clog, FaultKind.Partition, FaultKind.AsymmetricPartition, FaultKind.ClientPartition,
        FaultKind.ConnectionReset, FaultKind.Crash, FaultKind.Pause, FaultKind.ClientCrash, FaultKind.BitFlip,
        FaultKind.MisdirectedWrite, FaultKind.SlowFsync, FaultKind.DiskFull, FaultKind.ClockJump,
        FaultKind.ClientPause, FaultKind.FsyncError,
    ];

    private readonly List<Endpoint> _victims = new();
    private long _victimsUntilUs;

    private SimulationOptions Options => world.Options;

    /// <summary>When the safety phase ends (global virtual us): faults are drawn only before it.</summary>
    private long _endUs;

    internal void Start() => Start(Options.SafetyPhaseMs * 1000);

    /// <summary>Starts the episodes now, for a safety phase ending at <paramref name="endUs"/> (a cluster run starts
    /// them once its topic exists).</summary>
    internal void Start(long endUs)
    {
        _endUs = endUs;
        foreach (var kind in Episodic)
        {
            var spec = Options.Fault(kind);
            if (spec.Enabled && spec.RatePerSecond > 0) ScheduleNext(kind, spec);
        }
    }

    private void ScheduleNext(FaultKind kind, FaultSpec spec)
    {
        long gapUs = (long)(DetMath.Exponential(random, 1_000_000.0 / spec.RatePerSecond)) + 1;
        long at = world.NowUs + gapUs;
        if (at >= _endUs) return;
        world.Schedule(at, "nemesis", FaultNames.Name(kind), () =>
        {
            if (world.InLivenessPhase) return null;
            ScheduleNext(kind, spec);
            world.Count("fault." + FaultNames.Name(kind));
            _victims.Clear();
            _victimsUntilUs = -1;
            string what = Inject(kind, spec);
            NoteVictims(FaultNames.Name(kind), what);
            return what;
        });
    }

    /// <summary>Who an episode hit and until when (-1: a moment, or nobody knows in advance).</summary>
    private void Hit(Endpoint victim, long untilUs)
    {
        if (!_victims.Contains(victim)) _victims.Add(victim);
        _victimsUntilUs = untilUs;
    }

    /// <summary>One "fault" record per machine the episode hit, on that machine's lane of the trace:
    /// "crash until 5123 ms: n1 crashed: ...". The HTML timeline draws them as bands.</summary>
    private void NoteVictims(string name, string what)
    {
        string until = _victimsUntilUs >= 0
            ? " until " + (_victimsUntilUs / 1000).ToString(CultureInfo.InvariantCulture) + " ms" : "";
        foreach (var victim in _victims) world.Note(victim.Name, "fault", name + until + ": " + what);
    }

    private long DurationMs(FaultSpec spec)
        => spec.DurationMaxMs <= spec.DurationMinMs ? spec.DurationMinMs : random.NextInt((int)spec.DurationMinMs, (int)spec.DurationMaxMs + 1);

    private T Pick<T>(IReadOnlyList<T> items) => items[random.NextInt(0, items.Count)];

    private string Inject(FaultKind kind, FaultSpec spec)
    {
        long now = world.NowUs;
        switch (kind)
        {
            case FaultKind.Loss:
            {
                var (a, b, both) = PickNodeLink();
                long until = now + DurationMs(spec) * 1000;
                Hit(a, until);
                Hit(b, until);
                foreach (var (from, to) in Directions(a, b, both))
                {
                    var link = world.Network.Link(from, to);
                    link.LossUntilUs = until;
                    link.LossProbability = spec.Intensity;
                }
                return Describe("loss", a, b, both, until, $"p={spec.Intensity:0.###}");
            }
            case FaultKind.Clog:
            {
                var (a, b, both) = PickNodeLink();
                long until = now + DurationMs(spec) * 1000;
                Hit(a, until);
                Hit(b, until);
                foreach (var (from, to) in Directions(a, b, both)) world.Network.Link(from, to).ClogUntilUs = until;
                return Describe("clog", a, b, both, until, "");
            }
            case FaultKind.Partition:
            case FaultKind.AsymmetricPartition:
            {
                var all = world.Endpoints.ToList();
                var side = all.Where(_ => random.NextBool(0.5)).ToList();
                if (side.Count == 0) side.Add(Pick(all));
                if (side.Count == all.Count) side.RemoveAt(random.NextInt(0, side.Count));
                var other = all.Where(e => !side.Contains(e)).ToList();
                long until = now + DurationMs(spec) * 1000;
                bool both = kind == FaultKind.Partition;
                foreach (var e in all) Hit(e, until);
                foreach (var a in side)
                    foreach (var b in other)
                        foreach (var (from, to) in Directions(a, b, both)) world.Network.Link(from, to).CutUntilUs = until;
                return string.Create(CultureInfo.InvariantCulture,
                    $"{(both ? "partition" : "one-way partition")} [{string.Join(",", side)}] {(both ? "<-/->" : "-/->")} [{string.Join(",", other)}] until {until / 1000} ms");
            }
            case FaultKind.ClientPartition:
            {
                if (world.Clients.Count == 0) return "no clients";
                Endpoint client = Pick(world.Clients);
                Endpoint node = Pick(world.Nodes);
                long until = now + DurationMs(spec) * 1000;
                double d = random.NextDouble();
                var dirs = d < 0.5 ? Directions(client, node, true) : d < 0.75 ? Directions(client, node, false) : Directions(node, client, false);
                Hit(client, until);
                Hit(node, until);
                foreach (var (from, to) in dirs) world.Network.Link(from, to).CutUntilUs = until;
                return $"client partition {string.Join(" ", dirs.Select(x => x.From + "-/->" + x.To))} until {until / 1000} ms";
            }
            case FaultKind.ConnectionReset:
            {
                var victim = world.Network.ResetRandomConnection();
                if (victim is not null)
                {
                    Hit(victim.Initiator, -1);
                    Hit(victim.Acceptor, -1);
                }
                return victim is null ? "no connection to reset" : $"reset conn-{victim.Id} {victim.Initiator}<->{victim.Acceptor}";
            }
            case FaultKind.Crash:
            {
                var up = world.Nodes.Where(n => n.IsUp).ToList();
                if (up.Count == 0) return "every node is down";
                var node = Pick(up);
                long ms = DurationMs(spec);
                Hit(node, now + ms * 1000);
                return world.CrashNode(node, ms);
            }
            case FaultKind.Pause:
            {
                var candidates = world.Nodes.Where(n => n.IsUp && !n.Paused).ToList();
                if (candidates.Count == 0) return "no node to pause";
                var node = Pick(candidates);
                long ms = DurationMs(spec);
                Hit(node, now + ms * 1000);
                return world.PauseNode(node, ms);
            }
            case FaultKind.ClientCrash:
            {
                var up = world.Clients.Where(c => c.IsUp).ToList();
                if (up.Count == 0) return "every client is down";
                var host = Pick(up);
                long ms = DurationMs(spec);
                Hit(host, now + ms * 1000);
                return world.CrashClient(host, ms);
            }
            case FaultKind.BitFlip:
            {
                var node = Pick(world.Nodes);
                Hit(node, -1);
                return world.FlipIndexBits(node, Math.Max(1, (int)spec.Intensity), random);
            }
            case FaultKind.MisdirectedWrite:
            {
                var node = Pick(world.Nodes);
                long ms = DurationMs(spec);
                Hit(node, now + ms * 1000);
                world.SetMisdirectedWrites(node, ms, spec.Intensity);
                return string.Create(CultureInfo.InvariantCulture, $"{node} misdirects index writes (p={spec.Intensity:0.###}) for {ms} ms");
            }
            case FaultKind.SlowFsync:
            {
                var node = Pick(world.Nodes);
                long ms = DurationMs(spec);
                Hit(node, now + ms * 1000);
                world.SetSlowFsync(node, ms, spec.Intensity);
                return string.Create(CultureInfo.InvariantCulture, $"{node} fsync x{spec.Intensity:0} for {ms} ms");
            }
            case FaultKind.DiskFull:
            {
                var node = Pick(world.Nodes);
                long ms = DurationMs(spec);
                Hit(node, now + ms * 1000);
                world.SetDiskFull(node, ms, spec.Intensity);
                return string.Create(CultureInfo.InvariantCulture, $"{node} disk full (p={spec.Intensity:0.###}) for {ms} ms");
            }
            case FaultKind.ClockJump:
            {
                var machines = world.Endpoints.ToList();
                var victim = Pick(machines);
                long delta = (long)((random.NextDouble() * 2 - 1) * spec.Intensity);
                var clock = victim is SimNode n ? n.Clock : ((ClientHost)victim).Clock;
                Hit(victim, -1);
                world.JumpClock(clock, delta);
                return string.Create(CultureInfo.InvariantCulture, $"{victim} wall clock jumps {delta:+#;-#;0} ms");
            }
            case FaultKind.ClientPause or FaultKind.FsyncError:
                return InjectReach(kind, spec, now);
            default:
                throw new InvalidOperationException($"{kind} is not episodic");
        }
    }

    /// <summary>A link that matters: a node and any other machine (clients talk only to nodes).</summary>
    private (Endpoint A, Endpoint B, bool Both) PickNodeLink()
    {
        Endpoint node = Pick(world.Nodes);
        var others = world.Endpoints.Where(e => e != node).ToList();
        Endpoint other = others.Count == 0 ? node : Pick(others);
        bool both = random.NextBool(0.5);
        return random.NextBool(0.5) ? (node, other, both) : (other, node, both);
    }

    private static List<(Endpoint From, Endpoint To)> Directions(Endpoint a, Endpoint b, bool both)
        => both ? [(a, b), (b, a)] : [(a, b)];

    private static string Describe(string what, Endpoint a, Endpoint b, bool both, long untilUs, string extra)
        => string.Create(CultureInfo.InvariantCulture, $"{what} {a}{(both ? "<->" : "->")}{b} until {untilUs / 1000} ms {extra}").TrimEnd();
}
