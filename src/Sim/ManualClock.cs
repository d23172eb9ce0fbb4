using DetKafka.Core.Abstractions;

namespace DetKafka.Sim;

/// <summary>A clock that moves only when told: virtual time for tests and the simulator.</summary>
public sealed class ManualClock(long wallClockStartMs = 1_700_000_000_000) : IClock
{
    public long MonotonicMs { get; private set; }
    public long WallClockOffsetMs { get; set; } = wallClockStartMs;
    public long WallClockMs => WallClockOffsetMs + MonotonicMs;

    public void Advance(long ms)
    {
        if (ms < 0) throw new ArgumentOutOfRangeException(nameof(ms), "monotonic time never goes backwards");
        MonotonicMs += ms;
    }

    public void AdvanceTo(long monotonicMs) => Advance(monotonicMs - MonotonicMs);
}
