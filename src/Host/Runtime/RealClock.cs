using System.Diagnostics;
using DetKafka.Core.Abstractions;

namespace DetKafka.Host.Runtime;

/// <summary>The OS clocks: wall time for record timestamps, a monotonic stopwatch for every deadline.</summary>
public sealed class RealClock : IClock
{
    private readonly long _origin = Stopwatch.GetTimestamp();

    public long WallClockMs => DateTimeOffset.UtcNow.ToUnixTimeMilliseconds();

    public long MonotonicMs => (long)Stopwatch.GetElapsedTime(_origin).TotalMilliseconds;
}
