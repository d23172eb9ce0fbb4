using DetKafka.Core.Abstractions;
using DetKafka.Core.Util;

namespace DetKafka.Sim.World;

/// <summary>
/// A machine's clock in the simulated world, driven by global virtual time (microseconds). The monotonic
/// clock runs at 1 + drift (parts per million) of virtual time from a per-machine origin; the wall clock is
/// the monotonic clock plus a skew and any jumps, so it can move backwards while the monotonic one never does.
/// Survives process restarts (it is the machine's clock).
/// </summary>
public sealed class SimClock : IClock
{
    public const long WallClockEpochMs = 1_700_000_000_000;

    private readonly Func<long> _nowUs;
    private readonly long _originMs;
    private readonly long _rate; // virtual-us to monotonic-ns multiplier: 1e6 + drift ppm, over 1e9

    public SimClock(Func<long> nowUs, long originMs, long driftPpm, long skewMs)
    {
        Check.That(originMs >= 0 && Math.Abs(driftPpm) < 500_000);
        _nowUs = nowUs;
        _originMs = originMs;
        DriftPpm = driftPpm;
        _rate = 1_000_000 + driftPpm;
        WallOffsetMs = WallClockEpochMs + skewMs - originMs;
    }

    public long DriftPpm { get; }

    /// <summary>Wall clock minus monotonic clock; skew and jumps change it.</summary>
    public long WallOffsetMs { get; private set; }

    public long MonotonicMs => _originMs + (long)((Int128)_nowUs() * _rate / 1_000_000_000);

    public long WallClockMs => MonotonicMs + WallOffsetMs;

    /// <summary>An NTP step or an operator's mistake: the wall clock moves by <paramref name="deltaMs"/>.</summary>
    public void Jump(long deltaMs) => WallOffsetMs += deltaMs;

    /// <summary>The earliest global virtual time (us) at which <see cref="MonotonicMs"/> reaches <paramref name="monotonicMs"/>.</summary>
    public long GlobalUsAt(long monotonicMs)
    {
        long d = monotonicMs - _originMs;
        if (d <= 0) return 0;
        Int128 us = ((Int128)d * 1_000_000_000 + _rate - 1) / _rate;
        return us > long.MaxValue / 2 ? long.MaxValue / 2 : (long)us;
    }
}
